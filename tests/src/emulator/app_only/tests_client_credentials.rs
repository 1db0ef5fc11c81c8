//! Client credentials per tenant: refused before consent (700016), after a
//! revocation (700016) and while the app is disabled (7000112); otherwise
//! an app token carrying the granted roles.

use std::collections::BTreeSet;

use base64::Engine;

use super::test_support::*;
use super::{GRAPH_AUDIENCE, GRAPH_DEFAULT_SCOPE, REQUIRED_APP_ROLES};
use crate::emulator::Knobs;
use crate::stack::{CLIENT_ID, CONTOSO, CONTOSO_ADMIN, FABRIKAM};

#[tokio::test]
async fn given_no_consent_when_asking_for_an_app_token_then_700016_names_the_app_and_the_tenant() {
    let emulator = emulator_as(None).await;
    let (status, body) = client_credentials(&emulator, CONTOSO).await;
    assert_eq!(status, 400);
    assert_eq!(oauth_error(&body), ("unauthorized_client", 700016));
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!(
            "AADSTS700016: Application with identifier '{CLIENT_ID}' was not found in the directory '{CONTOSO}'."
        )),
        "{description}"
    );
}

#[tokio::test]
async fn given_admin_consent_when_asking_for_an_app_token_then_a_signed_token_carries_the_roles() {
    let emulator = emulator_as(Some(CONTOSO_ADMIN)).await;
    let consent = admin_consent_url(&emulator, CONTOSO, GRAPH_DEFAULT_SCOPE);
    redirect_query(emulator.browse(&consent).await.unwrap());
    let (status, body) = client_credentials(&emulator, CONTOSO).await;
    assert_eq!(status, 200, "{body}");
    let keys: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["access_token", "expires_in", "ext_expires_in", "token_type"])
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap();
    let claims = verified_claims(&emulator, CONTOSO, token, GRAPH_AUDIENCE).await;
    let service_principal = emulator.app_consent(CONTOSO).service_principal_id.unwrap();
    assert_eq!(claims["tid"], CONTOSO);
    assert_eq!(claims["appid"], CLIENT_ID);
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["oid"], service_principal.as_str());
    assert_eq!(claims["roles"], serde_json::json!(REQUIRED_APP_ROLES));
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert!(claims.get("scp").is_none());
    let grant = emulator.state().access_tokens.get(token).cloned().unwrap();
    assert!(grant.is_app());
    assert_eq!(grant.user(), None);
    assert_eq!(grant.tenant_id, CONTOSO);
}

#[tokio::test]
async fn given_the_app_disabled_in_the_tenant_then_7000112_until_it_is_enabled_again() {
    let emulator = emulator_as(None).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    emulator.set_app_disabled(CONTOSO, true);
    let (status, body) = client_credentials(&emulator, CONTOSO).await;
    assert_eq!(status, 400);
    assert_eq!(oauth_error(&body), ("unauthorized_client", 7000112));
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!(
            "AADSTS7000112: Application '{CLIENT_ID}'(entra-sync) is disabled."
        )),
        "{description}"
    );
    emulator.set_app_disabled(CONTOSO, false);
    assert_eq!(client_credentials(&emulator, CONTOSO).await.0, 200);
}

#[tokio::test]
async fn given_consent_revoked_then_700016_and_another_tenant_is_not_affected() {
    let emulator = emulator_as(None).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    emulator.consent_app(FABRIKAM, REQUIRED_APP_ROLES);
    assert_eq!(client_credentials(&emulator, CONTOSO).await.0, 200);
    emulator.revoke_app_consent(CONTOSO);
    let (status, body) = client_credentials(&emulator, CONTOSO).await;
    assert_eq!(status, 400);
    assert_eq!(oauth_error(&body), ("unauthorized_client", 700016));
    assert_eq!(client_credentials(&emulator, FABRIKAM).await.0, 200);
}

#[tokio::test]
async fn given_no_role_granted_when_asking_for_an_app_token_then_the_token_has_no_roles_claim() {
    let emulator = emulator_as(None).await;
    emulator.consent_app(CONTOSO, &[]);
    let (status, body) = client_credentials(&emulator, CONTOSO).await;
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().unwrap();
    let claims = verified_claims(&emulator, CONTOSO, token, GRAPH_AUDIENCE).await;
    assert!(claims.get("roles").is_none(), "{claims}");
    assert_eq!(claims["idtyp"], "app");
}

#[tokio::test]
async fn given_a_scope_other_than_graph_default_then_invalid_scope() {
    let emulator = emulator_as(None).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    for (scope, expected) in [
        (
            "https://graph.microsoft.com/User.Read.All",
            ("invalid_scope", 1002012),
        ),
        ("openid profile", ("invalid_scope", 1002012)),
        ("", ("invalid_request", 900144)),
    ] {
        let (status, body) = token_request(
            &emulator,
            CONTOSO,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", SECRET),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(status, 400, "{scope}");
        assert_eq!(oauth_error(&body), expected, "{scope}");
    }
}

#[tokio::test]
async fn given_an_unknown_tenant_or_no_tenant_id_then_invalid_request() {
    let emulator = emulator_as(None).await;
    let (status, body) =
        client_credentials(&emulator, "0b8a7c6d-0000-4000-8000-00000000dead").await;
    assert_eq!(status, 400);
    assert_eq!(oauth_error(&body), ("invalid_request", 90002));
    for authority in ["organizations", "common"] {
        let (status, body) = client_credentials(&emulator, authority).await;
        assert_eq!(status, 400);
        assert_eq!(oauth_error(&body), ("invalid_request", 9001023));
    }
}

#[tokio::test]
async fn given_a_wrong_or_missing_secret_then_invalid_client_and_basic_authentication_works() {
    let emulator = emulator_as(None).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    for (secret, code) in [(Some("wrong"), 7000215), (None, 7000218)] {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("scope", GRAPH_DEFAULT_SCOPE),
        ];
        form.extend(secret.map(|s| ("client_secret", s)));
        let (status, body) = token_request(&emulator, CONTOSO, &form).await;
        assert_eq!(status, 401);
        assert_eq!(oauth_error(&body), ("invalid_client", code));
    }
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    let response = reqwest::Client::new()
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/token", emulator.base_url))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_DEFAULT_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn given_a_token_lifetime_knob_then_expires_in_follows_it_and_requests_are_counted() {
    let emulator = emulator_as(None).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    emulator.set_knobs(Knobs {
        access_token_ttl_secs: Some(120),
        ..Knobs::default()
    });
    let (_, body) = client_credentials(&emulator, CONTOSO).await;
    assert_eq!(body["expires_in"], 120);
    client_credentials(&emulator, CONTOSO).await;
    client_credentials(&emulator, FABRIKAM).await;
    assert_eq!(emulator.token_requests(CONTOSO, "client_credentials"), 2);
    assert_eq!(emulator.token_requests(FABRIKAM, "client_credentials"), 1);
    assert_eq!(emulator.token_requests(CONTOSO, "refresh_token"), 0);
}

#[tokio::test]
async fn given_the_http_knobs_then_consent_roles_disabling_and_revocation_show_at_the_token_endpoint()
 {
    let emulator = emulator_as(None).await;
    let http = reqwest::Client::new();
    let knob = |path: &str| format!("{}/_emulator/tenants/{CONTOSO}/{path}", emulator.base_url);
    let consent = serde_json::json!({"roles": ["User.Read.All"]});
    let answered = http
        .post(knob("app-consent"))
        .json(&consent)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status().as_u16(), 204);
    let (_, body) = client_credentials(&emulator, CONTOSO).await;
    let token = body["access_token"].as_str().unwrap();
    let claims = verified_claims(&emulator, CONTOSO, token, GRAPH_AUDIENCE).await;
    assert_eq!(claims["roles"], serde_json::json!(["User.Read.All"]));
    let roles = serde_json::json!({"roles": ["Domain.Read.All"]});
    http.put(knob("app-roles"))
        .json(&roles)
        .send()
        .await
        .unwrap();
    let shown: super::AppConsent = http
        .get(knob("app-consent"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown.granted_roles, ["Domain.Read.All"]);
    http.put(knob("app-disabled"))
        .json(&true)
        .send()
        .await
        .unwrap();
    let (_, body) = client_credentials(&emulator, CONTOSO).await;
    assert_eq!(oauth_error(&body), ("unauthorized_client", 7000112));
    http.delete(knob("app-consent")).send().await.unwrap();
    let (_, body) = client_credentials(&emulator, CONTOSO).await;
    assert_eq!(oauth_error(&body), ("unauthorized_client", 700016));
    let unknown = format!("{}/_emulator/tenants/nope/app-consent", emulator.base_url);
    assert_eq!(
        http.get(unknown).send().await.unwrap().status().as_u16(),
        404
    );
}

#[tokio::test]
async fn given_a_secret_and_an_assertion_together_then_the_request_is_refused() {
    let emulator = emulator_as(None).await;
    emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    let (status, body) = token_request(
        &emulator,
        CONTOSO,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", "a.b.c"),
            ("scope", GRAPH_DEFAULT_SCOPE),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(oauth_error(&body), ("invalid_request", 9002313));
}
