//! The engine against in-memory stores and a scripted Entra ID.

use chrono::Utc;

use super::state::*;
use super::*;
use crate::model::directory::{MembershipKey, PasswordMode, Source, UserAttributes, UserItem};
use crate::model::entra::*;
use crate::model::{Authorisation, TenantConfig};
use crate::ports::StoreError;
use crate::testing::import_stores::{MemoryDirectory, MemoryState};
use crate::testing::scripted_entra::*;
use crate::testing::tenant_config::importing;

mod failed_page;
mod full_round_scope;
mod groups_from_start;
mod late_users;
mod names;
mod preview;
mod restarted_round;
mod resumed_finish;
mod returning_users;

struct World {
    directory: MemoryDirectory,
    state: MemoryState,
    entra: ScriptedEntra,
}

impl World {
    fn new() -> Self {
        Self {
            directory: MemoryDirectory::default(),
            state: MemoryState::default(),
            entra: ScriptedEntra::default(),
        }
    }

    async fn run(&self, config: &TenantConfig, run_id: &str) -> RunOutcome {
        self.run_with(config, run_id, None, MAX_DEADLINE_MARGIN)
            .await
    }

    /// Two seconds left, half a second of margin: pages fit, a finish that
    /// wants five margins does not.
    async fn run_late(&self, config: &TenantConfig, run_id: &str) -> RunOutcome {
        let deadline = Instant::now() + Duration::from_secs(2);
        self.run_with(config, run_id, Some(deadline), Duration::from_millis(500))
            .await
    }

    async fn run_with(
        &self,
        config: &TenantConfig,
        run_id: &str,
        deadline: Option<Instant>,
        deadline_margin: Duration,
    ) -> RunOutcome {
        self.try_run(config, run_id, deadline, deadline_margin)
            .await
            .unwrap()
    }

    async fn try_run(
        &self,
        config: &TenantConfig,
        run_id: &str,
        deadline: Option<Instant>,
        deadline_margin: Duration,
    ) -> Result<RunOutcome, ImportError> {
        ImportRun {
            directory: &self.directory,
            state: &self.state,
            problems: &self.state,
            configs: &self.state,
            entra: &self.entra,
            config,
            run_id: run_id.into(),
            deadline,
            deadline_margin,
            another_run_wanted: Default::default(),
            purpose: super::Purpose::Sync,
            platform_names: Default::default(),
        }
        .run()
        .await
    }

    /// The pages of a first full import: three users on two pages, one
    /// group of two (scripted again for each run that reads them).
    fn script_first_import(&self) {
        self.entra.users(
            "",
            users_page(
                vec![
                    DeltaItem::Upsert(user("u1", "ann@contoso.com")),
                    DeltaItem::Upsert(user("u2", "bob@fed.contoso.com")),
                ],
                next("u-p2"),
            ),
        );
        self.entra.users(
            "u-p2",
            users_page(
                vec![DeltaItem::Upsert(user("u3", "cy@other.org"))],
                done("u-d1"),
            ),
        );
        self.entra.groups(
            "",
            groups_page(vec![group("g1", &["u1", "u2"])], done("g-d1")),
        );
    }

    /// A first full import of `script_first_import`'s pages.
    async fn imported(&self, config: &TenantConfig) {
        self.script_first_import();
        let outcome = self.run(config, "run-first-import").await;
        assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    }
}

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
    let status = world.state.status.lock().unwrap().clone().unwrap();
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
    world.entra.users("u-d1", users_page(vec![], done("u-d2")));
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
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
    world.entra.users(
        "u-d1",
        users_page(
            vec![
                DeltaItem::Upsert(renamed),
                DeltaItem::Removed {
                    id: "u2".into(),
                    permanent: false,
                },
            ],
            done("u-d2"),
        ),
    );
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
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
            entra_id: Some("u1".into()),
            attributes: user("u1", "old@contoso.com").attributes,
            password_mode: Some(PasswordMode::Entra),
            entra_hash: None,
            import_deleted_at: None,
            entra_origin: None,
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

    world.entra.users(
        "u-d1",
        users_page(
            vec![DeltaItem::Removed {
                id: "u1".into(),
                permanent: true,
            }],
            done("u-d2"),
        ),
    );
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
    world.run(&config, "run-delete").await;
    assert!(
        world
            .directory
            .users
            .lock()
            .unwrap()
            .contains_key("local-7"),
        "local objects are never deleted by import"
    );
}

#[tokio::test]
async fn given_a_run_that_fails_mid_round_when_the_next_run_comes_then_it_resumes_from_the_checkpoint()
 {
    let world = World::new();
    let config = importing().build();
    world.entra.users(
        "",
        users_page(
            vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
            next("u-p2"),
        ),
    );
    world.entra.users(
        "u-p2",
        Err(GraphError::Exhausted {
            attempts: 8,
            last: "503".into(),
        }),
    );
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
async fn given_the_lease_is_held_then_a_second_run_exits_quietly() {
    let world = World::new();
    let config = importing().build();
    *world.state.lease.lock().unwrap() = Some((
        "other-run".into(),
        Utc::now() + chrono::Duration::seconds(60),
    ));
    assert_eq!(world.run(&config, "run-x").await, RunOutcome::LeaseHeld);
    assert_eq!(world.entra.request_count(), 0);
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
    assert!(!world.directory.users.lock().unwrap().contains_key("u2"));
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
async fn given_a_mass_deletion_then_it_is_held_until_approved() {
    let world = World::new();
    let config = importing().build();
    let many: Vec<_> = (0..30)
        .map(|i| DeltaItem::Upsert(user(&format!("m{i:02}"), &format!("m{i}@contoso.com"))))
        .collect();
    world.entra.users("", users_page(many, done("u-d1")));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config, "run-first").await;
    let removals: Vec<_> = (0..12)
        .map(|i| DeltaItem::Removed {
            id: format!("m{i:02}").into(),
            permanent: true,
        })
        .collect();
    let mut renamed = user("m20", "m20@contoso.com");
    renamed.attributes.job_title = Some("Boss".into());
    let mut items = removals;
    items.push(DeltaItem::Upsert(renamed));
    world.entra.users("u-d1", users_page(items, done("u-d2")));
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
    let RunOutcome::Completed(status) = world.run(&config, "run-mass").await else {
        panic!()
    };
    assert_eq!(status.result, RunResult::Held);
    let reason = status.error.unwrap();
    assert!(
        reason.contains("12 user deletions") && reason.contains("40%") && reason.contains("20%"),
        "{reason}"
    );
    assert_eq!(
        world.directory.users.lock().unwrap().len(),
        30,
        "nothing deleted"
    );
    assert_eq!(
        world.directory.users.lock().unwrap()["m20"]
            .attributes
            .job_title
            .as_deref(),
        Some("Boss"),
        "everything else applied"
    );

    // Still held on the next idle run.
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
    let RunOutcome::Completed(status) = world.run(&config, "run-idle").await else {
        panic!()
    };
    assert_eq!(status.result, RunResult::Held);

    let approved = importing().approve_held_deletions(true).build();
    world.entra.users("u-d3", users_page(vec![], done("u-d4")));
    world
        .entra
        .groups("g-d3", groups_page(vec![], done("g-d4")));
    let RunOutcome::Completed(status) = world.run(&approved, "run-approved").await else {
        panic!()
    };
    assert_eq!(status.result, RunResult::Ok);
    assert_eq!(status.counts.users_deleted, 12);
    assert_eq!(world.directory.users.lock().unwrap().len(), 18);
    assert!(world.state.cleared.lock().unwrap().contains(&"approval"));
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
    world.entra.users(
        "u-d1",
        users_page(vec![DeltaItem::Upsert(moved)], done("u-d2")),
    );
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
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
    world.entra.users(
        "",
        users_page(
            vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
            done("u-d5"),
        ),
    );
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

#[tokio::test]
async fn given_revoked_consent_then_the_tenant_needs_reauthorisation() {
    let world = World::new();
    let config = importing().build();
    world.entra.users(
        "",
        Err(GraphError::Token(
            crate::model::entra::TokenError::ReauthorisationRequired(
                "invalid_grant (AADSTS700082)".into(),
            ),
        )),
    );
    assert_eq!(
        world.run(&config, "run-r").await,
        RunOutcome::ReauthorisationRequired
    );
    assert!(
        world
            .state
            .cleared
            .lock()
            .unwrap()
            .contains(&"reauthorisation")
    );
    let status = world.state.status.lock().unwrap().clone().unwrap();
    assert!(status.error.unwrap().contains("AADSTS700082"));
}

#[tokio::test]
async fn given_sync_disabled_or_unauthorised_then_nothing_happens() {
    let world = World::new();
    assert!(matches!(
        world
            .run(&importing().sync_enabled(false).build(), "r")
            .await,
        RunOutcome::Skipped(_)
    ));
    let unauthorised = importing()
        .authorisation(Authorisation::ReauthorisationRequired)
        .build();
    assert!(matches!(
        world.run(&unauthorised, "r").await,
        RunOutcome::Skipped(_)
    ));
    assert_eq!(world.entra.request_count(), 0);
}

const SCOPE_GROUP: &str = "0a000000-0000-4000-8000-000000000000";
const NESTED_GROUP: &str = "0a000000-0000-4000-8000-000000000001";

/// `import_group_ids = [SCOPE_GROUP]`, which holds u1 and NESTED_GROUP
/// (empty); u2 is in Entra but in no scope group, so not imported.
async fn imported_with_group_scope(world: &World) -> TenantConfig {
    let config = importing().import_group_ids(&[SCOPE_GROUP]).build();
    world.entra.transitive_members_of(
        SCOPE_GROUP,
        &[("u1", MemberKind::User), (NESTED_GROUP, MemberKind::Group)],
    );
    world.entra.users(
        "",
        users_page(
            vec![
                DeltaItem::Upsert(user("u1", "ann@contoso.com")),
                DeltaItem::Upsert(user("u2", "bob@contoso.com")),
            ],
            done("u-d1"),
        ),
    );
    world.entra.groups(
        "",
        groups_page(
            vec![group(SCOPE_GROUP, &["u1"]), group(NESTED_GROUP, &[])],
            done("g-d1"),
        ),
    );
    let outcome = world.run(&config, "run-first-import").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(!world.directory.users.lock().unwrap().contains_key("u2"));
    config
}

fn membership(group_id: &str, user_id: &str) -> MembershipKey {
    MembershipKey {
        group_id: group_id.into(),
        user_id: user_id.into(),
    }
}

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

#[test]
fn the_deadline_margin_is_a_tenth_of_the_budget_within_bounds() {
    use std::time::Duration;
    assert_eq!(
        deadline_margin(Duration::from_secs(300)),
        MAX_DEADLINE_MARGIN
    );
    assert_eq!(
        deadline_margin(Duration::from_secs(30)),
        Duration::from_secs(3)
    );
    assert_eq!(deadline_margin(Duration::from_secs(2)), MIN_DEADLINE_MARGIN);
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

#[test]
fn a_runs_margin_comes_from_its_invocations_whole_budget() {
    use std::time::Duration;
    let deadline = RunDeadline::for_invocation(Instant::now() + Duration::from_secs(60));
    let tenth = Duration::from_secs(6);
    assert!(
        deadline.margin <= tenth && deadline.margin > tenth - Duration::from_millis(100),
        "{:?}",
        deadline.margin
    );
}

#[tokio::test]
async fn given_a_user_added_to_a_group_and_deleted_in_one_round_then_no_membership_is_left_behind()
{
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    *world.directory.index_lags.lock().unwrap() = true;
    world.entra.users(
        "u-d1",
        users_page(
            vec![DeltaItem::Removed {
                id: "u3".into(),
                permanent: true,
            }],
            done("u-d2"),
        ),
    );
    // Graph lists the membership change before the member's deletion
    // reaches the groups round.
    world.entra.groups(
        "g-d1",
        groups_page(vec![group("g1", &["u3"])], done("g-d2")),
    );
    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(!world.directory.users.lock().unwrap().contains_key("u3"));
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(
        memberships.keys().all(|m| m.user_id != "u3"),
        "the membership written moments before the deletion went with it: {memberships:?}"
    );
}

#[tokio::test]
async fn given_a_full_round_read_late_in_its_invocation_when_it_would_finish_then_the_finish_waits_for_the_next_one()
 {
    let world = World::new();
    let config = importing().build();
    world.entra.users(
        "",
        users_page(
            vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
            done("u-d1"),
        ),
    );
    world
        .entra
        .groups("", groups_page(vec![group("g1", &["u1"])], done("g-d1")));
    // A tenant synced before (a resync, an expired delta state): the
    // finish sweeps the directory.
    *world.state.ran.lock().unwrap() = true;
    // The pages fit, the finish (five margins) does not.
    let first = world.run_late(&config, "run-1").await;

    assert_eq!(first, RunOutcome::Paused);
    assert_eq!(
        world.directory.users.lock().unwrap().len(),
        1,
        "the pages were applied"
    );
    let checkpoint = world
        .state
        .state
        .lock()
        .unwrap()
        .clone()
        .checkpoint
        .unwrap();
    assert_eq!(checkpoint.phase, Phase::Finishing);
    assert!(
        world
            .state
            .status
            .lock()
            .unwrap()
            .as_ref()
            .is_none_or(|s| s.completed_at.is_none())
    );

    // The continuation starts at the finish and, however late, completes it.
    let second = world.run_late(&config, "run-2").await;

    assert!(matches!(second, RunOutcome::Completed(_)), "{second:?}");
    let state = world.state.state.lock().unwrap().clone();
    assert!(state.checkpoint.is_none());
    assert_eq!(state.users_delta_link.as_deref(), Some("u-d1"));
}

#[tokio::test]
async fn given_a_first_import_when_it_finishes_then_it_reads_nothing_tenant_wide_and_does_not_wait()
{
    let world = World::new();
    let config = importing().build();
    world.entra.users(
        "",
        users_page(
            vec![
                DeltaItem::Upsert(user("u1", "ann@contoso.com")),
                DeltaItem::Upsert(user("u2", "bob@contoso.com")),
            ],
            next("u-p2"),
        ),
    );
    // Deleted while the round was read: a later page removes it.
    world.entra.users(
        "u-p2",
        users_page(
            vec![DeltaItem::Removed {
                id: "u2".into(),
                permanent: false,
            }],
            done("u-d1"),
        ),
    );
    world.entra.groups(
        "",
        groups_page(vec![group("g1", &["u1", "u2"])], done("g-d1")),
    );
    // Late in the invocation: a finish that swept would wait for the next.
    let outcome = world.run_late(&config, "run-1").await;

    let RunOutcome::Completed(status) = outcome else {
        panic!("a first import's finish fits: {outcome:?}");
    };
    assert_eq!(*world.directory.bucket_reads.lock().unwrap(), 0);
    let users = world.directory.users.lock().unwrap().clone();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["u1"], "u2 was removed");
    let memberships: Vec<MembershipKey> = world
        .directory
        .memberships
        .lock()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(memberships, [membership("g1", "u1")], "u2's went with it");
    assert_eq!(
        (status.counts.users_created, status.counts.users_deleted),
        (2, 1)
    );

    // The next full round (a resync) sweeps: the directory holds imports now.
    let resync = config_resync();
    world.entra.users("", users_page(vec![], done("u-d2")));
    world.entra.groups("", groups_page(vec![], done("g-d2")));
    let outcome = world.run(&resync, "run-2").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(*world.directory.bucket_reads.lock().unwrap() > 0);
    assert!(
        world.directory.users.lock().unwrap().is_empty(),
        "the sweep removed the user the resync did not see"
    );
}

fn config_resync() -> TenantConfig {
    importing()
        .resync_requested_at("2026-11-26T10:00:00Z")
        .build()
}

#[tokio::test]
async fn given_a_change_reported_during_a_run_then_another_run_is_wanted_and_not_for_an_older_one()
{
    let world = World::new();
    let config = importing().build();
    // A notification that arrived before the round began was read by it.
    *world.state.sync_requested_at.lock().unwrap() =
        Some(Utc::now() - chrono::Duration::seconds(5));
    world.imported(&config).await;
    let quiet = ImportRun::new(
        &world.directory,
        &world.state,
        &world.state,
        &world.state,
        &world.entra,
        &config,
        None,
    );
    world.entra.users("u-d1", users_page(vec![], done("u-d2")));
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
    assert!(matches!(
        quiet.run().await.unwrap(),
        RunOutcome::Completed(_)
    ));
    assert!(!quiet.another_run_wanted());

    // One reported while the round was read may have been missed by it.
    *world.state.sync_requested_at.lock().unwrap() =
        Some(Utc::now() + chrono::Duration::seconds(1));
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
    let notified = ImportRun::new(
        &world.directory,
        &world.state,
        &world.state,
        &world.state,
        &world.entra,
        &config,
        None,
    );
    assert!(matches!(
        notified.run().await.unwrap(),
        RunOutcome::Completed(_)
    ));
    assert!(notified.another_run_wanted());
}

#[tokio::test]
async fn given_a_first_import_whose_run_was_killed_when_resumed_then_its_finish_sweeps() {
    let world = World::new();
    let config = importing().build();
    world.entra.users(
        "",
        users_page(
            vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
            next("u-p2"),
        ),
    );
    world.entra.users(
        "u-p2",
        Err(GraphError::Exhausted {
            attempts: 8,
            last: "503".into(),
        }),
    );
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

/// Entra-like ids whose first hex digit cycles: every bucket gets its share.
fn spread_id(kind: char, n: usize) -> String {
    format!("{:x}{kind}{n:06}", n % 16)
}

#[tokio::test]
async fn given_a_resync_of_a_large_tenant_then_its_finish_reads_one_bucket_at_a_time() {
    let world = World::new();
    let config = importing().build();
    let users: Vec<String> = (0..1_600).map(|n| spread_id('u', n)).collect();
    let groups: Vec<String> = (0..64).map(|n| spread_id('g', n)).collect();
    let members_of = |g: usize| -> Vec<&str> {
        (0..25)
            .map(|i| users[(g * 25 + i) % users.len()].as_str())
            .collect()
    };
    let users_round = |skip: &[usize]| {
        let items = (0..users.len())
            .filter(|n| !skip.contains(n))
            .map(|n| DeltaItem::Upsert(user(&users[n], &format!("user{n}@contoso.com"))))
            .collect();
        users_page(items, done("u-d"))
    };
    let groups_round = |without: Option<(usize, &str)>| {
        let items = groups
            .iter()
            .enumerate()
            .map(|(g, id)| {
                let members: Vec<&str> = members_of(g)
                    .into_iter()
                    .filter(|m| without != Some((g, *m)))
                    .collect();
                group(id, &members)
            })
            .collect();
        groups_page(items, done("g-d"))
    };
    world.entra.users("", users_round(&[]));
    world.entra.groups("", groups_round(None));
    assert!(matches!(
        world.run(&config, "run-1").await,
        RunOutcome::Completed(_)
    ));
    assert_eq!(world.directory.memberships.lock().unwrap().len(), 1_600);

    // Deleted in Entra: ten users. Left a group: one member of group 5.
    let gone: Vec<usize> = (0..10).map(|n| n * 37).collect();
    let left = members_of(5)[3].to_owned();
    world.entra.users("", users_round(&gone));
    world
        .entra
        .groups("", groups_round(Some((5, left.as_str()))));
    *world.directory.largest_read.lock().unwrap() = 0;
    let outcome = world.run(&config_resync(), "run-2").await;

    let RunOutcome::Completed(status) = outcome else {
        panic!("the resync completes: {outcome:?}");
    };
    assert_eq!(status.counts.users_deleted, 10);
    let directory_users = world.directory.users.lock().unwrap().clone();
    assert_eq!(directory_users.len(), 1_590);
    assert!(
        gone.iter()
            .all(|n| !directory_users.contains_key(&users[*n]))
    );
    let memberships = world.directory.memberships.lock().unwrap().clone();
    assert!(!memberships.contains_key(&membership(&groups[5], &left)));
    let of_gone = memberships
        .keys()
        .filter(|m| gone.iter().any(|n| users[*n] == m.user_id))
        .count();
    assert_eq!(of_gone, 0, "the deleted users' memberships went with them");
    // 1,600 memberships, 10 deleted users' 10 and the one that left.
    assert_eq!(memberships.len(), 1_600 - 10 - 1);
    assert_eq!(status.counts.members_removed, 11);
    // A tenant-wide read would return 1,600 ids at once; a range of four
    // buckets (400 ids in the unit tests' ranges), 400.
    let largest = *world.directory.largest_read.lock().unwrap();
    assert!(largest <= 400, "one read returned {largest} ids");
    assert!(largest >= 100, "the ranges were read: {largest}");
}

fn without_upn(id: &str, name: &str) -> crate::model::entra::UnusableItem {
    crate::model::entra::UnusableItem {
        id: id.into(),
        display: Some(name.into()),
        reason: format!("user {id} has no userPrincipalName"),
    }
}

#[tokio::test]
async fn given_a_user_without_a_upn_then_the_rest_of_the_page_is_imported_and_it_is_a_problem_until_fixed()
 {
    let world = World::new();
    let config = importing().build();
    let mut page = users_page(
        vec![
            DeltaItem::Upsert(user("u1", "ann@contoso.com")),
            DeltaItem::Upsert(user("u3", "cy@contoso.com")),
        ],
        done("u-d1"),
    )
    .unwrap();
    page.unusable.push(without_upn("u2", "Bob"));
    world.entra.users("", Ok(page));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    // Read again by id, it still has none.
    world
        .entra
        .invalid_users
        .lock()
        .unwrap()
        .insert("u2".into(), "user u2 has no userPrincipalName".into());

    let RunOutcome::Completed(status) = world.run(&config, "run-1").await else {
        panic!("one user never fails the run");
    };
    assert_eq!(status.result, RunResult::Ok);
    assert_eq!(status.open_problems, Some(1));
    let users = world.directory.users.lock().unwrap().clone();
    assert_eq!(users.keys().collect::<Vec<_>>(), ["u1", "u3"]);
    let problems = world.state.problems.lock().unwrap().clone();
    let problem = &problems["ENTRA#PROBLEM#import#user#u2"];
    assert_eq!(problem.code, crate::problems::Code::InvalidObject);
    assert_eq!(problem.operation, crate::problems::Operation::Create);
    assert_eq!(problem.display, "Bob");
    assert!(
        problem.reason.contains("has no userPrincipalName"),
        "{problem:?}"
    );
    assert!(
        world
            .entra
            .requests
            .lock()
            .unwrap()
            .contains(&"user u2".to_owned())
    );

    // Fixed in Entra: the next run, a quiet delta, reads it again.
    world.entra.invalid_users.lock().unwrap().clear();
    world.entra.user_lookup(user("u2", "bob@contoso.com"));
    world.entra.users("u-d1", users_page(vec![], done("u-d2")));
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));
    let RunOutcome::Completed(status) = world.run(&config, "run-2").await else {
        panic!("the second run completes");
    };
    assert_eq!(status.open_problems, Some(0));
    assert_eq!(status.counts.users_created, 1);
    assert!(world.directory.users.lock().unwrap().contains_key("u2"));
    assert!(world.state.problems.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_an_unusable_item_that_reads_when_fetched_by_id_then_it_is_imported_without_a_problem()
 {
    let world = World::new();
    let config = importing().build();
    let mut page = users_page(vec![], done("u-d1")).unwrap();
    page.unusable.push(without_upn("u2", "Bob"));
    world.entra.users("", Ok(page));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.entra.user_lookup(user("u2", "bob@contoso.com"));

    let RunOutcome::Completed(status) = world.run(&config, "run-1").await else {
        panic!("the run completes");
    };
    assert_eq!(status.open_problems, Some(0));
    assert!(world.directory.users.lock().unwrap().contains_key("u2"));
}

#[tokio::test]
async fn given_an_imported_user_that_turns_unusable_then_a_resync_keeps_it_and_names_the_problem() {
    let world = World::new();
    let config = importing().build();
    world.entra.users(
        "",
        users_page(
            vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
            done("u-d1"),
        ),
    );
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    assert!(matches!(
        world.run(&config, "run-1").await,
        RunOutcome::Completed(_)
    ));

    let mut page = users_page(vec![], done("u-d2")).unwrap();
    page.unusable.push(without_upn("u1", "Ann"));
    world.entra.users("", Ok(page));
    world.entra.groups("", groups_page(vec![], done("g-d2")));
    world
        .entra
        .invalid_users
        .lock()
        .unwrap()
        .insert("u1".into(), "user u1 has no userPrincipalName".into());
    let RunOutcome::Completed(status) = world.run(&config_resync(), "run-2").await else {
        panic!("the resync completes");
    };
    assert_eq!(status.counts.users_deleted, 0, "it exists in Entra: kept");
    assert!(world.directory.users.lock().unwrap().contains_key("u1"));
    let problems = world.state.problems.lock().unwrap().clone();
    assert_eq!(
        problems["ENTRA#PROBLEM#import#user#u1"].operation,
        crate::problems::Operation::Update
    );
}

#[tokio::test]
async fn given_an_unusable_item_that_is_gone_when_fetched_by_id_then_a_delta_round_deletes_it() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    assert!(world.directory.users.lock().unwrap().contains_key("u1"));
    // An @removed with a reason this client does not know; by id, 404.
    let mut page = users_page(vec![], done("u-d2")).unwrap();
    page.unusable.push(crate::model::entra::UnusableItem {
        id: "u1".into(),
        display: None,
        reason: "unknown @removed reason Some(\"archived\")".into(),
    });
    world.entra.users("u-d1", Ok(page));
    world
        .entra
        .groups("g-d1", groups_page(vec![], done("g-d2")));

    let RunOutcome::Completed(status) = world.run(&config, "run-2").await else {
        panic!("the delta run completes");
    };
    assert_eq!(status.counts.users_deleted, 1);
    assert!(!world.directory.users.lock().unwrap().contains_key("u1"));
    assert!(world.state.problems.lock().unwrap().is_empty());
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
