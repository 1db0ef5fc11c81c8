//! The portal's confirm: only the asking admin's binding, once, in time.

use super::*;

#[tokio::test]
async fn given_the_binding_of_the_admin_who_asked_then_the_config_is_authorised_app_only() {
    let flow = flow();
    let result = proven(&flow).await;
    let confirmed = flow
        .confirm(&acme(), &result, BINDING, now())
        .await
        .unwrap();
    assert_eq!(confirmed.entra_tenant_id.as_str(), TID);
    assert_eq!(
        confirmed.authorised_by.as_deref(),
        Some("admin@contoso.com")
    );
    let config = config(&flow);
    assert_eq!(config.authorisation, Authorisation::Authorised);
    assert_eq!(config.auth_mode, AuthMode::Application);
    assert!(config.is_authorised());
    assert_eq!(config.entra_tenant_id.unwrap().as_str(), TID);
    assert_eq!(
        *flow.tokens.0.lock().unwrap(),
        vec!["acme"],
        "no delegated grant is kept"
    );
    // Once only.
    let again = flow.confirm(&acme(), &result, BINDING, now()).await;
    assert!(matches!(again, Err(ConfirmError::UnknownResult)));
}

#[tokio::test]
async fn given_a_link_completed_by_another_organisations_admin_and_confirmed_with_another_binding_then_nothing_is_stored()
 {
    // The AM admin sent the authorize URL to an administrator of another
    // organisation, who consented and signed in; the attacker's portal
    // session confirms with its own binding.
    let identity = FakeIdentity::default();
    *identity.signed_in.lock().unwrap() = OTHER_TID.into();
    let flow = flow_with(None, identity);
    let state = consented(&flow, OTHER_TID).await;
    let CallbackOutcome::Pending { redirect, .. } = callback(&flow, &state, "code=good-code").await
    else {
        panic!()
    };
    let result = query_of(&redirect)["result"].clone();
    let refused = flow.confirm(&acme(), &result, OTHER_BINDING, now()).await;
    assert!(
        matches!(refused, Err(ConfirmError::BindingMismatch)),
        "{refused:?}"
    );
    nothing_stored(&flow);
    assert!(config(&flow).entra_tenant_id.is_none());
    // The result is used up: the right binding cannot follow.
    let later = flow.confirm(&acme(), &result, BINDING, now()).await;
    assert!(matches!(later, Err(ConfirmError::UnknownResult)));
}

#[tokio::test]
async fn given_another_tenants_result_or_a_late_confirm_then_it_is_refused() {
    let flow = flow();
    let result = proven(&flow).await;
    let other = TenantId::parse("globex").unwrap();
    let foreign = flow.confirm(&other, &result, BINDING, now()).await;
    assert!(matches!(foreign, Err(ConfirmError::ForeignResult)));
    let result = proven(&flow).await;
    let late = now() + chrono::Duration::minutes(11);
    assert!(matches!(
        flow.confirm(&acme(), &result, BINDING, late).await,
        Err(ConfirmError::Expired)
    ));
    nothing_stored(&flow);
}

#[tokio::test]
async fn given_a_config_claimed_by_another_tenant_meanwhile_then_the_confirm_stores_nothing() {
    let mut flow = flow_with(Some(OTHER_TID), FakeIdentity::default());
    // The reads of the legs are stale: they saw no Entra tenant yet.
    flow.store.stale_reads = true;
    let result = proven(&flow).await;
    let refused = flow.confirm(&acme(), &result, BINDING, now()).await;
    assert!(
        matches!(refused, Err(ConfirmError::TenantMismatch)),
        "{refused:?}"
    );
    assert_eq!(config(&flow).entra_tenant_id.unwrap().as_str(), OTHER_TID);
    assert_eq!(config(&flow).authorisation, Authorisation::NotAuthorised);
    assert!(flow.tokens.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_a_removed_config_then_the_confirm_says_so() {
    let flow = flow();
    let result = proven(&flow).await;
    flow.store.configs.lock().unwrap().clear();
    let refused = flow.confirm(&acme(), &result, BINDING, now()).await;
    assert!(matches!(refused, Err(ConfirmError::ConfigRemoved)));
}
