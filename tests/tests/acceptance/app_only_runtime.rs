//! Tenants in application mode (DESIGN 2.12) through the real binaries:
//! Graph tokens by client credentials for the config's `entra_tenant_id`,
//! no per-tenant secret (the functions' roles cannot even read one), one
//! token request per token lifetime per warm process, and a revoked
//! consent, a disabled app or missing permissions each ending as the
//! config says.

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::emulator::{Knobs, TokenFailure};
use entra_sync_tests::iam::FunctionRole;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation::{self, MANAGED, user_id, user_upn};
use entra_sync_tests::stack::{CONTOSO, FABRIKAM, LocalStack};
use serde_json::{Map, Value, json};

const TENANT: &str = "acme";
const OTHER: &str = "globex";
const PASSWORD: &str = "Correct-Horse-Battery-9";

/// Takes the per-tenant secret statement (the one that may write a
/// tenant's secret) out of the roles of the functions that call Graph: a
/// read of a tenant's secret is then denied, as IAM would.
fn without_tenant_secrets(roles: &mut [FunctionRole]) {
    for role in roles.iter_mut().filter(|r| {
        ["sync-worker", "export-stream", "verify-password"].contains(&r.binary.as_str())
    }) {
        for policy in &mut role.inline {
            let Some(statements) = policy.document["Statement"].as_array_mut() else {
                continue;
            };
            let mut kept = Vec::new();
            let mut kept_labels = Vec::new();
            for (statement, labels) in statements.drain(..).zip(policy.resource_labels.drain(..)) {
                if statement["Action"].to_string().contains("PutSecretValue") {
                    continue;
                }
                kept.push(statement);
                kept_labels.push(labels);
            }
            *statements = kept;
            policy.resource_labels = kept_labels;
        }
    }
}

/// The platform's config of an application-mode tenant, as the callback
/// of 2.12 leaves it.
fn app_config(settings: Value) -> Value {
    let mut config = json!({
        "auth_mode": "application", "authorisation": "authorised",
        "authorised_at": "2026-12-07T06:00:00Z", "domains": [MANAGED]
    });
    for (k, v) in settings.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

/// Contoso (12 users, 2 groups) and Fabrikam, each consented with every
/// required role; `acme` on Contoso and `globex` on Fabrikam, both in
/// application mode; no tenant secret readable by the Graph functions.
async fn stack(settings: Value) -> LocalStack {
    let stack = LocalStack::start_with_roles(Box::new(|roles: &mut Vec<FunctionRole>| {
        without_tenant_secrets(roles)
    }))
    .await
    .unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 12, 2);
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&user_id(0), |u| u.password = Some(PASSWORD.into()))
    });
    for tenant in [CONTOSO, FABRIKAM] {
        stack.emulator.consent_app(tenant, REQUIRED_APP_ROLES);
    }
    stack
        .put_config_with(TENANT, Some(CONTOSO), app_config(settings.clone()))
        .await
        .unwrap();
    stack
        .put_config_with(OTHER, Some(FABRIKAM), app_config(json!({"domains": []})))
        .await
        .unwrap();
    stack
}

fn client_credentials(stack: &LocalStack, entra_tenant_id: &str) -> usize {
    stack
        .emulator
        .token_requests(entra_tenant_id, "client_credentials")
}

async fn config(stack: &LocalStack, tenant: &str) -> Map<String, Value> {
    stack.config_item(tenant).await.unwrap().unwrap()
}

async fn status(stack: &LocalStack, tenant: &str) -> Map<String, Value> {
    stack.status_item(tenant).await.unwrap()
}

#[tokio::test]
async fn given_an_application_tenant_then_it_syncs_and_exports_with_no_tenant_secret() {
    let stack = stack(json!({"export_users": true})).await;
    let mut sync = stack.start_sync_functions().await.unwrap();
    let report = stack.tick(&mut sync).await.unwrap();
    assert_eq!(report.messages, 2);
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    assert_eq!(status(&stack, TENANT).await["last_sync_result"], "ok");
    assert_eq!(status(&stack, OTHER).await["last_sync_result"], "ok");
    let users = stack.directory_of(TENANT, "USER#").await.unwrap();
    assert!(
        users.iter().any(|u| u["user_name"] == user_upn(0).as_str()),
        "{users:?}"
    );

    // Export: a platform user goes to Contoso with acme's app token.
    let upn = format!("ada@{MANAGED}");
    let (_export, created) =
        entra_sync_tests::export::export_one_platform_user(&stack, TENANT, CONTOSO, &upn)
            .await
            .unwrap();
    assert!(created, "the platform user reached Entra ID");
    let ada = stack
        .item(
            &stack.tables.directory,
            &format!("TENANT#{TENANT}"),
            "USER#p-ada",
        )
        .await
        .unwrap()
        .unwrap();
    assert!(ada["entra_id"].is_string(), "{ada:?}");

    // Nothing per tenant in Secrets Manager, and nothing was refused.
    assert_eq!(stack.tenant_secret(TENANT).await.unwrap(), None);
    assert_eq!(stack.tenant_secret(OTHER).await.unwrap(), None);
    assert!(stack.gate.take_denials().is_empty());
    assert_eq!(stack.emulator.token_requests(CONTOSO, "refresh_token"), 0);
    // The worker and export-stream each asked once for acme's tenant.
    assert_eq!(client_credentials(&stack, CONTOSO), 2);
}

#[tokio::test]
async fn given_several_runs_then_one_token_request_per_tenant_serves_them_all() {
    let stack = stack(json!({})).await;
    let mut sync = stack.start_sync_functions().await.unwrap();
    for _ in 0..4 {
        let report = stack.tick(&mut sync).await.unwrap();
        assert!(report.failed_message_ids.is_empty(), "{report:?}");
    }
    assert_eq!(status(&stack, TENANT).await["last_sync_result"], "ok");
    assert_eq!(client_credentials(&stack, CONTOSO), 1);
    assert_eq!(client_credentials(&stack, FABRIKAM), 1);

    // A cold sandbox has no cache: it asks once, then serves from memory.
    let mut cold = stack.start_sync_functions().await.unwrap();
    for _ in 0..2 {
        stack.tick(&mut cold).await.unwrap();
    }
    assert_eq!(client_credentials(&stack, CONTOSO), 2);
}

#[tokio::test]
async fn given_realtime_then_the_subscriptions_are_made_with_the_app_token() {
    let stack = stack(json!({})).await;
    let (mut sync, _gateway) = stack.start_realtime_sync_functions().await.unwrap();
    let report = stack.tick(&mut sync).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    let mut resources: Vec<String> = stack
        .emulator
        .subscriptions()
        .into_iter()
        .map(|s| s.resource)
        .collect();
    resources.sort();
    // Two per tenant: acme's on Contoso, globex's on Fabrikam.
    assert_eq!(resources, ["groups", "groups", "users", "users"]);
    assert_eq!(status(&stack, TENANT).await["realtime"], "active");
    assert!(stack.gate.take_denials().is_empty());
    assert_eq!(client_credentials(&stack, CONTOSO), 1);
}

/// Both tenants synced once, then Contoso's administrator (or the
/// operator) acts; a new sandbox (no token cached from before) runs the
/// next ticks. The first refusal leaves acme authorised with a warning
/// (an operator's mistake refuses every tenant at once); one an hour
/// after it (the first sighting moved back, no sleep) marks acme, and
/// syncing stops for acme only. Returns acme's `last_sync_error` after
/// the first refusal.
async fn after_contoso_acts(act: impl FnOnce(&LocalStack)) -> (LocalStack, String) {
    let stack = stack(json!({})).await;
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    act(&stack);
    let mut sync = stack.start_sync_functions().await.unwrap();
    for _ in 0..2 {
        let report = stack.tick(&mut sync).await.unwrap();
        assert_eq!(report.messages, 2, "acme is still synced");
        assert!(report.failed_message_ids.is_empty(), "{report:?}");
        let acme = config(&stack, TENANT).await;
        assert_eq!(acme["authorisation"], "authorised");
        assert!(acme.get("reauthorisation_reason").is_none(), "{acme:?}");
    }
    let acme = status(&stack, TENANT).await;
    assert_eq!(acme["last_sync_result"], "error");
    let first_seen = acme["reauthorisation_suspected_since"].as_str().unwrap();
    let warning = acme["last_sync_error"].as_str().unwrap().to_owned();
    assert!(
        warning.contains(first_seen)
            && warning.contains("the tenant will be marked for re-authorisation"),
        "{warning}"
    );

    let an_hour_ago = chrono::Utc::now() - chrono::Duration::minutes(61);
    stack
        .update_status(
            TENANT,
            json!({"reauthorisation_suspected_since": an_hour_ago.to_rfc3339()}),
        )
        .await
        .unwrap();
    let report = stack.tick(&mut sync).await.unwrap();
    assert_eq!(report.messages, 2);
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    let acme = status(&stack, TENANT).await;
    assert!(acme.get("reauthorisation_suspected_since").is_none());
    // Syncing has stopped for acme only: the next tick enqueues globex alone.
    let report = stack.tick(&mut sync).await.unwrap();
    assert_eq!(report.messages, 1);
    assert_eq!(status(&stack, OTHER).await["last_sync_result"], "ok");
    assert_eq!(config(&stack, OTHER).await["authorisation"], "authorised");
    (stack, warning)
}

#[tokio::test]
async fn given_the_consent_revoked_for_an_hour_then_the_tenant_needs_reauthorisation_as_consent_revoked()
 {
    let (stack, warning) = after_contoso_acts(|s| s.emulator.revoke_app_consent(CONTOSO)).await;
    assert!(
        warning.contains("AADSTS700016") && warning.contains("consent_revoked"),
        "{warning}"
    );
    let config = config(&stack, TENANT).await;
    assert_eq!(config["authorisation"], "reauthorisation_required");
    assert_eq!(config["reauthorisation_reason"], "consent_revoked");
    let status = status(&stack, TENANT).await;
    assert_eq!(status["last_sync_result"], "error");
    let error = status["last_sync_error"].as_str().unwrap();
    assert!(
        error.contains("AADSTS700016") && error.contains("authorise the integration again"),
        "{error}"
    );
}

#[tokio::test]
async fn given_the_app_disabled_for_an_hour_then_the_tenant_needs_reauthorisation_as_app_disabled()
{
    let (stack, warning) = after_contoso_acts(|s| s.emulator.set_app_disabled(CONTOSO, true)).await;
    assert!(
        warning.contains("AADSTS7000112") && warning.contains("app_disabled"),
        "{warning}"
    );
    let config = config(&stack, TENANT).await;
    assert_eq!(config["authorisation"], "reauthorisation_required");
    assert_eq!(config["reauthorisation_reason"], "app_disabled");
    let error = status(&stack, TENANT).await["last_sync_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("AADSTS7000112") && error.contains("enable it again"),
        "{error}"
    );
}

#[tokio::test]
async fn given_the_app_refused_then_allowed_again_within_the_hour_then_the_tenant_is_never_marked()
{
    let stack = stack(json!({})).await;
    stack.emulator.revoke_app_consent(CONTOSO);
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    assert!(status(&stack, TENANT).await["reauthorisation_suspected_since"].is_string());

    // Fixed (the consent given back); a new sandbox runs, and the run
    // that finishes forgets the refusal.
    stack.emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    let acme = status(&stack, TENANT).await;
    assert_eq!(acme["last_sync_result"], "ok");
    assert!(acme.get("reauthorisation_suspected_since").is_none());
    assert!(acme.get("last_sync_error").is_none());
    assert_eq!(config(&stack, TENANT).await["authorisation"], "authorised");
}

#[tokio::test]
async fn given_roles_missing_then_a_403_names_them_on_the_config_without_a_loop() {
    let stack = stack(json!({})).await;
    let partial: Vec<&str> = REQUIRED_APP_ROLES
        .iter()
        .copied()
        .filter(|r| !r.starts_with("User."))
        .collect();
    stack.emulator.consent_app(CONTOSO, &partial);
    let mut sync = stack.start_sync_functions().await.unwrap();
    let report = stack.tick(&mut sync).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");

    let config = config(&stack, TENANT).await;
    assert_eq!(config["authorisation"], "authorised");
    assert_eq!(
        config["missing_permissions"],
        json!(["User.ReadWrite.All", "User.Read.All"])
    );
    assert_eq!(config["granted_permissions"], json!(partial));
    assert!(config["permissions_checked_at"].is_string());
    let acme = status(&stack, TENANT).await;
    assert_eq!(acme["last_sync_result"], "error");
    let error = acme["last_sync_error"].as_str().unwrap();
    assert!(
        error.contains("User.ReadWrite.All, User.Read.All")
            && error.contains("grant admin consent again"),
        "{error}"
    );
    // The run's token, then one fresh token for the check.
    assert_eq!(client_credentials(&stack, CONTOSO), 2);

    // The next ticks meet the same 403: the recent check answers, with no
    // token request and no loop.
    for _ in 0..2 {
        stack.tick(&mut sync).await.unwrap();
    }
    assert_eq!(client_credentials(&stack, CONTOSO), 2);
    assert_eq!(status(&stack, OTHER).await["last_sync_result"], "ok");
}

#[tokio::test]
async fn given_an_application_tenant_then_verify_password_needs_no_tenant_secret() {
    let stack = stack(json!({})).await;
    let mut function = LambdaFunction::start("verify-password", &stack.function_env())
        .await
        .unwrap();
    let answer = function
        .invoke(json!({"tenant_id": TENANT, "user_name": user_upn(0), "password": PASSWORD}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer["result"], "valid", "{answer}");
    assert!(stack.gate.take_denials().is_empty());
    assert_eq!(stack.emulator.token_requests(CONTOSO, "refresh_token"), 0);
}

#[tokio::test]
async fn given_a_delegated_tenant_beside_an_application_one_then_both_sync_and_a_refused_grant_is_refresh_revoked()
 {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 6, 1);
    stack.emulator.consent_app(FABRIKAM, REQUIRED_APP_ROLES);
    stack
        .connect_delegated(TENANT, entra_sync_tests::stack::CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();
    stack
        .put_config_with(OTHER, Some(FABRIKAM), app_config(json!({"domains": []})))
        .await
        .unwrap();
    let mut sync = stack.start_sync_functions().await.unwrap();
    let report = stack.tick(&mut sync).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    for tenant in [TENANT, OTHER] {
        assert_eq!(status(&stack, tenant).await["last_sync_result"], "ok");
    }
    assert!(stack.tenant_secret(TENANT).await.unwrap().is_some());
    // The delegated tenant's daily check for the switch (docs/behaviour.md
    // 2.12): Contoso never consented app-only, so it stays delegated.
    assert_eq!(client_credentials(&stack, CONTOSO), 1);
    assert_eq!(client_credentials(&stack, FABRIKAM), 1);

    stack
        .emulator
        .revoke_consent(CONTOSO, entra_sync_tests::emulator::Revocation::Inactivity);
    let mut cold = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut cold).await.unwrap();
    let acme = config(&stack, TENANT).await;
    assert_eq!(acme["authorisation"], "reauthorisation_required");
    assert_eq!(acme["reauthorisation_reason"], "refresh_revoked");
    assert_eq!(status(&stack, OTHER).await["last_sync_result"], "ok");
    assert_eq!(config(&stack, OTHER).await["authorisation"], "authorised");
}

#[tokio::test]
async fn given_the_token_endpoint_failing_then_the_run_fails_the_refusal_is_remembered_a_minute_and_a_new_sandbox_recovers()
 {
    let stack = stack(json!({})).await;
    stack.emulator.set_knobs(Knobs {
        token_failure: Some(TokenFailure::ServerError),
        ..Knobs::default()
    });
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    let acme = config(&stack, TENANT).await;
    assert_eq!(acme["authorisation"], "authorised");
    assert!(acme.get("reauthorisation_reason").is_none(), "{acme:?}");
    assert_eq!(status(&stack, TENANT).await["last_sync_result"], "error");

    assert_eq!(client_credentials(&stack, CONTOSO), 1);

    // Fixed at once: the warm sandbox answers from the refusal it
    // remembers for a minute (no token request); a new one recovers.
    stack.emulator.set_knobs(Knobs::default());
    stack.tick(&mut sync).await.unwrap();
    assert_eq!(status(&stack, TENANT).await["last_sync_result"], "error");
    assert_eq!(client_credentials(&stack, CONTOSO), 1);
    let mut cold = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut cold).await.unwrap();
    assert_eq!(status(&stack, TENANT).await["last_sync_result"], "ok");
    assert_eq!(client_credentials(&stack, CONTOSO), 2);
}
