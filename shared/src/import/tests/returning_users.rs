//! A user restored after a soft delete (or renamed into the domains) comes
//! back through the users delta, but no groups delta names its memberships
//! again: they never changed in Entra ID. A delta round that creates a
//! user reads its groups (found by the simulation once its invariant no
//! longer tolerated the gap: 41 of 2,000 seeds).

use super::*;

#[tokio::test]
async fn given_a_user_restored_after_a_soft_delete_then_it_comes_back_with_its_memberships() {
    let world = World::new();
    let config = config(serde_json::json!({}));
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
    assert!(!world.directory.users.lock().unwrap().contains_key("u2"));

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
    assert!(world.directory.users.lock().unwrap().contains_key("u2"));
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
    let config = config(serde_json::json!({}));
    world.imported(&config).await;
    world.entra.users(
        "u-d1",
        users_page(
            vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
            done("u-d2"),
        ),
    );
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
    let outcome = world.run(&config, "run-update").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let requests = world.entra.requests.lock().unwrap().clone();
    assert!(
        !requests.iter().any(|r| r.starts_with("memberOf")),
        "an existing user's groups come from the groups delta: {requests:?}"
    );
}
