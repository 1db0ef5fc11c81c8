//! Tenants authorised before DESIGN 2.12 (a delegated grant) through the
//! real binaries: switched to application mode without a sign-in once the
//! app's roles are granted (subscriptions re-made app-only, the secret
//! deleted, no change lost), kept delegated with `missing_permissions`
//! while they are not, and checked at most once a day.

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::organisation::{self, user_id};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use entra_sync_tests::sync::SyncFunctions;
use serde_json::{Map, Value, json};

const TENANT: &str = "acme";

async fn config(stack: &LocalStack) -> Map<String, Value> {
    stack.config_item(TENANT).await.unwrap().unwrap()
}

async fn tick_ok(stack: &LocalStack, functions: &mut SyncFunctions) {
    let report = stack.tick(functions).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
}

fn client_credentials(stack: &LocalStack) -> usize {
    stack.emulator.token_requests(CONTOSO, "client_credentials")
}

/// The tenant's last check a day and an hour ago: the next run checks.
async fn a_day_later(stack: &LocalStack) {
    let earlier = chrono::Utc::now() - chrono::TimeDelta::hours(25);
    stack
        .update_config(
            TENANT,
            json!({"permissions_checked_at": earlier.to_rfc3339()}),
        )
        .await
        .unwrap();
}

/// Whether the tenant's delegated grant is gone (scheduled for deletion,
/// recoverable for the default window, or deleted).
async fn secret_deleted(stack: &LocalStack) -> bool {
    let name = format!("{}tenants/{TENANT}", stack.secret_prefix);
    match stack
        .aws
        .secrets
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
    {
        Ok(secret) => secret.deleted_date().is_some(),
        Err(_) => true,
    }
}

fn display_name_in_am(users: &[Map<String, Value>], name: &str) -> bool {
    users.iter().any(|u| u["display_name"] == name)
}

#[tokio::test]
async fn given_the_roles_granted_then_a_delegated_tenant_switches_with_its_subscriptions_and_no_lost_change()
 {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 4, 1);
    let (mut sync, _gateway) = stack.start_realtime_sync_functions().await.unwrap();
    stack
        .connect_delegated(TENANT, CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();

    // Delegated: the subscriptions are the admin's; the app has no roles yet.
    tick_ok(&stack, &mut sync).await;
    let subscriptions = stack.emulator.subscriptions();
    assert_eq!(subscriptions.len(), 2, "{subscriptions:?}");
    assert!(subscriptions.iter().all(|s| s.made_for_user.is_some()));
    assert!(config(&stack).await["missing_permissions"].is_array());

    // The admin grants the application permissions; the next day's run
    // switches. A change made in Entra just after the first delegated
    // subscription is deleted is delivered by no subscription.
    stack.emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    a_day_later(&stack).await;
    let changed = user_id(1);
    stack
        .emulator
        .after_next("DELETE", "/v1.0/subscriptions/", move |state| {
            let tenant = state.tenants.get_mut(CONTOSO).unwrap();
            tenant.update_user(&changed, |u| {
                u.display_name = Some("Changed Meanwhile".into())
            });
        });
    tick_ok(&stack, &mut sync).await;

    let acme = config(&stack).await;
    assert_eq!(acme["auth_mode"], "application", "{acme:?}");
    assert_eq!(acme["authorisation"], "authorised");
    assert_eq!(
        acme["authorised_by"], CONTOSO_ADMIN,
        "the consenting admin is kept"
    );
    assert!(acme.get("missing_permissions").is_none(), "{acme:?}");
    let granted = acme["granted_permissions"].as_array().unwrap();
    assert!(
        REQUIRED_APP_ROLES
            .iter()
            .all(|r| granted.contains(&json!(r)))
    );
    let subscriptions = stack.emulator.subscriptions();
    assert_eq!(subscriptions.len(), 2, "{subscriptions:?}");
    assert!(
        subscriptions.iter().all(|s| s.made_for_user.is_none()),
        "no delegated subscription is left: {subscriptions:?}"
    );
    assert!(secret_deleted(&stack).await, "the delegated grant is gone");
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["realtime"], "active", "{status:?}");
    let marker = stack
        .item(
            &stack.tables.integrations,
            &format!("TENANT#{TENANT}"),
            "ENTRA#AUTH_SWITCH",
        )
        .await
        .unwrap();
    assert!(marker.is_none(), "the switch is finished: {marker:?}");

    // The next run, app-only, polls the delta link: the change arrives.
    let refreshes = stack.emulator.token_requests(CONTOSO, "refresh_token");
    tick_ok(&stack, &mut sync).await;
    let users = stack.directory_of(TENANT, "USER#").await.unwrap();
    assert!(display_name_in_am(&users, "Changed Meanwhile"), "{users:?}");
    assert_eq!(
        stack.emulator.token_requests(CONTOSO, "refresh_token"),
        refreshes,
        "no delegated token after the switch"
    );
    assert!(stack.gate.take_denials().is_empty());
}

#[tokio::test]
async fn given_the_roles_missing_then_the_tenant_keeps_syncing_delegated_and_is_checked_once_a_day()
{
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 4, 1);
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack
        .connect_delegated(TENANT, CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();

    // Never consented app-only (AADSTS700016): not a reauthorisation.
    for _ in 0..3 {
        tick_ok(&stack, &mut sync).await;
    }
    assert_eq!(client_credentials(&stack), 1, "one check within the day");
    let acme = config(&stack).await;
    assert_eq!(acme["authorisation"], "authorised", "{acme:?}");
    assert!(acme.get("auth_mode").is_none(), "{acme:?}");
    assert_eq!(
        acme["missing_permissions"].as_array().unwrap().len(),
        REQUIRED_APP_ROLES.len()
    );
    assert!(acme["permissions_checked_at"].is_string());
    assert!(stack.tenant_secret(TENANT).await.unwrap().is_some());

    // Some roles granted: the next day's check names what is still missing.
    stack
        .emulator
        .consent_app(CONTOSO, &REQUIRED_APP_ROLES[..1]);
    a_day_later(&stack).await;
    tick_ok(&stack, &mut sync).await;
    tick_ok(&stack, &mut sync).await;
    assert_eq!(client_credentials(&stack), 2);
    let acme = config(&stack).await;
    assert!(acme.get("auth_mode").is_none(), "{acme:?}");
    let missing = acme["missing_permissions"].as_array().unwrap();
    assert_eq!(missing.len(), REQUIRED_APP_ROLES.len() - 1, "{acme:?}");
    assert!(!missing.contains(&json!(REQUIRED_APP_ROLES[0])));
    assert!(stack.tenant_secret(TENANT).await.unwrap().is_some());
    assert!(stack.gate.take_denials().is_empty());
}
