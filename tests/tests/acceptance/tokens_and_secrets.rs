//! The token and secret adapters on their own: `TokenProvider` against the
//! Entra emulator with a real `SecretsManagerTokenStore` on moto, the store
//! itself (the secret's JSON of docs/contract.md 1.3, read back with the SDK).
//! Every test has its own secret prefix or tables, so they run in parallel.
//! (The SQS sync queue's tests are with the other adapters', in stores/.)

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_secretsmanager::config::{ConfigBag, Intercept};
use aws_sdk_secretsmanager::error::BoxError;
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretInput;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueInput;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueInput;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use entra_sync::graph::{AccessTokenSource, TokenError};
use entra_sync::identity::{EntraApp, IdentityClient};
use entra_sync::model::{EntraTenantId, TenantId};
use entra_sync::ports::StoreError;
use entra_sync::store::TenantGrant;
use entra_sync::store::secrets::tenant_secret_name;
use entra_sync::store::{AppClientSecret, SecretsManagerTokenStore};
use entra_sync::tokens::{GrantStore, ROTATION_WRITE_INTERVAL, TokenProvider};
use entra_sync_tests::emulator::{AppRegistration, Emulator, Knobs, Revocation, User};
use entra_sync_tests::local_aws::LocalAws;
use entra_sync_tests::stack::{
    CLIENT_ID, CONTOSO, CONTOSO_ADMIN, REDIRECT_URI, seed_organisations,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const TENANT: &str = "acme";
/// A value no real token has, to look for in error texts.
const FAKE_TOKEN: &str = "rt-SECRET-VALUE";
/// Contoso's admin as `seed_organisations` creates them, and a second one.
const CONTOSO_ADMIN_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001";
const SECOND_ADMIN: &str = "second.admin@contoso.com";
const SECOND_ADMIN_ID: &str = "a1b2c3d4-0000-4000-8000-000000000009";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn app_secret(s: &str) -> entra_sync::identity::AppCredential {
    entra_sync::identity::AppCredential::ClientSecret(secret(s))
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// The Secrets Manager calls a client made, as (operation, secret id);
/// while `fail_puts` is set, PutSecretValue fails before it is sent.
#[derive(Debug, Clone, Default)]
struct SecretCalls {
    calls: Arc<Mutex<Vec<(&'static str, String)>>>,
    fail_puts: Arc<AtomicBool>,
}

impl Intercept for SecretCalls {
    fn name(&self) -> &'static str {
        "SecretCalls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let call = if let Some(get) = input.downcast_ref::<GetSecretValueInput>() {
            Some(("GetSecretValue", get.secret_id()))
        } else if let Some(put) = input.downcast_ref::<PutSecretValueInput>() {
            Some(("PutSecretValue", put.secret_id()))
        } else {
            input
                .downcast_ref::<CreateSecretInput>()
                .map(|create| ("CreateSecret", create.name()))
        };
        if let Some((operation, id)) = call {
            self.calls
                .lock()
                .unwrap()
                .push((operation, id.unwrap_or_default().to_owned()));
            if operation == "PutSecretValue" && self.fail_puts.load(Ordering::Relaxed) {
                return Err("PutSecretValue refused by the test".into());
            }
        }
        Ok(())
    }
}

impl SecretCalls {
    fn count(&self, operation: &str, secret_id: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(op, id)| *op == operation && id == secret_id)
            .count()
    }

    fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }

    fn fail_puts(&self, fail: bool) {
        self.fail_puts.store(fail, Ordering::Relaxed);
    }
}

/// Moto with the app's client secret under a fresh prefix, the emulator
/// with Contoso, and a Secrets Manager client whose calls are counted.
struct Fixture {
    aws: LocalAws,
    emulator: Emulator,
    prefix: String,
    app_secret_value: String,
    app_secret_arn: String,
    calls: SecretCalls,
    secrets: aws_sdk_secretsmanager::Client,
    tenant: TenantId,
}

impl Fixture {
    async fn start() -> Self {
        let aws = LocalAws::from_env().await.unwrap();
        let run = unique("k");
        let app_secret_value = format!("app~secret.{}", uuid::Uuid::new_v4().simple());
        let app_secret_arn = aws
            .create_secret(&format!("{run}/entra-app-client-secret"), &app_secret_value)
            .await
            .unwrap();
        let emulator = Emulator::start().await.unwrap();
        emulator.register_app(AppRegistration {
            client_id: CLIENT_ID.into(),
            client_secret: app_secret_value.clone(),
            redirect_uris: vec![REDIRECT_URI.into()],
            federated_credentials: Vec::new(),
        });
        seed_organisations(&emulator);
        emulator.with_tenant(CONTOSO, |t| {
            t.upsert_user(User {
                id: SECOND_ADMIN_ID.into(),
                user_principal_name: SECOND_ADMIN.into(),
                display_name: Some("Second Admin".into()),
                account_enabled: true,
                is_global_admin: true,
                ..User::default()
            })
        });
        let calls = SecretCalls::default();
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&aws.sdk)
                .interceptor(calls.clone())
                .build(),
        );
        Self {
            aws,
            emulator,
            prefix: format!("{run}/entra-sync/"),
            app_secret_value,
            app_secret_arn,
            calls,
            secrets,
            tenant: TenantId::parse(TENANT).unwrap(),
        }
    }

    fn store(&self) -> SecretsManagerTokenStore {
        SecretsManagerTokenStore::new(self.secrets.clone(), self.prefix.clone())
    }

    /// As `Clients::token_provider` builds it, on the counted client.
    fn provider(&self) -> TokenProvider<EntraApp, SecretsManagerTokenStore> {
        TokenProvider::new(
            EntraApp::new(
                IdentityClient::new(
                    entra_sync::https::client(),
                    url::Url::parse(&self.emulator.base_url).unwrap(),
                    CLIENT_ID.into(),
                    None,
                ),
                std::sync::Arc::new(AppClientSecret::new(
                    self.secrets.clone(),
                    self.app_secret_arn.clone(),
                )),
            ),
            self.store(),
        )
    }

    fn secret_name(&self) -> String {
        tenant_secret_name(&self.prefix, &self.tenant)
    }

    /// The admin signs in through the emulator; the grant is stored as the
    /// callback stores it, authorised at `authorised_at`. Returns the
    /// refresh token stored. The call log starts empty afterwards.
    async fn authorise(&self, authorised_at: DateTime<Utc>) -> String {
        self.authorise_as(CONTOSO_ADMIN, authorised_at).await
    }

    async fn authorise_as(&self, admin: &str, authorised_at: DateTime<Utc>) -> String {
        self.authorise_tenant(&self.tenant, admin, authorised_at)
            .await
    }

    async fn authorise_tenant(
        &self,
        tenant: &TenantId,
        admin: &str,
        authorised_at: DateTime<Utc>,
    ) -> String {
        let identity = IdentityClient::new(
            entra_sync::https::client(),
            url::Url::parse(&self.emulator.base_url).unwrap(),
            CLIENT_ID.into(),
            Some(url::Url::parse(REDIRECT_URI).unwrap()),
        );
        let request = identity.authorization_request("organizations").unwrap();
        let mut url = request.url.clone();
        url.query_pairs_mut().append_pair("login_hint", admin);
        let back =
            url::Url::parse(&self.emulator.browse(url.as_str()).await.unwrap().redirect()).unwrap();
        let code = back
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let grant = identity
            .exchange_code(
                "organizations",
                &app_secret(&self.app_secret_value),
                &secret(&code),
                &request.pkce_verifier,
            )
            .await
            .unwrap();
        let refresh_token = grant.refresh_token.unwrap();
        self.store()
            .save_tenant_tokens(
                tenant,
                &TenantGrant {
                    entra_tenant_id: EntraTenantId::parse(CONTOSO).unwrap(),
                    refresh_token: refresh_token.clone(),
                    scope: grant.scope,
                    authorised_at,
                    authorised_by: Some(admin.into()),
                },
            )
            .await
            .unwrap();
        self.calls.clear();
        refresh_token.expose_secret().to_owned()
    }

    /// The tenant's secret as Secrets Manager holds it.
    async fn secret_json(&self) -> Value {
        let text = self
            .aws
            .secret_value(&self.secret_name())
            .await
            .unwrap()
            .expect("the tenant's secret exists");
        serde_json::from_str(&text).unwrap()
    }

    /// Writes the tenant's secret by hand, as a human or another release would.
    async fn put_secret_by_hand(&self, body: &str) {
        self.aws
            .create_secret(&self.secret_name(), body)
            .await
            .unwrap();
    }

    /// Token requests with the refresh-token grant the emulator answered.
    fn refreshes(&self) -> usize {
        self.emulator
            .requests()
            .iter()
            .filter(|r| r.grant_type.as_deref() == Some("refresh_token"))
            .count()
    }

    fn tenant_secret_reads(&self) -> usize {
        self.calls.count("GetSecretValue", &self.secret_name())
    }

    fn secret_reads_of(&self, tenant: &TenantId) -> usize {
        self.calls
            .count("GetSecretValue", &tenant_secret_name(&self.prefix, tenant))
    }

    fn tenant_secret_writes(&self) -> usize {
        self.calls.count("PutSecretValue", &self.secret_name())
    }

    fn app_secret_reads(&self) -> usize {
        self.calls.count("GetSecretValue", &self.app_secret_arn)
    }

    /// The refresh token the emulator issued last.
    fn newest_refresh_token(&self) -> String {
        self.emulator
            .issued_secrets()
            .into_iter()
            .rev()
            .find(|s| s.starts_with("1.AQ"))
            .expect("a refresh token was issued")
    }

    /// Whether the emulator takes this access token for Contoso.
    fn is_contoso_access_token(&self, token: &SecretString) -> bool {
        self.emulator
            .state()
            .access_tokens
            .get(token.expose_secret())
            .is_some_and(|g| g.tenant_id == CONTOSO)
    }
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn parse_time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp string"))
        .unwrap()
        .with_timezone(&Utc)
}

// ---------------------------------------------------------------------------
// TokenProvider

#[tokio::test]
async fn given_an_authorised_tenant_when_two_tokens_are_asked_for_then_one_refresh_serves_both() {
    let fx = Fixture::start().await;
    fx.authorise(Utc::now()).await;
    let provider = fx.provider();
    let source = provider.for_tenant(&fx.tenant);

    let first = source.access_token(false).await.unwrap();
    let second = source.access_token(false).await.unwrap();

    assert_eq!(first.expose_secret(), second.expose_secret());
    assert!(fx.is_contoso_access_token(&first));
    assert_eq!(fx.refreshes(), 1, "{:?}", fx.emulator.requests());
    assert_eq!(fx.tenant_secret_reads(), 1);
}

#[tokio::test]
async fn given_a_cached_token_when_a_refresh_is_forced_then_a_new_one_comes_from_the_rotated_refresh_token()
 {
    let fx = Fixture::start().await;
    let stored = fx.authorise(Utc::now()).await;
    let provider = fx.provider();
    let source = provider.for_tenant(&fx.tenant);
    let first = source.access_token(false).await.unwrap();
    // From now on only the rotated refresh token redeems.
    assert!(fx.emulator.expire_refresh_token(&stored));

    let forced = source.access_token(true).await.unwrap();

    assert_ne!(first.expose_secret(), forced.expose_secret());
    assert!(fx.is_contoso_access_token(&forced));
    assert_eq!(fx.refreshes(), 2);
    // The cache, not the secret, held the rotated refresh token.
    assert_eq!(fx.tenant_secret_reads(), 1);
    let again = source.access_token(false).await.unwrap();
    assert_eq!(again.expose_secret(), forced.expose_secret());
    assert_eq!(fx.refreshes(), 2);
}

#[tokio::test]
async fn given_two_tenants_when_each_asks_twice_then_each_has_its_own_token_and_the_app_secret_is_read_once()
 {
    let fx = Fixture::start().await;
    let other = TenantId::parse("globex").unwrap();
    fx.authorise_tenant(&fx.tenant, CONTOSO_ADMIN, Utc::now())
        .await;
    fx.authorise_tenant(&other, SECOND_ADMIN, Utc::now()).await;
    let provider = fx.provider();

    let acme = provider
        .for_tenant(&fx.tenant)
        .access_token(false)
        .await
        .unwrap();
    let globex = provider
        .for_tenant(&other)
        .access_token(false)
        .await
        .unwrap();
    let acme_again = provider
        .for_tenant(&fx.tenant)
        .access_token(false)
        .await
        .unwrap();
    let globex_again = provider
        .for_tenant(&other)
        .access_token(false)
        .await
        .unwrap();

    assert_ne!(acme.expose_secret(), globex.expose_secret());
    assert_eq!(acme.expose_secret(), acme_again.expose_secret());
    assert_eq!(globex.expose_secret(), globex_again.expose_secret());
    let user_of = |token: &SecretString| {
        fx.emulator
            .state()
            .access_tokens
            .get(token.expose_secret())
            .map(|g| g.user_id.clone())
    };
    assert_eq!(user_of(&acme).as_deref(), Some(CONTOSO_ADMIN_ID));
    assert_eq!(user_of(&globex).as_deref(), Some(SECOND_ADMIN_ID));
    assert_eq!(fx.refreshes(), 2);
    assert_eq!(fx.secret_reads_of(&fx.tenant), 1);
    assert_eq!(fx.secret_reads_of(&other), 1);
    assert_eq!(fx.app_secret_reads(), 1);
}

#[tokio::test]
async fn given_a_cold_provider_when_two_tokens_are_asked_for_at_once_then_the_app_secret_is_read_once()
 {
    let fx = Fixture::start().await;
    fx.authorise(Utc::now()).await;
    let provider = fx.provider();
    let source = provider.for_tenant(&fx.tenant);

    let (a, b) = tokio::join!(source.access_token(false), source.access_token(false));

    assert!(fx.is_contoso_access_token(&a.unwrap()));
    assert!(fx.is_contoso_access_token(&b.unwrap()));
    assert_eq!(fx.app_secret_reads(), 1);
    // Both may refresh (there is no single flight), never more.
    assert!((1..=2).contains(&fx.refreshes()), "{}", fx.refreshes());
}

#[tokio::test]
async fn given_access_tokens_shorter_lived_than_the_margin_when_asked_twice_then_each_call_refreshes()
 {
    let fx = Fixture::start().await;
    fx.authorise(Utc::now()).await;
    // Five minutes before expiry a token is renewed: 200 s is already due.
    fx.emulator.set_knobs(Knobs {
        access_token_ttl_secs: Some(200),
        ..Knobs::default()
    });
    let provider = fx.provider();
    let source = provider.for_tenant(&fx.tenant);

    let first = source.access_token(false).await.unwrap();
    let second = source.access_token(false).await.unwrap();

    assert_ne!(first.expose_secret(), second.expose_secret());
    assert_eq!(fx.refreshes(), 2);
}

#[tokio::test]
async fn given_a_grant_stored_over_a_day_ago_when_refreshed_then_the_rotated_token_is_written_back_once()
 {
    let fx = Fixture::start().await;
    let authorised_at =
        (Utc::now() - ROTATION_WRITE_INTERVAL - Duration::hours(1)).trunc_subsecs(0);
    let stored = fx.authorise(authorised_at).await;
    let before_json = fx.secret_json().await;
    let provider = fx.provider();
    let source = provider.for_tenant(&fx.tenant);
    let before = Utc::now().trunc_subsecs(0);

    source.access_token(false).await.unwrap();

    let after = Utc::now();
    let rotated = fx.newest_refresh_token();
    assert_ne!(rotated, stored);
    let written = fx.secret_json().await;
    assert_eq!(written["refresh_token"], json!(rotated));
    assert_eq!(
        fx.emulator.refresh_token_owner(&rotated),
        Some((CONTOSO.to_owned(), CONTOSO_ADMIN_ID.to_owned()))
    );
    let refreshed_at = parse_time(&written["refreshed_at"]);
    assert!(
        before <= refreshed_at && refreshed_at <= after,
        "{refreshed_at}"
    );
    for kept in ["entra_tenant_id", "scope", "authorised_at", "authorised_by"] {
        assert_eq!(written[kept], before_json[kept], "{kept}");
    }
    assert_eq!(fx.tenant_secret_writes(), 1);

    // Within the interval the newer tokens stay in memory only.
    source.access_token(true).await.unwrap();
    source.access_token(true).await.unwrap();
    assert_eq!(fx.refreshes(), 3);
    assert_ne!(fx.newest_refresh_token(), rotated);
    assert_eq!(fx.tenant_secret_writes(), 1);
    assert_eq!(fx.secret_json().await["refresh_token"], json!(rotated));

    // A new process reads refreshed_at as the stored token's age: no write.
    let cold = fx.provider();
    cold.for_tenant(&fx.tenant)
        .access_token(false)
        .await
        .unwrap();
    assert_eq!(fx.refreshes(), 4);
    assert_eq!(fx.tenant_secret_writes(), 1);
    assert_eq!(fx.secret_json().await["refresh_token"], json!(rotated));
}

#[tokio::test]
async fn given_a_failed_write_back_when_the_token_is_refreshed_again_then_the_newest_token_is_written()
 {
    let fx = Fixture::start().await;
    let stored = fx
        .authorise(Utc::now() - ROTATION_WRITE_INTERVAL - Duration::hours(1))
        .await;
    let provider = fx.provider();
    let source = provider.for_tenant(&fx.tenant);
    fx.calls.fail_puts(true);

    // The write-back fails: the caller still gets its token.
    let first = source.access_token(false).await.unwrap();

    assert!(fx.is_contoso_access_token(&first));
    assert_eq!(fx.tenant_secret_writes(), 1);
    assert_eq!(fx.secret_json().await["refresh_token"], json!(stored));

    fx.calls.fail_puts(false);
    source.access_token(true).await.unwrap();

    // Tried again on the next refresh, with the token that refresh rotated.
    assert_eq!(fx.tenant_secret_writes(), 2);
    let written = fx.secret_json().await;
    assert_eq!(written["refresh_token"], json!(fx.newest_refresh_token()));
    assert!(written.get("refreshed_at").is_some());
    source.access_token(true).await.unwrap();
    assert_eq!(fx.tenant_secret_writes(), 2);
}

#[tokio::test]
async fn given_a_fresh_authorisation_when_refreshed_then_the_secret_is_not_written() {
    let fx = Fixture::start().await;
    let stored = fx.authorise(Utc::now()).await;
    let provider = fx.provider();

    provider
        .for_tenant(&fx.tenant)
        .access_token(false)
        .await
        .unwrap();

    assert_eq!(fx.refreshes(), 1);
    assert_eq!(fx.tenant_secret_writes(), 0);
    let secret = fx.secret_json().await;
    assert_eq!(secret["refresh_token"], json!(stored));
    assert!(secret.get("refreshed_at").is_none());
}

#[tokio::test]
async fn given_revoked_consent_when_a_refresh_is_forced_then_reauthorisation_is_required_and_the_cache_is_forgotten()
 {
    for how in [Revocation::Revoked, Revocation::Inactivity] {
        let fx = Fixture::start().await;
        fx.authorise(Utc::now()).await;
        let provider = fx.provider();
        let source = provider.for_tenant(&fx.tenant);
        let cached = source.access_token(false).await.unwrap();
        fx.emulator.revoke_consent(CONTOSO, how);
        // Until something forces a refresh the cached token is used.
        let still = source.access_token(false).await.unwrap();
        assert_eq!(still.expose_secret(), cached.expose_secret());
        assert_eq!(fx.refreshes(), 1);

        let refused = source.access_token(true).await;

        let code = match how {
            Revocation::Revoked => "AADSTS50173",
            Revocation::Inactivity => "AADSTS700082",
        };
        match &refused {
            Err(TokenError::ReauthorisationRequired(why)) => {
                assert!(why.contains("invalid_grant") && why.contains(code), "{why}");
            }
            other => panic!("expected ReauthorisationRequired, got {other:?}"),
        }
        // The cached (rotated) refresh token, then the stored one: a newer
        // authorisation could have replaced it. Both are refused.
        assert_eq!(fx.refreshes(), 3);
        // Forgotten: the next call does not answer with the old access
        // token but reads the stored grant again, which is refused too.
        let next = source.access_token(false).await;
        assert!(
            matches!(next, Err(TokenError::ReauthorisationRequired(_))),
            "{next:?}"
        );
        assert_eq!(fx.refreshes(), 4);
        // The first read, the look for a newer authorisation when the
        // cached grant was refused, and the read after it was forgotten.
        assert_eq!(fx.tenant_secret_reads(), 3);
    }
}

#[tokio::test]
async fn given_a_tenant_without_a_secret_when_a_token_is_asked_for_then_it_is_not_authorised() {
    let fx = Fixture::start().await;
    let provider = fx.provider();

    let answer = provider.for_tenant(&fx.tenant).access_token(false).await;

    assert_eq!(answer.unwrap_err(), TokenError::NotAuthorised);
    assert_eq!(fx.tenant_secret_reads(), 1);
    assert_eq!(fx.refreshes(), 0);
    // Nothing needed the app's client secret yet.
    assert_eq!(fx.app_secret_reads(), 0);
}

#[tokio::test]
async fn given_a_malformed_tenant_secret_when_a_token_is_asked_for_then_it_is_unavailable_without_the_secret()
 {
    let fx = Fixture::start().await;
    fx.put_secret_by_hand(&format!(
        r#"{{"entra_tenant_id":"not-a-guid","refresh_token":"{FAKE_TOKEN}"}}"#
    ))
    .await;
    let provider = fx.provider();

    let answer = provider.for_tenant(&fx.tenant).access_token(false).await;

    let err = answer.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("malformed"), "{err}");
    assert!(!err.to_string().contains(FAKE_TOKEN));
    assert!(!format!("{err:?}").contains(FAKE_TOKEN));
    assert_eq!(fx.refreshes(), 0);
}

#[tokio::test]
async fn given_the_app_secret_was_read_once_when_it_is_deleted_then_later_refreshes_still_work() {
    let fx = Fixture::start().await;
    fx.authorise(Utc::now()).await;
    let provider = fx.provider();
    let source = provider.for_tenant(&fx.tenant);
    source.access_token(false).await.unwrap();
    assert_eq!(fx.app_secret_reads(), 1);
    fx.aws
        .secrets
        .delete_secret()
        .secret_id(&fx.app_secret_arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert_eq!(fx.aws.secret_value(&fx.app_secret_arn).await.unwrap(), None);

    let second = source.access_token(true).await.unwrap();
    let third = source.access_token(true).await.unwrap();

    assert!(fx.is_contoso_access_token(&second) && fx.is_contoso_access_token(&third));
    assert_eq!(fx.refreshes(), 3);
    assert_eq!(fx.app_secret_reads(), 1);
}

#[tokio::test]
async fn given_a_new_authorisation_after_the_old_grant_died_when_a_warm_provider_refreshes_then_it_uses_the_new_grant()
 {
    let fx = Fixture::start().await;
    let first = fx.authorise(Utc::now()).await;
    let provider = fx.provider();
    let source = provider.for_tenant(&fx.tenant);
    source.access_token(false).await.unwrap();
    let cached = fx.newest_refresh_token();
    // The first admin's grant dies (sessions revoked, account removed) and
    // another admin authorises the integration again.
    assert!(fx.emulator.expire_refresh_token(&first));
    assert!(fx.emulator.expire_refresh_token(&cached));
    fx.authorise_as(SECOND_ADMIN, Utc::now()).await;

    let answer = source.access_token(true).await;

    let token = answer.expect("the new authorisation serves the warm process");
    assert!(fx.is_contoso_access_token(&token));
}

#[tokio::test]
async fn given_a_new_authorisation_when_a_warm_provider_writes_back_a_rotation_then_the_new_grant_is_kept()
 {
    let fx = Fixture::start().await;
    fx.authorise(Utc::now() - ROTATION_WRITE_INTERVAL - Duration::hours(1))
        .await;
    let provider = fx.provider();
    let source = provider.for_tenant(&fx.tenant);
    // The write-back is due but fails once (throttled, say): the cache keeps
    // the stored token's old age and tries again on the next refresh.
    fx.calls.fail_puts(true);
    source.access_token(false).await.unwrap();
    fx.calls.fail_puts(false);
    assert_eq!(fx.tenant_secret_writes(), 1);
    // Meanwhile a second admin authorises the integration again.
    let reauthorised = fx.authorise_as(SECOND_ADMIN, Utc::now()).await;
    assert_eq!(
        fx.emulator.refresh_token_owner(&reauthorised),
        Some((CONTOSO.to_owned(), SECOND_ADMIN_ID.to_owned()))
    );

    source.access_token(true).await.unwrap();

    let secret = fx.secret_json().await;
    assert_eq!(secret["authorised_by"], json!(SECOND_ADMIN));
    let stored = secret["refresh_token"].as_str().unwrap();
    assert_eq!(
        fx.emulator.refresh_token_owner(stored),
        Some((CONTOSO.to_owned(), SECOND_ADMIN_ID.to_owned())),
        "the secret says {SECOND_ADMIN} authorised it but holds the first admin's grant"
    );
}

// ---------------------------------------------------------------------------
// SecretsManagerTokenStore

fn grant(refresh_token: &str, authorised_at: DateTime<Utc>, by: Option<&str>) -> TenantGrant {
    TenantGrant {
        entra_tenant_id: EntraTenantId::parse(CONTOSO).unwrap(),
        refresh_token: secret(refresh_token),
        scope: "openid profile offline_access https://graph.microsoft.com/.default".into(),
        authorised_at,
        authorised_by: by.map(str::to_owned),
    }
}

#[tokio::test]
async fn given_no_secret_when_tokens_are_saved_twice_then_it_is_created_then_overwritten() {
    let fx = Fixture::start().await;
    let store = fx.store();
    let first_at = Utc::now().trunc_subsecs(0) - Duration::days(3);
    let second_at = Utc::now().trunc_subsecs(0);

    store
        .save_tenant_tokens(
            &fx.tenant,
            &grant("rt-first", first_at, Some(CONTOSO_ADMIN)),
        )
        .await
        .unwrap();
    let created = fx.secret_json().await;
    // Someone adds to the secret by hand, and a rotation was written.
    let mut edited = created.clone();
    edited["note"] = json!("added by hand");
    edited["refreshed_at"] = json!("2026-01-01T00:00:00Z");
    fx.aws
        .secrets
        .put_secret_value()
        .secret_id(fx.secret_name())
        .secret_string(edited.to_string())
        .send()
        .await
        .unwrap();
    store
        .save_tenant_tokens(&fx.tenant, &grant("rt-second", second_at, None))
        .await
        .unwrap();
    let overwritten = fx.secret_json().await;

    let name = fx.secret_name();
    assert_eq!(name, format!("{}tenants/{TENANT}", fx.prefix));
    // The first save finds no secret (PutSecretValue fails) and creates it.
    assert_eq!(fx.calls.count("CreateSecret", &name), 1);
    assert_eq!(fx.calls.count("PutSecretValue", &name), 2);
    assert_eq!(
        created,
        json!({
            "entra_tenant_id": CONTOSO,
            "refresh_token": "rt-first",
            "scope": "openid profile offline_access https://graph.microsoft.com/.default",
            "authorised_at": first_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "authorised_by": CONTOSO_ADMIN,
        })
    );
    assert!(
        created["authorised_at"].as_str().unwrap().ends_with('Z'),
        "{created}"
    );
    // A new authorisation replaces the whole secret: exactly the 1.3 fields.
    assert_eq!(
        keys(&overwritten),
        ["authorised_at", "entra_tenant_id", "refresh_token", "scope"]
            .map(String::from)
            .into()
    );
    assert_eq!(overwritten["refresh_token"], json!("rt-second"));
    assert_eq!(parse_time(&overwritten["authorised_at"]), second_at);
    let description = fx
        .aws
        .secrets
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap()
        .description
        .unwrap_or_default();
    assert!(description.contains(TENANT), "{description}");
}

#[tokio::test]
async fn given_no_secret_when_two_grants_are_saved_at_once_then_both_succeed_and_one_is_stored() {
    let fx = Fixture::start().await;
    let store = fx.store();
    let now = Utc::now();
    let (a, b) = (grant("rt-a", now, None), grant("rt-b", now, None));

    let (saved_a, saved_b) = tokio::join!(
        store.save_tenant_tokens(&fx.tenant, &a),
        store.save_tenant_tokens(&fx.tenant, &b),
    );

    assert!(
        saved_a.is_ok() && saved_b.is_ok(),
        "{saved_a:?} {saved_b:?}"
    );
    let stored = fx.secret_json().await["refresh_token"].clone();
    assert!(
        stored == json!("rt-a") || stored == json!("rt-b"),
        "{stored}"
    );
}

#[tokio::test]
async fn given_a_saved_grant_when_loaded_then_it_reads_back_as_stored() {
    let fx = Fixture::start().await;
    let store = fx.store();
    let authorised_at = Utc::now().trunc_subsecs(0) - Duration::hours(5);
    store
        .save_tenant_tokens(
            &fx.tenant,
            &grant(FAKE_TOKEN, authorised_at, Some(CONTOSO_ADMIN)),
        )
        .await
        .unwrap();

    let loaded = store.load_grant(&fx.tenant).await.unwrap().unwrap();

    assert_eq!(loaded.entra_tenant_id.as_str(), CONTOSO);
    assert_eq!(loaded.refresh_token.expose_secret(), FAKE_TOKEN);
    assert_eq!(
        loaded.scope,
        "openid profile offline_access https://graph.microsoft.com/.default"
    );
    assert_eq!(loaded.stored_at, authorised_at);
    // Its Debug shows no token.
    assert!(!format!("{loaded:?}").contains(FAKE_TOKEN));
    let other = TenantId::parse("someone-else").unwrap();
    assert!(store.load_grant(&other).await.unwrap().is_none());
}

#[tokio::test]
async fn given_a_secret_with_attributes_this_release_does_not_know_when_a_rotated_token_is_stored_then_they_are_kept()
 {
    let fx = Fixture::start().await;
    let authorised_at = "2026-01-02T03:04:05Z";
    fx.put_secret_by_hand(
        &json!({
            "entra_tenant_id": CONTOSO,
            "refresh_token": "rt-old",
            "scope": "openid offline_access",
            "authorised_at": authorised_at,
            "authorised_by": CONTOSO_ADMIN,
            "note": "rotated by hand after incident 42",
            "future": {"version": 2, "flags": ["a", "b"]},
        })
        .to_string(),
    )
    .await;
    let store = fx.store();
    let at = Utc::now().trunc_subsecs(0);

    store
        .store_rotated_refresh_token(&fx.tenant, &secret("rt-new"), at, None)
        .await
        .unwrap();

    let written = fx.secret_json().await;
    assert_eq!(
        written,
        json!({
            "entra_tenant_id": CONTOSO,
            "refresh_token": "rt-new",
            "scope": "openid offline_access",
            "authorised_at": authorised_at,
            "authorised_by": CONTOSO_ADMIN,
            "refreshed_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "note": "rotated by hand after incident 42",
            "future": {"version": 2, "flags": ["a", "b"]},
        })
    );
    // The stored token's age is now that of the rotation.
    let loaded = store.load_grant(&fx.tenant).await.unwrap().unwrap();
    assert_eq!(loaded.stored_at, at);
    assert_eq!(loaded.refresh_token.expose_secret(), "rt-new");
}

#[tokio::test]
async fn given_no_secret_when_a_rotated_token_is_stored_then_it_is_malformed_and_nothing_is_created()
 {
    let fx = Fixture::start().await;
    let store = fx.store();

    let err = store
        .store_rotated_refresh_token(&fx.tenant, &secret(FAKE_TOKEN), Utc::now(), None)
        .await
        .unwrap_err();

    assert!(
        matches!(&err, StoreError::Malformed { detail, .. } if detail.contains("gone")),
        "{err:?}"
    );
    assert_eq!(fx.aws.secret_value(&fx.secret_name()).await.unwrap(), None);
}

#[tokio::test]
async fn given_malformed_secrets_when_loaded_then_they_are_malformed_without_quoting_the_secret() {
    let cases = [
        ("not JSON", format!("refresh_token={FAKE_TOKEN}")),
        (
            "no refresh_token",
            json!({"entra_tenant_id": CONTOSO, "scope": FAKE_TOKEN}).to_string(),
        ),
        (
            "entra_tenant_id not a GUID",
            json!({"entra_tenant_id": format!("tenant-{FAKE_TOKEN}"), "refresh_token": FAKE_TOKEN})
                .to_string(),
        ),
        (
            "refresh_token not a string",
            format!(r#"{{"entra_tenant_id":"{CONTOSO}","refresh_token":["{FAKE_TOKEN}"]}}"#),
        ),
        (
            "refresh_token empty",
            json!({"entra_tenant_id": CONTOSO, "refresh_token": "", "scope": FAKE_TOKEN})
                .to_string(),
        ),
        (
            "a JSON string, not an object",
            json!(format!("{FAKE_TOKEN}")).to_string(),
        ),
    ];
    for (case, body) in cases {
        let fx = Fixture::start().await;
        fx.put_secret_by_hand(&body).await;

        let err = fx.store().load_grant(&fx.tenant).await.unwrap_err();

        assert!(
            matches!(
                err,
                StoreError::Malformed {
                    what: "the tenant's secret",
                    ..
                }
            ),
            "{case}: {err:?}"
        );
        assert!(!err.is_retryable(), "{case}");
        let (shown, debugged) = (err.to_string(), format!("{err:?}"));
        assert!(!shown.contains(FAKE_TOKEN), "{case}: {shown}");
        assert!(!debugged.contains(FAKE_TOKEN), "{case}: {debugged}");
        assert!(!shown.contains("SECRET"), "{case}: {shown}");
    }
}

#[tokio::test]
async fn given_a_secret_marked_for_deletion_when_loaded_then_the_store_is_unavailable() {
    let fx = Fixture::start().await;
    fx.put_secret_by_hand(
        &json!({"entra_tenant_id": CONTOSO, "refresh_token": FAKE_TOKEN}).to_string(),
    )
    .await;
    fx.aws
        .secrets
        .delete_secret()
        .secret_id(fx.secret_name())
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();

    let err = fx.store().load_grant(&fx.tenant).await.unwrap_err();
    let token = fx
        .provider()
        .for_tenant(&fx.tenant)
        .access_token(false)
        .await
        .unwrap_err();

    // Not "never authorised": Secrets Manager refuses to read it
    // (InvalidRequestException), which the store reports as a retryable failure.
    assert!(
        matches!(&err, StoreError::Unavailable { operation: "reading the tenant's grant", detail }
            if detail.contains("InvalidRequestException")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(matches!(token, TokenError::Unavailable(_)), "{token:?}");
    assert!(!format!("{err:?} {token:?}").contains(FAKE_TOKEN));
}

#[tokio::test]
async fn given_a_binary_secret_when_loaded_then_it_is_malformed() {
    let fx = Fixture::start().await;
    fx.aws
        .secrets
        .create_secret()
        .name(fx.secret_name())
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            FAKE_TOKEN.as_bytes(),
        ))
        .send()
        .await
        .unwrap();

    let err = fx.store().load_grant(&fx.tenant).await.unwrap_err();

    assert!(
        matches!(&err, StoreError::Malformed { detail, .. } if detail.contains("no string value")),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(FAKE_TOKEN));
}
