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
    world.entra.transitive_members_of(
        SCOPE_GROUP,
        &[
            ("u1", MemberKind::User),
            (NESTED_GROUP, MemberKind::Group),
            ("u2", MemberKind::User),
        ],
    );
    world.entra.user_lookup(user("u2", "bob@contoso.com"));
    world.entra.users("u-d1", users_page(vec![], done("u-d2")));
    world.entra.groups(
        "g-d1",
        groups_page(vec![group(NESTED_GROUP, &["u2"])], done("g-d2")),
    );
    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.directory.users.lock().unwrap().contains_key("u2"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.contains_key(&membership(NESTED_GROUP, "u2")),
        "the membership that brought u2 into scope: {memberships:?}"
    );
    let status = world.state.status.lock().unwrap().clone().unwrap();
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
    world.entra.transitive_members_of(
        SCOPE_GROUP,
        &[
            ("u1", MemberKind::User),
            (NESTED_GROUP, MemberKind::Group),
            ("u3", MemberKind::User),
        ],
    );
    world.entra.user_lookup(user("u3", "cy@contoso.com"));
    world.entra.users(
        "u-d1",
        users_page(
            vec![DeltaItem::Upsert(user("u3", "cy@contoso.com"))],
            done("u-d2"),
        ),
    );
    world.entra.groups(
        "g-d1",
        groups_page(vec![group(NESTED_GROUP, &["u3"])], done("g-d2")),
    );
    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.directory.users.lock().unwrap().contains_key("u3"));
    assert!(
        world
            .directory
            .memberships
            .lock()
            .unwrap()
            .contains_key(&membership(NESTED_GROUP, "u3"))
    );
    let status = world.state.status.lock().unwrap().clone().unwrap();
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
    world.entra.transitive_members_of(
        SCOPE_GROUP,
        &[
            ("u1", MemberKind::User),
            (NESTED_GROUP, MemberKind::Group),
            ("u2", MemberKind::User),
        ],
    );
    world.entra.user_lookup(user("u2", "bob@contoso.com"));
    *world.entra.failing_user_lookups.lock().unwrap() = 1;
    world.entra.users("u-d1", users_page(vec![], done("u-d2")));
    world.entra.groups(
        "g-d1",
        groups_page(vec![group(NESTED_GROUP, &["u2"])], done("g-d2")),
    );
    let failed = world.run(&config, "run-throttled").await;
    assert!(matches!(failed, RunOutcome::Failed(_)), "{failed:?}");
    assert!(!world.directory.users.lock().unwrap().contains_key("u2"));

    // The next run resumes at the end of the round: the scope it compares
    // with is still the one before the change.
    let outcome = world.run(&config, "run-resumed").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.directory.users.lock().unwrap().contains_key("u2"));
    assert!(
        world
            .directory
            .memberships
            .lock()
            .unwrap()
            .contains_key(&membership(NESTED_GROUP, "u2"))
    );
}
