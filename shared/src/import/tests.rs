//! The engine against in-memory stores and a scripted Entra ID
//! (`crate::testing`): the `World` a test runs in and the group-scope
//! fixtures several behaviours share; the tests are in `tests/`, a file a
//! behaviour.

use chrono::Utc;

use super::state::*;
use super::*;
use crate::model::directory::{
    EntraSync, MembershipKey, PasswordMode, Source, UserAttributes, UserItem,
};
use crate::model::entra::*;
use crate::model::{Authorisation, TenantConfig};
use crate::testing::import_stores::{MemoryDirectory, MemoryState};
use crate::testing::scripted_entra::*;
use crate::testing::tenant_config::importing;

mod app_access;
mod change_events;
mod deadlines;
mod deletions;
mod delta_and_full_rounds;
mod deprovisioning;
mod failed_page;
mod full_round_scope;
mod group_scope;
mod groups_from_start;
mod late_users;
mod managers;
mod mappings;
mod names;
mod preview;
mod restarted_round;
mod resumed_finish;
mod resumed_runs;
mod returning_users;
mod run_gates;
mod run_history;
mod unusable_items;

struct World {
    directory: MemoryDirectory,
    state: MemoryState,
    entra: ScriptedEntra,
    /// Why the next runs run (the scheduler's tick unless a test says).
    trigger: std::sync::Mutex<history::Trigger>,
}

impl World {
    fn new() -> Self {
        Self {
            directory: MemoryDirectory::default(),
            state: MemoryState::default(),
            entra: ScriptedEntra::default(),
            trigger: std::sync::Mutex::new(history::Trigger::Schedule),
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
        let trigger = *self.trigger.lock().unwrap();
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
            flows: super::flows::ImportFlows::compile(config),
            trigger,
            so_far: Default::default(),
            changes: Default::default(),
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

    /// The delta round after a first import (links `u-d1`, `g-d1`): these
    /// user items and these group items, on one page each.
    fn script_delta(&self, users: Vec<DeltaItem<EntraUser>>, groups: Vec<DeltaItem<GroupDelta>>) {
        self.entra.users("u-d1", users_page(users, done("u-d2")));
        self.entra.groups("g-d1", groups_page(groups, done("g-d2")));
    }

    fn has_user(&self, user_id: &str) -> bool {
        self.directory.users.lock().unwrap().contains_key(user_id)
    }

    fn has_membership(&self, group_id: &str, user_id: &str) -> bool {
        let key = membership(group_id, user_id);
        self.directory
            .memberships
            .lock()
            .unwrap()
            .contains_key(&key)
    }

    /// The status the last run stored.
    fn status(&self) -> RunStatus {
        self.state.status.lock().unwrap().clone().unwrap()
    }

    /// A first full import of `script_first_import`'s pages.
    async fn imported(&self, config: &TenantConfig) {
        self.script_first_import();
        let outcome = self.run(config, "run-first-import").await;
        assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    }
}

const SCOPE_GROUP: &str = "0a000000-0000-4000-8000-000000000000";
const NESTED_GROUP: &str = "0a000000-0000-4000-8000-000000000001";

/// SCOPE_GROUP's transitive members: u1, NESTED_GROUP, and `joined`.
fn scope_holds(world: &World, joined: &[(&str, MemberKind)]) {
    let mut members = vec![("u1", MemberKind::User), (NESTED_GROUP, MemberKind::Group)];
    members.extend_from_slice(joined);
    world.entra.transitive_members_of(SCOPE_GROUP, &members);
}

/// `import_group_ids = [SCOPE_GROUP]`, which holds u1 and NESTED_GROUP
/// (empty); u2 is in Entra but in no scope group, so not imported.
async fn imported_with_group_scope(world: &World) -> TenantConfig {
    let config = importing().import_group_ids(&[SCOPE_GROUP]).build();
    scope_holds(world, &[]);
    world.entra.users("", ann_and_bob(done("u-d1")));
    world.entra.groups(
        "",
        groups_page(
            vec![group(SCOPE_GROUP, &["u1"]), group(NESTED_GROUP, &[])],
            done("g-d1"),
        ),
    );
    let outcome = world.run(&config, "run-first-import").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(!world.has_user("u2"));
    config
}

/// u2 (bob, left out by `imported_with_group_scope`) is in SCOPE_GROUP now,
/// and Graph finds them by id.
fn bob_enters_scope(world: &World) {
    scope_holds(world, &[("u2", MemberKind::User)]);
    world.entra.user_lookup(user("u2", "bob@contoso.com"));
}

/// A users page of ann (u1) and bob (u2), both of contoso.com.
fn ann_and_bob(continuation: Continuation) -> Result<DeltaPage<EntraUser>, GraphError> {
    users_page(
        vec![
            DeltaItem::Upsert(user("u1", "ann@contoso.com")),
            DeltaItem::Upsert(user("u2", "bob@contoso.com")),
        ],
        continuation,
    )
}

/// A users page of ann (u1) alone.
fn ann_alone(continuation: Continuation) -> Result<DeltaPage<EntraUser>, GraphError> {
    users_page(
        vec![DeltaItem::Upsert(user("u1", "ann@contoso.com"))],
        continuation,
    )
}

/// Graph's answer once the client's retries ran out.
fn graph_exhausted() -> GraphError {
    GraphError::Exhausted {
        attempts: 8,
        last: "503".into(),
    }
}

fn membership(group_id: &str, user_id: &str) -> MembershipKey {
    MembershipKey {
        group_id: group_id.into(),
        user_id: user_id.into(),
    }
}

fn config_resync() -> TenantConfig {
    importing()
        .resync_requested_at("2026-11-26T10:00:00Z")
        .build()
}
