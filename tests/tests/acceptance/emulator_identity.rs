//! The shared identity client against the emulated identity platform:
//! docs/graph.md 5.4-5.6 from the client's side.

use entra_sync::identity::{IdTokenClaims, IdentityClient, IdentityError, TokenGrant};
use entra_sync_tests::emulator::{AppRegistration, Emulator, Revocation};
use entra_sync_tests::stack::{
    CLIENT_ID, CONTOSO, CONTOSO_ADMIN, REDIRECT_URI, seed_organisations,
};
use secrecy::{ExposeSecret, SecretString};

const SECRET: &str = "emulated-client-secret";

async fn emulator() -> (Emulator, IdentityClient) {
    let emulator = Emulator::start().await.unwrap();
    emulator.register_app(AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        federated_credentials: Vec::new(),
    });
    seed_organisations(&emulator);
    let client = IdentityClient::new(
        entra_sync::https::client(),
        url::Url::parse(&emulator.base_url).unwrap(),
        CLIENT_ID.into(),
        Some(url::Url::parse(REDIRECT_URI).unwrap()),
    );
    (emulator, client)
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn app_secret(s: &str) -> entra_sync::identity::AppCredential {
    entra_sync::identity::AppCredential::ClientSecret(secret(s))
}

/// Signs the admin in and returns the code and the PKCE verifier.
async fn code_for(
    emulator: &Emulator,
    client: &IdentityClient,
    authority: &str,
) -> (SecretString, SecretString) {
    let request = client.authorization_request(authority).unwrap();
    let mut url = request.url.clone();
    url.query_pairs_mut()
        .append_pair("login_hint", CONTOSO_ADMIN);
    let back = url::Url::parse(&emulator.browse(url.as_str()).await.unwrap().redirect()).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    (secret(&code), request.pkce_verifier)
}

async fn signed_in(emulator: &Emulator, client: &IdentityClient) -> TokenGrant {
    let (code, verifier) = code_for(emulator, client, "organizations").await;
    client
        .exchange_code("organizations", &app_secret(SECRET), &code, &verifier)
        .await
        .unwrap()
}

fn rejected_code(err: &IdentityError) -> (String, u32) {
    match err {
        IdentityError::Rejected(body) => (body.error.clone(), body.error_codes[0]),
        other => panic!("expected an OAuth error, got {other:?}"),
    }
}

#[tokio::test]
async fn given_a_code_when_redeemed_then_tokens_and_a_signed_id_token_come_back() {
    let (emulator, client) = emulator().await;
    let grant = signed_in(&emulator, &client).await;
    assert!(grant.refresh_token.is_some());
    let id_token = grant.id_token.unwrap();
    let claims = IdTokenClaims::decode(id_token.expose_secret()).unwrap();
    claims
        .validate(
            CLIENT_ID,
            client.login_base_url(),
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
    assert_eq!(claims.tenant_id.as_str(), CONTOSO);
    assert_eq!(claims.preferred_username.as_deref(), Some(CONTOSO_ADMIN));

    // The id token's RS256 signature verifies against the published keys.
    let jwks: serde_json::Value = reqwest::get(format!(
        "{}/{CONTOSO}/discovery/v2.0/keys",
        emulator.base_url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[CLIENT_ID]);
    jsonwebtoken::decode::<serde_json::Value>(
        id_token.expose_secret(),
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap();
}

#[tokio::test]
async fn given_a_redeemed_code_when_reused_then_invalid_grant_54005() {
    let (emulator, client) = emulator().await;
    let (code, verifier) = code_for(&emulator, &client, "organizations").await;
    client
        .exchange_code("organizations", &app_secret(SECRET), &code, &verifier)
        .await
        .unwrap();
    let err = client
        .exchange_code("organizations", &app_secret(SECRET), &code, &verifier)
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&err), ("invalid_grant".into(), 54005));
    assert!(err.is_invalid_grant() && !err.is_retryable());
}

#[tokio::test]
async fn given_a_wrong_pkce_verifier_then_invalid_grant_and_the_code_is_spent() {
    let (emulator, client) = emulator().await;
    let (code, verifier) = code_for(&emulator, &client, "organizations").await;
    let wrong = secret(&format!("{}x", verifier.expose_secret()));
    let err = client
        .exchange_code("organizations", &app_secret(SECRET), &code, &wrong)
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&err), ("invalid_grant".into(), 501481));
    let err = client
        .exchange_code("organizations", &app_secret(SECRET), &code, &verifier)
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&err).1, 54005);
}

#[tokio::test]
async fn given_a_wrong_client_secret_then_invalid_client() {
    let (emulator, client) = emulator().await;
    let (code, verifier) = code_for(&emulator, &client, "organizations").await;
    let err = client
        .exchange_code("organizations", &app_secret("wrong"), &code, &verifier)
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&err), ("invalid_client".into(), 7000215));
    assert!(!err.is_invalid_grant());
}

#[tokio::test]
async fn given_a_refresh_then_a_new_refresh_token_is_issued_and_the_old_one_still_works() {
    let (emulator, client) = emulator().await;
    let first = signed_in(&emulator, &client).await.refresh_token.unwrap();
    let rotated = client
        .refresh(CONTOSO, &app_secret(SECRET), &first)
        .await
        .unwrap();
    let second = rotated.refresh_token.unwrap();
    assert_ne!(first.expose_secret(), second.expose_secret());
    assert!(rotated.expires_in.as_secs() > 3000);
    client
        .refresh(CONTOSO, &app_secret(SECRET), &first)
        .await
        .unwrap();
}

#[tokio::test]
async fn given_revoked_consent_then_refresh_is_invalid_grant_with_the_aadsts_code() {
    for (how, code) in [
        (Revocation::Inactivity, 700082),
        (Revocation::Revoked, 50173),
    ] {
        let (emulator, client) = emulator().await;
        let token = signed_in(&emulator, &client).await.refresh_token.unwrap();
        emulator.revoke_consent(CONTOSO, how);
        let err = client
            .refresh(CONTOSO, &app_secret(SECRET), &token)
            .await
            .unwrap_err();
        assert_eq!(rejected_code(&err), ("invalid_grant".into(), code));
        assert!(err.is_invalid_grant());
        // The error's text names the code but carries no token.
        assert!(!err.to_string().contains(token.expose_secret()));
    }
}

#[tokio::test]
async fn given_the_emulator_unreachable_then_a_retryable_transport_error() {
    let client = IdentityClient::new(
        entra_sync::https::client(),
        url::Url::parse("http://127.0.0.1:9").unwrap(),
        CLIENT_ID.into(),
        Some(url::Url::parse(REDIRECT_URI).unwrap()),
    );
    let err = client
        .refresh(CONTOSO, &app_secret(SECRET), &secret("rt"))
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn given_the_password_grant_then_common_is_refused_and_the_tenant_authority_works() {
    let (emulator, client) = emulator().await;
    emulator.with_tenant(CONTOSO, |t| {
        let id = t.user_by_upn(CONTOSO_ADMIN).unwrap().id.clone();
        t.update_user(&id, |u| u.password = Some("Pa55-word!".into()));
    });
    let err = client
        .password_grant(
            "common",
            &app_secret(SECRET),
            CONTOSO_ADMIN,
            &secret("Pa55-word!"),
        )
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&err), ("invalid_request".into(), 9001023));
    let grant = client
        .password_grant(
            CONTOSO,
            &app_secret(SECRET),
            CONTOSO_ADMIN,
            &secret("Pa55-word!"),
        )
        .await
        .unwrap();
    assert!(grant.id_token.is_some());
    let err = client
        .password_grant(
            CONTOSO,
            &app_secret(SECRET),
            CONTOSO_ADMIN,
            &secret("wrong"),
        )
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&err), ("invalid_grant".into(), 50126));
}
