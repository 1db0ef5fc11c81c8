//! Applying one delta page to the AM directory: compare, then write only
//! what changed.

use crate::model::tenant_config::GuestUsers;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::managers::ManagerDecision;
use super::records::{DeprovisionMark, DirectoryWrite, ManagerWrite};
use super::scope::Scope;
use super::state::{Checkpoint, Counts, DeferredMembership, GroupScope, Mode, PageRecord, Phase};
use super::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Interruption};
use crate::model::EntraObjectId;
use crate::model::directory::{
    EntraHash, EntraSync, GroupItem, MembershipKey, PasswordMode, Source, SyncedObject,
    UserAttributes, UserItem,
};
use crate::model::entra::{
    DeltaItem, DeltaPage, DomainInfo, EntraGroup, EntraUser, GroupDelta, MemberKind,
};
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

/// The last item per id wins: a round may carry an object several times.
fn last_per_id<T, F: Fn(&T) -> &str>(items: &[DeltaItem<T>], id_of: F) -> Vec<&DeltaItem<T>> {
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let id = match item {
            DeltaItem::Upsert(value) => id_of(value),
            DeltaItem::Removed { id, .. } => id.as_str(),
        };
        position.insert(id, index);
    }
    let mut keep: Vec<usize> = position.into_values().collect();
    keep.sort_unstable();
    keep.into_iter().map(|i| &items[i]).collect()
}

pub(super) fn password_mode(user: &EntraUser, domains: &[DomainInfo]) -> PasswordMode {
    if user.guest {
        // Its password lives with its own organisation, if anywhere.
        return PasswordMode::Temporary;
    }
    let upn = user
        .properties
        .get("userPrincipalName")
        .and_then(|v| v.as_str());
    if upn.is_some_and(|upn| !upn.eq_ignore_ascii_case(&user.attributes.user_name)) {
        // A login mapped from something else: password verification signs
        // in with the login as a UPN, which would be another account's.
        return PasswordMode::Temporary;
    }
    let domain = user.domain();
    match domains.iter().find(|d| Some(&d.name) == domain.as_ref()) {
        Some(d) if !d.federated => PasswordMode::Entra,
        // Federated, or a domain Entra does not list: no cloud password to check.
        _ => PasswordMode::Temporary,
    }
}

/// What makes a set of users' AM items agree.
#[derive(Default)]
pub(super) struct PlannedUsers {
    pub(super) writes: Vec<DirectoryWrite>,
    /// Users not written: their name is a platform user's, or a mapping
    /// failed for them (each a problem).
    pub(super) conflicts: HashSet<String>,
    /// The users the writes create.
    pub(super) created: Vec<String>,
    /// Managers (Entra ids) the directory does not hold yet.
    pub(super) manager_waits: Vec<String>,
}

/// The tenant's domains, read from Graph once per run, on first need.
#[derive(Default)]
pub(super) struct DomainCache(Option<Vec<DomainInfo>>);

/// The write that makes the AM user agree with the Entra user, if any.
/// A deprovisioned user Entra ID shows again is restored: its mark goes
/// and it is enabled as Entra ID has it, unless the tenant chose not to
/// reactivate (then it stays disabled and marked until the platform
/// enables it).
/// (A mapped user is `Owned`: its attributes move into the write, as
/// this runs for every user of a first import.)
pub(crate) fn user_upsert(
    user: Cow<'_, EntraUser>,
    current: Option<&UserItem>,
    (domains, manager): (&[DomainInfo], Option<&ManagerDecision>),
    reactivate_on_restore: bool,
    counts: &mut Counts,
) -> Option<DirectoryWrite> {
    let mode = password_mode(&user, domains);
    let (entra_id, attributes) = match user {
        Cow::Borrowed(user) => (user.id.clone(), user.attributes.clone()),
        Cow::Owned(user) => (user.id, user.attributes),
    };
    let user = ImportedUser {
        entra_id,
        attributes,
        mode,
    };
    user_write(user, current, manager, reactivate_on_restore, counts)
}

/// An Entra user as the import writes it: its attributes mapped, its
/// password mode decided.
struct ImportedUser {
    entra_id: EntraObjectId,
    attributes: UserAttributes,
    mode: PasswordMode,
}

fn user_write(
    user: ImportedUser,
    current: Option<&UserItem>,
    manager: Option<&ManagerDecision>,
    reactivate_on_restore: bool,
    counts: &mut Counts,
) -> Option<DirectoryWrite> {
    let ImportedUser {
        entra_id,
        mut attributes,
        mode,
    } = user;
    // A platform manager the export still owes Entra ID stays, and the
    // write keeps owing it (`awaits_export`: only the manager differs).
    let owes_manager = current.is_some_and(|c| c.pending_export());
    let manager = match owes_manager {
        true => ManagerDecision::apply(None, &mut attributes, current),
        false => ManagerDecision::apply(manager, &mut attributes, current),
    };
    let Some(current) = current else {
        counts.users_created += 1;
        return Some(user_create(entra_id, attributes, mode, manager));
    };
    if awaits_export(current) {
        tracing::info!(user_id = %current.user_id, "the platform's change is not exported yet; this user is updated after it");
        return None;
    }
    if current.source != Source::Entra {
        // A linked platform user's mapped attributes are the platform's.
        attributes.attributes = current.attributes.attributes.clone();
    }
    let deprovision = restored(current, reactivate_on_restore, &mut attributes);
    let (password_mode, mode_differs) = password_mode_write(current, mode);
    if current.attributes == attributes
        && !mode_differs
        && deprovision == DeprovisionMark::Unchanged
        && !ManagerDecision::differs_from(&manager, current)
    {
        return None;
    }
    if deprovision == DeprovisionMark::Clear {
        tracing::info!(user_id = %current.user_id, "Entra ID shows the deprovisioned user again; restored");
    }
    counts.users_updated += 1;
    let hash = match owes_manager {
        true => EntraHash::of_user_manager_unwritten(&attributes),
        false => EntraHash::of_user(&attributes),
    };
    Some(DirectoryWrite::UpdateUser {
        user_id: current.user_id.clone(),
        entra_link: (current.user_id != entra_id).then(|| entra_id.into_string()),
        hash,
        attributes,
        password_mode,
        deprovision,
        manager,
    })
}

/// The password mode an update writes, and whether it changes the user's.
/// A platform user linked to Entra keeps the platform's: the seed's rule
/// is for imported users.
fn password_mode_write(current: &UserItem, mode: PasswordMode) -> (Option<PasswordMode>, bool) {
    let written = (current.source == Source::Entra).then_some(mode);
    let differs =
        written.is_some_and(|m| current.password_mode.unwrap_or(PasswordMode::Temporary) != m);
    (written, differs)
}

/// The new imported user: its id is its Entra id.
fn user_create(
    entra_id: EntraObjectId,
    attributes: UserAttributes,
    mode: PasswordMode,
    manager: ManagerWrite,
) -> DirectoryWrite {
    let mut sync = EntraSync::imported(EntraHash::of_user(&attributes));
    if let ManagerWrite::Set { entra_id } = manager {
        sync.manager_entra_id = entra_id;
    }
    DirectoryWrite::CreateUser(UserItem {
        user_id: entra_id.into_string(),
        attributes,
        source: Source::Entra,
        password_mode: Some(mode),
        sync,
    })
}

/// The platform changed the user and the export has not agreed since.
/// The manager alone does not hold the import back: a `manager_id` the
/// platform set before the hash counted it, or one the export could not
/// write yet (`dependency_missing`, retried by itself), would otherwise
/// keep Entra ID's changes out of the user for good.
pub(super) fn awaits_export(current: &UserItem) -> bool {
    if !current.pending_export() {
        return false;
    }
    let Some(stored) = current.sync.entra_hash.as_ref() else {
        return false;
    };
    let without_manager = crate::model::directory::UserAttributes {
        manager_id: None,
        ..current.attributes.clone()
    };
    stored != &EntraHash::of_user(&without_manager)
        && stored != &EntraHash::of_user_manager_unwritten(&current.attributes)
}

/// A users page's users in scope and out of it; its removals go to the
/// page's record (soft deletes noted: their deprovisioning differs).
fn sorted_by_scope<'p>(
    page: &'p DeltaPage<EntraUser>,
    scope: &Scope<'_>,
    record: &mut PageRecord,
) -> (Vec<&'p EntraUser>, Vec<&'p EntraUser>) {
    let mut in_scope: Vec<&EntraUser> = Vec::new();
    let mut outside: Vec<&EntraUser> = Vec::new();
    for item in last_per_id(&page.items, |u| u.id.as_str()) {
        match item {
            DeltaItem::Upsert(user) if scope.includes_user(user) => in_scope.push(user),
            DeltaItem::Upsert(user) => outside.push(user),
            DeltaItem::Removed { id, permanent } => {
                record.removed.push(id.to_string());
                if !permanent {
                    record.soft_deleted.push(id.to_string());
                }
            }
        }
    }
    (in_scope, outside)
}

/// What Entra ID showing a deprovisioned user again does to its mark: it
/// goes, unless the tenant chose not to reactivate and the user is
/// disabled (then it stays disabled and marked).
fn restored(
    current: &UserItem,
    reactivate_on_restore: bool,
    attributes: &mut crate::model::directory::UserAttributes,
) -> DeprovisionMark {
    match current.sync.deprovisioned_at {
        None => DeprovisionMark::Unchanged,
        Some(_) if !reactivate_on_restore && !current.attributes.enabled => {
            attributes.enabled = false;
            DeprovisionMark::Unchanged
        }
        Some(_) => DeprovisionMark::Clear,
    }
}

/// The write that makes the AM group agree with the Entra group, if any.
pub(crate) fn group_upsert(
    group: &EntraGroup,
    current: Option<&GroupItem>,
    counts: &mut Counts,
) -> Option<DirectoryWrite> {
    let Some(current) = current else {
        counts.groups_created += 1;
        return Some(DirectoryWrite::CreateGroup(GroupItem {
            group_id: group.id.to_string(),
            attributes: group.attributes.clone(),
            source: Source::Entra,
            sync: EntraSync::imported(EntraHash::of_group(&group.attributes)),
        }));
    };
    if current.pending_export() {
        tracing::info!(group_id = %current.group_id, "the platform's change is not exported yet; this group is updated after it");
        return None;
    }
    if current.attributes == group.attributes {
        return None;
    }
    counts.groups_updated += 1;
    Some(DirectoryWrite::UpdateGroup {
        group_id: current.group_id.clone(),
        entra_link: (current.group_id != group.id).then(|| group.id.to_string()),
        attributes: group.attributes.clone(),
        hash: EntraHash::of_group(&group.attributes),
    })
}

/// The groups of a page, a large group's several items merged in order:
/// upserts (each id's items, latest last) and ids removed.
fn page_groups(page: &DeltaPage<GroupDelta>) -> (Vec<&GroupDelta>, Vec<String>) {
    let mut groups: Vec<&GroupDelta> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    for item in &page.items {
        match item {
            DeltaItem::Upsert(delta) => {
                removed.retain(|r| r != &delta.id);
                groups.push(delta);
            }
            DeltaItem::Removed { id, .. } => {
                groups.retain(|g| &g.id != id);
                removed.push(id.to_string());
            }
        }
    }
    (groups, removed)
}

/// In a delta round, membership changes of a scope group (or its deletion)
/// change who is in scope.
fn touches_scope(groups: &[&GroupDelta], removed: &[String], scope: &GroupScope) -> bool {
    groups
        .iter()
        .any(|g| scope.groups.contains(g.id.as_str()) && !g.members.is_empty())
        || removed.iter().any(|id| scope.groups.contains(id))
}

/// A page's user memberships by (AM group id, Entra user id): the last
/// mention of each wins.
fn member_changes<'a>(
    groups: &[&'a GroupDelta],
    am_group: &HashMap<String, String>,
) -> Vec<(String, &'a str, bool)> {
    let mut position: HashMap<(&str, &str), usize> = HashMap::new();
    let mut changes: Vec<(String, &str, bool)> = Vec::new();
    for delta in groups {
        let Some(group_id) = am_group.get(delta.id.as_str()) else {
            continue;
        };
        for member in delta.members.iter().filter(|m| m.kind == MemberKind::User) {
            let change = (group_id.clone(), member.member_id.as_str(), !member.removed);
            match position.get(&(delta.id.as_str(), member.member_id.as_str())) {
                Some(&i) => changes[i] = change,
                None => {
                    position.insert(
                        (delta.id.as_str(), member.member_id.as_str()),
                        changes.len(),
                    );
                    changes.push(change);
                }
            }
        }
    }
    changes
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    pub(super) async fn record_page(
        &self,
        checkpoint: &mut Checkpoint,
        phase: Phase,
        record: PageRecord,
    ) -> Result<(), Interruption> {
        self.changes.follow(checkpoint);
        self.write_changes(Some(checkpoint.page + 1)).await;
        if record.is_empty() {
            return Ok(());
        }
        let seen = record.seen(phase);
        self.state
            .save_page_record(
                self.tenant(),
                &checkpoint.round_id,
                phase,
                checkpoint.page,
                &record.without_seen(),
                &seen,
            )
            .await?;
        checkpoint.recorded_pages += 1;
        checkpoint.seen.get_or_insert_default().note(&seen);
        Ok(())
    }

    pub(super) async fn apply_users_page(
        &self,
        page: &DeltaPage<EntraUser>,
        scope: &Scope<'_>,
        domains: &mut DomainCache,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), Interruption> {
        let (page, invalid) = self.repaired_users(page).await?;
        let mut record = PageRecord {
            present: invalid,
            ..PageRecord::default()
        };
        let (mut in_scope, outside) = sorted_by_scope(&page, scope, &mut record);
        let returning = self
            .returning_to_group_scope(&outside, scope, checkpoint)
            .await?;
        for user in outside {
            if returning.contains_key(user.id.as_str()) {
                in_scope.push(user);
            } else {
                // Out of scope now: deprovisioned as the tenant chose.
                record.removed.push(user.id.to_string());
                record.left_scope.push(user.id.to_string());
            }
        }
        record
            .present
            .extend(in_scope.iter().map(|u| u.id.to_string()));
        // A conflicting user stays present: one imported before keeps its
        // AM state through a full round's sweep.
        let counts = &mut checkpoint.counts;
        let planned = self
            .plan_users(&in_scope, domains, Some(checkpoint.mode), counts)
            .await?;
        if checkpoint.mode == Mode::Delta && self.config.import_groups {
            // Before the users: a retry finds them new again.
            record.memberships = self
                .memberships_of_new_users(&planned.created, &returning, counts)
                .await?;
        }
        record.manager_waits = planned.manager_waits;
        self.write(planned.writes).await?;
        if checkpoint.mode == Mode::Delta {
            // A user entering the scope may be a manager its reports wait for.
            self.relink_reports(planned.created, counts).await?;
        }
        self.record_page(checkpoint, Phase::Users, record).await
    }

    /// Creates or updates the AM users of these Entra users (all in scope),
    /// writing only what differs. Returns those not written because their
    /// UPN is a platform user's name (each a problem).
    pub(super) async fn upsert_users(
        &self,
        users: &[&EntraUser],
        domains: &mut DomainCache,
        counts: &mut Counts,
    ) -> Result<HashSet<String>, Interruption> {
        let planned = self.plan_users(users, domains, None, counts).await?;
        self.write(planned.writes).await?;
        Ok(planned.conflicts)
    }

    /// What makes these users' AM items agree. `round` is the delta round
    /// they come from (their items state managers); users read by id
    /// state none, and keep theirs.
    pub(super) async fn plan_users(
        &self,
        users: &[&EntraUser],
        domains: &mut DomainCache,
        round: Option<Mode>,
        counts: &mut Counts,
    ) -> Result<PlannedUsers, Interruption> {
        if users.is_empty() {
            return Ok(Default::default());
        }
        if domains.0.is_none() {
            domains.0 = Some(self.entra.domains().await?);
        }
        let domains = domains.0.as_deref().unwrap_or_default();
        let reactivate = self.config.deprovisioning.reactivate_on_restore;
        let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
        let existing = self
            .directory
            .users_by_entra_id(self.tenant(), &ids)
            .await?;
        let released = self.released_users(users, &existing).await?;
        let users: Vec<&EntraUser> = users
            .iter()
            .filter(|u| !released.contains(u.id.as_str()))
            .copied()
            .collect();
        let (mapped, unmapped) = self.mapped_users(&users, &existing).await?;
        let users: Vec<&EntraUser> = mapped.iter().map(|u| u.as_ref()).collect();
        let mut conflicts = self.name_conflicts(&users, &existing).await?;
        conflicts.extend(unmapped);
        let importable: Vec<&EntraUser> = users
            .into_iter()
            .filter(|user| !conflicts.contains(user.id.as_str()))
            .collect();
        let created: Vec<String> = importable
            .iter()
            .filter(|user| !existing.contains_key(user.id.as_str()))
            .map(|user| user.id.to_string())
            .collect();
        let new: HashSet<&str> = created.iter().map(String::as_str).collect();
        let (managers, manager_waits) = self.managers_of(&importable, &new, round).await?;
        let writes: Vec<DirectoryWrite> = mapped
            .into_iter()
            .filter(|user| !conflicts.contains(user.id.as_str()))
            .filter_map(|user| {
                let current = existing.get(user.id.as_str());
                let manager = managers.get(user.id.as_str());
                user_upsert(user, current, (domains, manager), reactivate, counts)
            })
            .collect();
        self.changes.remember_users(existing.values(), &writes);
        Ok(PlannedUsers {
            writes,
            conflicts,
            created,
            manager_waits,
        })
    }

    /// Those of the users the AM directory does not hold that were a
    /// platform user's counterpart, deleted by the platform since: not
    /// imported back (the export kept or disabled them as the tenant chose).
    async fn released_users(
        &self,
        users: &[&EntraUser],
        existing: &HashMap<String, UserItem>,
    ) -> Result<HashSet<String>, Interruption> {
        let new: Vec<String> = users
            .iter()
            .filter(|u| !existing.contains_key(u.id.as_str()))
            .map(|u| u.id.to_string())
            .collect();
        if new.is_empty() {
            return Ok(HashSet::new());
        }
        let released = self
            .directory
            .released_by_platform(self.tenant(), &new)
            .await?;
        for id in &released {
            tracing::info!(entra_id = %id, "the platform deleted this Entra user's AM user; not importing it back");
        }
        Ok(released)
    }

    /// The users with the tenant's mappings applied (as they are without
    /// mappings), and those a mapping failed for, each named in a problem.
    async fn mapped_users<'u>(
        &self,
        users: &[&'u EntraUser],
        existing: &HashMap<String, UserItem>,
    ) -> Result<(Vec<Cow<'u, EntraUser>>, HashSet<String>), Interruption> {
        let mut mapped = Vec::with_capacity(users.len());
        let mut failed = HashSet::new();
        if !self.flows().maps_attributes() {
            mapped.extend(users.iter().map(|user| Cow::Borrowed(*user)));
            return Ok((mapped, failed));
        }
        for user in users {
            let current = existing.get(user.id.as_str());
            match self.flows().attributes_of(user, current) {
                Ok(attributes) => mapped.push(Cow::Owned(EntraUser {
                    id: user.id.clone(),
                    attributes,
                    guest: user.guest,
                    properties: std::sync::Arc::clone(&user.properties),
                })),
                Err(error) => {
                    self.report_unmapped(user, current.is_some(), &error)
                        .await?;
                    failed.insert(user.id.to_string());
                }
            }
        }
        Ok((mapped, failed))
    }

    pub(super) async fn write(&self, writes: Vec<DirectoryWrite>) -> Result<(), Interruption> {
        if !writes.is_empty() {
            let noted = self.changes.note(&writes);
            self.directory.apply(self.tenant(), writes).await?;
            if let Some(noted) = noted {
                self.changes.applied(noted);
                self.write_changes_if_many().await;
            }
        }
        Ok(())
    }

    pub(super) async fn apply_groups_page(
        &self,
        page: &DeltaPage<GroupDelta>,
        group_scope: Option<&GroupScope>,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), Interruption> {
        let scope = Scope {
            domains: &[],
            groups: group_scope,
            guests: GuestUsers::Exclude,
            filters: None,
        };
        let (page, invalid) = self.repaired_groups(page).await?;
        let (groups, removed) = page_groups(&page);
        if checkpoint.mode == Mode::Delta
            && group_scope.is_some_and(|s| touches_scope(&groups, &removed, s))
        {
            checkpoint.scope_changed = true;
        }
        let (in_scope, out_of_scope): (Vec<&GroupDelta>, Vec<&GroupDelta>) = groups
            .into_iter()
            .partition(|g| scope.includes_group(g.id.as_str()));
        let mut record = PageRecord {
            removed,
            ..PageRecord::default()
        };
        record
            .removed
            .extend(out_of_scope.iter().map(|g| g.id.to_string()));
        let mut seen: HashSet<&str> = HashSet::new();
        record.present = in_scope
            .iter()
            .filter(|g| seen.insert(g.id.as_str()))
            .map(|g| g.id.to_string())
            .collect();
        record.present.extend(invalid);
        if !in_scope.is_empty() {
            let am_group = self
                .upsert_groups(&in_scope, &record.present, &mut checkpoint.counts)
                .await?;
            // Kept for the end of the run: a scope change, or a user
            // created after the users round was read, may bring them in.
            let defer = group_scope.is_some() || self.config.import_users;
            self.apply_member_changes(&in_scope, &am_group, defer, checkpoint, &mut record)
                .await?;
        }
        self.record_page(checkpoint, Phase::Groups, record).await
    }

    /// Creates or updates the page's groups; returns the AM group id of
    /// each, by Entra id.
    pub(super) async fn upsert_groups(
        &self,
        in_scope: &[&GroupDelta],
        ids: &[String],
        counts: &mut Counts,
    ) -> Result<HashMap<String, String>, Interruption> {
        let existing = self
            .directory
            .groups_by_entra_id(self.tenant(), ids)
            .await?;
        let mut am_group: HashMap<String, String> = existing
            .iter()
            .map(|(entra, g)| (entra.clone(), g.group_id.clone()))
            .collect();
        let mut written: HashSet<&str> = HashSet::new();
        let mut writes = Vec::new();
        // The last occurrence carries the newest attributes.
        for group in in_scope.iter().rev().filter_map(|d| d.group.as_ref()) {
            if !written.insert(group.id.as_str()) {
                continue;
            }
            am_group
                .entry(group.id.to_string())
                .or_insert_with(|| group.id.to_string());
            writes.extend(group_upsert(group, existing.get(group.id.as_str()), counts));
        }
        self.changes.remember_groups(existing.values(), &writes);
        self.write(writes).await?;
        Ok(am_group)
    }

    /// Memberships of users the AM directory holds. Those of users it does
    /// not hold are deferred (when a group scope can bring them in later in
    /// the run); full rounds record what they saw for the sweep.
    async fn apply_member_changes(
        &self,
        in_scope: &[&GroupDelta],
        am_group: &HashMap<String, String>,
        defer: bool,
        checkpoint: &mut Checkpoint,
        record: &mut PageRecord,
    ) -> Result<(), Interruption> {
        let changes = member_changes(in_scope, am_group);
        let mut member_ids: Vec<String> = changes.iter().map(|(_, u, _)| (*u).to_owned()).collect();
        member_ids.sort();
        member_ids.dedup();
        let users = if member_ids.is_empty() {
            HashMap::new()
        } else {
            self.directory
                .user_ids_by_entra_id(self.tenant(), &member_ids)
                .await?
        };
        let mut wanted: HashMap<MembershipKey, bool> = HashMap::new();
        for (group_id, user_entra_id, present) in changes {
            if let Some(user_id) = users.get(user_entra_id) {
                let key = MembershipKey {
                    group_id,
                    user_id: user_id.clone(),
                };
                wanted.insert(key, present);
                continue;
            }
            if !present {
                // A membership of a user AM does not hold is one written
                // before its user (`memberships_of_new_users`) by an attempt
                // that failed; the user, deleted since, never came. An
                // imported user's AM id is its Entra id.
                let key = MembershipKey {
                    group_id: group_id.clone(),
                    user_id: user_entra_id.to_owned(),
                };
                wanted.insert(key, false);
            }
            if defer {
                record.deferred_memberships.push(DeferredMembership {
                    group_id,
                    user_entra_id: user_entra_id.to_owned(),
                    present,
                });
            }
        }
        // Full rounds: what the sweep saw. Every round: what a deletion at
        // the end of the run must remove too, as the by-member index may
        // not show a membership written moments before.
        record.memberships = wanted
            .iter()
            .filter(|(_, present)| **present)
            .map(|(k, _)| k.encode())
            .collect();
        record.memberships.sort();
        self.apply_memberships(wanted, &mut checkpoint.counts).await
    }

    /// Adds and removes memberships to reach `wanted` (true = member).
    pub(super) async fn apply_memberships(
        &self,
        wanted: HashMap<MembershipKey, bool>,
        counts: &mut Counts,
    ) -> Result<(), Interruption> {
        if wanted.is_empty() {
            return Ok(());
        }
        let keys: Vec<MembershipKey> = wanted.keys().cloned().collect();
        let existing = self
            .directory
            .existing_memberships(self.tenant(), &keys)
            .await?;
        let mut writes = Vec::new();
        for (key, present) in wanted {
            match (present, existing.contains(&key)) {
                (true, false) => {
                    counts.members_added += 1;
                    writes.push(DirectoryWrite::AddMembership(key));
                }
                (false, true) => {
                    counts.members_removed += 1;
                    writes.push(DirectoryWrite::RemoveMembership(key));
                }
                _ => {}
            }
        }
        self.write(writes).await
    }
}

#[cfg(test)]
mod tests;
