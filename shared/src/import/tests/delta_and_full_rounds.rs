//! What a round applies: a first full import, a quiet poll, updates,
//! disables and deletions, a platform user linked to an Entra one, an
//! expired delta token, a domain filter and a resync request.

use super::*;

#[tokio::test]
async fn given_a_new_tenant_when_it_runs_then_a_full_import_creates_everything() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    let users = world.directory.users.lock().unwrap().clone();
    assert_eq!(users.len(), 3);
    assert_eq!(users["u1"].password_mode, Some(PasswordMode::Entra));
    assert_eq!(users["u2"].password_mode, Some(PasswordMode::Temporary));
    assert_eq!(users["u3"].password_mode, Some(PasswordMode::Temporary));
    assert_eq!(world.directory.memberships.lock().unwrap().len(), 2);
    let status = world.status();
    assert_eq!(status.mode, Mode::Full);
    assert_eq!(status.result, RunResult::Ok);
    assert_eq!(
        (
            status.counts.users_created,
            status.counts.groups_created,
            status.counts.members_added
        ),
        (3, 1, 2)
    );
    let state = world.state.state.lock().unwrap().clone();
    assert_eq!(state.users_delta_link.as_deref(), Some("u-d1"));
    assert_eq!(state.groups_delta_link.as_deref(), Some("g-d1"));
    assert!(state.checkpoint.is_none());
}

#[tokio::test]
async fn given_nothing_changed_when_it_polls_then_two_requests_and_no_writes() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    let (directory_writes, state_writes, requests) = (
        *world.directory.writes.lock().unwrap(),
        *world.state.writes.lock().unwrap(),
        world.entra.request_count(),
    );
    world.script_delta(vec![], vec![]);
    let outcome = world.run(&config, "run-idle").await;
    let RunOutcome::Completed(status) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(status.mode, Mode::Delta);
    assert_eq!(world.entra.request_count() - requests, 2);
    assert_eq!(
        *world.directory.writes.lock().unwrap() - directory_writes,
        0
    );
    assert_eq!(
        *world.state.writes.lock().unwrap() - state_writes,
        2,
        "begin and finish only"
    );
    assert_eq!(
        world
            .state
            .state
            .lock()
            .unwrap()
            .users_delta_link
            .as_deref(),
        Some("u-d2")
    );
}

#[tokio::test]
async fn given_updates_disables_and_deletions_when_polled_then_they_are_applied() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    let mut renamed = user("u1", "ann@contoso.com");
    renamed.attributes.display_name = Some("Ann Renamed".into());
    renamed.attributes.enabled = false;
    world.script_delta(
        vec![
            DeltaItem::Upsert(renamed),
            DeltaItem::Removed {
                id: "u2".into(),
                permanent: false,
            },
        ],
        vec![],
    );
    let RunOutcome::Completed(status) = world.run(&config, "run-delta").await else {
        panic!()
    };
    assert_eq!(
        (
            status.counts.users_updated,
            status.counts.users_deleted,
            status.counts.members_removed
        ),
        (1, 1, 1)
    );
    let users = world.directory.users.lock().unwrap();
    assert!(!users["u1"].attributes.enabled, "disabled, not deleted");
    assert_eq!(
        users["u1"].attributes.display_name.as_deref(),
        Some("Ann Renamed")
    );
    assert!(!users.contains_key("u2"));
    assert!(
        world
            .directory
            .memberships
            .lock()
            .unwrap()
            .keys()
            .all(|k| k.user_id != "u2")
    );
}

#[tokio::test]
async fn given_a_local_user_linked_to_an_entra_user_then_import_updates_it_and_never_duplicates_or_deletes_it()
 {
    let world = World::new();
    let config = importing().build();
    world.directory.users.lock().unwrap().insert(
        "local-7".into(),
        UserItem {
            user_id: "local-7".into(),
            source: Source::Local,
            attributes: user("u1", "old@contoso.com").attributes,
            password_mode: Some(PasswordMode::Entra),
            sync: EntraSync {
                entra_id: Some("u1".into()),
                ..Default::default()
            },
        },
    );
    world.imported(&config).await;
    let users = world.directory.users.lock().unwrap().clone();
    assert!(
        !users.contains_key("u1"),
        "no second object for a linked user"
    );
    assert_eq!(users["local-7"].attributes.user_name, "ann@contoso.com");
    assert_eq!(users["local-7"].source, Source::Local);
    assert!(
        world
            .directory
            .memberships
            .lock()
            .unwrap()
            .contains_key(&MembershipKey {
                group_id: "g1".into(),
                user_id: "local-7".into()
            })
    );

    world.script_delta(
        vec![DeltaItem::Removed {
            id: "u1".into(),
            permanent: true,
        }],
        vec![],
    );
    world.run(&config, "run-delete").await;
    assert!(
        world.has_user("local-7"),
        "local objects are never deleted by import"
    );
}

#[tokio::test]
async fn given_an_expired_delta_token_then_a_full_round_runs_and_sweeps_what_it_did_not_see() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.entra.users(
        "u-d1",
        Err(GraphError::SyncStateGone("400 syncStateNotFound".into())),
    );
    world.entra.users(
        "",
        users_page(
            vec![
                DeltaItem::Upsert(user("u1", "ann@contoso.com")),
                DeltaItem::Upsert(user("u3", "cy@other.org")),
            ],
            done("u-d9"),
        ),
    );
    world
        .entra
        .groups("", groups_page(vec![group("g1", &["u1"])], done("g-d9")));
    let RunOutcome::Completed(status) = world.run(&config, "run-resync").await else {
        panic!()
    };
    assert_eq!(status.mode, Mode::Full);
    assert_eq!(status.counts.users_deleted, 1);
    assert!(!world.has_user("u2"));
    assert_eq!(
        world
            .state
            .state
            .lock()
            .unwrap()
            .users_delta_link
            .as_deref(),
        Some("u-d9")
    );
}

#[tokio::test]
async fn given_a_domain_filter_then_out_of_scope_users_are_not_imported_and_leavers_are_removed() {
    let world = World::new();
    let config = importing().domains(&["Contoso.com"]).build();
    world.imported(&config).await;
    let users: Vec<String> = world
        .directory
        .users
        .lock()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(users, vec!["u1"]);
    let moved = user("u1", "ann@fabrikam.com");
    world.script_delta(vec![DeltaItem::Upsert(moved)], vec![]);
    let RunOutcome::Completed(status) = world.run(&config, "run-move").await else {
        panic!()
    };
    assert_eq!(status.counts.users_deleted, 1);
    assert!(world.directory.users.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_a_resync_request_then_the_run_is_full_and_clears_it() {
    let world = World::new();
    let plain = importing().build();
    world.imported(&plain).await;
    let config = importing()
        .resync_requested_at("2026-11-26T10:00:00Z")
        .build();
    world.entra.users("", ann_alone(done("u-d5")));
    world
        .entra
        .groups("", groups_page(vec![group("g1", &["u1"])], done("g-d5")));
    let RunOutcome::Completed(status) = world.run(&config, "run-resync").await else {
        panic!()
    };
    assert_eq!(status.mode, Mode::Full);
    assert_eq!(status.counts.users_deleted, 2);
    assert_eq!(status.counts.members_removed, 1);
    assert!(world.state.cleared.lock().unwrap().contains(&"resync"));
}
