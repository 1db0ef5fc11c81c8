//! A full round under `import_group_ids` applies its pages under the scope
//! computed when it started, and reads its groups round later: its end
//! computes the scope again and removes what left it meanwhile, and a
//! resumed round keeps the scope it started with (found by the
//! simulation, seeds 96 and 110 among others, store faults).

use super::*;

fn throttled() -> GraphError {
    GraphError::Exhausted {
        attempts: 5,
        last: "429 Too Many Requests".into(),
    }
}

#[tokio::test]
async fn given_a_resync_interrupted_before_its_groups_when_a_user_left_the_scope_meanwhile_then_its_end_removes_the_user()
 {
    let world = World::new();
    imported_with_group_scope(&world).await;
    let config = importing()
        .import_group_ids(&[SCOPE_GROUP])
        .resync_requested_at("2026-11-26T10:00:00Z")
        .build();
    world.entra.users("", ann_and_bob(done("u-d5")));
    world.entra.groups("", Err(throttled()));
    let failed = world.run(&config, "run-resync").await;
    assert!(matches!(failed, RunOutcome::Failed(_)), "{failed:?}");
    assert!(world.has_user("u1"));

    // u1 leaves the scope group before the groups round is read.
    world
        .entra
        .transitive_members_of(SCOPE_GROUP, &[(NESTED_GROUP, MemberKind::Group)]);
    world.entra.groups(
        "",
        groups_page(
            vec![group(SCOPE_GROUP, &[]), group(NESTED_GROUP, &[])],
            done("g-d5"),
        ),
    );
    let outcome = world.run(&config, "run-resumed").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let users = world.directory.users.lock().unwrap().clone();
    assert!(users.is_empty(), "{:?}", users.keys());
    assert!(world.directory.memberships.lock().unwrap().is_empty());
    let scope = world.state.scope.lock().unwrap().clone().unwrap();
    assert!(scope.users.is_empty(), "{scope:?}");
}
