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

fn app_refused(reason: ReauthorisationReason) -> GraphError {
    GraphError::Token(TokenError::AppAccessEnded(reason))
}

fn suspected_since(world: &World) -> Option<chrono::DateTime<Utc>> {
    *world.state.reauthorisation_suspected_since.lock().unwrap()
}

/// Moves the recorded first refusal `back` into the past.
fn first_refused_earlier(world: &World, back: Duration) {
    let mut since = world.state.reauthorisation_suspected_since.lock().unwrap();
    *since = Some(since.expect("a refusal recorded") - chrono::Duration::from_std(back).unwrap());
}

#[tokio::test]
async fn given_the_app_refused_a_first_time_then_the_tenant_stays_authorised_and_is_warned() {
    for (reason, code) in [
        (ReauthorisationReason::ConsentRevoked, "AADSTS700016"),
        (ReauthorisationReason::AppDisabled, "AADSTS7000112"),
    ] {
        let world = World::new();
        refused_with(&world, app_refused(reason));
        let before = Utc::now();
        let outcome = world.run(&importing().build(), "run-c").await;
        assert!(matches!(outcome, RunOutcome::Failed(_)), "{outcome:?}");
        assert!(world.state.cleared.lock().unwrap().is_empty(), "not marked");
        let since = suspected_since(&world).expect("the first refusal is recorded");
        assert!(since >= before - chrono::Duration::seconds(1));
        let error = last_sync_error(&world);
        assert!(
            error.contains(code)
                && error.contains(reason.as_str())
                && error.contains(
                    "If it persists for 60 minutes, the tenant will be marked for re-authorisation"
                ),
            "{error}"
        );
        // The lease is given back with the status.
        assert!(world.state.lease.lock().unwrap().is_none());
    }
}

#[tokio::test]
async fn given_the_refusal_persisting_past_the_window_then_the_tenant_needs_reauthorisation() {
    for (reason, advice) in [
        (ReauthorisationReason::ConsentRevoked, "consent was revoked"),
        (ReauthorisationReason::AppDisabled, "enable it again"),
    ] {
        let world = World::new();
        refused_with(&world, app_refused(reason));
        world.run(&importing().build(), "run-1").await;
        let first = suspected_since(&world).unwrap();

        // Still within the window: failed again, the first sighting kept.
        first_refused_earlier(&world, REAUTHORISATION_GRACE - Duration::from_secs(60));
        let within = suspected_since(&world).unwrap();
        refused_with(&world, app_refused(reason));
        let outcome = world.run(&importing().build(), "run-2").await;
        assert!(matches!(outcome, RunOutcome::Failed(_)), "{outcome:?}");
        assert!(world.state.cleared.lock().unwrap().is_empty());
        assert_eq!(suspected_since(&world), Some(within));
        assert!(within < first);

        // Past it: marked, for that reason, and the sighting forgotten.
        first_refused_earlier(&world, Duration::from_secs(61));
        refused_with(&world, app_refused(reason));
        let outcome = world.run(&importing().build(), "run-3").await;
        assert_eq!(outcome, RunOutcome::ReauthorisationRequired);
        let cleared = world.state.cleared.lock().unwrap().clone();
        assert_eq!(cleared, vec!["reauthorisation", reason.as_str()]);
        let error = last_sync_error(&world);
        assert!(
            error.contains(advice) && error.contains("authorise the integration again"),
            "{error}"
        );
        assert_eq!(suspected_since(&world), None);
        assert!(world.state.lease.lock().unwrap().is_none());
    }
}

#[tokio::test]
async fn given_two_refusals_hours_apart_with_no_finished_run_between_then_each_is_a_first() {
    let world = World::new();
    let revoked = ReauthorisationReason::ConsentRevoked;
    refused_with(&world, app_refused(revoked));
    world.run(&importing().build(), "run-1").await;
    // Hours pass with runs that pause or fail otherwise (none finishes, so
    // nothing clears the first sighting), and no refusal in between.
    first_refused_earlier(&world, REAUTHORISATION_GRACE * 3);
    {
        let mut seen = world.state.reauthorisation_last_seen.lock().unwrap();
        *seen = seen.map(|at| at - chrono::Duration::from_std(REAUTHORISATION_GRACE * 3).unwrap());
    }
    refused_with(&world, app_refused(revoked));
    let outcome = world.run(&importing().build(), "run-2").await;
    assert!(matches!(outcome, RunOutcome::Failed(_)), "{outcome:?}");
    assert!(
        world.state.cleared.lock().unwrap().is_empty(),
        "a blip hours after another is not an hour-long refusal"
    );
    let since = suspected_since(&world).unwrap();
    assert!(Utc::now() - since < chrono::Duration::minutes(1), "{since}");
}

#[tokio::test]
async fn given_a_finished_run_between_refusals_then_the_window_starts_again() {
    let world = World::new();
    let revoked = ReauthorisationReason::ConsentRevoked;
    refused_with(&world, app_refused(revoked));
    world.run(&importing().build(), "run-1").await;
    first_refused_earlier(&world, REAUTHORISATION_GRACE * 2);

    // The operator fixed the app registration: a run finishes.
    world.imported(&importing().build()).await;
    assert_eq!(suspected_since(&world), None);

    // A refusal now (reading the delta link) is a first one again: not marked.
    world.entra.users("u-d1", Err(app_refused(revoked)));
    let outcome = world.run(&importing().build(), "run-3").await;
    assert!(matches!(outcome, RunOutcome::Failed(_)), "{outcome:?}");
    assert!(world.state.cleared.lock().unwrap().is_empty());
    assert!(suspected_since(&world).is_some());
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
