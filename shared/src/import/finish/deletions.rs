//! Deletion planning: which imported objects the round did not show (a
//! sweep) or removed (a delta round), and what left the scope, judged by
//! deletion safety a key range at a time.

use std::collections::{HashMap, HashSet};

use super::deprovision::{self, HeldFate, UserFates};
use crate::import::arrivals::ScopeChange;
use crate::import::buckets::{Bucket, KeyRange, SeenBuckets, SeenKind};
use crate::import::deletion::DeletionPlan;
use crate::import::records::RemovalCause;
use crate::import::state::{Checkpoint, Mode, NumberedRecord, SyncState};
use crate::import::{
    DirectoryStore, EntraDirectory, HeldDeletions, ImportRun, ImportState, Interruption, ObjectKind,
};
use crate::model::directory::{MembershipKey, Source};
use crate::model::tenant_config::{Deprovisioning, GroupAction, UserAction};
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

/// The final state of each id of one key range across a round's pages, by
/// the last page that named it (true = present).
#[derive(Default)]
struct RangeStates(HashMap<String, (u32, bool)>);

impl RangeStates {
    fn note(&mut self, page: u32, id: &str, present: bool) {
        // Within a page an id is named once; presence wins a tie.
        let newer = match self.0.get(id) {
            Some(&(last, _)) => page > last || (page == last && present),
            None => true,
        };
        if newer {
            self.0.insert(id.to_owned(), (page, present));
        }
    }

    fn is_present(&self, id: &str) -> bool {
        self.0.get(id).is_some_and(|(_, present)| *present)
    }

    fn removed(&self) -> Vec<String> {
        let removed = self.0.iter().filter(|(_, (_, present))| !present);
        removed.map(|(id, _)| id.clone()).collect()
    }
}

/// Where a round's seen ids are: its id and the buckets its pages wrote.
pub(super) struct SeenRound {
    pub(super) round_id: String,
    pub(super) buckets: SeenBuckets,
}

impl SeenRound {
    pub(super) fn of(checkpoint: &Checkpoint) -> Self {
        Self {
            round_id: checkpoint.round_id.clone(),
            buckets: checkpoint.seen.unwrap_or_default(),
        }
    }
}

/// One kind's side of the round, as its deletion plan needs it.
struct KindRound<'a> {
    kind: ObjectKind,
    /// A full round of a tenant imported before: every imported object it
    /// did not show goes.
    sweep: bool,
    records: &'a [NumberedRecord],
    /// Users who entered the group scope at the end of the round.
    entered: &'a HashSet<String>,
}

impl KindRound<'_> {
    fn seen_kind(&self) -> SeenKind {
        match self.kind {
            ObjectKind::User => SeenKind::Users,
            ObjectKind::Group => SeenKind::Groups,
        }
    }
}

/// What one kind's deletion plan is made from, gathered bucket by bucket.
#[derive(Default)]
struct Gathered {
    candidates: Vec<String>,
    /// Imported objects of the kind, counted when the sweep read them all.
    imported: usize,
    still_held: Vec<String>,
}

/// Which rounds sweep: those that read everything in scope from the
/// start, of a tenant imported before.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sweeps {
    pub(super) users: bool,
    pub(super) groups: bool,
}

impl Sweeps {
    pub(super) fn of(checkpoint: &Checkpoint, state: &SyncState) -> Self {
        let full = checkpoint.mode == Mode::Full;
        // A delta run whose groups lost their link (the scope grew, an
        // object was imported late) read them from the start: that round
        // never shows what was deleted since the lost link, only a sweep
        // finds it (docs/behaviour.md 2.2: a round without a delta link
        // is full).
        let groups_from_start = state.groups_delta_link.is_none();
        Self {
            users: full && checkpoint.earlier_imports,
            groups: (full || groups_from_start) && checkpoint.earlier_imports,
        }
    }
}

/// The run's deletion plans, per object kind, and the users it
/// deprovisions instead of deleting (DESIGN 2.13).
pub(super) struct Deletions {
    /// Users deleted now (and held back): deletion safety's plan, of
    /// which the disables have moved to `user_disables`.
    pub(super) users: DeletionPlan,
    pub(super) groups: DeletionPlan,
    /// Users disabled now, and why.
    pub(super) user_disables: Vec<(String, RemovalCause)>,
    /// Users kept as they are, marked only.
    pub(super) user_kept: Vec<(String, RemovalCause)>,
    /// What each held user is to become once approved.
    held_user_actions: HashMap<String, HeldFate>,
    /// Groups Entra ID no longer shows, kept as the tenant chose.
    groups_kept: HashSet<String>,
}

impl Deletions {
    /// Splits the users' plan by fate: what it releases is deleted or
    /// disabled as decided when it was first held (a delete if unknown).
    fn new(
        mut users: DeletionPlan,
        groups: DeletionPlan,
        fates: &UserFates,
        (mut held_user_actions, choices): (HashMap<String, HeldFate>, &Deprovisioning),
    ) -> Self {
        // This run's fate, or the one held for: its cause judged by the
        // current choices (an admin may have chosen `keep` since); an
        // entry held before causes were kept is a delete.
        let fate_of = |id: &String, held: &HashMap<String, HeldFate>| {
            fates
                .actions
                .get(id)
                .copied()
                .unwrap_or_else(|| match held.get(id) {
                    Some(&(_, cause)) => (deprovision::action_for(choices, cause), cause),
                    None => (UserAction::Delete, RemovalCause::NotSeen),
                })
        };
        let mut user_disables = Vec::new();
        let mut user_kept = fates.kept();
        let mut delete = Vec::new();
        for id in std::mem::take(&mut users.delete) {
            match fate_of(&id, &held_user_actions) {
                (UserAction::Disable, cause) => user_disables.push((id, cause)),
                (UserAction::Keep, cause) => {
                    if !user_kept.iter().any(|(kept, _)| kept == &id) {
                        user_kept.push((id, cause));
                    }
                }
                (UserAction::Delete, _) => delete.push(id),
            }
        }
        users.delete = delete;
        // A held user now to be kept is no longer held: it is marked.
        let mut still_held = Vec::new();
        for id in std::mem::take(&mut users.held) {
            match fate_of(&id, &held_user_actions) {
                (UserAction::Keep, cause) => user_kept.push((id, cause)),
                fate => {
                    held_user_actions.insert(id.clone(), fate);
                    still_held.push(id);
                }
            }
        }
        users.held = still_held;
        user_kept.sort_by(|a, b| a.0.cmp(&b.0));
        user_kept.dedup_by(|a, b| a.0 == b.0);
        held_user_actions.retain(|id, _| users.held.contains(id));
        Self {
            users,
            groups,
            user_disables,
            user_kept,
            held_user_actions,
            groups_kept: HashSet::new(),
        }
    }

    pub(super) fn held(&self) -> HeldDeletions {
        HeldDeletions {
            users: deprovision::encode_held(&self.users.held, &self.held_user_actions),
            groups: self.groups.held.clone(),
        }
    }

    pub(super) fn hold_reasons(&self) -> Vec<String> {
        [&self.users.hold_reason, &self.groups.hold_reason]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// A preview counts what deletion safety would hold as done (and
    /// still says that it would hold).
    pub(super) fn as_if_approved(&mut self) {
        for id in self.users.held.clone() {
            match self.held_user_actions.get(&id) {
                Some(&(UserAction::Disable, cause)) => self.user_disables.push((id, cause)),
                _ => self.users.delete.push(id),
            }
        }
        let held_groups = self.groups.held.clone();
        self.groups.delete.extend(held_groups);
    }

    /// Deleted with its user or group, so not swept again.
    pub(super) fn covers(&self, membership: &MembershipKey) -> bool {
        self.users.delete.contains(&membership.user_id)
            || self.groups.delete.contains(&membership.group_id)
    }

    /// A membership that stays although the round did not show it: its
    /// group is gone from Entra ID's view but kept or held back here.
    pub(super) fn spares(&self, membership: &MembershipKey) -> bool {
        self.groups_kept.contains(&membership.group_id)
            || self.groups.held.contains(&membership.group_id)
    }

    /// A user whose deprovisioning deletion safety holds back: its
    /// memberships wait with it.
    pub(super) fn holds_user(&self, user_id: &str) -> bool {
        self.users.held.iter().any(|held| held == user_id)
    }

    /// The users deprovisioned now (disabled or kept), with their fate.
    pub(super) fn deprovisioned(&self) -> Vec<(String, UserAction, RemovalCause)> {
        let disabled = self
            .user_disables
            .iter()
            .map(|(id, c)| (id.clone(), UserAction::Disable, *c));
        let kept = self
            .user_kept
            .iter()
            .map(|(id, c)| (id.clone(), UserAction::Keep, *c));
        disabled.chain(kept).collect()
    }
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// Both kinds' deletion plans, from what the round's pages showed and
    /// how the scope moved, with the tenant's deprovisioning choices.
    pub(super) async fn plan_all_deletions(
        &self,
        round: &SeenRound,
        sweeps: Sweeps,
        (user_records, group_records): (&[NumberedRecord], &[NumberedRecord]),
        scope_change: ScopeChange,
        held_before: &HeldDeletions,
    ) -> Result<Deletions, Interruption> {
        let (held_users, held_user_actions) = deprovision::decode_held(&held_before.users);
        let causes = deprovision::removal_causes(user_records, &scope_change.left_users);
        let leavers = deprovision::unconfirmed_leavers(user_records, &scope_change.left_users);
        let users = KindRound {
            kind: ObjectKind::User,
            sweep: sweeps.users && self.config.import_users,
            records: user_records,
            entered: &scope_change.entered_users,
        };
        let mut gathered = self
            .gather(round, &users, scope_change.left_users, &held_users)
            .await?;
        let fates = self
            .user_fates(
                std::mem::take(&mut gathered.candidates),
                (&causes, &leavers),
            )
            .await?;
        gathered.candidates = fates.judged();
        let user_plan = self.decide_plan(&users, gathered).await?;

        let groups = KindRound {
            kind: ObjectKind::Group,
            sweep: sweeps.groups && self.config.import_groups,
            records: group_records,
            entered: &HashSet::new(),
        };
        let mut gathered = self
            .gather(
                round,
                &groups,
                scope_change.left_groups,
                &held_before.groups,
            )
            .await?;
        let mut groups_kept = HashSet::new();
        if self.config.deprovisioning.import_group_delete == GroupAction::Keep {
            // Kept: nothing to delete, nothing to hold.
            groups_kept.extend(gathered.candidates.drain(..));
            groups_kept.extend(gathered.still_held.drain(..));
        }
        let group_plan = self.decide_plan(&groups, gathered).await?;
        let held = (held_user_actions, &self.config.deprovisioning);
        let mut deletions = Deletions::new(user_plan, group_plan, &fates, held);
        deletions.groups_kept = groups_kept;
        Ok(deletions)
    }

    /// What one kind's deletion plan is made from: the imported objects
    /// the round removed or did not show, and what left the scope.
    async fn gather(
        &self,
        round: &SeenRound,
        of: &KindRound<'_>,
        left_scope: Vec<String>,
        held_before: &[String],
    ) -> Result<Gathered, Interruption> {
        let mut gathered = Gathered::default();
        let seen = round.buckets.of(of.seen_kind()).ids;
        for range in KeyRange::covering(seen) {
            self.gather_range(round, of, range, held_before, &mut gathered)
                .await?;
        }
        // What left the scope goes too: a groups round read from the start
        // (a delta run's) applied its pages under the old scope.
        let mut candidates = std::mem::take(&mut gathered.candidates);
        candidates.extend(self.imported_among(of.kind, left_scope).await?);
        candidates.sort();
        candidates.dedup();
        gathered.candidates = candidates;
        Ok(gathered)
    }

    /// Which of the gathered objects this run deletes (or disables), and
    /// which it holds back (docs/behaviour.md 2.2).
    async fn decide_plan(
        &self,
        of: &KindRound<'_>,
        gathered: Gathered,
    ) -> Result<DeletionPlan, Interruption> {
        let Gathered {
            candidates,
            imported,
            still_held,
        } = gathered;
        let total = match of.sweep {
            true => imported,
            false if DeletionPlan::needs_total(candidates.len()) => {
                self.count_imported(of.kind).await?
            }
            false => 0,
        };
        let plan = DeletionPlan::decide(
            of.kind,
            candidates,
            total,
            still_held,
            self.config.approve_held_deletions,
            self.config.deletion_threshold_percent,
        );
        if let Some(reason) = &plan.hold_reason {
            tracing::warn!(reason = %reason, "deletion safety engaged");
        }
        Ok(plan)
    }

    /// One key range's share of a deletion plan. A sweep: every imported
    /// object the round did not show. Otherwise (a delta round, or a first
    /// import, whose every object it saw unless a later page removed it):
    /// what its pages removed. Held deletions stay held unless seen again.
    async fn gather_range(
        &self,
        round: &SeenRound,
        of: &KindRound<'_>,
        range: KeyRange,
        held_before: &[String],
        gathered: &mut Gathered,
    ) -> Result<(), Interruption> {
        let removed_here = of
            .records
            .iter()
            .flat_map(|(_, r)| &r.removed)
            .any(|id| range.contains(id));
        let held: Vec<&String> = held_before.iter().filter(|id| range.contains(id)).collect();
        if !of.sweep && !removed_here && held.is_empty() {
            return Ok(());
        }
        let states = self.range_states(round, of, range).await?;
        if of.sweep {
            let imported = self
                .directory
                .imported_ids_in(self.tenant(), of.kind, range)
                .await?;
            gathered.imported += imported.len();
            let unseen = imported.into_iter().filter(|id| !states.is_present(id));
            gathered.candidates.extend(unseen);
        } else {
            let gone = self.imported_among(of.kind, states.removed()).await?;
            gathered.candidates.extend(gone);
        }
        let still_held = held.into_iter().filter(|id| !states.is_present(id));
        gathered.still_held.extend(still_held.cloned());
        Ok(())
    }

    /// What the round's pages said of one key range of a kind.
    async fn range_states(
        &self,
        round: &SeenRound,
        of: &KindRound<'_>,
        range: KeyRange,
    ) -> Result<RangeStates, Interruption> {
        let mut states = RangeStates::default();
        for (page, record) in of.records {
            for id in record.removed.iter().filter(|id| range.contains(id)) {
                states.note(*page, id, false);
            }
        }
        for bucket in range.buckets() {
            for (page, ids) in self.seen_ids(round, of.seen_kind(), bucket).await? {
                for id in &ids {
                    states.note(page, id, true);
                }
            }
        }
        // Entered the scope after the users round: present whatever it said.
        for id in of.entered.iter().filter(|id| range.contains(id)) {
            states.note(u32::MAX, id, true);
        }
        Ok(states)
    }

    /// The ids of one kind and bucket the round saw (none read when its
    /// pages wrote none there).
    pub(super) async fn seen_ids(
        &self,
        round: &SeenRound,
        kind: SeenKind,
        bucket: Bucket,
    ) -> Result<Vec<(u32, Vec<String>)>, Interruption> {
        if !round.buckets.of(kind).buckets.contains(bucket) {
            return Ok(Vec::new());
        }
        Ok(self
            .state
            .seen_in(self.tenant(), &round.round_id, kind, bucket)
            .await?)
    }

    /// How many imported objects of a kind there are, a bucket at a time
    /// (a delta round does not know how many to expect).
    async fn count_imported(&self, kind: ObjectKind) -> Result<usize, Interruption> {
        let mut total = 0;
        for range in KeyRange::covering(u64::MAX) {
            total += self
                .directory
                .imported_ids_in(self.tenant(), kind, range)
                .await?
                .len();
        }
        Ok(total)
    }

    /// The ids among `entra_ids` that are imported objects in AM.
    async fn imported_among(
        &self,
        kind: ObjectKind,
        mut entra_ids: Vec<String>,
    ) -> Result<Vec<String>, Interruption> {
        entra_ids.sort();
        entra_ids.dedup();
        if entra_ids.is_empty() {
            return Ok(entra_ids);
        }
        let tenant = self.tenant();
        let imported: HashSet<String> = match kind {
            ObjectKind::User => self
                .directory
                .users_by_entra_id(tenant, &entra_ids)
                .await?
                .into_iter()
                .filter(|(_, u)| u.source == Source::Entra)
                .map(|(id, _)| id)
                .collect(),
            ObjectKind::Group => self
                .directory
                .groups_by_entra_id(tenant, &entra_ids)
                .await?
                .into_iter()
                .filter(|(_, g)| g.source == Source::Entra)
                .map(|(id, _)| id)
                .collect(),
        };
        entra_ids.retain(|id| imported.contains(id));
        Ok(entra_ids)
    }
}
