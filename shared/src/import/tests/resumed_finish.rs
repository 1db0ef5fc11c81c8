//! A finish that applied a new group scope, then failed, is resumed by the
//! next run: the scope it finds stored may be the old one or the new one,
//! and the directory may hold what the first attempt wrote (found by the
//! simulation, seeds 917 and 1776, store faults).

use super::groups_from_start::{ENTERING_GROUP, group_of_groups};
use super::*;

async fn resume(world: &World, config: &TenantConfig) {
    let failed = world
        .try_run(config, "run-fails-in-its-finish", None, MAX_DEADLINE_MARGIN)
        .await;
    assert!(failed.is_err(), "{failed:?}");
    let outcome = world.run(config, "run-resumes-the-finish").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
}

#[tokio::test]
async fn given_a_finish_that_failed_before_saving_its_scope_when_the_user_it_imported_left_again_then_the_resumed_finish_removes_them()
 {
    let world = World::new();
    let config = imported_with_group_scope(&world).await;
    bob_enters_scope(&world);
    world.script_delta(vec![], vec![group(NESTED_GROUP, &["u2"])]);
    // Fails after importing u2, before saving the new scope.
    *world.state.failing_problem_reads.lock().unwrap() = 1;
    let failed = world
        .try_run(
            &config,
            "run-fails-in-its-finish",
            None,
            MAX_DEADLINE_MARGIN,
        )
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(world.has_user("u2"));

    // u2 leaves the nested group before the finish is resumed.
    scope_holds(&world, &[]);
    let outcome = world.run(&config, "run-resumes-the-finish").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let users = world.directory.users.lock().unwrap().clone();
    assert!(!users.contains_key("u2"), "{:?}", users.keys());
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        !memberships.contains_key(&membership(NESTED_GROUP, "u2")),
        "{memberships:?}"
    );
}

#[tokio::test]
async fn given_a_finish_that_failed_after_saving_its_scope_then_the_resumed_finish_keeps_the_user_and_reads_the_new_groups()
 {
    let world = World::new();
    let config = imported_with_group_scope(&world).await;
    scope_holds(
        &world,
        &[
            ("u2", MemberKind::User),
            (ENTERING_GROUP, MemberKind::Group),
        ],
    );
    world.entra.user_lookup(user("u2", "bob@contoso.com"));
    // The users round sees u2 changed while still out of the old scope.
    world.script_delta(
        vec![DeltaItem::Upsert(user("u2", "bob@contoso.com"))],
        vec![
            group(NESTED_GROUP, &["u2"]),
            group_of_groups(SCOPE_GROUP, &[ENTERING_GROUP]),
            group(ENTERING_GROUP, &[]),
        ],
    );
    // Fails after saving the new scope, before the run's end is written.
    *world.state.failing_problem_counts.lock().unwrap() = 1;
    resume(&world, &config).await;

    assert!(world.has_user("u2"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.contains_key(&membership(NESTED_GROUP, "u2")),
        "{memberships:?}"
    );
    let state = world.state.state.lock().unwrap().clone();
    assert_eq!(
        state.groups_delta_link, None,
        "the entering group's members are read from the start"
    );
}
