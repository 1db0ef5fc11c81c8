//! The end of a run: scope changes, the sweep of a full round, deletion
//! safety, and the new state. Reached only when both rounds were read to
//! their delta links: a failed or partial read never deletes anything.

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use super::arrivals::ScopeChange;
use super::buckets::{Bucket, KeyRange, SeenBuckets, SeenKind};
use super::deletion::DeletionPlan;
use super::records::DirectoryWrite;
use super::state::{
    Checkpoint, Counts, Mode, NumberedRecord, Phase, RunResult, RunStatus, SyncState,
};
use super::{
    DirectoryStore, EntraDirectory, HeldDeletions, ImportRun, ImportState, Interruption,
    ObjectKind, Purpose,
};
use crate::model::directory::{MembershipKey, Source};
use crate::ports::TenantConfigs;

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
struct SeenRound {
    round_id: String,
    buckets: SeenBuckets,
}

impl SeenRound {
    fn of(checkpoint: &Checkpoint) -> Self {
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
struct Sweeps {
    users: bool,
    groups: bool,
}

impl Sweeps {
    fn of(checkpoint: &Checkpoint, state: &SyncState) -> Self {
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

/// The run's deletion plans, per object kind.
struct Deletions {
    users: DeletionPlan,
    groups: DeletionPlan,
}

impl Deletions {
    fn held(&self) -> HeldDeletions {
        HeldDeletions {
            users: self.users.held.clone(),
            groups: self.groups.held.clone(),
        }
    }

    fn hold_reasons(&self) -> Vec<String> {
        [&self.users.hold_reason, &self.groups.hold_reason]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// A preview counts what deletion safety would hold as deleted (and
    /// still says that it would hold).
    fn as_if_approved(&mut self) {
        for plan in [&mut self.users, &mut self.groups] {
            plan.delete.extend(plan.held.iter().cloned());
        }
    }

    /// Deleted with its user or group, so not swept again.
    fn covers(&self, membership: &MembershipKey) -> bool {
        self.users.delete.contains(&membership.user_id)
            || self.groups.delete.contains(&membership.group_id)
    }
}

/// `last_sync_result` and `last_sync_error` from what stays held back.
fn held_outcome(held: &HeldDeletions, reasons: &[String]) -> (RunResult, Option<String>) {
    if held.is_empty() {
        return (RunResult::Ok, None);
    }
    let error = if reasons.is_empty() {
        format!(
            "{} user and {} group deletions are held back; set approve_held_deletions to apply them",
            held.users.len(),
            held.groups.len()
        )
    } else {
        format!(
            "{}; set approve_held_deletions to apply them",
            reasons.join("; ")
        )
    };
    (RunResult::Held, Some(error))
}

fn log_completed(status: &RunStatus) {
    let c = &status.counts;
    tracing::info!(
        mode = status.mode.as_str(),
        result = status.result.as_str(),
        users_created = c.users_created,
        users_updated = c.users_updated,
        users_deleted = c.users_deleted,
        groups_created = c.groups_created,
        groups_updated = c.groups_updated,
        groups_deleted = c.groups_deleted,
        members_added = c.members_added,
        members_removed = c.members_removed,
        "sync run completed"
    );
}

impl<D: DirectoryStore, S: ImportState, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, C, E>
{
    pub(super) async fn finish(
        &self,
        state: &mut SyncState,
        mut checkpoint: Checkpoint,
        fingerprint: String,
    ) -> Result<RunStatus, Interruption> {
        let (user_records, group_records) = self.round_records(&checkpoint).await?;
        let scope_change = self
            .users_arriving(&mut checkpoint, &user_records, &group_records)
            .await?;
        let deferred_added = self
            .apply_deferred_memberships(&group_records, &mut checkpoint.counts)
            .await?;
        let held_before = match state.holding_deletions {
            true => self.state.held_deletions(self.tenant()).await?,
            false => HeldDeletions::default(),
        };
        let round = SeenRound::of(&checkpoint);
        let sweeps = Sweeps::of(&checkpoint, state);
        let mut plans = self
            .plan_all_deletions(
                &round,
                sweeps,
                (&user_records, &group_records),
                scope_change.clone(),
                &held_before,
            )
            .await?;
        if self.purpose == Purpose::Preview {
            plans.as_if_approved();
        }
        self.apply_deletions(
            &plans,
            &round,
            sweeps.groups,
            &deferred_added,
            &mut checkpoint.counts,
        )
        .await?;
        // A preview's full round shows every object a recheck would read.
        let imported_late = self.purpose == Purpose::Sync
            && self
                .recheck_problems(checkpoint.started_at, &mut checkpoint.counts)
                .await?;
        let held = self.keep_held(plans.held(), &held_before).await?;
        if let Some(scope) = &scope_change.new_scope {
            self.state.save_group_scope(self.tenant(), scope).await?;
        }
        self.next_state(
            state,
            &checkpoint,
            fingerprint,
            // An object imported late missed its memberships: a delta
            // round does not send them again, a full groups round does.
            scope_change.groups_entered || imported_late,
            &held,
        );
        self.complete(state, &checkpoint, &plans, &held).await
    }

    /// Deletes what the plans say, with the memberships that go with it;
    /// a sweeping groups round also removes the memberships it did not see.
    async fn apply_deletions(
        &self,
        plans: &Deletions,
        round: &SeenRound,
        sweeps_groups: bool,
        deferred_added: &HashSet<String>,
        counts: &mut Counts,
    ) -> Result<(), Interruption> {
        let sweeps_memberships = sweeps_groups && self.config.import_groups;
        // The membership sweep reads what the round wrote; otherwise the
        // deletion looks it up.
        let written = (!sweeps_memberships).then_some(deferred_added);
        let removed = self.delete(plans, round, written, counts).await?;
        if sweeps_memberships {
            self.sweep_memberships(round, deferred_added, (plans, &removed), counts)
                .await?;
        }
        Ok(())
    }

    /// Both kinds' deletion plans, from what the round's pages showed and
    /// how the scope moved.
    async fn plan_all_deletions(
        &self,
        round: &SeenRound,
        sweeps: Sweeps,
        (user_records, group_records): (&[NumberedRecord], &[NumberedRecord]),
        scope_change: ScopeChange,
        held_before: &HeldDeletions,
    ) -> Result<Deletions, Interruption> {
        let users = KindRound {
            kind: ObjectKind::User,
            sweep: sweeps.users && self.config.import_users,
            records: user_records,
            entered: &scope_change.entered_users,
        };
        let groups = KindRound {
            kind: ObjectKind::Group,
            sweep: sweeps.groups && self.config.import_groups,
            records: group_records,
            entered: &HashSet::new(),
        };
        Ok(Deletions {
            users: self
                .plan_deletions(round, &users, scope_change.left_users, &held_before.users)
                .await?,
            groups: self
                .plan_deletions(
                    round,
                    &groups,
                    scope_change.left_groups,
                    &held_before.groups,
                )
                .await?,
        })
    }

    /// Saves what stays held back, when it changed.
    async fn keep_held(
        &self,
        held: HeldDeletions,
        before: &HeldDeletions,
    ) -> Result<HeldDeletions, Interruption> {
        if &held != before {
            self.state.save_held_deletions(self.tenant(), &held).await?;
        }
        Ok(held)
    }

    /// Writes the new state and the status, releasing the lease, and clears
    /// the requests the run answered.
    async fn complete(
        &self,
        state: &SyncState,
        checkpoint: &Checkpoint,
        plans: &Deletions,
        held: &HeldDeletions,
    ) -> Result<RunStatus, Interruption> {
        let (result, error) = held_outcome(held, &plans.hold_reasons());
        let status = RunStatus {
            completed_at: Some(Utc::now()),
            result,
            error,
            mode: checkpoint.mode,
            counts: checkpoint.counts,
            open_problems: Some(self.state.count(self.tenant()).await?),
        };
        let requested_at = self
            .state
            .finish_run(self.tenant(), &self.run_id, state, &status)
            .await?;
        if requested_at.is_some_and(|at| at >= checkpoint.started_at) {
            // Reported while the round was read: it may have been read
            // before the change, so one more run reads it.
            tracing::info!("changes were reported during the run; another run follows");
            self.another_run_wanted
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let approved = plans.users.approved || plans.groups.approved;
        if self.purpose == Purpose::Sync {
            self.clear_requests(checkpoint.mode, approved, held.is_empty())
                .await?;
        }
        log_completed(&status);
        Ok(status)
    }

    /// The page records of the round (none written: nothing to read).
    async fn round_records(
        &self,
        checkpoint: &Checkpoint,
    ) -> Result<(Vec<NumberedRecord>, Vec<NumberedRecord>), Interruption> {
        if checkpoint.recorded_pages == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        let round = &checkpoint.round_id;
        Ok((
            self.state
                .page_records(self.tenant(), round, Phase::Users)
                .await?,
            self.state
                .page_records(self.tenant(), round, Phase::Groups)
                .await?,
        ))
    }

    /// The round's membership changes of users the directory did not hold
    /// when their page was applied, for those it holds now (users who
    /// entered the scope). Returns the memberships present afterwards.
    async fn apply_deferred_memberships(
        &self,
        group_records: &[NumberedRecord],
        counts: &mut Counts,
    ) -> Result<HashSet<String>, Interruption> {
        let mut last: HashMap<(&str, &str), bool> = HashMap::new();
        let deferred_memberships = group_records
            .iter()
            .flat_map(|(_, r)| &r.deferred_memberships);
        for deferred in deferred_memberships {
            last.insert(
                (deferred.group_id.as_str(), deferred.user_entra_id.as_str()),
                deferred.present,
            );
        }
        if last.is_empty() {
            return Ok(HashSet::new());
        }
        let mut entra_ids: Vec<String> = last.keys().map(|(_, u)| (*u).to_owned()).collect();
        entra_ids.sort();
        entra_ids.dedup();
        let users = self
            .directory
            .user_ids_by_entra_id(self.tenant(), &entra_ids)
            .await?;
        let wanted: HashMap<MembershipKey, bool> = last
            .into_iter()
            .filter_map(|((group_id, user_entra_id), present)| {
                let key = MembershipKey {
                    group_id: group_id.to_owned(),
                    user_id: users.get(user_entra_id)?.clone(),
                };
                Some((key, present))
            })
            .collect();
        let present = wanted
            .iter()
            .filter(|(_, present)| **present)
            .map(|(key, _)| key.encode())
            .collect();
        self.apply_memberships(wanted, counts).await?;
        Ok(present)
    }

    /// Which imported objects of one kind this run deletes, and which it
    /// holds back (docs/behaviour.md 2.2).
    async fn plan_deletions(
        &self,
        round: &SeenRound,
        of: &KindRound<'_>,
        left_scope: Vec<String>,
        held_before: &[String],
    ) -> Result<DeletionPlan, Interruption> {
        let mut gathered = Gathered::default();
        let seen = round.buckets.of(of.seen_kind()).ids;
        for range in KeyRange::covering(seen) {
            self.gather_range(round, of, range, held_before, &mut gathered)
                .await?;
        }
        let Gathered {
            mut candidates,
            imported,
            still_held,
        } = gathered;
        // What left the scope goes too: a groups round read from the start
        // (a delta run's) applied its pages under the old scope.
        candidates.extend(self.imported_among(of.kind, left_scope).await?);
        candidates.sort();
        candidates.dedup();
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
    async fn seen_ids(
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

    /// Deletes imported users and groups (their Entra ids are their AM ids)
    /// with every membership they have: those the by-member index and the
    /// group prefixes show, and (given `written`, the deferred ones added)
    /// those this run wrote. Returns the memberships removed.
    async fn delete(
        &self,
        plans: &Deletions,
        round: &SeenRound,
        written: Option<&HashSet<String>>,
        counts: &mut Counts,
    ) -> Result<HashSet<MembershipKey>, Interruption> {
        let users: HashSet<String> = plans.users.delete.iter().cloned().collect();
        let groups: HashSet<String> = plans.groups.delete.iter().cloned().collect();
        if users.is_empty() && groups.is_empty() {
            return Ok(HashSet::new());
        }
        let mut memberships: HashSet<MembershipKey> = self
            .directory
            .memberships_involving(self.tenant(), &users, &groups)
            .await?
            .into_iter()
            .collect();
        if let Some(deferred_added) = written {
            let missed = self
                .written_memberships_of(round, deferred_added, plans, &memberships)
                .await?;
            memberships.extend(missed);
        }
        counts.members_removed += memberships.len() as u64;
        counts.users_deleted += users.len() as u64;
        counts.groups_deleted += groups.len() as u64;
        // The memberships first, in writes of their own: a batch written
        // in part may have deleted the user or group and left its
        // memberships, which the run that retries would no longer find.
        let removals = memberships.iter().cloned();
        self.write(removals.map(DirectoryWrite::RemoveMembership).collect())
            .await?;
        let writes = users
            .into_iter()
            .map(|user_id| DirectoryWrite::DeleteUser { user_id })
            .chain(
                groups
                    .into_iter()
                    .map(|group_id| DirectoryWrite::DeleteGroup { group_id }),
            )
            .collect();
        self.write(writes).await?;
        Ok(memberships)
    }

    /// Memberships of the deleted objects that this run wrote and the
    /// index did not show yet (and that still exist), a bucket at a time.
    async fn written_memberships_of(
        &self,
        round: &SeenRound,
        deferred_added: &HashSet<String>,
        deleted: &Deletions,
        found: &HashSet<MembershipKey>,
    ) -> Result<HashSet<MembershipKey>, Interruption> {
        let missed = |raw: &String| {
            MembershipKey::decode(raw).filter(|m| deleted.covers(m) && !found.contains(m))
        };
        let mut candidates: HashSet<MembershipKey> =
            deferred_added.iter().filter_map(missed).collect();
        for bucket in Bucket::all() {
            for (_, ids) in self.seen_ids(round, SeenKind::Members, bucket).await? {
                candidates.extend(ids.iter().filter_map(missed));
            }
        }
        if candidates.is_empty() {
            return Ok(HashSet::new());
        }
        let candidates: Vec<MembershipKey> = candidates.into_iter().collect();
        Ok(self
            .directory
            .existing_memberships(self.tenant(), &candidates)
            .await?)
    }

    /// After a full groups round, a key range at a time: the imported
    /// memberships it did not show, and those of deleted objects that the
    /// deletion did not find (written by this round).
    async fn sweep_memberships(
        &self,
        round: &SeenRound,
        deferred_added: &HashSet<String>,
        (deleted, removed): (&Deletions, &HashSet<MembershipKey>),
        counts: &mut Counts,
    ) -> Result<(), Interruption> {
        for range in KeyRange::covering(round.buckets.members.ids) {
            let in_range = |raw: &&String| {
                MembershipKey::decode(raw).is_some_and(|m| range.contains_membership(&m))
            };
            let mut seen: HashSet<String> =
                deferred_added.iter().filter(in_range).cloned().collect();
            for bucket in range.buckets() {
                for (_, ids) in self.seen_ids(round, SeenKind::Members, bucket).await? {
                    seen.extend(ids);
                }
            }
            let stale: Vec<DirectoryWrite> = self
                .directory
                .imported_memberships_in(self.tenant(), range)
                .await?
                .into_iter()
                .filter(|m| !seen.contains(&m.encode()) || deleted.covers(m))
                .filter(|m| !removed.contains(m))
                .map(DirectoryWrite::RemoveMembership)
                .collect();
            counts.members_removed += stale.len() as u64;
            self.write(stale).await?;
        }
        Ok(())
    }

    /// The state the next run starts from: this round's delta links (none
    /// for a kind not imported, nor for groups whose members must be read
    /// again: the scope grew, or an object was imported late).
    fn next_state(
        &self,
        state: &mut SyncState,
        checkpoint: &Checkpoint,
        fingerprint: String,
        groups_entered: bool,
        held: &HeldDeletions,
    ) {
        state.users_delta_link = self
            .config
            .import_users
            .then(|| checkpoint.users_delta_link.clone())
            .flatten();
        state.groups_delta_link = (self.config.import_groups && !groups_entered)
            .then(|| checkpoint.groups_delta_link.clone())
            .flatten();
        state.scope_fingerprint = Some(fingerprint);
        state.checkpoint = None;
        state.holding_deletions = !held.is_empty();
    }

    /// The admin's requests this run answered: a resync (full runs), an
    /// approval of held deletions.
    async fn clear_requests(
        &self,
        mode: Mode,
        approved: bool,
        holds_nothing: bool,
    ) -> Result<(), Interruption> {
        if mode == Mode::Full
            && let Some(requested) = &self.config.resync_requested_raw
        {
            self.configs
                .clear_resync_request(self.tenant(), requested)
                .await?;
        }
        if self.config.approve_held_deletions && (approved || holds_nothing) {
            self.configs.clear_deletion_approval(self.tenant()).await?;
        }
        Ok(())
    }
}
