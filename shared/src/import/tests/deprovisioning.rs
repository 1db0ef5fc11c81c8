//! Deprovisioning choices (DESIGN 2.13): a soft-deleted or out-of-scope
//! user is disabled with its memberships by default, and Entra ID's
//! restore brings it back enabled with them; a purge deletes; `keep`
//! leaves it; disables pass deletion safety; an old soft delete is purged.

use serde_json::json;

use super::*;
use crate::import::records::RemovalCause;
use crate::model::directory::SyncedObject;
use crate::model::tenant_config::UserAction;

fn soft_delete(id: &str) -> DeltaItem<EntraUser> {
    DeltaItem::Removed {
        id: id.into(),
        permanent: false,
    }
}

/// The second delta round: Entra ID restored bob (u2); no group changed.
fn bob_restored(world: &World) {
    let bob = DeltaItem::Upsert(user("u2", "bob@fed.contoso.com"));
    world
        .entra
        .users("u-d2", users_page(vec![bob], done("u-d3")));
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
}

/// An imported user as decisions see it, not deprovisioned.
fn imported_user() -> UserItem {
    UserItem {
        user_id: "u1".into(),
        attributes: UserAttributes::default(),
        source: Source::Entra,
        password_mode: None,
        sync: EntraSync::default(),
    }
}

fn stored(world: &World, id: &str) -> UserItem {
    world.directory.users.lock().unwrap()[id].clone()
}

#[tokio::test]
async fn given_the_defaults_when_a_user_is_soft_deleted_then_restored_it_is_disabled_then_enabled_with_its_memberships()
 {
    let world = World::new();
    let config = importing().deprovisioning(&[]).build();
    world.imported(&config).await;
    world.script_delta(vec![soft_delete("u2")], vec![]);
    let outcome = world.run(&config, "run-soft-delete").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let bob = stored(&world, "u2");
    assert!(!bob.attributes.enabled, "disabled, not deleted");
    assert!(bob.sync.deprovisioned_at.is_some());
    assert_eq!(
        bob.sync.deprovisioned_reason.as_deref(),
        Some("soft_deleted")
    );
    assert!(
        bob.agrees_with_entra(),
        "the export must not push the disable"
    );
    assert!(world.has_membership("g1", "u2"), "memberships are kept");
    assert_eq!(world.status().counts.users_deleted, 0);

    bob_restored(&world);
    let outcome = world.run(&config, "run-restore").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let bob = stored(&world, "u2");
    assert!(bob.attributes.enabled, "reactivated");
    assert_eq!(bob.sync.deprovisioned_at, None);
    assert_eq!(bob.sync.deprovisioned_reason, None);
    assert!(world.has_membership("g1", "u2"));
}

#[tokio::test]
async fn given_reactivation_off_when_a_disabled_user_is_restored_then_it_stays_disabled_until_the_platform_enables_it()
 {
    let world = World::new();
    let config = importing()
        .deprovisioning(&[("reactivate_on_restore", json!(false))])
        .build();
    world.imported(&config).await;
    world.script_delta(vec![soft_delete("u2")], vec![]);
    world.run(&config, "run-soft-delete").await;
    bob_restored(&world);
    world.run(&config, "run-restore").await;

    let bob = stored(&world, "u2");
    assert!(!bob.attributes.enabled, "not reactivated");
    assert!(bob.sync.deprovisioned_at.is_some(), "still marked");
    assert!(bob.agrees_with_entra());
}

#[tokio::test]
async fn given_the_defaults_when_a_user_is_purged_then_it_is_deleted_with_its_memberships() {
    let world = World::new();
    let config = importing().deprovisioning(&[]).build();
    world.imported(&config).await;
    let purged = DeltaItem::Removed {
        id: "u2".into(),
        permanent: true,
    };
    world.script_delta(vec![purged], vec![]);
    world.run(&config, "run-purge").await;

    assert!(!world.has_user("u2"));
    assert!(!world.has_membership("g1", "u2"));
    assert_eq!(world.status().counts.users_deleted, 1);
}

#[tokio::test]
async fn given_keep_when_a_user_is_soft_deleted_then_it_stays_enabled_and_only_marked() {
    let world = World::new();
    let config = importing()
        .deprovisioning(&[("import_user_soft_delete_action", json!("keep"))])
        .build();
    world.imported(&config).await;
    world.script_delta(vec![soft_delete("u2")], vec![]);
    world.run(&config, "run-soft-delete").await;

    let bob = stored(&world, "u2");
    assert!(bob.attributes.enabled);
    assert_eq!(
        bob.sync.deprovisioned_reason.as_deref(),
        Some("soft_deleted")
    );
    assert!(world.has_membership("g1", "u2"));
    assert_eq!(world.status().counts.users_updated, 0, "a mark only");
}

#[tokio::test]
async fn given_the_defaults_when_a_user_leaves_the_domains_then_it_is_disabled_as_out_of_scope() {
    let world = World::new();
    let config = importing().deprovisioning(&[]).build();
    world.imported(&config).await;
    let narrowed = importing()
        .deprovisioning(&[])
        .domains(&["contoso.com", "other.org"])
        .build();
    // The scope changed: a full round, which shows bob outside it.
    world.script_first_import();
    world.run(&narrowed, "run-narrowed").await;

    let bob = stored(&world, "u2");
    assert!(!bob.attributes.enabled);
    assert_eq!(
        bob.sync.deprovisioned_reason.as_deref(),
        Some("out_of_scope")
    );
    assert!(world.has_membership("g1", "u2"), "kept through the sweep");
}

#[tokio::test]
async fn given_many_disables_above_the_threshold_then_they_are_held_and_an_approval_disables_them()
{
    let world = World::new();
    let config = importing().deprovisioning(&[]).build();
    let users: Vec<_> = (0..20)
        .map(|i| DeltaItem::Upsert(user(&format!("m{i:02}"), &format!("m{i}@contoso.com"))))
        .collect();
    world.entra.users("", users_page(users, done("u-d1")));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config, "run-first").await;
    let gone: Vec<_> = (0..12).map(|i| soft_delete(&format!("m{i:02}"))).collect();
    world.script_delta(gone, vec![]);
    world.run(&config, "run-soft-delete").await;

    assert_eq!(world.status().result, RunResult::Held);
    assert!(
        stored(&world, "m00").attributes.enabled,
        "held, not disabled"
    );
    let held = world.state.held.lock().unwrap().clone();
    assert!(
        held.users
            .iter()
            .all(|id| id.starts_with("disable:soft_deleted:")),
        "{held:?}"
    );

    let approving = importing()
        .deprovisioning(&[])
        .approve_held_deletions(true)
        .build();
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
    world.run(&approving, "run-approved").await;
    let m00 = stored(&world, "m00");
    assert!(!m00.attributes.enabled, "disabled once approved");
    assert!(m00.sync.deprovisioned_at.is_some());
    assert_eq!(world.status().counts.users_deleted, 0);
}

#[test]
fn a_user_deprovisioned_for_a_soft_delete_longer_than_entra_keeps_it_is_deleted() {
    let choices = importing().deprovisioning(&[]).build().deprovisioning;
    let now = Utc::now();
    let mut user = imported_user();
    let decide =
        |user: &UserItem, cause| super::finish::deprovision::decide(&choices, cause, user, now);
    assert_eq!(
        decide(&user, RemovalCause::NotSeen),
        Some(UserAction::Disable),
        "a full round cannot tell: the soft-delete choice"
    );
    user.sync.deprovisioned_at = Some((now - chrono::TimeDelta::days(3)).to_rfc3339());
    assert_eq!(decide(&user, RemovalCause::NotSeen), None, "settled");
    assert_eq!(
        decide(&user, RemovalCause::Purged),
        Some(UserAction::Delete)
    );
    assert_eq!(decide(&user, RemovalCause::LeftScope), None);
    user.sync.deprovisioned_at = Some((now - chrono::TimeDelta::days(31)).to_rfc3339());
    assert_eq!(
        decide(&user, RemovalCause::NotSeen),
        Some(UserAction::Delete)
    );
    assert_eq!(
        decide(&user, RemovalCause::LeftScope),
        None,
        "out of scope stays"
    );
}

#[tokio::test]
async fn given_an_entra_user_whose_platform_user_was_deleted_then_it_is_not_imported_back() {
    let world = World::new();
    let config = importing().build();
    world.directory.released.lock().unwrap().insert("u2".into());
    world.script_first_import();
    let outcome = world.run(&config, "run-first").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.has_user("u1"));
    assert!(!world.has_user("u2"), "released by the platform's deletion");
    assert!(world.state.problems.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_a_full_round_that_does_not_show_two_users_then_deleted_items_tell_the_soft_delete_from_the_purge()
 {
    let world = World::new();
    let config = importing().deprovisioning(&[]).build();
    world.imported(&config).await;
    world.entra.soft_deleted.lock().unwrap().insert("u2".into());
    // An expired delta link: a full round showing only ann.
    world.entra.users(
        "",
        users_page(
            vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
            done("u-d9"),
        ),
    );
    world
        .entra
        .groups("", groups_page(vec![group("g1", &["u1"])], done("g-d9")));
    let resync = importing()
        .deprovisioning(&[])
        .resync_requested_at("2026-12-07T10:00:00Z")
        .build();
    world.run(&resync, "run-full").await;

    let bob = stored(&world, "u2");
    assert!(!bob.attributes.enabled);
    assert_eq!(
        bob.sync.deprovisioned_reason.as_deref(),
        Some("soft_deleted")
    );
    assert!(world.has_membership("g1", "u2"), "kept through the sweep");
    assert!(
        !world.has_user("u3"),
        "not among deleted items: purged, deleted"
    );
    let requests = world.entra.requests.lock().unwrap().clone();
    assert!(
        requests.contains(&"deletedItems u2".to_owned()),
        "{requests:?}"
    );
}

/// Twenty users in g1, imported; a resync's full round shows only eight.
async fn twelve_unseen_in_a_full_round(world: &World, config: &TenantConfig) {
    let ids: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
    let users: Vec<_> = ids
        .iter()
        .map(|id| DeltaItem::Upsert(user(id, &format!("{id}@contoso.com"))))
        .collect();
    let members: Vec<&str> = ids.iter().map(String::as_str).collect();
    world
        .entra
        .users("", users_page(users.clone(), done("u-d1")));
    world
        .entra
        .groups("", groups_page(vec![group("g1", &members)], done("g-d1")));
    world.run(config, "run-first").await;
    for id in &ids[..12] {
        world.entra.soft_deleted.lock().unwrap().insert(id.clone());
    }
    world
        .entra
        .users("", users_page(users[12..].to_vec(), done("u-d2")));
    world.entra.groups(
        "",
        groups_page(vec![group("g1", &members[12..])], done("g-d2")),
    );
}

fn resync(choices: &[(&str, serde_json::Value)]) -> TenantConfig {
    importing()
        .deprovisioning(choices)
        .resync_requested_at("2026-12-07T10:00:00Z")
        .build()
}

#[tokio::test]
async fn given_held_disables_then_their_memberships_wait_with_them() {
    let world = World::new();
    let config = importing().deprovisioning(&[]).build();
    twelve_unseen_in_a_full_round(&world, &config).await;
    world.run(&resync(&[]), "run-full").await;

    assert_eq!(world.status().result, RunResult::Held);
    assert!(stored(&world, "m00").attributes.enabled);
    assert!(
        world.has_membership("g1", "m00"),
        "held back, memberships too"
    );
}

#[tokio::test]
async fn given_held_disables_when_the_admin_chooses_keep_and_approves_then_nothing_is_deleted() {
    let world = World::new();
    let config = importing().deprovisioning(&[]).build();
    twelve_unseen_in_a_full_round(&world, &config).await;
    world.run(&resync(&[]), "run-full").await;
    assert_eq!(world.status().result, RunResult::Held);

    let keeping = importing()
        .deprovisioning(&[("import_user_soft_delete_action", json!("keep"))])
        .approve_held_deletions(true)
        .build();
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
    world.run(&keeping, "run-approved").await;

    let m00 = stored(&world, "m00");
    assert!(m00.attributes.enabled, "kept as it is");
    assert_eq!(
        m00.sync.deprovisioned_reason.as_deref(),
        Some("soft_deleted")
    );
    assert_eq!(world.status().counts.users_deleted, 0);
    assert!(world.state.held.lock().unwrap().is_empty());
}

#[test]
fn a_user_out_of_scope_for_long_then_deleted_is_marked_again_not_purged() {
    let choices = importing().deprovisioning(&[]).build().deprovisioning;
    let now = Utc::now();
    let mut user = imported_user();
    user.sync.deprovisioned_at = Some((now - chrono::TimeDelta::days(60)).to_rfc3339());
    user.sync.deprovisioned_reason = Some("out_of_scope".into());
    let decide = |cause| super::finish::deprovision::decide(&choices, cause, &user, now);
    assert_eq!(decide(RemovalCause::SoftDeleted), Some(UserAction::Disable));
    assert_eq!(decide(RemovalCause::NotSeen), Some(UserAction::Disable));
    assert_eq!(decide(RemovalCause::LeftScope), None);
}
