//! A run's margin comes from its invocation's budget; a full round read late
//! leaves its finish to the next invocation, while a first import's finish
//! reads nothing tenant-wide and never waits.

use super::*;

#[test]
fn the_deadline_margin_is_a_tenth_of_the_budget_within_bounds() {
    use std::time::Duration;
    assert_eq!(
        deadline_margin(Duration::from_secs(300)),
        MAX_DEADLINE_MARGIN
    );
    assert_eq!(
        deadline_margin(Duration::from_secs(30)),
        Duration::from_secs(3)
    );
    assert_eq!(deadline_margin(Duration::from_secs(2)), MIN_DEADLINE_MARGIN);
}

#[test]
fn a_runs_margin_comes_from_its_invocations_whole_budget() {
    use std::time::Duration;
    let deadline = RunDeadline::for_invocation(Instant::now() + Duration::from_secs(60));
    let tenth = Duration::from_secs(6);
    assert!(
        deadline.margin <= tenth && deadline.margin > tenth - Duration::from_millis(100),
        "{:?}",
        deadline.margin
    );
}

#[tokio::test]
async fn given_a_full_round_read_late_in_its_invocation_when_it_would_finish_then_the_finish_waits_for_the_next_one()
 {
    let world = World::new();
    let config = importing().build();
    world.entra.users("", ann_alone(done("u-d1")));
    world
        .entra
        .groups("", groups_page(vec![group("g1", &["u1"])], done("g-d1")));
    // A tenant synced before (a resync, an expired delta state): the
    // finish sweeps the directory.
    *world.state.ran.lock().unwrap() = true;
    // The pages fit, the finish (five margins) does not.
    let first = world.run_late(&config, "run-1").await;

    assert_eq!(first, RunOutcome::Paused);
    assert_eq!(
        world.directory.users.lock().unwrap().len(),
        1,
        "the pages were applied"
    );
    let checkpoint = world
        .state
        .state
        .lock()
        .unwrap()
        .clone()
        .checkpoint
        .unwrap();
    assert_eq!(checkpoint.phase, Phase::Finishing);
    assert!(
        world
            .state
            .status
            .lock()
            .unwrap()
            .as_ref()
            .is_none_or(|s| s.completed_at.is_none())
    );

    // The continuation starts at the finish and, however late, completes it.
    let second = world.run_late(&config, "run-2").await;

    assert!(matches!(second, RunOutcome::Completed(_)), "{second:?}");
    let state = world.state.state.lock().unwrap().clone();
    assert!(state.checkpoint.is_none());
    assert_eq!(state.users_delta_link.as_deref(), Some("u-d1"));
}

#[tokio::test]
async fn given_a_first_import_when_it_finishes_then_it_reads_nothing_tenant_wide_and_does_not_wait()
{
    let world = World::new();
    let config = importing().build();
    world.entra.users("", ann_and_bob(next("u-p2")));
    // Deleted while the round was read: a later page removes it.
    world.entra.users(
        "u-p2",
        users_page(
            vec![DeltaItem::Removed {
                id: "u2".into(),
                permanent: false,
            }],
            done("u-d1"),
        ),
    );
    world.entra.groups(
        "",
        groups_page(vec![group("g1", &["u1", "u2"])], done("g-d1")),
    );
    // Late in the invocation: a finish that swept would wait for the next.
    let outcome = world.run_late(&config, "run-1").await;

    let RunOutcome::Completed(status) = outcome else {
        panic!("a first import's finish fits: {outcome:?}");
    };
    assert_eq!(*world.directory.bucket_reads.lock().unwrap(), 0);
    let users = world.directory.users.lock().unwrap().clone();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["u1"], "u2 was removed");
    let memberships: Vec<MembershipKey> = world
        .directory
        .memberships
        .lock()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(memberships, [membership("g1", "u1")], "u2's went with it");
    assert_eq!(
        (status.counts.users_created, status.counts.users_deleted),
        (2, 1)
    );

    // The next full round (a resync) sweeps: the directory holds imports now.
    let resync = config_resync();
    world.entra.users("", users_page(vec![], done("u-d2")));
    world.entra.groups("", groups_page(vec![], done("g-d2")));
    let outcome = world.run(&resync, "run-2").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(*world.directory.bucket_reads.lock().unwrap() > 0);
    assert!(
        world.directory.users.lock().unwrap().is_empty(),
        "the sweep removed the user the resync did not see"
    );
}
