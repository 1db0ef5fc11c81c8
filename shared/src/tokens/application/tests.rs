use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;
use crate::identity::TokenErrorBody;

const CONTOSO: &str = "3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13";
const FABRIKAM: &str = "7b1e2c3d-4f50-4a61-9b72-8c3d4e5f6a71";

/// How the fake token endpoint answers a client-credentials request.
#[derive(Clone)]
enum Answer {
    /// A token carrying these roles.
    Token(Vec<String>),
    /// An OAuth error with this `error` and AADSTS code.
    Rejected(&'static str, u32),
    /// No answer at all.
    Unreachable,
    /// A token that is no JWT (Microsoft does not promise one).
    Opaque,
    /// An answer that is no OAuth body (a gateway's 502 page).
    Unreadable,
}

/// The token endpoint: counts requests per Entra tenant, answers as told.
struct TokenEndpoint {
    answer: Mutex<Answer>,
    expires_in: Duration,
    requests: Mutex<Vec<String>>,
    issued: AtomicUsize,
    /// The app registration (one per cloud).
    client_id: &'static str,
}

impl TokenEndpoint {
    fn granting(roles: &[&str]) -> Self {
        Self {
            answer: Mutex::new(Answer::Token(
                roles.iter().map(|r| (*r).to_owned()).collect(),
            )),
            expires_in: Duration::from_secs(3599),
            requests: Mutex::default(),
            issued: AtomicUsize::new(0),
            client_id: "app-id",
        }
    }

    fn granting_everything() -> Self {
        Self::granting(REQUIRED_APP_ROLES)
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn requests(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn requests_for(&self, entra: &str) -> usize {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|r| *r == entra).count()
    }
}

/// A JWT whose payload carries `roles` and a serial number (each token
/// differs from the last).
fn jwt(roles: &[String], serial: usize) -> SecretString {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    SecretString::from(format!(
        "{}.{}.sig",
        part(serde_json::json!({"alg": "RS256"})),
        part(serde_json::json!({"roles": roles, "serial": serial}))
    ))
}

impl AppCredentials for TokenEndpoint {
    fn client_id(&self) -> &str {
        self.client_id
    }

    async fn client_credentials(&self, entra_tenant_id: &str) -> Result<AppToken, IdentityError> {
        self.requests
            .lock()
            .unwrap()
            .push(entra_tenant_id.to_owned());
        // Concurrent callers get their chance to ask as well.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let answer = self.answer.lock().unwrap().clone();
        match answer {
            Answer::Token(roles) => {
                let serial = self.issued.fetch_add(1, Ordering::Relaxed);
                Ok(AppToken::new(jwt(&roles, serial), self.expires_in))
            }
            Answer::Rejected(error, code) => Err(IdentityError::Rejected(TokenErrorBody {
                error: error.into(),
                error_description: Some(format!("AADSTS{code}: refused")),
                error_codes: vec![code],
                suberror: None,
            })),
            Answer::Unreachable => Err(IdentityError::Transport("connection failed".into())),
            Answer::Unreadable => Err(IdentityError::UnreadableResponse),
            Answer::Opaque => Ok(AppToken::new(
                SecretString::from("opaque".to_owned()),
                self.expires_in,
            )),
        }
    }
}

/// The config's permission fields as written.
#[derive(Default)]
struct Recorded {
    checks: Mutex<Vec<(TenantId, PermissionCheck)>>,
}

impl PermissionRecords for Recorded {
    async fn record_permission_check(
        &self,
        tenant: &TenantId,
        check: &PermissionCheck,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.checks
            .lock()
            .unwrap()
            .push((tenant.clone(), check.clone()));
        Ok(())
    }
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn entra(id: &str) -> EntraTenantId {
    EntraTenantId::parse(id).unwrap()
}

fn source<'a>(
    app: &'a TokenEndpoint,
    provider: &'a AppTokenProvider<Recorded>,
    entra_tenant_id: Option<&str>,
) -> AppTenantTokenSource<'a, TokenEndpoint, Recorded> {
    AppTenantTokenSource {
        app,
        provider,
        tenant: tenant("acme"),
        entra_tenant_id: entra_tenant_id.map(entra),
    }
}

fn value(token: &SecretString) -> String {
    token.expose_secret().to_owned()
}

#[tokio::test(start_paused = true)]
async fn given_an_application_tenant_then_one_token_request_serves_until_shortly_before_expiry() {
    let app = TokenEndpoint::granting_everything();
    let provider = AppTokenProvider::new(Recorded::default());
    let source = source(&app, &provider, Some(CONTOSO));
    let first = source.access_token(false).await.unwrap();
    let again = source.access_token(false).await.unwrap();
    assert_eq!(value(&first), value(&again));
    assert_eq!(app.requests_for(CONTOSO), 1);

    // Still fresh one second before the margin begins.
    tokio::time::advance(app.expires_in - EXPIRY_MARGIN - Duration::from_secs(1)).await;
    source.access_token(false).await.unwrap();
    assert_eq!(app.requests(), 1);

    // Within the margin: renewed, once.
    tokio::time::advance(Duration::from_secs(2)).await;
    let renewed = source.access_token(false).await.unwrap();
    source.access_token(false).await.unwrap();
    assert_ne!(value(&renewed), value(&first));
    assert_eq!(app.requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn given_concurrent_callers_then_one_token_request_answers_them_all() {
    let app = TokenEndpoint::granting_everything();
    let provider = AppTokenProvider::new(Recorded::default());
    let source = source(&app, &provider, Some(CONTOSO));
    let tokens = futures::future::join_all((0..8).map(|_| source.access_token(false))).await;
    let values: std::collections::HashSet<String> =
        tokens.iter().map(|t| value(t.as_ref().unwrap())).collect();
    assert_eq!(values.len(), 1);
    assert_eq!(app.requests(), 1);

    // After a 401, concurrent forced refreshes that saw the same token
    // share one new token.
    let refreshed = futures::future::join_all((0..4).map(|_| source.access_token(true))).await;
    let values: std::collections::HashSet<String> = refreshed
        .iter()
        .map(|t| value(t.as_ref().unwrap()))
        .collect();
    assert_eq!(values.len(), 1);
    assert!(!values.contains(&value(tokens[0].as_ref().unwrap())));
    assert_eq!(app.requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn given_two_tenants_or_a_changed_entra_tenant_then_each_gets_its_own_token() {
    let app = TokenEndpoint::granting_everything();
    let provider = AppTokenProvider::new(Recorded::default());
    let acme = source(&app, &provider, Some(CONTOSO));
    let globex = AppTenantTokenSource {
        tenant: tenant("globex"),
        entra_tenant_id: Some(entra(FABRIKAM)),
        ..source(&app, &provider, None)
    };
    let a = acme.access_token(false).await.unwrap();
    let g = globex.access_token(false).await.unwrap();
    assert_ne!(value(&a), value(&g));
    acme.access_token(false).await.unwrap();
    globex.access_token(false).await.unwrap();
    assert_eq!(
        (app.requests_for(CONTOSO), app.requests_for(FABRIKAM)),
        (1, 1)
    );

    // The config now names another Entra tenant: the cached token is not its.
    let moved = source(&app, &provider, Some(FABRIKAM));
    let m = moved.access_token(false).await.unwrap();
    assert_ne!(value(&m), value(&a));
    assert_eq!(app.requests_for(FABRIKAM), 2);
}

#[tokio::test(start_paused = true)]
async fn given_no_entra_tenant_on_the_config_then_it_is_not_authorised_and_nothing_is_asked() {
    let app = TokenEndpoint::granting_everything();
    let provider = AppTokenProvider::new(Recorded::default());
    let source = source(&app, &provider, None);
    assert_eq!(
        source.access_token(false).await.unwrap_err(),
        TokenError::NotAuthorised
    );
    assert_eq!(app.requests(), 0);
}

#[tokio::test(start_paused = true)]
async fn given_consent_revoked_or_the_app_disabled_then_the_reason_is_named_and_the_token_forgotten()
 {
    for (code, reason) in [
        (700016, ReauthorisationReason::ConsentRevoked),
        (7000112, ReauthorisationReason::AppDisabled),
    ] {
        let app = TokenEndpoint::granting_everything();
        let provider = AppTokenProvider::new(Recorded::default());
        let source = source(&app, &provider, Some(CONTOSO));
        source.access_token(false).await.unwrap();
        app.answer(Answer::Rejected("unauthorized_client", code));

        // Graph refused the cached token (401): the new one is refused.
        let refused = source.access_token(true).await.unwrap_err();
        assert_eq!(refused, TokenError::AppAccessEnded(reason));
        assert_eq!(refused.reauthorisation_reason(), Some(reason));

        // Forgotten: the next caller is refused, not handed the old token
        // (the refusal remembered for a while: no second request).
        let next = source.access_token(false).await.unwrap_err();
        assert_eq!(next, TokenError::AppAccessEnded(reason));
        assert_eq!(app.requests(), 2, "AADSTS{code}");
        tokio::time::advance(REFUSAL_MEMORY).await;
        let later = source.access_token(false).await.unwrap_err();
        assert_eq!(later, TokenError::AppAccessEnded(reason));
        assert_eq!(app.requests(), 3, "AADSTS{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn given_the_token_endpoint_refusing_then_a_burst_of_jobs_makes_one_request_per_minute() {
    for refusal in [
        Answer::Rejected("unauthorized_client", 700016),
        Answer::Rejected("unauthorized_client", 7000112),
        Answer::Rejected("invalid_client", 7000215),
        Answer::Rejected("server_error", 50000),
        Answer::Rejected("temporarily_unavailable", 90006),
        Answer::Unreadable,
    ] {
        let app = TokenEndpoint::granting_everything();
        app.answer(refusal);
        let provider = AppTokenProvider::new(Recorded::default());
        let acme = source(&app, &provider, Some(CONTOSO));
        // Concurrent jobs, then more jobs and a permission check within
        // the minute: one request.
        let burst = futures::future::join_all((0..6).map(|_| acme.access_token(false))).await;
        let first = burst[0].clone().unwrap_err();
        assert!(burst.iter().all(|r| r.as_ref().unwrap_err() == &first));
        tokio::time::advance(REFUSAL_MEMORY - Duration::from_secs(1)).await;
        assert_eq!(acme.access_token(true).await.unwrap_err(), first);
        assert_eq!(acme.permission_check().await.unwrap_err(), first);
        assert_eq!(app.requests(), 1, "{first:?}");

        // The config now names another organisation: its own request.
        let moved = source(&app, &provider, Some(FABRIKAM));
        moved.access_token(false).await.unwrap_err();
        assert_eq!(app.requests_for(FABRIKAM), 1);

        // After the minute: asked again, and a token answers from then on.
        tokio::time::advance(Duration::from_secs(1)).await;
        app.answer(Answer::Token(
            REQUIRED_APP_ROLES.iter().map(|r| (*r).to_owned()).collect(),
        ));
        acme.access_token(false).await.unwrap();
        assert_eq!(app.requests_for(CONTOSO), 2, "{first:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn given_no_connection_to_the_token_endpoint_then_the_next_job_asks_again() {
    let app = TokenEndpoint::granting_everything();
    app.answer(Answer::Unreachable);
    let provider = AppTokenProvider::new(Recorded::default());
    let source = source(&app, &provider, Some(CONTOSO));
    for _ in 0..3 {
        let err = source.access_token(false).await.unwrap_err();
        assert!(matches!(err, TokenError::Unavailable(_)), "{err:?}");
    }
    assert_eq!(app.requests(), 3);
    app.answer(Answer::Token(vec![]));
    source.access_token(false).await.unwrap();
    assert_eq!(app.requests(), 4);
}

#[tokio::test(start_paused = true)]
async fn given_a_server_error_or_no_connection_then_it_is_no_reauthorisation() {
    for answer in [
        Answer::Rejected("temporarily_unavailable", 90006),
        Answer::Rejected("server_error", 50000),
        Answer::Unreachable,
    ] {
        let app = TokenEndpoint::granting_everything();
        app.answer(answer);
        let provider = AppTokenProvider::new(Recorded::default());
        let source = source(&app, &provider, Some(CONTOSO));
        let err = source.access_token(false).await.unwrap_err();
        assert!(matches!(err, TokenError::Unavailable(_)), "{err:?}");
        assert_eq!(err.reauthorisation_reason(), None);
        assert!(crate::graph::GraphError::Token(err).is_retryable());
    }
}

#[tokio::test(start_paused = true)]
async fn given_a_403_then_a_fresh_token_names_the_missing_roles_at_most_once_per_interval() {
    let app = TokenEndpoint::granting(&["User.Read.All", "Group.Read.All", "Domain.Read.All"]);
    let provider = AppTokenProvider::new(Recorded::default());
    let source = source(&app, &provider, Some(CONTOSO));
    let used = source.access_token(false).await.unwrap();

    let check = source.permission_check().await.unwrap().unwrap();
    assert_eq!(
        check.missing,
        vec![
            "User.ReadWrite.All",
            "Group.ReadWrite.All",
            "GroupMember.ReadWrite.All",
            "RoleManagement.Read.Directory"
        ]
    );
    assert_eq!(
        check.granted,
        vec!["User.Read.All", "Group.Read.All", "Domain.Read.All"]
    );
    // The cache was bypassed, and the fresh token serves from now on.
    assert_eq!(app.requests(), 2);
    let now_used = source.access_token(false).await.unwrap();
    assert_ne!(value(&now_used), value(&used));
    assert_eq!(app.requests(), 2);
    let recorded = provider.records.checks.lock().unwrap().clone();
    assert_eq!(recorded, vec![(tenant("acme"), check.clone())]);

    // More refusals soon after: no token request, no write, same answer.
    for _ in 0..5 {
        assert_eq!(
            source.permission_check().await.unwrap(),
            Some(check.clone())
        );
    }
    assert_eq!(app.requests(), 2);
    assert_eq!(provider.records.checks.lock().unwrap().len(), 1);

    // The admin consented again; the next check after the interval sees it
    // and records that nothing is missing.
    app.answer(Answer::Token(
        REQUIRED_APP_ROLES.iter().map(|r| (*r).to_owned()).collect(),
    ));
    tokio::time::advance(PERMISSION_RECHECK_INTERVAL).await;
    let later = source.permission_check().await.unwrap().unwrap();
    assert!(later.missing.is_empty());
    assert_eq!(app.requests(), 3);
    assert_eq!(provider.records.checks.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn given_a_403_when_the_app_was_removed_meanwhile_then_the_check_says_so() {
    let app = TokenEndpoint::granting_everything();
    let provider = AppTokenProvider::new(Recorded::default());
    let source = source(&app, &provider, Some(CONTOSO));
    source.access_token(false).await.unwrap();
    app.answer(Answer::Rejected("unauthorized_client", 700016));
    assert_eq!(
        source.permission_check().await.unwrap_err(),
        TokenError::AppAccessEnded(ReauthorisationReason::ConsentRevoked)
    );
    assert!(provider.records.checks.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn given_a_token_whose_roles_cannot_be_read_then_a_403_names_nothing_and_records_nothing() {
    let app = TokenEndpoint::granting_everything();
    app.answer(Answer::Opaque);
    let provider = AppTokenProvider::new(Recorded::default());
    let source = source(&app, &provider, Some(CONTOSO));
    assert_eq!(source.permission_check().await.unwrap(), None);
    assert_eq!(app.requests(), 1);
    assert!(provider.records.checks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_the_tenant_moved_to_another_clouds_app_then_the_token_of_the_first_is_never_handed_out()
 {
    let global = TokenEndpoint::granting_everything();
    let usgov = TokenEndpoint {
        client_id: "usgov-app-id",
        ..TokenEndpoint::granting_everything()
    };
    let provider = AppTokenProvider::new(Recorded::default());
    source(&global, &provider, Some(CONTOSO))
        .access_token(false)
        .await
        .unwrap();
    source(&usgov, &provider, Some(CONTOSO))
        .access_token(false)
        .await
        .unwrap();
    assert_eq!(
        (global.requests(), usgov.requests()),
        (1, 1),
        "the other cloud's app asks its own"
    );
}
