//! The consent and sign-in legs: where each leads, and each refusal.

use super::*;

#[tokio::test]
async fn given_a_short_or_missing_binding_then_nothing_starts() {
    let flow = flow();
    let err = flow.start(&acme(), "too-short", now()).await.unwrap_err();
    assert!(matches!(err, StartError::InvalidBinding(9)), "{err}");
    assert!(flow.store.pending.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_a_start_then_the_admin_goes_to_consent_and_the_state_keeps_only_the_bindings_hash() {
    let flow = flow_with(Some(TID), FakeIdentity::default());
    let start = flow.start(&acme(), BINDING, now()).await.unwrap();
    assert_eq!(
        start.authorize_url.path(),
        format!("/{TID}/v2.0/adminconsent")
    );
    assert_eq!(start.expires_at, now() + chrono::Duration::minutes(10));
    let pending = flow.store.pending.lock().unwrap();
    let saved = pending.values().next().unwrap();
    assert!(matches!(saved.leg, PendingLeg::Consent));
    assert_eq!(saved.binding_hash, digest(BINDING));
    assert_ne!(saved.binding_hash, BINDING);
}

#[tokio::test]
async fn given_consent_then_a_silent_sign_in_to_the_named_tenant_follows_under_a_new_state() {
    let flow = flow();
    let state = started(&flow).await;
    let outcome = callback(
        &flow,
        &state,
        &format!("admin_consent=True&tenant={TID}&scope=x"),
    )
    .await;
    let CallbackOutcome::Continue { redirect, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(redirect.path(), format!("/{TID}/authorize"));
    assert_eq!(query_of(&redirect)["prompt"], "none");
    let next = query_of(&redirect)["state"].clone();
    let saved = flow.store.pending.lock().unwrap()[&next].clone();
    let PendingLeg::SignIn {
        entra_tenant_id,
        interactive,
        ..
    } = &saved.leg
    else {
        panic!()
    };
    assert_eq!((entra_tenant_id.as_str(), *interactive), (TID, false));
    assert_eq!(saved.binding_hash, digest(BINDING));
    // The consent's state is used up.
    let again = callback(&flow, &state, &format!("admin_consent=True&tenant={TID}")).await;
    assert!(matches!(
        again,
        CallbackOutcome::InvalidState(InvalidState::UnknownOrUsed)
    ));
}

#[tokio::test]
async fn given_a_declined_consent_or_no_tenant_then_it_fails_with_its_reason() {
    let flow = flow();
    let state = started(&flow).await;
    let declined = "admin_consent=True&error=consent_required&error_description=AADSTS65004";
    assert_eq!(
        failed_with(&callback(&flow, &state, declined).await),
        "consent_declined"
    );
    let state = started(&flow).await;
    let nameless = callback(&flow, &state, "admin_consent=True&tenant=contoso.com").await;
    assert_eq!(failed_with(&nameless), "invalid_request");
    nothing_stored(&flow);
}

#[tokio::test]
async fn given_a_configured_tenant_then_a_consent_from_another_is_a_mismatch() {
    let flow = flow_with(Some(TID), FakeIdentity::default());
    let state = started(&flow).await;
    let outcome = callback(
        &flow,
        &state,
        &format!("admin_consent=True&tenant={OTHER_TID}"),
    )
    .await;
    assert_eq!(failed_with(&outcome), "tenant_mismatch");
    nothing_stored(&flow);
    assert_eq!(config(&flow).entra_tenant_id.unwrap().as_str(), TID);
}

#[tokio::test]
async fn given_a_lying_tenant_parameter_then_the_id_token_of_another_tenant_is_refused() {
    // The consent answer says TID, but the admin signed in to OTHER_TID.
    let identity = FakeIdentity::default();
    *identity.signed_in.lock().unwrap() = OTHER_TID.into();
    let flow = flow_with(None, identity);
    let state = consented(&flow, TID).await;
    let outcome = callback(&flow, &state, "code=good-code").await;
    assert_eq!(failed_with(&outcome), "invalid_id_token");
    nothing_stored(&flow);
}

#[tokio::test]
async fn given_a_silent_sign_in_that_needs_a_person_then_it_is_tried_once_interactively() {
    let flow = flow();
    let state = consented(&flow, TID).await;
    let outcome = callback(&flow, &state, "error=login_required").await;
    let CallbackOutcome::Continue { redirect, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(!query_of(&redirect).contains_key("prompt"), "{redirect}");
    let interactive = query_of(&redirect)["state"].clone();
    let outcome = callback(&flow, &interactive, "error=interaction_required").await;
    assert_eq!(failed_with(&outcome), "sign_in_failed");
    nothing_stored(&flow);
}

#[tokio::test]
async fn given_a_sign_in_then_the_proof_waits_for_the_confirm_and_the_config_is_untouched() {
    let flow = flow();
    let result = proven(&flow).await;
    let proven = flow.store.proven.lock().unwrap();
    let waiting = &proven[&digest(&result)];
    assert_eq!(waiting.entra_tenant_id.as_str(), TID);
    assert_eq!(waiting.authorised_by.as_deref(), Some("admin@contoso.com"));
    assert_eq!(waiting.authorised_by_id, ADMIN_OID);
    assert!(waiting.missing_permissions.is_empty());
    assert_eq!(waiting.binding_hash, digest(BINDING));
    drop(proven);
    assert_eq!(config(&flow).authorisation, Authorisation::NotAuthorised);
    assert!(
        config(&flow).entra_tenant_id.is_none(),
        "claimed only at the confirm"
    );
}

#[tokio::test]
async fn given_a_signer_without_an_admin_role_then_not_admin_and_no_app_token_is_asked() {
    let flow = flow_with(
        None,
        FakeIdentity {
            wids: vec!["88d8e3e3-8f55-4a1e-953a-9b9898b8876b".into()],
            ..FakeIdentity::default()
        },
    );
    let state = consented(&flow, TID).await;
    assert_eq!(
        failed_with(&callback(&flow, &state, "code=good-code").await),
        "not_admin"
    );
    assert_eq!(
        *flow.identities.global().app_token_requests.lock().unwrap(),
        0
    );
    nothing_stored(&flow);
}

#[tokio::test(start_paused = true)]
async fn given_an_app_not_in_the_tenant_then_it_is_tried_again_then_app_not_installed() {
    let flow = flow_with(
        None,
        FakeIdentity {
            app_error: Some(700016),
            ..FakeIdentity::default()
        },
    );
    let state = consented(&flow, TID).await;
    let outcome = callback(&flow, &state, "code=good-code").await;
    assert_eq!(failed_with(&outcome), "app_not_installed");
    assert_eq!(
        *flow.identities.global().app_token_requests.lock().unwrap(),
        3
    );
    nothing_stored(&flow);
}

#[tokio::test(start_paused = true)]
async fn given_an_identity_platform_too_slow_for_the_function_then_it_is_unavailable_in_time() {
    let flow = flow_with(
        None,
        FakeIdentity {
            app_error: Some(700016),
            // Each try as slow as a request may be (its 30 s timeout).
            app_token_delay: std::time::Duration::from_secs(30),
            ..FakeIdentity::default()
        },
    );
    let state = consented(&flow, TID).await;
    let started = tokio::time::Instant::now();
    let outcome = callback(&flow, &state, "code=good-code").await;
    assert_eq!(failed_with(&outcome), "temporarily_unavailable");
    assert!(
        started.elapsed() <= std::time::Duration::from_secs(20),
        "answered within the budget, before the function's 30 s end: {:?}",
        started.elapsed()
    );
    nothing_stored(&flow);
}

#[tokio::test]
async fn given_a_disabled_app_then_app_disabled_at_once() {
    let flow = flow_with(
        None,
        FakeIdentity {
            app_error: Some(7000112),
            ..FakeIdentity::default()
        },
    );
    let state = consented(&flow, TID).await;
    assert_eq!(
        failed_with(&callback(&flow, &state, "code=good-code").await),
        "app_disabled"
    );
    assert_eq!(
        *flow.identities.global().app_token_requests.lock().unwrap(),
        1
    );
    nothing_stored(&flow);
}

#[tokio::test]
async fn given_fewer_roles_than_needed_then_the_missing_ones_are_named() {
    let flow = flow_with(
        None,
        FakeIdentity {
            roles: vec!["User.Read.All", "Group.Read.All"],
            ..FakeIdentity::default()
        },
    );
    let result = proven(&flow).await;
    let proven = flow.store.proven.lock().unwrap();
    let waiting = &proven[&digest(&result)];
    assert_eq!(
        waiting.granted_permissions,
        vec!["User.Read.All", "Group.Read.All"]
    );
    assert!(
        waiting
            .missing_permissions
            .contains(&"User.ReadWrite.All".to_owned())
    );
    assert_eq!(
        waiting.missing_permissions.len(),
        crate::model::identity::REQUIRED_APP_ROLES.len() - 2
    );
}

#[tokio::test]
async fn given_a_failed_code_exchange_or_an_expired_state_then_nothing_is_stored() {
    let flow = flow();
    let state = consented(&flow, TID).await;
    let outcome = callback(&flow, &state, "code=bad-code").await;
    assert_eq!(failed_with(&outcome), "token_exchange_failed");
    let state = consented(&flow, TID).await;
    let late = CallbackParams::from_query(&format!("code=good-code&state={state}"));
    let outcome = flow
        .complete(late, now() + chrono::Duration::minutes(11))
        .await;
    assert!(matches!(
        outcome,
        CallbackOutcome::InvalidState(InvalidState::Expired)
    ));
    nothing_stored(&flow);
}

#[tokio::test]
async fn given_a_state_of_a_shape_we_never_issue_then_it_is_unknown() {
    let flow = flow();
    for state in [
        "short",
        &"x".repeat(3000),
        "has spaces and <html> in it 12345",
    ] {
        let outcome = flow
            .complete(
                CallbackParams {
                    state: Some(SecretString::from(state.to_owned())),
                    ..CallbackParams::default()
                },
                now(),
            )
            .await;
        assert!(matches!(
            outcome,
            CallbackOutcome::InvalidState(InvalidState::UnknownOrUsed)
        ));
    }
}
