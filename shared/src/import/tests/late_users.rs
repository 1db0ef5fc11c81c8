//! A user created after the users round was read, and added to a group
//! before the groups round: the groups round names a member the directory
//! does not hold, and the next users round brings the user without that
//! membership (no later groups round sends it again). The end of the run
//! reads such users by id and imports them with it (found by the
//! simulation, seeds 451, 1111 and 1651 among others).

use super::*;

#[tokio::test]
async fn given_a_user_created_between_the_users_and_groups_rounds_then_it_arrives_with_its_membership()
 {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.script_delta(vec![], vec![group("g1", &["u4"])]);
    world.entra.user_lookup(user("u4", "dan@contoso.com"));
    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.has_user("u4"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.contains_key(&membership("g1", "u4")),
        "{memberships:?}"
    );
}

#[tokio::test]
async fn given_a_resync_whose_groups_round_names_a_user_created_since_its_users_round_then_the_sweep_keeps_that_user()
 {
    let world = World::new();
    let plain = importing().build();
    world.imported(&plain).await;
    world.script_first_import();
    world
        .entra
        .group_pages
        .lock()
        .unwrap()
        .get_mut("")
        .unwrap()
        .clear();
    world.entra.groups(
        "",
        groups_page(vec![group("g1", &["u1", "u2", "u4"])], done("g-d2")),
    );
    world.entra.user_lookup(user("u4", "dan@contoso.com"));
    let outcome = world.run(&config_resync(), "run-resync").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let users = world.directory.users.lock().unwrap().clone();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["u1", "u2", "u3", "u4"]);
    assert!(world.has_membership("g1", "u4"));
}

/// A user restored after the users round was read, and added to another
/// group: the groups round names it for that group only, and its older
/// memberships never come again. The end of the run reads its groups
/// (found by the simulation, seed 18302).
#[tokio::test]
async fn given_a_user_restored_between_the_users_and_groups_rounds_then_it_arrives_with_all_its_memberships()
 {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.script_delta(vec![], vec![group("g2", &["u4"])]);
    world.entra.user_lookup(user("u4", "dan@contoso.com"));
    world
        .entra
        .groups_of_users
        .lock()
        .unwrap()
        .insert("u4".into(), vec!["g1".into(), "g2".into()]);
    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.has_user("u4"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.contains_key(&membership("g2", "u4")),
        "{memberships:?}"
    );
    assert!(
        memberships.contains_key(&membership("g1", "u4")),
        "the membership it kept through its soft delete: {memberships:?}"
    );
}
