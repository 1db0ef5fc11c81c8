//! The directory of docs/behaviour.md 2.13 on the wire: user properties and their
//! `$select`, the manager, write rules, deleted items, their permissions.
//! Each test drives the emulator over HTTP with a token, as a client does.

mod deleted_items;
mod manager;
mod permissions;
mod user_properties;
mod writes;

use serde_json::Value;

use crate::emulator::{AccessGrant, AppRegistration, Emulator, Group, User};
use crate::stack::{CLIENT_ID, CONTOSO, REDIRECT_URI, seed_organisations};

pub const ADMIN_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001";
pub const MEGAN_ID: &str = "a1b2c3d4-0000-4000-8000-000000000002";
pub const ANN_ID: &str = "a1b2c3d4-0000-4000-8000-0000000000a1";
pub const GROUP_ID: &str = "c0c0c0c0-0000-4000-8000-0000000000a1";
/// A directory extension registered on the app.
pub const EXTENSION: &str = "extension_7c3e5a9b2f1d4c8eb6a01d3f5e7a9c2b_costCentre";

/// An emulator with the two organisations, the app and its extension, and
/// Contoso's Ann (`ann@contoso.com`) in the security group "Sales".
pub async fn emulator() -> Emulator {
    let emulator = Emulator::start().await.unwrap();
    emulator.register_app(AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: "emulated-client-secret".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        federated_credentials: Vec::new(),
    });
    emulator
        .state()
        .extension_properties
        .insert(EXTENSION.into());
    seed_organisations(&emulator);
    emulator.with_tenant(CONTOSO, |t| {
        t.upsert_user(ann());
        t.upsert_group(Group {
            id: GROUP_ID.into(),
            display_name: "Sales".into(),
            mail_nickname: "sales".into(),
            security_enabled: true,
            members: vec![ANN_ID.into()],
            ..Group::default()
        });
    });
    emulator
}

pub fn ann() -> User {
    User {
        id: ANN_ID.into(),
        user_principal_name: "ann@contoso.com".into(),
        display_name: Some("Ann One".into()),
        account_enabled: true,
        ..User::default()
    }
}

/// A delegated token of Contoso's administrator.
pub fn admin_token(emulator: &Emulator) -> String {
    emulator.grant_access_token(CONTOSO, ADMIN_ID)
}

/// An app token of Contoso holding `roles`, as client credentials issue it.
pub fn app_token(emulator: &Emulator, roles: &[&str]) -> String {
    let token = format!("eyJ0eXAi.app{}", uuid::Uuid::new_v4().simple());
    emulator.state().access_tokens.insert(
        token.clone(),
        AccessGrant {
            tenant_id: CONTOSO.into(),
            user_id: String::new(),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
            app_roles: Some(roles.iter().map(|r| (*r).to_owned()).collect()),
        },
    );
    token
}

/// A Graph request (`path` after `/v1.0`, query included): status and body.
pub async fn graph(
    emulator: &Emulator,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    send(emulator, token, method, path, body, &[]).await
}

pub async fn send(
    emulator: &Emulator,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}/v1.0{path}", emulator.base_url)
    };
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A whole delta round from `url` (a path or a link): its items and the
/// deltaLink.
pub async fn delta_round(
    emulator: &Emulator,
    token: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut next = url.to_owned();
    loop {
        let (status, body) = send(emulator, token, "GET", &next, None, headers).await;
        assert_eq!(status, 200, "{body}");
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        if let Some(link) = body["@odata.nextLink"].as_str() {
            next = link.to_owned();
        } else {
            return (items, body["@odata.deltaLink"].as_str().unwrap().to_owned());
        }
    }
}

/// The item of `id` in a round, if any.
pub fn item<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["id"] == id)
}

/// Asserts Graph's error status, code and message.
pub fn assert_error((status, body): &(u16, Value), want_status: u16, code: &str, message: &str) {
    assert_eq!(*status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
}
