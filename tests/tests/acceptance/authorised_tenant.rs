//! The organisation an application-mode tenant works in is the one its
//! confirm proved: the app's token works in every organisation that
//! consented to the app, so a Tenant ID the platform changes afterwards
//! must not move the integration there (DESIGN 2.12).

use entra_sync_tests::organisation;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, FABRIKAM, LocalStack};
use serde_json::json;

const TENANT: &str = "acme";

#[tokio::test]
async fn given_the_tenant_id_changed_after_the_authorisation_then_nothing_is_asked_of_the_other_organisation()
 {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 6, 1);
    organisation::seed(&stack.emulator, FABRIKAM, 6, 1);
    // Fabrikam uses the same multi-tenant app: client credentials work there.
    stack.emulator.consent_app(
        FABRIKAM,
        entra_sync_tests::emulator::app_only::REQUIRED_APP_ROLES,
    );
    stack
        .connect(TENANT, CONTOSO_ADMIN, json!({"domains": []}))
        .await
        .unwrap();
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    let imported = stack.directory_of(TENANT, "USER#").await.unwrap().len();
    assert!(imported > 0);

    // The AM admin edits the Tenant ID to another customer's organisation.
    stack
        .update_config(TENANT, json!({"entra_tenant_id": FABRIKAM}))
        .await
        .unwrap();
    stack.tick(&mut sync).await.unwrap();

    assert_eq!(
        stack
            .emulator
            .token_requests(FABRIKAM, "client_credentials"),
        0,
        "no token is asked for the organisation the confirm did not prove"
    );
    let users = stack.directory_of(TENANT, "USER#").await.unwrap();
    assert_eq!(users.len(), imported, "nothing of Fabrikam was imported");
}
