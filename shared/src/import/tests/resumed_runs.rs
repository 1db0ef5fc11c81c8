//! A run that fails or is killed mid-round: the next run resumes from the
//! checkpoint, a killed first import's finish sweeps, and a page saved
//! without its checkpoint is not counted by the resumed round.

use super::*;

#[tokio::test]
async fn given_a_run_that_fails_mid_round_when_the_next_run_comes_then_it_resumes_from_the_checkpoint()
 {
    let world = World::new();
    let config = importing().build();
    world.entra.users("", ann_alone(next("u-p2")));
    world.entra.users("u-p2", Err(graph_exhausted()));
    let outcome = world.run(&config, "run-a").await;
    let RunOutcome::Failed(status) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        status
            .error
            .unwrap()
            .contains("reading Entra ID's users failed")
    );
    assert_eq!(
        world.directory.users.lock().unwrap().len(),
        1,
        "page one is kept"
    );
    assert!(
        world.state.lease.lock().unwrap().is_none(),
        "the lease is released"
    );

    world.entra.users(
        "u-p2",
        users_page(
            vec![DeltaItem::Upsert(user("u2", "bob@contoso.com"))],
            done("u-d1"),
        ),
    );
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    let requests = world.entra.request_count();
    let RunOutcome::Completed(status) = world.run(&config, "run-b").await else {
        panic!()
    };
    assert_eq!(status.mode, Mode::Full);
    assert_eq!(
        world.entra.requests.lock().unwrap()[requests],
        "users u-p2",
        "resumed at page two"
    );
    assert_eq!(status.counts.users_created, 2, "counts carry over");
    assert_eq!(
        world.directory.users.lock().unwrap().len(),
        2,
        "the full sweep keeps page one's user"
    );
}

#[tokio::test]
async fn given_a_first_import_whose_run_was_killed_when_resumed_then_its_finish_sweeps() {
    let world = World::new();
    let config = importing().build();
    world.entra.users("", ann_alone(next("u-p2")));
    world.entra.users("u-p2", Err(graph_exhausted()));
    assert!(matches!(
        world.run(&config, "run-a").await,
        RunOutcome::Failed(_)
    ));
    // As if run-a had been killed instead: its lease is still there, expired.
    *world.state.lease.lock().unwrap() =
        Some(("run-a".into(), Utc::now() - chrono::Duration::seconds(1)));
    world.entra.users("u-p2", users_page(vec![], done("u-d1")));
    world.entra.groups("", groups_page(vec![], done("g-d1")));

    assert!(matches!(
        world.run(&config, "run-b").await,
        RunOutcome::Completed(_)
    ));

    assert!(
        *world.directory.bucket_reads.lock().unwrap() > 0,
        "a page may have been written without its checkpoint: the finish sweeps"
    );
}

#[tokio::test]
async fn given_a_run_killed_after_saving_a_page_then_its_resumed_round_does_not_count_what_that_page_saw()
 {
    let world = World::new();
    let config = importing().build();
    world.entra.users(
        "",
        users_page(
            vec![
                DeltaItem::Upsert(user("a1", "ann@contoso.com")),
                DeltaItem::Upsert(user("b1", "bob@contoso.com")),
                DeltaItem::Upsert(user("u1", "uma@contoso.com")),
                DeltaItem::Upsert(user("v1", "vic@contoso.com")),
            ],
            done("u-d1"),
        ),
    );
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    assert!(matches!(
        world.run(&config, "run-1").await,
        RunOutcome::Completed(_)
    ));

    // A resync: page one checkpointed (v1 puts u1's bucket in its notes);
    // page two saved, then killed before its checkpoint.
    let resync = config_resync();
    world.entra.users(
        "",
        users_page(
            vec![
                DeltaItem::Upsert(user("a1", "ann@contoso.com")),
                DeltaItem::Upsert(user("v1", "vic@contoso.com")),
            ],
            next("p2"),
        ),
    );
    world.entra.users(
        "p2",
        users_page(
            vec![
                DeltaItem::Upsert(user("b1", "bob@contoso.com")),
                DeltaItem::Upsert(user("u1", "uma@contoso.com")),
            ],
            done("u-d2"),
        ),
    );
    *world.state.checkpoints_before_failure.lock().unwrap() = Some(1);
    let killed = world
        .try_run(&resync, "run-a", None, MAX_DEADLINE_MARGIN)
        .await;
    assert!(matches!(killed, Err(ImportError::Store(_))), "{killed:?}");
    assert!(
        world
            .state
            .seen
            .lock()
            .unwrap()
            .keys()
            .any(|(_, _, _, page)| *page == 1),
        "page two was saved without its checkpoint"
    );
    *world.state.checkpoints_before_failure.lock().unwrap() = None;
    *world.state.lease.lock().unwrap() =
        Some(("run-a".into(), Utc::now() - chrono::Duration::seconds(1)));

    // u1 is deleted in Entra before page two is read again.
    world.entra.users(
        "p2",
        users_page(
            vec![DeltaItem::Upsert(user("b1", "bob@contoso.com"))],
            done("u-d2"),
        ),
    );
    world.entra.groups("", groups_page(vec![], done("g-d2")));
    let RunOutcome::Completed(status) = world.run(&resync, "run-b").await else {
        panic!("the resumed resync completes");
    };
    assert_eq!(status.counts.users_deleted, 1);
    let users = world.directory.users.lock().unwrap().clone();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["a1", "b1", "v1"]);
}
