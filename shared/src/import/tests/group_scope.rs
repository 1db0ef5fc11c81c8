//! `import_group_ids`: a user who enters a nested scope group arrives with
//! the membership that brought them, a new hire created into one is in
//! scope for both rounds, and a scope change whose run fails still
//! arrives on the next run.

use super::*;

#[tokio::test]
async fn given_a_user_added_to_a_nested_scope_group_then_the_user_and_that_membership_arrive() {
    let world = World::new();
    let config = imported_with_group_scope(&world).await;

    // u2 joins the nested group: only the groups round shows it.
    bob_enters_scope(&world);
    world.script_delta(vec![], vec![group(NESTED_GROUP, &["u2"])]);
    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.has_user("u2"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.contains_key(&membership(NESTED_GROUP, "u2")),
        "the membership that brought u2 into scope: {memberships:?}"
    );
    let status = world.status();
    assert_eq!(
        (status.counts.users_created, status.counts.members_added),
        (1, 1)
    );
}

#[tokio::test]
async fn given_a_new_user_created_into_a_nested_scope_group_then_both_rounds_agree_it_is_in_scope()
{
    let world = World::new();
    let config = imported_with_group_scope(&world).await;

    // A new hire, created and added to the nested group in one go: the
    // users round sees them before the scope knows them.
    scope_holds(&world, &[("u3", MemberKind::User)]);
    world.entra.user_lookup(user("u3", "cy@contoso.com"));
    world.script_delta(
        vec![DeltaItem::Upsert(user("u3", "cy@contoso.com"))],
        vec![group(NESTED_GROUP, &["u3"])],
    );
    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.has_user("u3"));
    assert!(world.has_membership(NESTED_GROUP, "u3"));
    let status = world.status();
    assert_eq!(
        (
            status.counts.users_created,
            status.counts.users_deleted,
            status.counts.members_added
        ),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn given_a_scope_change_whose_run_fails_when_the_next_run_comes_then_the_entering_user_still_arrives()
 {
    let world = World::new();
    let config = imported_with_group_scope(&world).await;
    bob_enters_scope(&world);
    *world.entra.failing_user_lookups.lock().unwrap() = 1;
    world.script_delta(vec![], vec![group(NESTED_GROUP, &["u2"])]);
    let failed = world.run(&config, "run-throttled").await;
    assert!(matches!(failed, RunOutcome::Failed(_)), "{failed:?}");
    assert!(!world.has_user("u2"));

    // The next run resumes at the end of the round: the scope it compares
    // with is still the one before the change.
    let outcome = world.run(&config, "run-resumed").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.has_user("u2"));
    assert!(world.has_membership(NESTED_GROUP, "u2"));
}
