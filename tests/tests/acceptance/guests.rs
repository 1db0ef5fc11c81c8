//! `guest_users` (DESIGN 2.13) through the binaries: a B2B guest of the
//! Entra organisation, whose UPN ends in the organisation's own domain, is
//! not imported because `domains` lists that domain; the tenant includes
//! guests, and the next run (full: the scope changed) brings it in, named
//! by its mail and with a temporary password.

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::emulator::User;
use entra_sync_tests::organisation::{self, MANAGED};
use entra_sync_tests::stack::{CONTOSO, LocalStack};
use serde_json::{Value, json};

const TENANT: &str = "acme";
const GUEST_ID: &str = "6a0b5c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d";
const GUEST_UPN: &str = "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com";
const GUEST_MAIL: &str = "alice@fabrikam.com";

async fn put_config(stack: &LocalStack, guest_users: &str) {
    let config = json!({
        "auth_mode": "application", "authorisation": "authorised",
        "authorised_at": "2026-12-07T06:00:00Z",
        // The guest's UPN domain is listed: it must not decide.
        "domains": [MANAGED, "contoso.onmicrosoft.com"],
        "guest_users": guest_users
    });
    stack
        .put_config_with(TENANT, Some(CONTOSO), config)
        .await
        .unwrap();
}

async fn guest_in_am(stack: &LocalStack) -> Option<serde_json::Map<String, Value>> {
    stack
        .directory_of(TENANT, "USER#")
        .await
        .unwrap()
        .into_iter()
        .find(|u| u["user_id"] == GUEST_ID)
}

#[tokio::test]
async fn given_a_guest_then_it_is_imported_only_once_the_tenant_includes_guests() {
    let stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 4, 1);
    stack.emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.upsert_user(User {
            id: GUEST_ID.into(),
            user_principal_name: GUEST_UPN.into(),
            display_name: Some("Alice (Fabrikam)".into()),
            mail: Some(GUEST_MAIL.into()),
            account_enabled: true,
            guest: true,
            ..User::default()
        })
    });
    put_config(&stack, "exclude").await;
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "{status:?}");
    assert!(
        stack.directory_of(TENANT, "USER#").await.unwrap().len() >= 4,
        "the members arrive"
    );
    assert!(guest_in_am(&stack).await.is_none(), "excluded by default");

    put_config(&stack, "include").await;
    let rounds_before = stack.users_rounds_begun();
    stack.tick(&mut sync).await.unwrap();
    assert_eq!(
        stack.users_rounds_begun(),
        rounds_before + 1,
        "the scope changed: a full round reads userType for every user"
    );
    let guest = guest_in_am(&stack).await.expect("included guests arrive");
    assert_eq!(guest["user_name"], GUEST_MAIL);
    assert_eq!(guest["password_mode"], "temporary");
    assert_eq!(guest["source"], "entra");
}
