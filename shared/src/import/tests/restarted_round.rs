//! A round restarted within its run (Graph's delta state gone) gets its own
//! id: the replaced round's id could be the same second's and the same
//! run's, and a run that dies before saving the new round's checkpoint
//! leaves the stored one naming the replaced round, whose page records the
//! new round must not have overwritten (found by the simulation, seed 404).

use super::*;

#[tokio::test]
async fn given_a_round_restarted_by_expired_delta_state_when_the_run_dies_then_the_interrupted_rounds_records_survive()
 {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    let purged = DeltaItem::Removed {
        id: "u3".into(),
        permanent: true,
    };
    world
        .entra
        .users("u-d1", users_page(vec![purged], done("u-d2")));
    world.entra.groups(
        "g-d1",
        Err(GraphError::SyncStateGone("resyncRequired".into())),
    );
    // The full round that replaces it, until its first checkpoint fails.
    world.entra.users(
        "",
        users_page(
            vec![
                DeltaItem::Upsert(user("u1", "ann@contoso.com")),
                DeltaItem::Upsert(user("u2", "bob@fed.contoso.com")),
            ],
            next("u-p2"),
        ),
    );
    world.entra.users("u-p2", users_page(vec![], done("u-d9")));
    // The delta round's users phase is saved; then every save fails.
    *world.state.checkpoints_before_failure.lock().unwrap() = Some(1);
    let died = world
        .try_run(&config, "run-dies", None, MAX_DEADLINE_MARGIN)
        .await;
    assert!(died.is_err(), "{died:?}");
    *world.state.checkpoints_before_failure.lock().unwrap() = None;
    *world.state.lease.lock().unwrap() =
        Some(("run-dies".into(), Utc::now() - chrono::Duration::seconds(1)));

    // The next run resumes the delta round at its groups.
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
    let outcome = world.run(&config, "run-resumes").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let users = world.directory.users.lock().unwrap().clone();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["u1", "u2"]);
}
