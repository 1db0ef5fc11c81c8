//! An application-mode tenant whose access ended or lacks permissions
//! (DESIGN 2.12): what the run writes on the config and `last_sync_error`.

use super::*;

fn refused_with(world: &World, refusal: GraphError) {
    world.entra.users("", Err(refusal));
}

fn last_sync_error(world: &World) -> String {
    let status = world.status();
    status.error.unwrap()
}

#[tokio::test]
async fn given_consent_revoked_then_the_tenant_needs_reauthorisation_for_that_reason() {
    let world = World::new();
    refused_with(
        &world,
        GraphError::Token(TokenError::AppAccessEnded(
            ReauthorisationReason::ConsentRevoked,
        )),
    );
    let outcome = world.run(&importing().build(), "run-c").await;
    assert_eq!(outcome, RunOutcome::ReauthorisationRequired);
    let cleared = world.state.cleared.lock().unwrap().clone();
    assert_eq!(cleared, vec!["reauthorisation", "consent_revoked"]);
    let error = last_sync_error(&world);
    assert!(
        error.contains("AADSTS700016")
            && error.contains("consent was revoked")
            && error.contains("authorise the integration again"),
        "{error}"
    );
    // The lease is given back with the status.
    assert!(world.state.lease.lock().unwrap().is_none());
}

#[tokio::test]
async fn given_the_app_disabled_then_the_admin_is_told_to_enable_it() {
    let world = World::new();
    refused_with(
        &world,
        GraphError::Token(TokenError::AppAccessEnded(
            ReauthorisationReason::AppDisabled,
        )),
    );
    let outcome = world.run(&importing().build(), "run-d").await;
    assert_eq!(outcome, RunOutcome::ReauthorisationRequired);
    let cleared = world.state.cleared.lock().unwrap().clone();
    assert_eq!(cleared, vec!["reauthorisation", "app_disabled"]);
    let error = last_sync_error(&world);
    assert!(
        error.contains("AADSTS7000112") && error.contains("enable it again"),
        "{error}"
    );
}

#[tokio::test]
async fn given_a_refused_refresh_token_then_the_reason_is_refresh_revoked() {
    let world = World::new();
    refused_with(
        &world,
        GraphError::Token(TokenError::ReauthorisationRequired(
            "invalid_grant (AADSTS50173)".into(),
        )),
    );
    let outcome = world.run(&importing().build(), "run-g").await;
    assert_eq!(outcome, RunOutcome::ReauthorisationRequired);
    let cleared = world.state.cleared.lock().unwrap().clone();
    assert_eq!(cleared, vec!["reauthorisation", "refresh_revoked"]);
    assert!(last_sync_error(&world).contains("AADSTS50173"));
}

#[tokio::test]
async fn given_a_token_endpoint_outage_then_the_run_fails_without_reauthorisation() {
    let world = World::new();
    refused_with(
        &world,
        GraphError::Token(TokenError::Unavailable("temporarily_unavailable".into())),
    );
    let outcome = world.run(&importing().build(), "run-u").await;
    assert!(matches!(outcome, RunOutcome::Failed(_)), "{outcome:?}");
    assert!(world.state.cleared.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_missing_permissions_then_the_run_fails_naming_them_and_stays_authorised() {
    let world = World::new();
    refused_with(
        &world,
        GraphError::PermissionsMissing(PermissionCheck {
            granted: vec!["Domain.Read.All".into()],
            missing: vec!["User.Read.All".into(), "Group.Read.All".into()],
        }),
    );
    let outcome = world.run(&importing().build(), "run-p").await;
    assert!(matches!(outcome, RunOutcome::Failed(_)), "{outcome:?}");
    assert!(world.state.cleared.lock().unwrap().is_empty());
    let error = last_sync_error(&world);
    assert!(
        error.contains("User.Read.All, Group.Read.All")
            && error.contains("grant admin consent again"),
        "{error}"
    );
    // One request: the refusal is not retried.
    assert_eq!(world.entra.request_count(), 1);
}
