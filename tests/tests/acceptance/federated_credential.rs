//! `ENTRA_CLIENT_AUTH=federated` (DESIGN 2.12) through the real binaries:
//! no app secret readable by the functions that call Microsoft (their IAM
//! policy lacks it; IAM is enforced), an AWS STS web identity token as the
//! app's `client_assertion` instead, checked by the emulator as Entra checks
//! it against the federated identity credentials the README has the
//! deployer create, and refused when it is not trusted.

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::iam::FunctionRole;
use entra_sync_tests::organisation::{self, MANAGED, user_upn};
use entra_sync_tests::stack::{CONTOSO, LocalStack};
use serde_json::{Map, Value, json};

const TENANT: &str = "acme";

fn app_secret_arn(stack: &LocalStack) -> String {
    stack
        .function_env()
        .into_iter()
        .find(|(k, _)| k == "ENTRA_CLIENT_SECRET_ARN")
        .map(|(_, v)| v)
        .unwrap()
}

async fn status(stack: &LocalStack) -> Map<String, Value> {
    stack.status_item(TENANT).await.unwrap()
}

/// Contoso with 6 users and a group, `acme` not yet authorised.
async fn federated_stack() -> LocalStack {
    let stack = LocalStack::start_federated().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 6, 1);
    stack.put_config(TENANT, None).await.unwrap();
    stack
}

#[tokio::test]
async fn given_federated_mode_then_a_tenant_authorises_syncs_and_exports_with_no_app_secret_readable()
 {
    let mut stack = federated_stack().await;
    let secret = app_secret_arn(&stack);
    for binary in ["oauth-callback", "sync-worker", "export-stream"] {
        assert!(
            !stack
                .gate
                .allows(binary, "secretsmanager:GetSecretValue", &secret),
            "{binary} can read the app secret"
        );
    }
    assert!(
        stack
            .gate
            .allows("verify-password", "secretsmanager:GetSecretValue", &secret),
        "verify-password keeps the secret (ROPC takes no federated assertion)"
    );

    let done = stack.authorise(TENANT).await.unwrap();
    assert_eq!(done.status, 200, "{done:?}");
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(config["auth_mode"], "application");
    assert!(config.get("missing_permissions").is_none(), "{config:?}");
    let mut config = config;
    config.insert("domains".into(), json!([MANAGED]));
    config.insert("export_users".into(), json!(true));
    stack
        .put_config_with(TENANT, Some(CONTOSO), Value::Object(config))
        .await
        .unwrap();

    let mut sync = stack.start_sync_functions().await.unwrap();
    let report = stack.tick(&mut sync).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    assert_eq!(status(&stack).await["last_sync_result"], "ok");
    let users = stack.directory_of(TENANT, "USER#").await.unwrap();
    assert!(
        users.iter().any(|u| u["user_name"] == user_upn(0).as_str()),
        "{users:?}"
    );

    let upn = format!("ada@{MANAGED}");
    let (export, created) =
        entra_sync_tests::export::export_one_platform_user(&stack, TENANT, CONTOSO, &upn)
            .await
            .unwrap();
    assert!(created, "the platform user reached Entra ID");

    assert!(stack.gate.take_denials().is_empty());
    let minted = stack.emulator.state().web_identity_tokens;
    // One per process that asked (callback, worker, export), kept for
    // their five minutes.
    assert!((3..=4).contains(&minted), "{minted} web identity tokens");
    let mut logs = stack.callback.settled_logs().await;
    logs.extend(sync.worker.settled_logs().await);
    logs.extend(export.settled_logs().await);
    assert_no_issued_secret_in(&stack, &logs);
}

/// No token the emulator issued (assertions included) in any log line.
fn assert_no_issued_secret_in(stack: &LocalStack, logs: &[String]) {
    assert!(!logs.is_empty());
    let secrets = stack.emulator.issued_secrets();
    assert!(!secrets.is_empty());
    for line in logs {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a secret reached the logs: {line}"
            );
        }
    }
}

#[tokio::test]
async fn given_an_assertion_the_app_does_not_trust_then_the_run_fails_naming_it_and_the_tenant_stays_authorised()
 {
    let stack = federated_stack().await;
    authorised_app_only(&stack).await;
    // The deployer has not created the federated credential yet.
    stack.emulator.trust_federated_credentials(Vec::new());

    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    let status = status(&stack).await;
    assert_eq!(status["last_sync_result"], "error", "{status:?}");
    let error = status["last_sync_error"].as_str().unwrap();
    assert!(error.contains("AADSTS70021"), "{error}");
    // An operator's mistake is no customer's re-authorisation.
    let config = stack.config_item(TENANT).await.unwrap().unwrap();
    assert_eq!(config["authorisation"], "authorised", "{config:?}");
    // The refused assertion was replaced once (FICs take minutes to
    // propagate), not more.
    assert_eq!(stack.emulator.state().web_identity_tokens, 2);
    assert!(stack.gate.take_denials().is_empty());
    assert_no_issued_secret_in(&stack, &sync.worker.settled_logs().await);
}

/// Contoso consented, `acme` authorised app-only on it (as the callback
/// leaves it).
async fn authorised_app_only(stack: &LocalStack) {
    stack.emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    let config = json!({
        "auth_mode": "application", "authorisation": "authorised",
        "authorised_at": "2026-12-07T06:00:00Z", "domains": [MANAGED]
    });
    stack
        .put_config_with(TENANT, Some(CONTOSO), config)
        .await
        .unwrap();
}

/// Takes the federated credential statement out of sync-worker's role.
fn without_web_identity(roles: &mut [FunctionRole]) {
    for role in roles.iter_mut().filter(|r| r.binary == "sync-worker") {
        for policy in &mut role.inline {
            let Some(statements) = policy.document["Statement"].as_array_mut() else {
                continue;
            };
            let keep: Vec<bool> = statements
                .iter()
                .map(|s| !s["Action"].to_string().contains("GetWebIdentityToken"))
                .collect();
            let mut flags = keep.iter();
            statements.retain(|_| *flags.next().unwrap());
            let mut flags = keep.iter();
            policy.resource_labels.retain(|_| *flags.next().unwrap());
        }
    }
}

#[tokio::test]
async fn given_a_role_without_the_sts_grant_then_iam_denies_the_token_and_the_run_names_it() {
    let stack =
        LocalStack::start_federated_with_roles(Box::new(|roles: &mut Vec<FunctionRole>| {
            without_web_identity(roles)
        }))
        .await
        .unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 2, 0);
    authorised_app_only(&stack).await;
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    let status = status(&stack).await;
    assert_eq!(status["last_sync_result"], "error", "{status:?}");
    let error = status["last_sync_error"].as_str().unwrap();
    // The tenant's status says what failed; the operator's log says how
    // (the account and role stay out of what customers read).
    assert!(error.contains("credential is unavailable"), "{error}");
    assert!(!error.contains("arn:"), "{error}");
    let logs = sync.worker.settled_logs().await;
    assert!(
        logs.iter().any(|l| l.contains("GetWebIdentityToken")),
        "the operator's log names the refused call"
    );
    let denials = stack.gate.take_denials();
    assert!(
        denials
            .iter()
            .any(|d| d.contains("sync-worker") && d.contains("sts:GetWebIdentityToken")),
        "{denials:?}"
    );
    assert_eq!(stack.emulator.state().web_identity_tokens, 0);
}
