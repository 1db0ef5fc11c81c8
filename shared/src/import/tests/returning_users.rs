//! A user restored after a soft delete (or renamed into the domains) comes
//! back through the users delta, but no groups delta names its memberships
//! again: they never changed in Entra ID. A delta round that creates a
//! user reads its groups (found by the simulation once its invariant no
//! longer tolerated the gap: 41 of 2,000 seeds).

use super::*;

#[tokio::test]
async fn given_a_user_restored_after_a_soft_delete_then_it_comes_back_with_its_memberships() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    let soft_deleted = DeltaItem::Removed {
        id: "u2".into(),
        permanent: false,
    };
    world
        .entra
        .users("u-d1", users_page(vec![soft_deleted], done("u-d2")));
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
    let outcome = world.run(&config, "run-soft-delete").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(!world.has_user("u2"));

    // Restored: the user reappears; its group never changed.
    world.entra.users(
        "u-d2",
        users_page(
            vec![DeltaItem::Upsert(user("u2", "bob@fed.contoso.com"))],
            done("u-d3"),
        ),
    );
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
    world
        .entra
        .groups_of_users
        .lock()
        .unwrap()
        .insert("u2".into(), vec!["g1".into(), "not-imported".into()]);
    let outcome = world.run(&config, "run-restore").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.has_user("u2"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.contains_key(&membership("g1", "u2")),
        "{memberships:?}"
    );
    assert_eq!(memberships.len(), 2, "{memberships:?}");
}

#[tokio::test]
async fn given_an_idle_delta_poll_then_no_user_is_looked_up() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.script_delta(
        vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
        vec![],
    );
    let outcome = world.run(&config, "run-update").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let requests = world.entra.requests.lock().unwrap().clone();
    assert!(
        !requests.iter().any(|r| r.starts_with("memberOf")),
        "an existing user's groups come from the groups delta: {requests:?}"
    );
}

/// Under `import_group_ids`, the scope computed while a user was
/// soft-deleted does not list it (`transitiveMembers` hides such users),
/// and its restore changes no membership: the users round reads the groups
/// of a user outside the scope and imports it when one is a scope group
/// (found by the simulation, seeds 1698, 3576, 3624, 4820).
#[tokio::test]
async fn given_a_user_restored_into_a_group_scope_computed_while_it_was_deleted_then_it_comes_back_with_its_memberships()
 {
    let world = World::new();
    // u2, soft-deleted, is in no scope the first import computes.
    let config = imported_with_group_scope(&world).await;

    // Restored: back in the transitive members, and the users delta shows
    // it as an ordinary item; no groups delta names it.
    bob_enters_scope(&world);
    world.script_delta(
        vec![DeltaItem::Upsert(user("u2", "bob@contoso.com"))],
        vec![],
    );
    world
        .entra
        .groups_of_users
        .lock()
        .unwrap()
        .insert("u2".into(), vec![NESTED_GROUP.into()]);
    let outcome = world.run(&config, "run-restore").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.has_user("u2"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.contains_key(&membership(NESTED_GROUP, "u2")),
        "{memberships:?}"
    );
    // The stored scope holds it: leaving the group later removes it.
    let scope = world.state.scope.lock().unwrap().clone().unwrap();
    assert!(scope.users.contains("u2"), "{scope:?}");
}

#[tokio::test]
async fn given_an_update_of_a_user_outside_the_group_scope_then_it_stays_out_of_am() {
    let world = World::new();
    let config = imported_with_group_scope(&world).await;
    world.script_delta(
        vec![DeltaItem::Upsert(user("u2", "bob@contoso.com"))],
        vec![],
    );
    world
        .entra
        .groups_of_users
        .lock()
        .unwrap()
        .insert("u2".into(), vec!["not-in-scope".into()]);
    let outcome = world.run(&config, "run-update").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(!world.has_user("u2"));
    let scope = world.state.scope.lock().unwrap().clone().unwrap();
    assert!(!scope.users.contains("u2"), "{scope:?}");
}

/// Restored after the users round was read, a user the scope computed at
/// the end of the round lists again enters it with every membership it
/// kept, not only with those the groups round named.
#[tokio::test]
async fn given_a_user_restored_after_the_users_round_when_the_scope_is_computed_again_then_it_enters_with_its_memberships()
 {
    let world = World::new();
    let config = imported_with_group_scope(&world).await;

    // u1 leaves the scope group (the scope is computed again); u2, restored
    // meanwhile, was in the nested group all along.
    world.entra.transitive_members_of(
        SCOPE_GROUP,
        &[(NESTED_GROUP, MemberKind::Group), ("u2", MemberKind::User)],
    );
    world.entra.user_lookup(user("u2", "bob@contoso.com"));
    world
        .entra
        .groups_of_users
        .lock()
        .unwrap()
        .insert("u2".into(), vec![NESTED_GROUP.into()]);
    world.entra.users("u-d1", users_page(vec![], done("u-d2")));
    let left = group_left_by(SCOPE_GROUP, &["u1"]);
    world
        .entra
        .groups("g-d1", groups_page(vec![left], done("g-d2")));
    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let users = world.directory.users.lock().unwrap().clone();
    assert!(users.contains_key("u2") && !users.contains_key("u1"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.contains_key(&membership(NESTED_GROUP, "u2")),
        "{memberships:?}"
    );
}
