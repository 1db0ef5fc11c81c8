//! The switch's decision and order against in-memory fakes: a config item
//! with its marker, Graph's subscriptions by who made them, the tenant's
//! secret, and one log of every step in the order it happened.

use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde_json::json;

use super::*;
use crate::identity::{AppToken, IdentityError, TokenErrorBody};

const CONTOSO: &str = "3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-07T08:00:00Z")
        .unwrap()
        .into()
}

fn config(extra: serde_json::Value) -> TenantConfig {
    let mut item = json!({
        "tenant_id": "acme", "sync_enabled": true, "import_users": true,
        "authorisation": "authorised", "entra_tenant_id": CONTOSO
    });
    for (k, v) in extra.as_object().unwrap() {
        item[k] = v.clone();
    }
    TenantConfig::from_attributes(item.as_object().unwrap()).unwrap()
}

#[derive(Clone)]
enum Answer {
    Roles(Vec<String>),
    Refused(u32),
    Unreachable,
}

/// The token endpoint, the config item, Graph and Secrets Manager of one
/// tenant, failing once at the step named in `fail_at`.
struct World {
    answer: Mutex<Answer>,
    config: Mutex<TenantConfig>,
    granted: Mutex<Option<Vec<String>>>,
    missing: Mutex<Vec<String>>,
    marker: Mutex<bool>,
    /// Graph's subscriptions: `delegated` or `app`, one per resource.
    subscriptions: Mutex<Vec<&'static str>>,
    secret: Mutex<bool>,
    log: Mutex<Vec<&'static str>>,
    fail_at: Mutex<Option<&'static str>>,
    /// The Entra tenant the delegated grant was issued for.
    grant_tenant: Mutex<Option<EntraTenantId>>,
}

impl World {
    fn new(answer: Answer, config: TenantConfig) -> Self {
        Self {
            grant_tenant: Mutex::new(config.entra_tenant_id.clone()),
            answer: Mutex::new(answer),
            config: Mutex::new(config),
            granted: Mutex::default(),
            missing: Mutex::default(),
            marker: Mutex::new(false),
            subscriptions: Mutex::new(vec!["delegated", "delegated"]),
            secret: Mutex::new(true),
            log: Mutex::default(),
            fail_at: Mutex::default(),
        }
    }

    fn every_role() -> Answer {
        Answer::Roles(REQUIRED_APP_ROLES.iter().map(|r| (*r).to_owned()).collect())
    }

    /// Logs the step; fails it when it is the one to fail (once).
    fn step(&self, name: &'static str) -> Result<(), StoreError> {
        self.log.lock().unwrap().push(name);
        let mut fail_at = self.fail_at.lock().unwrap();
        if *fail_at == Some(name) {
            *fail_at = None;
            return Err(StoreError::Unavailable {
                operation: name,
                detail: "interrupted".into(),
            });
        }
        Ok(())
    }

    fn log(&self) -> Vec<&'static str> {
        self.log.lock().unwrap().clone()
    }

    fn config(&self) -> TenantConfig {
        self.config.lock().unwrap().clone()
    }
}

fn jwt(roles: &[String]) -> SecretString {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    SecretString::from(format!(
        "{}.{}.sig",
        part(json!({"alg": "RS256"})),
        part(json!({ "roles": roles }))
    ))
}

impl AppCredentials for World {
    fn client_id(&self) -> &str {
        "app-id"
    }

    async fn client_credentials(&self, entra: &str) -> Result<AppToken, IdentityError> {
        assert_eq!(entra, CONTOSO);
        self.log.lock().unwrap().push("token request");
        match self.answer.lock().unwrap().clone() {
            Answer::Roles(roles) => Ok(AppToken::new(
                jwt(&roles),
                std::time::Duration::from_secs(3599),
            )),
            Answer::Refused(code) => Err(IdentityError::Rejected(TokenErrorBody {
                error: "invalid_client".into(),
                error_description: Some(format!("AADSTS{code}: refused")),
                error_codes: vec![code],
                suberror: None,
            })),
            Answer::Unreachable => Err(IdentityError::Transport("connection failed".into())),
        }
    }
}

impl PermissionRecords for World {
    async fn record_permission_check(
        &self,
        _: &TenantId,
        check: &PermissionCheck,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.step("record check")?;
        *self.granted.lock().unwrap() = Some(check.granted.clone());
        *self.missing.lock().unwrap() = check.missing.clone();
        self.config.lock().unwrap().permissions_checked_at = Some(at);
        Ok(())
    }
}

impl SwitchRecords for World {
    async fn record_check_attempt(
        &self,
        _: &TenantId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.step("record check time")?;
        self.config.lock().unwrap().permissions_checked_at = Some(at);
        Ok(())
    }

    async fn begin_switch(
        &self,
        _: &TenantId,
        _: &EntraTenantId,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.step("begin switch")?;
        *self.marker.lock().unwrap() = true;
        Ok(())
    }

    async fn switch_pending(&self, _: &TenantId) -> Result<bool, StoreError> {
        self.step("read marker")?;
        Ok(*self.marker.lock().unwrap())
    }

    async fn switch_to_application(
        &self,
        _: &TenantId,
        entra: &EntraTenantId,
        check: &PermissionCheck,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.step("switch to application")?;
        let mut config = self.config.lock().unwrap();
        let still = config.auth_mode == AuthMode::Delegated
            && config.is_authorised()
            && config.entra_tenant_id.as_ref() == Some(entra);
        if still {
            config.auth_mode = AuthMode::Application;
            config.authorised_entra_tenant_id = Some(entra.clone());
            config.authorised_cloud = Some(crate::model::Cloud::Global);
            config.permissions_checked_at = Some(at);
            *self.granted.lock().unwrap() = Some(check.granted.clone());
            self.missing.lock().unwrap().clear();
        }
        Ok(still)
    }

    async fn finish_switch(&self, _: &TenantId) -> Result<(), StoreError> {
        self.step("finish switch")?;
        *self.marker.lock().unwrap() = false;
        Ok(())
    }
}

impl SwitchSteps for World {
    async fn delete_delegated_subscriptions(
        &self,
        config: &TenantConfig,
    ) -> Result<(), SwitchError> {
        assert_eq!(
            config.auth_mode,
            AuthMode::Delegated,
            "deleted with the delegated token"
        );
        self.step("delete delegated subscriptions")
            .map_err(|e| SwitchError::Subscriptions(e.to_string()))?;
        self.subscriptions.lock().unwrap().clear();
        Ok(())
    }

    async fn keep_subscriptions(&self, config: &TenantConfig) {
        let made_by = match config.auth_mode {
            AuthMode::Delegated => "delegated",
            AuthMode::Application => "app",
        };
        if self.step("keep subscriptions").is_err() {
            return; // logged by the keeper; the next run keeps them
        }
        let mut subscriptions = self.subscriptions.lock().unwrap();
        // A second subscription for the same resource gets 409.
        if subscriptions.is_empty() {
            *subscriptions = vec![made_by, made_by];
        }
    }

    async fn subscriptions_settled(&self, _: &TenantConfig) -> Result<bool, StoreError> {
        self.step("subscriptions settled?")?;
        let subscriptions = self.subscriptions.lock().unwrap();
        Ok(subscriptions.len() == 2)
    }

    async fn delegated_grant_tenant(
        &self,
        _: &TenantId,
    ) -> Result<Option<EntraTenantId>, StoreError> {
        Ok(self.grant_tenant.lock().unwrap().clone())
    }

    async fn delete_delegated_grant(&self, _: &TenantId) -> Result<(), StoreError> {
        self.step("delete secret")?;
        *self.secret.lock().unwrap() = false;
        Ok(())
    }
}

/// One completed run's after-run work on the config as stored now.
async fn run(world: &World, settled: &SwitchesSettled, at: DateTime<Utc>) -> SwitchOutcome {
    let switch = AuthSwitch {
        app: world,
        records: world,
        steps: world,
        settled,
    };
    switch.after_run(&world.config(), true, at).await
}

#[test]
fn the_check_is_due_for_an_authorised_delegated_tenant_once_a_day() {
    let at = |hours_ago: i64| json!((now() - TimeDelta::hours(hours_ago)).to_rfc3339());
    assert!(check_due(&config(json!({})), now()));
    assert!(!check_due(
        &config(json!({"permissions_checked_at": at(23)})),
        now()
    ));
    assert!(check_due(
        &config(json!({"permissions_checked_at": at(24)})),
        now()
    ));
    assert!(!check_due(
        &config(json!({"auth_mode": "application"})),
        now()
    ));
    assert!(!check_due(
        &config(json!({"authorisation": "reauthorisation_required"})),
        now()
    ));
    assert!(!check_due(&config(json!({"entra_tenant_id": null})), now()));
}

#[tokio::test]
async fn every_role_granted_switches_in_order_and_deletes_the_secret_last() {
    let world = World::new(World::every_role(), config(json!({})));
    let settled = SwitchesSettled::default();
    assert_eq!(run(&world, &settled, now()).await, SwitchOutcome::Switched);
    assert_eq!(
        world.log(),
        [
            "token request",
            "begin switch",
            "delete delegated subscriptions",
            "switch to application",
            "keep subscriptions",
            "read marker",
            "subscriptions settled?",
            "delete secret",
            "finish switch",
        ]
    );
    let config = world.config();
    assert_eq!(config.auth_mode, AuthMode::Application);
    assert_eq!(*world.subscriptions.lock().unwrap(), ["app", "app"]);
    assert!(!*world.secret.lock().unwrap());
    assert!(!*world.marker.lock().unwrap());
    assert!(world.missing.lock().unwrap().is_empty());

    // Later runs: the marker is read once per process, nothing else.
    world.log.lock().unwrap().clear();
    for _ in 0..3 {
        assert_eq!(run(&world, &settled, now()).await, SwitchOutcome::Unchanged);
    }
    assert_eq!(world.log(), ["keep subscriptions"; 3]);
}

#[tokio::test]
async fn a_switch_interrupted_at_any_step_is_finished_by_the_next_run() {
    for step in [
        "begin switch",
        "delete delegated subscriptions",
        "switch to application",
        "keep subscriptions",
        "read marker",
        "subscriptions settled?",
        "delete secret",
        "finish switch",
    ] {
        let world = World::new(World::every_role(), config(json!({})));
        *world.fail_at.lock().unwrap() = Some(step);
        run(&world, &SwitchesSettled::default(), now()).await;
        // The next run, in a new process (or the same one), an hour later
        // (a failed switch backs off; a killed one resumes sooner).
        let outcome = run(
            &world,
            &SwitchesSettled::default(),
            now() + RETRY_FAILED_SWITCH_AFTER,
        )
        .await;
        assert_eq!(outcome, SwitchOutcome::Switched, "interrupted at {step}");
        assert_eq!(world.config().auth_mode, AuthMode::Application, "{step}");
        assert_eq!(
            *world.subscriptions.lock().unwrap(),
            ["app", "app"],
            "no delegated subscription is left ({step})"
        );
        assert!(!*world.secret.lock().unwrap(), "secret deleted ({step})");
        assert!(!*world.marker.lock().unwrap(), "marker removed ({step})");
        let log = world.log();
        let position = |name| log.iter().rposition(|s| *s == name).unwrap();
        assert!(
            position("switch to application") < position("delete secret"),
            "{step}: {log:?}"
        );
    }
}

#[tokio::test]
async fn missing_roles_keep_the_tenant_delegated_and_are_checked_again_the_next_day() {
    let world = World::new(
        Answer::Roles(vec!["User.ReadWrite.All".into()]),
        config(json!({})),
    );
    let settled = SwitchesSettled::default();
    let outcome = run(&world, &settled, now()).await;
    let SwitchOutcome::KeptDelegated { missing } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        missing.contains(&"Group.ReadWrite.All".to_owned()),
        "{missing:?}"
    );
    assert_eq!(*world.missing.lock().unwrap(), missing);
    assert_eq!(world.config().auth_mode, AuthMode::Delegated);
    assert_eq!(
        *world.subscriptions.lock().unwrap(),
        ["delegated", "delegated"]
    );
    assert!(*world.secret.lock().unwrap());
    assert!(!*world.marker.lock().unwrap());

    // Within the day: no token request; the next day: granted meanwhile.
    run(&world, &settled, now() + TimeDelta::hours(23)).await;
    assert_eq!(
        world
            .log()
            .iter()
            .filter(|s| **s == "token request")
            .count(),
        1
    );
    *world.answer.lock().unwrap() = World::every_role();
    let outcome = run(&world, &settled, now() + TimeDelta::hours(24)).await;
    assert_eq!(outcome, SwitchOutcome::Switched);
    assert!(world.missing.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_app_never_consented_app_only_keeps_the_delegated_tenant_working() {
    for code in [700016, 7000112] {
        let world = World::new(Answer::Refused(code), config(json!({})));
        let outcome = run(&world, &SwitchesSettled::default(), now()).await;
        assert!(
            matches!(&outcome, SwitchOutcome::KeptDelegated { missing } if missing.len() == REQUIRED_APP_ROLES.len()),
            "{outcome:?}"
        );
        let config = world.config();
        assert_eq!(config.auth_mode, AuthMode::Delegated);
        assert!(config.is_authorised(), "not a reauthorisation");
        assert_eq!(config.permissions_checked_at, Some(now()));
        assert!(*world.secret.lock().unwrap());
    }
}

#[tokio::test]
async fn an_unanswered_check_records_only_its_time_and_switches_nothing() {
    let world = World::new(Answer::Unreachable, config(json!({})));
    let outcome = run(&world, &SwitchesSettled::default(), now()).await;
    assert_eq!(outcome, SwitchOutcome::CheckFailed);
    assert_eq!(world.config().permissions_checked_at, Some(now()));
    assert!(world.granted.lock().unwrap().is_none());
    assert_eq!(
        world.log(),
        ["token request", "record check time", "keep subscriptions"]
    );
}

#[tokio::test]
async fn a_config_changed_meanwhile_is_not_switched() {
    let world = World::new(World::every_role(), config(json!({})));
    // Re-authorised to another directory between the read and the write.
    world.config.lock().unwrap().entra_tenant_id =
        Some(EntraTenantId::parse("7b1e2c3d-4f50-4a61-9b72-8c3d4e5f6a71").unwrap());
    let switch = AuthSwitch {
        app: &world,
        records: &world,
        steps: &world,
        settled: &SwitchesSettled::default(),
    };
    let outcome = switch.after_run(&config(json!({})), true, now()).await;
    assert_eq!(outcome, SwitchOutcome::Superseded);
    assert_eq!(world.config().auth_mode, AuthMode::Delegated);
    assert!(*world.secret.lock().unwrap());
    assert!(!*world.marker.lock().unwrap(), "no marker is left behind");
}

#[tokio::test]
async fn a_run_that_did_not_complete_checks_nothing() {
    let world = World::new(World::every_role(), config(json!({})));
    let switch = AuthSwitch {
        app: &world,
        records: &world,
        steps: &world,
        settled: &SwitchesSettled::default(),
    };
    let outcome = switch.after_run(&world.config(), false, now()).await;
    assert_eq!(outcome, SwitchOutcome::Unchanged);
    assert_eq!(world.log(), ["keep subscriptions"]);
}

#[tokio::test]
async fn a_tenant_id_changed_away_from_the_delegated_grants_organisation_is_never_checked_or_switched()
 {
    let world = World::new(World::every_role(), config(json!({})));
    *world.grant_tenant.lock().unwrap() =
        Some(EntraTenantId::parse("99999999-0000-4000-8000-000000000000").unwrap());
    let settled = SwitchesSettled::default();
    assert_eq!(run(&world, &settled, now()).await, SwitchOutcome::Unchanged);
    assert!(
        !world.log().contains(&"token request"),
        "no token is asked for another organisation: {:?}",
        world.log()
    );
    assert_eq!(world.config().auth_mode, AuthMode::Delegated);
    assert!(*world.secret.lock().unwrap());
}

#[tokio::test]
async fn a_switch_step_that_keeps_failing_is_tried_again_an_hour_later_not_at_every_run() {
    let world = World::new(World::every_role(), config(json!({})));
    *world.fail_at.lock().unwrap() = Some("delete delegated subscriptions");
    run(&world, &SwitchesSettled::default(), now()).await;
    let requests = |w: &World| w.log().iter().filter(|s| **s == "token request").count();
    assert_eq!(requests(&world), 1);
    // Runs every three minutes within the hour: no new check, no churn.
    for minutes in [3, 30, 57] {
        run(
            &world,
            &SwitchesSettled::default(),
            now() + TimeDelta::minutes(minutes),
        )
        .await;
    }
    assert_eq!(requests(&world), 1, "{:?}", world.log());
    run(
        &world,
        &SwitchesSettled::default(),
        now() + RETRY_FAILED_SWITCH_AFTER,
    )
    .await;
    assert_eq!(requests(&world), 2);
    assert_eq!(world.config().auth_mode, AuthMode::Application);
}
