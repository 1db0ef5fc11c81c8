//! What the app-only tests share: an emulator with the app and the two
//! organisations, the browser's legs, the token endpoint, token checks.

use std::collections::HashMap;

use serde_json::Value;

use crate::emulator::{AppRegistration, Browser, BrowserResult, Emulator};
use crate::stack::{CLIENT_ID, REDIRECT_URI, seed_organisations};

pub const SECRET: &str = "emulated-client-secret";
pub const STATE: &str = "state-s1";

/// An emulator whose browser is signed in as `upn` (or no one).
pub async fn emulator_as(upn: Option<&str>) -> Emulator {
    let emulator = Emulator::start().await.unwrap();
    emulator.register_app(AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        federated_credentials: Vec::new(),
    });
    seed_organisations(&emulator);
    emulator.set_browser(Browser {
        user_principal_name: upn.map(str::to_owned),
        ..Browser::default()
    });
    emulator
}

pub fn url_with(base: &str, path: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{base}{path}")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

/// The admin consent URL the connector builds, for `authority`.
pub fn admin_consent_url(emulator: &Emulator, authority: &str, scope: &str) -> String {
    url_with(
        &emulator.base_url,
        &format!("/{authority}/v2.0/adminconsent"),
        &[
            ("client_id", CLIENT_ID),
            ("scope", scope),
            ("redirect_uri", REDIRECT_URI),
            ("state", STATE),
        ],
    )
}

/// The query of a redirect to the app's redirect URI.
pub fn redirect_query(result: BrowserResult) -> HashMap<String, String> {
    let location = url::Url::parse(&result.redirect()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    location.query_pairs().into_owned().collect()
}

pub fn error_page_status(result: BrowserResult) -> (u16, String) {
    match result {
        BrowserResult::ErrorPage { status, body } => (status, body),
        other => panic!("expected an error page, got {other:?}"),
    }
}

/// POSTs a form to the token endpoint of `authority`: status and body.
pub async fn token_request(
    emulator: &Emulator,
    authority: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/{authority}/oauth2/v2.0/token",
            emulator.base_url
        ))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Client credentials with the secret in the form.
pub async fn client_credentials(emulator: &Emulator, authority: &str) -> (u16, Value) {
    token_request(
        emulator,
        authority,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", crate::emulator::app_only::GRAPH_DEFAULT_SCOPE),
        ],
    )
    .await
}

/// The claims of a token signed by the key `/{tenant}/discovery/v2.0/keys`
/// publishes, checked for `aud`.
pub async fn verified_claims(emulator: &Emulator, tenant: &str, token: &str, aud: &str) -> Value {
    let jwks: Value = reqwest::get(format!(
        "{}/{tenant}/discovery/v2.0/keys",
        emulator.base_url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the token's key is published");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[aud]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

/// An error body's `error` and first AADSTS code.
pub fn oauth_error(body: &Value) -> (&str, u64) {
    (
        body["error"].as_str().unwrap(),
        body["error_codes"][0].as_u64().unwrap(),
    )
}
