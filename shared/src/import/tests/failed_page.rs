//! A run that fails while reading (a store or Graph error, its lease given
//! back) leaves what a killed run leaves: a page written, maybe recorded,
//! without its checkpoint. The next run must not trust that page's record,
//! and a round read again from the start must sweep (found by the
//! simulation, seeds 538 and 1809 among others, store faults).

use super::*;

#[tokio::test]
async fn given_a_first_import_whose_groups_page_failed_when_a_group_it_wrote_is_deleted_before_the_retry_then_the_retry_sweeps_it()
 {
    let world = World::new();
    let config = importing().build();
    world.script_first_import();
    // The two users pages are recorded, the groups page's record fails.
    *world.state.page_record_fails_once_after.lock().unwrap() = Some(2);
    let failed = world
        .try_run(&config, "run-fails", None, MAX_DEADLINE_MARGIN)
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(world.directory.groups.lock().unwrap().contains_key("g1"));
    assert!(world.state.lease.lock().unwrap().is_none(), "given back");

    // g1 is deleted before the retry reads the groups from the start.
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    let outcome = world.run(&config, "run-retries").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.directory.groups.lock().unwrap().is_empty());
    assert!(world.directory.memberships.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_a_delta_run_whose_last_checkpoint_failed_then_the_next_run_does_not_trust_a_record_of_the_page_it_would_read_again()
 {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.script_delta(
        vec![DeltaItem::Upsert(user("u3", "cy@other.org"))],
        vec![group("g1", &[])],
    );
    // The users phase's checkpoint is saved; the groups phase's fails.
    *world.state.checkpoint_fails_once_after.lock().unwrap() = Some(1);
    let failed = world
        .try_run(&config, "run-fails", None, MAX_DEADLINE_MARGIN)
        .await;
    assert!(failed.is_err(), "{failed:?}");

    // g1 is deleted after that read (and g2 created). Whatever the next
    // run reads again, the deletion reaches the directory.
    let gone = DeltaItem::Removed {
        id: "g1".into(),
        permanent: true,
    };
    world
        .entra
        .groups("g-d1", groups_page(vec![gone.clone()], next("g-d1-p2")));
    world
        .entra
        .groups("g-d1-p2", groups_page(vec![group("g2", &[])], done("g-d3")));
    world.entra.groups(
        "g-d2",
        groups_page(vec![gone, group("g2", &[])], done("g-d3")),
    );
    world
        .entra
        .groups("g-d3", groups_page(vec![], done("g-d3")));
    for _ in 0..2 {
        world.entra.users("u-d2", users_page(vec![], done("u-d2")));
    }
    for run in ["run-after", "run-after-that"] {
        let outcome = world.run(&config, run).await;
        assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    }

    let groups = world.directory.groups.lock().unwrap().clone();
    assert_eq!(groups.keys().collect::<Vec<_>>(), ["g2"]);
}
