//! The verifier's checks, and the verifier against an in-memory ledger
//! and a scripted Entra ID.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::ports::StoreError;

#[test]
fn user_names_are_trimmed_lowercased_and_must_be_principal_names() {
    assert_eq!(
        user_principal_name("  Megan@Contoso.COM ").unwrap(),
        ("megan@contoso.com".to_owned(), "contoso.com".to_owned())
    );
    for bad in ["megan", "@contoso.com", "megan@localhost", ""] {
        let refused = user_principal_name(bad).unwrap_err();
        assert_eq!(refused.result, VerifyResult::NotFound, "{bad:?}");
    }
}

fn config(item: serde_json::Value) -> TenantConfig {
    TenantConfig::from_attributes(item.as_object().unwrap()).unwrap()
}

#[test]
fn only_an_authorised_integration_with_a_known_entra_tenant_is_usable() {
    assert!(usable_integration(None).is_err());
    let unauthorised = config(serde_json::json!({"tenant_id": "acme"}));
    assert!(usable_integration(Some(&unauthorised)).is_err());
    let unknown_tenant = config(serde_json::json!({
        "tenant_id": "acme", "authorisation": "authorised"
    }));
    assert!(usable_integration(Some(&unknown_tenant)).is_err());
    let usable = config(serde_json::json!({
        "tenant_id": "acme", "authorisation": "authorised",
        "entra_tenant_id": "6a2d4e1f-0000-4000-8000-00000000abcd"
    }));
    let (tenant, entra_tenant_id) = usable_integration(Some(&usable)).unwrap();
    assert_eq!(tenant.as_str(), "acme");
    assert_eq!(entra_tenant_id, "6a2d4e1f-0000-4000-8000-00000000abcd");
}

#[test]
fn only_managed_domains_of_the_tenant_are_checked_by_entra() {
    let domains = [
        DomainInfo {
            name: "contoso.com".into(),
            federated: false,
            verified: true,
        },
        DomainInfo {
            name: "federated.contoso.com".into(),
            federated: true,
            verified: true,
        },
    ];
    assert!(check_managed_domain(&domains, "contoso.com").is_ok());
    let federated = check_managed_domain(&domains, "federated.contoso.com").unwrap_err();
    assert_eq!(federated.result, VerifyResult::NotSupported);
    let unknown = check_managed_domain(&domains, "fabrikam.com").unwrap_err();
    assert_eq!(unknown.result, VerifyResult::NotFound);
}

/// One user's window in memory, as the DynamoDB item holds it.
#[derive(Debug, Clone, Copy)]
struct Window {
    attempts: u32,
    previous_attempts: u32,
    until: DateTime<Utc>,
}

/// The ledger's rule in memory; one lock per reservation, as DynamoDB
/// applies one conditional write atomically.
#[derive(Default)]
struct MemoryLedger {
    windows: Mutex<HashMap<String, Window>>,
    /// Every write fails as AWS does when the table is missing.
    missing_table: bool,
}

impl MemoryLedger {
    /// The attempts counted against `user` (of whichever Entra tenant).
    fn attempts(&self, user: &str) -> u32 {
        let suffix = format!("#{user}");
        self.windows
            .lock()
            .unwrap()
            .iter()
            .filter(|(key, _)| key.ends_with(&suffix))
            .map(|(_, w)| w.attempts)
            .sum()
    }
}

impl AttemptLedger for MemoryLedger {
    async fn reserve(
        &self,
        account: &AttemptAccount,
        policy: ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        if self.missing_table {
            return Err(StoreError::Unavailable {
                operation: "reserving a password attempt",
                detail: "ResourceNotFoundException: Requested resource not found: \
                         arn:aws:dynamodb:us-east-1:123456789012:table/integrations"
                    .into(),
            });
        }
        let mut windows = self.windows.lock().unwrap();
        let opened = Window {
            attempts: 0,
            previous_attempts: 0,
            until: now + policy.window,
        };
        let window = windows.entry(account.ledger_key()).or_insert(opened);
        if window.until <= now {
            let (carried, free_again) =
                carried_attempts(Some(window.until), Some(window.attempts), policy, now);
            if carried >= policy.max_failures {
                return Ok(Reservation::Refused { until: free_again });
            }
            *window = Window {
                previous_attempts: carried,
                ..opened
            };
        }
        if window.attempts + window.previous_attempts >= policy.max_failures {
            return Ok(Reservation::Refused {
                until: window.until,
            });
        }
        window.attempts += 1;
        Ok(Reservation::Admitted {
            window_until: window.until,
        })
    }

    async fn release(
        &self,
        account: &AttemptAccount,
        window_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut windows = self.windows.lock().unwrap();
        if let Some(window) = windows.get_mut(&account.ledger_key())
            && window.until == window_until
            && window.attempts > 0
        {
            window.attempts -= 1;
        }
        Ok(())
    }
}

/// Contoso with one managed domain; every password grant takes a
/// while, so that concurrent attempts overlap, and gets `answer`.
struct ScriptedEntra {
    answer: fn() -> Result<(), IdentityError>,
    grants: AtomicUsize,
}

impl ScriptedEntra {
    fn answering(answer: fn() -> Result<(), IdentityError>) -> Self {
        Self {
            answer,
            grants: AtomicUsize::new(0),
        }
    }

    fn grants(&self) -> usize {
        self.grants.load(Ordering::SeqCst)
    }
}

impl PasswordAuthority for ScriptedEntra {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        Ok(vec![DomainInfo {
            name: "contoso.com".into(),
            federated: false,
            verified: true,
        }])
    }

    async fn check_password(
        &self,
        _: &str,
        _: &str,
        _: &SecretString,
    ) -> Result<(), IdentityError> {
        self.grants.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        (self.answer)()
    }
}

fn wrong_password() -> Result<(), IdentityError> {
    Err(IdentityError::Rejected(crate::identity::TokenErrorBody {
        error: "invalid_grant".into(),
        error_description: None,
        error_codes: vec![50126],
        suberror: None,
    }))
}

const MEGAN: &str = "megan@contoso.com";

fn policy(max_failures: u32) -> ThrottlePolicy {
    ThrottlePolicy {
        max_failures,
        window: Duration::from_secs(900),
    }
}

/// A verifier over `ledger` and `entra` that lets `max_failures` through.
fn verifier<'a>(
    ledger: &'a MemoryLedger,
    entra: &'a ScriptedEntra,
    max_failures: u32,
) -> PasswordVerifier<'a, MemoryLedger, ScriptedEntra> {
    PasswordVerifier {
        attempts: ledger,
        authority: entra,
        policy: policy(max_failures),
    }
}

fn acme() -> TenantConfig {
    config(serde_json::json!({
        "tenant_id": "acme", "authorisation": "authorised",
        "entra_tenant_id": "6a2d4e1f-0000-4000-8000-00000000abcd"
    }))
}

async fn verify_many(
    verifier: &PasswordVerifier<'_, MemoryLedger, ScriptedEntra>,
    count: usize,
    now: DateTime<Utc>,
) -> Vec<Verification> {
    let config = acme();
    let password = SecretString::from("Tr0ub4dor&3-wrong");
    futures::future::join_all(
        (0..count).map(|_| verifier.verify(Some(&config), MEGAN, &password, now)),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn given_thirty_concurrent_wrong_passwords_then_only_the_limit_reaches_entra() {
    let (ledger, entra) = (
        MemoryLedger::default(),
        ScriptedEntra::answering(wrong_password),
    );
    let verifier = verifier(&ledger, &entra, 5);
    let answers = verify_many(&verifier, 30, Utc::now()).await;
    assert_eq!(entra.grants(), 5, "only the limit may reach Entra ID");
    let invalid = answers
        .iter()
        .filter(|a| a.result == VerifyResult::Invalid)
        .count();
    assert_eq!(invalid, 5);
    for refused in answers.iter().filter(|a| a.result != VerifyResult::Invalid) {
        assert_eq!(refused.result, VerifyResult::Unavailable);
        assert!(
            refused.message.starts_with("too many failed attempts"),
            "{}",
            refused.message
        );
    }
    assert_eq!(ledger.attempts(MEGAN), 5, "wrong passwords stay counted");
}

#[tokio::test(start_paused = true)]
async fn given_correct_passwords_or_uncounted_answers_then_their_attempts_are_given_back() {
    let ledger = MemoryLedger::default();
    for answer in [(|| Ok(())) as fn() -> Result<(), IdentityError>, || {
        Err(IdentityError::Configuration("no client secret".into()))
    }] {
        let entra = ScriptedEntra::answering(answer);
        let verifier = verifier(&ledger, &entra, 2);
        let now = Utc::now();
        for _ in 0..3 {
            verify_many(&verifier, 2, now).await;
        }
        assert_eq!(entra.grants(), 6, "never throttled");
        assert_eq!(ledger.attempts(MEGAN), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn given_answers_that_never_came_then_the_attempts_stay_counted() {
    let ledger = MemoryLedger::default();
    let entra = ScriptedEntra::answering(|| Err(IdentityError::Transport("timed out".into())));
    let verifier = verifier(&ledger, &entra, 3);
    let now = Utc::now();
    let answers = verify_many(&verifier, 3, now).await;
    assert!(
        answers
            .iter()
            .all(|a| a.message == "Entra ID could not be reached")
    );
    let refused = verify_many(&verifier, 1, now).await.remove(0);
    assert!(refused.message.starts_with("too many failed attempts"));
    assert_eq!(entra.grants(), 3);
    // Once they are a whole window old, they count no more.
    let later = now + chrono::Duration::seconds(1800);
    verify_many(&verifier, 1, later).await;
    assert_eq!(entra.grants(), 4);
}

/// Wrong passwords one at a time at each of `seconds` after `t0`; the
/// instants at which Entra ID was asked.
async fn wrong_passwords_at(
    verifier: &PasswordVerifier<'_, MemoryLedger, ScriptedEntra>,
    t0: DateTime<Utc>,
    seconds: impl IntoIterator<Item = i64>,
) -> Vec<i64> {
    let mut asked = Vec::new();
    for second in seconds {
        let before = verifier.authority.grants();
        verify_many(verifier, 1, t0 + chrono::Duration::seconds(second)).await;
        if verifier.authority.grants() > before {
            asked.push(second);
        }
    }
    asked
}

#[tokio::test(start_paused = true)]
async fn given_failures_straddling_a_window_boundary_then_no_more_than_the_limit_within_any_window_s_length_reach_entra()
 {
    let (ledger, entra) = (
        MemoryLedger::default(),
        ScriptedEntra::answering(wrong_password),
    );
    let verifier = verifier(&ledger, &entra, 5);
    let t0 = Utc::now();
    // One to open the window at t0, then bursts at each side of its end
    // (900 s), and every 100 s for two more windows.
    let seconds = std::iter::once(0)
        .chain(std::iter::repeat_n(899, 6))
        .chain(std::iter::repeat_n(900, 6))
        .chain((10..=27).map(|n| n * 100));
    let asked = wrong_passwords_at(&verifier, t0, seconds).await;
    for (i, first) in asked.iter().enumerate() {
        let within = asked[i..].iter().filter(|s| **s < first + 900).count();
        assert!(within <= 5, "{within} attempts from {first} s: {asked:?}");
    }
    assert_eq!(
        asked.iter().filter(|s| **s <= 900).count(),
        5,
        "the limit, not twice the limit, around the boundary: {asked:?}"
    );
    assert!(
        asked.len() > 5,
        "attempts are admitted again later: {asked:?}"
    );
}

fn account_locked() -> Result<(), IdentityError> {
    Err(IdentityError::Rejected(crate::identity::TokenErrorBody {
        error: "invalid_grant".into(),
        error_description: None,
        error_codes: vec![50053],
        suberror: None,
    }))
}

#[tokio::test(start_paused = true)]
async fn given_a_locked_account_then_its_probes_stay_counted() {
    let (ledger, entra) = (
        MemoryLedger::default(),
        ScriptedEntra::answering(account_locked),
    );
    let verifier = verifier(&ledger, &entra, 3);
    let now = Utc::now();
    let answers = verify_many(&verifier, 10, now).await;
    assert_eq!(entra.grants(), 3, "probes of a locked account are limited");
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.result == VerifyResult::Locked)
            .count(),
        3
    );
    assert_eq!(ledger.attempts(MEGAN), 3, "locked answers stay counted");
}

#[tokio::test(start_paused = true)]
async fn given_a_store_that_cannot_reserve_then_unavailable_in_fixed_words_and_entra_is_not_asked()
{
    let ledger = MemoryLedger {
        missing_table: true,
        ..MemoryLedger::default()
    };
    let entra = ScriptedEntra::answering(|| Ok(()));
    let verifier = verifier(&ledger, &entra, 5);
    let answer = verify_many(&verifier, 1, Utc::now()).await.remove(0);
    assert_eq!(answer.result, VerifyResult::Unavailable);
    assert_eq!(answer.message, STORE_UNAVAILABLE);
    assert_eq!(entra.grants(), 0, "Entra ID is not asked blind");
}

#[tokio::test(start_paused = true)]
async fn given_two_am_tenants_of_one_entra_tenant_and_the_name_in_any_case_then_they_share_one_budget()
 {
    let (ledger, entra) = (
        MemoryLedger::default(),
        ScriptedEntra::answering(wrong_password),
    );
    let verifier = verifier(&ledger, &entra, 3);
    let acme_eu = config(serde_json::json!({
        "tenant_id": "acme-eu", "authorisation": "authorised",
        "entra_tenant_id": "6A2D4E1F-0000-4000-8000-00000000ABCD"
    }));
    let password = SecretString::from("Tr0ub4dor&3-wrong");
    let now = Utc::now();
    let tries = [
        (acme(), "Megan@Contoso.com"),
        (acme_eu.clone(), " megan@contoso.com"),
        (acme(), "MEGAN@CONTOSO.COM"),
        (acme_eu, "megan@contoso.com"),
    ];
    let mut results = Vec::new();
    for (config, name) in &tries {
        results.push(
            verifier
                .verify(Some(config), name, &password, now)
                .await
                .result,
        );
    }
    assert_eq!(
        results,
        [
            VerifyResult::Invalid,
            VerifyResult::Invalid,
            VerifyResult::Invalid,
            VerifyResult::Unavailable
        ]
    );
    assert_eq!(entra.grants(), 3, "one Entra account, one budget");
}

#[test]
fn an_account_is_its_entra_tenant_and_its_principal_name_lowercased() {
    assert_eq!(
        AttemptAccount::new(
            "6A2D4E1F-0000-4000-8000-00000000ABCD",
            " Megan@Contoso.com "
        )
        .ledger_key(),
        "6a2d4e1f-0000-4000-8000-00000000abcd#megan@contoso.com"
    );
}
