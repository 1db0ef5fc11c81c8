//! The sign-in leg after admin consent: `openid profile`, a nonce, PKCE,
//! `prompt=none`; the id token that proves who signed in, and their roles.

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;
use sha2::Digest;

use super::test_support::*;
use super::{GRAPH_DEFAULT_SCOPE, PRIVILEGED_ROLE_ADMINISTRATOR_TEMPLATE, REQUIRED_APP_ROLES};
use crate::emulator::graph_roles::GLOBAL_ADMINISTRATOR_TEMPLATE;
use crate::emulator::{Emulator, Knobs};
use crate::stack::{CLIENT_ID, CONTOSO, CONTOSO_ADMIN, CONTOSO_USER, REDIRECT_URI};

const NONCE: &str = "nonce-n1";
const VERIFIER: &str = "a-pkce-verifier-of-at-least-forty-three-characters-0123456789";
const MEGAN_ID: &str = "a1b2c3d4-0000-4000-8000-000000000002";

/// The connector's silent sign-in request to `tenant` (`prompt=none`
/// unless `silent` is false), `scope` as given.
fn sign_in_url(emulator: &Emulator, tenant: &str, scope: &str, silent: bool) -> String {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
    let mut pairs = vec![
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("response_mode", "query"),
        ("scope", scope),
        ("redirect_uri", REDIRECT_URI),
        ("state", STATE),
        ("nonce", NONCE),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if silent {
        pairs.push(("prompt", "none"));
    }
    url_with(
        &emulator.base_url,
        &format!("/{tenant}/oauth2/v2.0/authorize"),
        &pairs,
    )
}

async fn sign_in(emulator: &Emulator, scope: &str, silent: bool) -> HashMap<String, String> {
    let url = sign_in_url(emulator, CONTOSO, scope, silent);
    redirect_query(emulator.browse(&url).await.unwrap())
}

/// Redeems the code: the token response.
async fn redeem(emulator: &Emulator, code: &str) -> Value {
    let (status, body) = token_request(
        emulator,
        CONTOSO,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Signs the browser's user in silently and returns the id token's claims,
/// verified against the tenant's published keys.
async fn id_token_claims(emulator: &Emulator) -> Value {
    let back = sign_in(emulator, "openid profile", true).await;
    assert_eq!(back["state"], STATE);
    let tokens = redeem(emulator, &back["code"]).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    verified_claims(emulator, CONTOSO, id_token, CLIENT_ID).await
}

fn wids(claims: &Value) -> Vec<String> {
    claims
        .get("wids")
        .map(|w| serde_json::from_value(w.clone()).unwrap())
        .unwrap_or_default()
}

#[tokio::test]
async fn given_admin_consent_when_the_admin_signs_in_silently_then_a_verifiable_id_token_names_tenant_nonce_and_role()
 {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    let consent = admin_consent_url(&emulator, "organizations", GRAPH_DEFAULT_SCOPE);
    redirect_query(emulator.browse(&consent).await.unwrap());
    let claims = id_token_claims(&emulator).await;
    assert_eq!(claims["nonce"], NONCE);
    assert_eq!(claims["tid"], CONTOSO);
    assert_eq!(claims["oid"], "a1b2c3d4-0000-4000-8000-000000000001");
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(
        claims["iss"],
        format!("{}/{CONTOSO}/v2.0", emulator.base_url)
    );
    assert_eq!(claims["preferred_username"], CONTOSO_ADMIN);
    assert_eq!(wids(&claims), [GLOBAL_ADMINISTRATOR_TEMPLATE]);
}

#[tokio::test]
async fn given_a_consented_tenant_when_a_user_who_is_not_an_admin_signs_in_then_no_admin_role_in_wids()
 {
    let emulator = emulator_as(Some(CONTOSO_USER)).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    let claims = id_token_claims(&emulator).await;
    assert_eq!(claims["oid"], MEGAN_ID);
    assert_eq!(claims["preferred_username"], CONTOSO_USER);
    assert!(wids(&claims).is_empty(), "{claims}");
}

#[tokio::test]
async fn given_roles_held_actively_or_only_eligible_when_signing_in_then_wids_has_only_the_active_ones()
 {
    let emulator = emulator_as(Some(CONTOSO_USER)).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(MEGAN_ID, |u| {
            u.eligible_roles = vec![GLOBAL_ADMINISTRATOR_TEMPLATE.into()];
        })
    });
    assert!(wids(&id_token_claims(&emulator).await).is_empty());
    emulator.with_tenant(CONTOSO, |t| {
        t.update_user(MEGAN_ID, |u| u.is_privileged_role_admin = true)
    });
    assert_eq!(
        wids(&id_token_claims(&emulator).await),
        [PRIVILEGED_ROLE_ADMINISTRATOR_TEMPLATE]
    );
}

#[tokio::test]
async fn given_no_signed_in_user_when_signing_in_silently_then_login_required_with_the_state() {
    let emulator = emulator_as(None).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    let back = sign_in(&emulator, "openid profile", true).await;
    assert_eq!(back["error"], "login_required");
    assert!(back["error_description"].starts_with("AADSTS50058: "));
    assert_eq!(back["state"], STATE);
}

#[tokio::test]
async fn given_the_knob_when_signing_in_silently_then_interaction_required() {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    emulator.set_knobs(Knobs {
        silent_sign_in_interaction_required: true,
        ..Knobs::default()
    });
    let back = sign_in(&emulator, "openid profile", true).await;
    assert_eq!(back["error"], "interaction_required");
    assert_eq!(back["state"], STATE);
    // Interactively, the same sign-in goes through.
    let back = sign_in(&emulator, "openid profile", false).await;
    assert!(back.contains_key("code"), "{back:?}");
}

#[tokio::test]
async fn given_no_consent_in_the_tenant_when_signing_in_silently_then_consent_required() {
    let emulator = emulator_as(Some(CONTOSO_USER)).await;
    let back = sign_in(&emulator, "openid profile", true).await;
    assert_eq!(back["error"], "consent_required");
    assert_eq!(back["state"], STATE);
}

#[tokio::test]
async fn given_a_consented_tenant_when_a_user_who_is_not_an_admin_asks_for_offline_access_then_still_refused()
 {
    let emulator = emulator_as(Some(CONTOSO_USER)).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    let back = sign_in(
        &emulator,
        "openid profile offline_access https://graph.microsoft.com/.default",
        false,
    )
    .await;
    assert_eq!(back["error"], "access_denied");
    assert!(back["error_description"].starts_with("AADSTS90094: "));
}

#[tokio::test]
async fn given_the_delegated_flow_when_the_admin_consents_then_refresh_and_id_tokens_as_before() {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    let back = sign_in(
        &emulator,
        "openid profile offline_access https://graph.microsoft.com/.default",
        false,
    )
    .await;
    let tokens = redeem(&emulator, &back["code"]).await;
    assert!(tokens["refresh_token"].is_string());
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = verified_claims(&emulator, CONTOSO, id_token, CLIENT_ID).await;
    assert_eq!(claims["nonce"], NONCE);
    assert!(!emulator.app_consent(CONTOSO).consented);
}
