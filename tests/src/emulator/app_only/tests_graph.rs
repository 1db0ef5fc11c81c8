//! Graph with app tokens: each route needs a role of its kind (403
//! `Authorization_RequestDenied` otherwise); issued tokens keep their roles;
//! delegated tokens are unchanged; no token reaches the request log.

use serde_json::{Value, json};

use super::REQUIRED_APP_ROLES;
use super::test_support::*;
use crate::emulator::{Emulator, Group};
use crate::stack::{CONTOSO, CONTOSO_ADMIN};

const ADMIN_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001";
const MEGAN_ID: &str = "a1b2c3d4-0000-4000-8000-000000000002";
const GROUP_ID: &str = "c0c0c0c0-0000-4000-8000-000000000001";

/// An app token from client credentials, the app consented with `roles`.
async fn app_token(emulator: &Emulator, roles: &[&str]) -> String {
    emulator.consent_app(CONTOSO, roles);
    let (status, body) = client_credentials(emulator, CONTOSO).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn graph(
    emulator: &Emulator,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(
            method.parse().unwrap(),
            format!("{}/v1.0{path}", emulator.base_url),
        )
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn assert_denied((status, body): (u16, Value)) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
}

fn with_group(emulator: &Emulator) {
    emulator.with_tenant(CONTOSO, |t| {
        t.upsert_group(Group {
            id: GROUP_ID.into(),
            display_name: "Sales".into(),
            mail_nickname: "sales".into(),
            security_enabled: true,
            ..Group::default()
        })
    });
}

#[tokio::test]
async fn given_an_app_token_without_a_user_role_when_reading_users_then_403_and_domains_still_read()
{
    let emulator = emulator_as(None).await;
    let token = app_token(&emulator, &["Domain.Read.All"]).await;
    assert_denied(
        graph(
            &emulator,
            &token,
            "GET",
            &format!("/users/{ADMIN_ID}"),
            None,
        )
        .await,
    );
    assert_denied(graph(&emulator, &token, "GET", "/users/delta", None).await);
    assert_eq!(
        graph(&emulator, &token, "GET", "/domains", None).await.0,
        200
    );
}

#[tokio::test]
async fn given_a_read_role_only_when_writing_then_403_and_the_write_role_lets_it_through() {
    let emulator = emulator_as(None).await;
    let reader = app_token(&emulator, &["User.Read.All"]).await;
    assert_eq!(
        graph(
            &emulator,
            &reader,
            "GET",
            &format!("/users/{ADMIN_ID}"),
            None
        )
        .await
        .0,
        200
    );
    let patch = json!({"jobTitle": "Seller"});
    assert_denied(
        graph(
            &emulator,
            &reader,
            "PATCH",
            &format!("/users/{MEGAN_ID}"),
            Some(patch.clone()),
        )
        .await,
    );
    let writer = app_token(&emulator, &["User.ReadWrite.All"]).await;
    let (status, _) = graph(
        &emulator,
        &writer,
        "PATCH",
        &format!("/users/{MEGAN_ID}"),
        Some(patch),
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn given_membership_roles_when_adding_a_member_then_only_a_member_write_role_may() {
    let emulator = emulator_as(None).await;
    with_group(&emulator);
    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{MEGAN_ID}")});
    let path = format!("/groups/{GROUP_ID}/members/$ref");
    let reader = app_token(&emulator, &["Group.Read.All", "User.Read.All"]).await;
    assert_eq!(
        graph(
            &emulator,
            &reader,
            "GET",
            &format!("/groups/{GROUP_ID}"),
            None
        )
        .await
        .0,
        200
    );
    assert_denied(graph(&emulator, &reader, "POST", &path, Some(reference.clone())).await);
    let member_writer = app_token(&emulator, &["GroupMember.ReadWrite.All"]).await;
    assert_eq!(
        graph(&emulator, &member_writer, "POST", &path, Some(reference))
            .await
            .0,
        204
    );
    assert_denied(
        graph(
            &emulator,
            &member_writer,
            "DELETE",
            &format!("/groups/{GROUP_ID}"),
            None,
        )
        .await,
    );
}

#[tokio::test]
async fn given_a_role_revoked_after_the_token_was_issued_then_that_token_keeps_it_and_a_new_one_lacks_it()
 {
    let emulator = emulator_as(None).await;
    let issued = app_token(&emulator, REQUIRED_APP_ROLES).await;
    emulator.set_granted_roles(CONTOSO, &["Domain.Read.All"]);
    let path = format!("/users/{ADMIN_ID}");
    assert_eq!(graph(&emulator, &issued, "GET", &path, None).await.0, 200);
    let (_, body) = client_credentials(&emulator, CONTOSO).await;
    let fresh = body["access_token"].as_str().unwrap();
    assert_denied(graph(&emulator, fresh, "GET", &path, None).await);
}

#[tokio::test]
async fn given_write_roles_only_when_subscribing_to_users_then_403_and_the_read_role_passes_the_check()
 {
    let emulator = emulator_as(None).await;
    let subscription = json!({
        "changeType": "updated,deleted",
        "notificationUrl": "https://127.0.0.1:9/notifications",
        "resource": "/users",
        "expirationDateTime": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "clientState": "secret-client-state",
    });
    let writer = app_token(&emulator, &["User.ReadWrite.All"]).await;
    assert_denied(
        graph(
            &emulator,
            &writer,
            "POST",
            "/subscriptions",
            Some(subscription.clone()),
        )
        .await,
    );
    let reader = app_token(&emulator, &["User.Read.All"]).await;
    let (status, body) = graph(
        &emulator,
        &reader,
        "POST",
        "/subscriptions",
        Some(subscription),
    )
    .await;
    assert_ne!(status, 403, "{body}");
}

#[tokio::test]
async fn given_an_app_token_lacking_a_role_when_batching_then_that_item_is_403() {
    let emulator = emulator_as(None).await;
    let token = app_token(&emulator, &["User.Read.All"]).await;
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("/users/{ADMIN_ID}")},
        {"id": "2", "method": "GET", "url": "/domains"},
    ]});
    let (status, body) = graph(&emulator, &token, "POST", "/$batch", Some(batch)).await;
    assert_eq!(status, 200);
    let status_of = |id: &str| {
        body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of("1"), 200);
    assert_eq!(status_of("2"), 403);
}

#[tokio::test]
async fn given_a_delegated_token_then_no_app_role_is_asked_for() {
    let emulator = emulator_as(None).await;
    let token = emulator.grant_access_token(CONTOSO, ADMIN_ID);
    let patch = json!({"jobTitle": "Seller"});
    let (status, _) = graph(
        &emulator,
        &token,
        "PATCH",
        &format!("/users/{MEGAN_ID}"),
        Some(patch),
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn given_every_leg_of_the_flow_then_no_token_or_secret_appears_in_the_request_log() {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    let consent = admin_consent_url(&emulator, CONTOSO, super::GRAPH_DEFAULT_SCOPE);
    redirect_query(emulator.browse(&consent).await.unwrap());
    let (_, body) = client_credentials(&emulator, CONTOSO).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    graph(&emulator, &token, "GET", "/domains", None).await;
    graph(
        &emulator,
        &token,
        "PATCH",
        &format!("/users/{MEGAN_ID}"),
        Some(json!({"jobTitle": "x"})),
    )
    .await;
    let log = serde_json::to_string(&emulator.requests()).unwrap();
    let secrets = emulator.issued_secrets();
    assert!(secrets.contains(&token));
    for secret in secrets.iter().map(String::as_str).chain([SECRET]) {
        assert!(!log.contains(secret), "a secret in the log: {log}");
    }
    assert_eq!(emulator.token_requests(CONTOSO, "client_credentials"), 1);
}
