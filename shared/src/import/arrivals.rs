//! The users who arrive at the end of a round, and what they bring: the
//! scope of `import_group_ids` computed again (users entering and leaving
//! it), users created after the users round was read, and users a delta
//! round creates (restored, renamed into the domains) with their groups.

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};

use super::buckets::KeyRange;
use super::pages::DomainCache;
use super::scope::Scope;
use super::state::{Checkpoint, Counts, GroupScope, Mode, NumberedRecord};
use super::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Interruption, ObjectKind};
use crate::model::directory::MembershipKey;
use crate::model::entra::EntraUser;
use crate::model::entra::GraphError;
use crate::ports::TenantConfigs;
use crate::problems::Direction;
use crate::problems::ProblemStore;

/// `memberOf` reads in flight at once: a bulk hire or an HR system's
/// nightly update brings thousands of users to a delta round, and one
/// read at a time would take the round's whole invocation.
const MEMBER_OF_IN_FLIGHT: usize = 8;

/// How the scope of `import_group_ids` moved during a delta round.
#[derive(Debug, Default, Clone)]
pub(super) struct ScopeChange {
    pub(super) left_users: Vec<String>,
    pub(super) left_groups: Vec<String>,
    /// Users that entered the scope and were imported: present, whatever
    /// the users round (read under the old scope) said of them.
    pub(super) entered_users: HashSet<String>,
    /// New groups came into scope: their members need a full groups round.
    pub(super) groups_entered: bool,
    /// The scope after the change, saved only when everything it implies
    /// is done (a run that fails before recomputes it from the old one).
    pub(super) new_scope: Option<GroupScope>,
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// How the group scope moved, and the users who arrive at the end of
    /// the round: those who entered the scope, and those created after the
    /// users round was read.
    pub(super) async fn users_arriving(
        &self,
        checkpoint: &mut Checkpoint,
        user_records: &[NumberedRecord],
        group_records: &[NumberedRecord],
    ) -> Result<ScopeChange, Interruption> {
        let mut scope_change = self.apply_scope_change(checkpoint, user_records).await?;
        let late = self
            .import_late_users(user_records, group_records, &mut checkpoint.counts)
            .await?;
        scope_change.entered_users.extend(late);
        Ok(scope_change)
    }

    /// Recomputes the group scope after membership changes of its groups,
    /// and imports the users who entered it. A full round always does: its
    /// pages were applied under the scope of its start, and its groups
    /// round, read later, does not show the changes in between.
    async fn apply_scope_change(
        &self,
        checkpoint: &mut Checkpoint,
        user_records: &[NumberedRecord],
    ) -> Result<ScopeChange, Interruption> {
        let may_have_moved = checkpoint.scope_changed || checkpoint.mode == Mode::Full;
        if !may_have_moved || self.config.import_group_ids.is_empty() {
            return Ok(ScopeChange::default());
        }
        // An earlier attempt at this finish may have saved its new scope
        // (then failed): `before` is no longer what the round's pages and
        // the directory were written under.
        let resumed = checkpoint.scope_applying;
        if !resumed {
            checkpoint.scope_applying = true;
            self.save_checkpoint(checkpoint).await?;
        }
        let before = self
            .state
            .group_scope(self.tenant())
            .await?
            .unwrap_or_default();
        let after = self.compute_group_scope().await?;
        let mut change = ScopeChange {
            left_groups: before.groups.difference(&after.groups).cloned().collect(),
            // The earlier attempt may have seen groups enter.
            groups_entered: resumed || after.groups.difference(&before.groups).next().is_some(),
            ..ScopeChange::default()
        };
        if self.config.import_users {
            change.left_users = self.users_left(&before, &after, resumed).await?;
            // A resumed finish finds the new scope saved already: a user
            // the users round removed (under the old scope) is in scope
            // now all the same.
            let removed: HashSet<&str> = user_records
                .iter()
                .flat_map(|(_, r)| &r.removed)
                .map(String::as_str)
                .collect();
            let entering: Vec<&String> = after
                .users
                .iter()
                .filter(|id| !before.users.contains(*id) || removed.contains(id.as_str()))
                .collect();
            // With groups entering, the next groups round is full and
            // brings every membership of these users.
            let with_groups = !change.groups_entered;
            change.entered_users = self
                .import_entering_users(&entering, &after, with_groups, &mut checkpoint.counts)
                .await?;
        }
        tracing::info!(
            users_in_scope = after.users.len(),
            groups_in_scope = after.groups.len(),
            "the import scope changed"
        );
        change.new_scope = Some(after);
        Ok(change)
    }

    /// The users who left the scope; after an earlier attempt, every
    /// imported user outside it (that attempt may have imported users who
    /// left again since).
    async fn users_left(
        &self,
        before: &GroupScope,
        after: &GroupScope,
        resumed: bool,
    ) -> Result<Vec<String>, Interruption> {
        let mut left: HashSet<String> = before.users.difference(&after.users).cloned().collect();
        if resumed {
            for range in KeyRange::covering(u64::MAX) {
                let imported = self
                    .directory
                    .imported_ids_in(self.tenant(), ObjectKind::User, range)
                    .await?;
                left.extend(imported.into_iter().filter(|id| !after.users.contains(id)));
            }
        }
        Ok(left.into_iter().collect())
    }

    /// Reads each user who entered the scope by id and imports them (with
    /// their groups when asked: one restored after a soft delete has
    /// memberships no groups delta names); returns the ids imported.
    async fn import_entering_users(
        &self,
        ids: &[&String],
        after: &GroupScope,
        with_groups: bool,
        counts: &mut Counts,
    ) -> Result<HashSet<String>, Interruption> {
        let mut entering: Vec<EntraUser> = Vec::new();
        for id in ids {
            match self.entra.user(id).await {
                Ok(Some(user)) => entering.push(user),
                Ok(None) | Err(GraphError::NotFound) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let scope = self.scope(Some(after));
        let in_scope: Vec<&EntraUser> =
            entering.iter().filter(|u| scope.includes_user(u)).collect();
        let conflicts = match with_groups {
            true => self.import_with_groups(&in_scope, counts).await?,
            false => {
                self.upsert_users(&in_scope, &mut DomainCache::default(), counts)
                    .await?
            }
        };
        Ok(in_scope
            .into_iter()
            .map(|u| u.id.to_string())
            .filter(|id| !conflicts.contains(id))
            .collect())
    }

    /// Users the groups round named as members that the directory does
    /// not hold and the users round did not mention: created after the
    /// users round was read. Read by id and imported (when in scope) so
    /// that their memberships apply now; the next users round would bring
    /// them without. Only without `import_group_ids` (a scope change
    /// imports its entering users). Returns the ids imported.
    async fn import_late_users(
        &self,
        user_records: &[NumberedRecord],
        group_records: &[NumberedRecord],
        counts: &mut Counts,
    ) -> Result<HashSet<String>, Interruption> {
        if !self.config.import_group_ids.is_empty() || !self.config.import_users {
            return Ok(HashSet::new());
        }
        let mentioned: HashSet<&String> =
            user_records.iter().flat_map(|(_, r)| &r.removed).collect();
        let mut ids: Vec<String> = group_records
            .iter()
            .flat_map(|(_, r)| &r.deferred_memberships)
            .filter(|d| d.present && !mentioned.contains(&d.user_entra_id))
            .map(|d| d.user_entra_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        // Those the users round saw but could not read are problems already.
        let problems = self.problems.open(self.tenant(), Direction::Import).await?;
        ids.retain(|id| !problems.iter().any(|p| &p.key.object_id == id));
        let held = self
            .directory
            .user_ids_by_entra_id(self.tenant(), &ids)
            .await?;
        let mut late: Vec<EntraUser> = Vec::new();
        for id in ids.iter().filter(|id| !held.contains_key(*id)) {
            match self.entra.user(id).await {
                Ok(Some(user)) => late.push(user),
                // One that does not read is a problem the users round names.
                Ok(None) | Err(GraphError::NotFound | GraphError::Malformed(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let scope = self.scope(None);
        let in_scope: Vec<&EntraUser> = late.iter().filter(|u| scope.includes_user(u)).collect();
        let conflicts = self.import_with_groups(&in_scope, counts).await?;
        Ok(in_scope
            .into_iter()
            .map(|u| u.id.to_string())
            .filter(|id| !conflicts.contains(id))
            .collect())
    }

    /// Imports users read by id, outside a users page; those it creates
    /// bring their groups (`memberOf`), written before them so that a run
    /// failing in between finds them new again: a user restored after a
    /// soft delete has memberships no groups delta names. Returns those
    /// not written for a name conflict.
    pub(super) async fn import_with_groups(
        &self,
        users: &[&EntraUser],
        counts: &mut Counts,
    ) -> Result<HashSet<String>, Interruption> {
        let planned = self
            .plan_users(users, &mut DomainCache::default(), None, counts)
            .await?;
        if self.config.import_groups {
            self.memberships_of_new_users(&planned.created, &HashMap::new(), counts)
                .await?;
        }
        self.write(planned.writes).await?;
        // A user who arrives may be the manager its reports wait for.
        self.relink_reports(planned.created, counts).await?;
        Ok(planned.conflicts)
    }

    /// The memberships of users a delta round creates: a user restored
    /// after a soft delete, or renamed into the domains, is a member of
    /// groups no groups delta will name again. Read from Graph (one
    /// request per new user) and written for the groups AM holds; returns
    /// them, encoded, for the page's record.
    pub(super) async fn memberships_of_new_users(
        &self,
        created: &[String],
        known: &HashMap<String, Vec<String>>,
        counts: &mut Counts,
    ) -> Result<Vec<String>, Interruption> {
        let unknown: Vec<&str> = created
            .iter()
            .filter(|u| !known.contains_key(*u))
            .map(String::as_str)
            .collect();
        let read = self.groups_of_users(&unknown).await?;
        let mut pairs: Vec<(String, &String)> = Vec::new();
        for user in created {
            let groups = known.get(user).or_else(|| read.get(user)).cloned();
            pairs.extend(
                groups
                    .unwrap_or_default()
                    .into_iter()
                    .map(|group| (group, user)),
            );
        }
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let mut group_ids: Vec<String> = pairs.iter().map(|(g, _)| g.clone()).collect();
        group_ids.sort();
        group_ids.dedup();
        let held = self
            .directory
            .groups_by_entra_id(self.tenant(), &group_ids)
            .await?;
        let wanted: HashMap<MembershipKey, bool> = pairs
            .into_iter()
            .filter_map(|(group, user)| {
                let group_id = held.get(&group)?.group_id.clone();
                let user_id = user.clone();
                Some((MembershipKey { group_id, user_id }, true))
            })
            .collect();
        let mut written: Vec<String> = wanted.keys().map(MembershipKey::encode).collect();
        written.sort();
        self.apply_memberships(wanted, counts).await?;
        Ok(written)
    }

    /// Users of a delta round outside the stored `import_group_ids` scope
    /// who are members of its groups all the same: restored after a soft
    /// delete, which `transitiveMembers` did not list while it lasted, and
    /// which no groups delta reports (the memberships were kept). A
    /// restore looks like any update (docs/graph.md 1.5), so each such
    /// user in the domains is read through `/users/{id}/memberOf` (one
    /// request each). Returns their groups by user; the scope is then
    /// computed again at the end of the round, so that it holds them.
    pub(super) async fn returning_to_group_scope(
        &self,
        outside: &[&EntraUser],
        scope: &Scope<'_>,
        checkpoint: &mut Checkpoint,
    ) -> Result<HashMap<String, Vec<String>>, Interruption> {
        let mut returning = HashMap::new();
        let Some(groups) = scope.groups else {
            return Ok(returning);
        };
        // A full round computes the scope again at its end and imports
        // whoever entered it.
        if checkpoint.mode != Mode::Delta {
            return Ok(returning);
        }
        let domains = Scope {
            domains: scope.domains,
            groups: None,
            guests: scope.guests,
            filters: scope.filters,
        };
        let candidates: Vec<&str> = outside
            .iter()
            .filter(|u| domains.includes_user(u))
            .map(|u| u.id.as_str())
            .collect();
        for (user, of_user) in self.groups_of_users(&candidates).await? {
            if of_user.iter().any(|g| groups.groups.contains(g)) {
                returning.insert(user, of_user);
            }
        }
        if !returning.is_empty() {
            checkpoint.scope_changed = true;
        }
        Ok(returning)
    }

    /// The groups of each user (`/users/{id}/memberOf`), a few reads at a
    /// time.
    async fn groups_of_users(
        &self,
        users: &[&str],
    ) -> Result<HashMap<String, Vec<String>>, GraphError> {
        futures::stream::iter(users.iter().map(|user| async move {
            let groups = self.entra.groups_of_user(user).await?;
            Ok::<_, GraphError>(((*user).to_owned(), groups))
        }))
        .buffered(MEMBER_OF_IN_FLIGHT)
        .try_collect()
        .await
    }
}
