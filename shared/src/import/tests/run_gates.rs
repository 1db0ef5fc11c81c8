//! Whether a run runs, and what it asks next: a lease held by another run,
//! revoked consent, sync switched off or unauthorised, and a change
//! reported while a round was read.

use super::*;

#[tokio::test]
async fn given_the_lease_is_held_then_a_second_run_exits_quietly() {
    let world = World::new();
    let config = importing().build();
    *world.state.lease.lock().unwrap() = Some((
        "other-run".into(),
        Utc::now() + chrono::Duration::seconds(60),
    ));
    assert_eq!(world.run(&config, "run-x").await, RunOutcome::LeaseHeld);
    assert_eq!(world.entra.request_count(), 0);
}

#[tokio::test]
async fn given_revoked_consent_then_the_tenant_needs_reauthorisation() {
    let world = World::new();
    let config = importing().build();
    world.entra.users(
        "",
        Err(GraphError::Token(
            crate::model::entra::TokenError::ReauthorisationRequired(
                "invalid_grant (AADSTS700082)".into(),
            ),
        )),
    );
    assert_eq!(
        world.run(&config, "run-r").await,
        RunOutcome::ReauthorisationRequired
    );
    assert!(
        world
            .state
            .cleared
            .lock()
            .unwrap()
            .contains(&"reauthorisation")
    );
    let status = world.status();
    assert!(status.error.unwrap().contains("AADSTS700082"));
}

#[tokio::test]
async fn given_sync_disabled_or_unauthorised_then_nothing_happens() {
    let world = World::new();
    assert!(matches!(
        world
            .run(&importing().sync_enabled(false).build(), "r")
            .await,
        RunOutcome::Skipped(_)
    ));
    let unauthorised = importing()
        .authorisation(Authorisation::ReauthorisationRequired)
        .build();
    assert!(matches!(
        world.run(&unauthorised, "r").await,
        RunOutcome::Skipped(_)
    ));
    assert_eq!(world.entra.request_count(), 0);
}

#[tokio::test]
async fn given_a_change_reported_during_a_run_then_another_run_is_wanted_and_not_for_an_older_one()
{
    let world = World::new();
    let config = importing().build();
    // A notification that arrived before the round began was read by it.
    *world.state.sync_requested_at.lock().unwrap() =
        Some(Utc::now() - chrono::Duration::seconds(5));
    world.imported(&config).await;
    let quiet = ImportRun::new(
        &world.directory,
        &world.state,
        &world.state,
        &world.state,
        &world.entra,
        &config,
        None,
    );
    world.script_delta(vec![], vec![]);
    assert!(matches!(
        quiet.run().await.unwrap(),
        RunOutcome::Completed(_)
    ));
    assert!(!quiet.another_run_wanted());

    // One reported while the round was read may have been missed by it.
    *world.state.sync_requested_at.lock().unwrap() =
        Some(Utc::now() + chrono::Duration::seconds(1));
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
    let notified = ImportRun::new(
        &world.directory,
        &world.state,
        &world.state,
        &world.state,
        &world.entra,
        &config,
        None,
    );
    assert!(matches!(
        notified.run().await.unwrap(),
        RunOutcome::Completed(_)
    ));
    assert!(notified.another_run_wanted());
}
