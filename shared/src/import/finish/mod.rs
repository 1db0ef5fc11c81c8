//! The end of a run: scope changes, the sweep of a full round, deletion
//! safety, and the new state. Reached only when both rounds were read to
//! their delta links: a failed or partial read never deletes anything.
//!
//! `deletions` plans what goes, `removal` deletes it and sweeps the
//! memberships, `deferred` applies the memberships held back for users the
//! directory did not hold yet; this file runs them in order and completes
//! the run.

mod deferred;
mod deletions;
pub(crate) mod deprovision;
mod removal;

use chrono::Utc;

use super::state::{Checkpoint, Mode, NumberedRecord, Phase, RunResult, RunStatus, SyncState};
use super::{
    DirectoryStore, EntraDirectory, HeldDeletions, ImportRun, ImportState, Interruption, Purpose,
};
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;
use deletions::{Deletions, SeenRound, Sweeps};

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

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
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
        let (plans, held_before) = self
            .settle_deletions(
                state,
                &mut checkpoint,
                (&user_records, &group_records),
                scope_change.clone(),
                &deferred_added,
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

    /// What the round deletes and deprovisions, decided under deletion
    /// safety (a preview's as if approved) and applied, with the managers
    /// of deleted users unlinked; and what was held back before.
    async fn settle_deletions(
        &self,
        state: &SyncState,
        checkpoint: &mut Checkpoint,
        (user_records, group_records): (&[NumberedRecord], &[NumberedRecord]),
        scope_change: crate::import::arrivals::ScopeChange,
        deferred_added: &std::collections::HashSet<String>,
    ) -> Result<(Deletions, HeldDeletions), Interruption> {
        let held_before = match state.holding_deletions {
            true => self.state.held_deletions(self.tenant()).await?,
            false => HeldDeletions::default(),
        };
        let round = SeenRound::of(checkpoint);
        let sweeps = Sweeps::of(checkpoint, state);
        let mut plans = self
            .plan_all_deletions(
                &round,
                sweeps,
                (user_records, group_records),
                scope_change,
                &held_before,
            )
            .await?;
        if self.purpose == Purpose::Preview {
            plans.as_if_approved();
        }
        let counts = &mut checkpoint.counts;
        self.apply_deletions(&plans, &round, sweeps.groups, deferred_added, counts)
            .await?;
        self.relink_waiting_managers(user_records, &plans.users.delete, counts)
            .await?;
        Ok((plans, held_before))
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
            open_problems: Some(self.problems.count(self.tenant()).await?),
        };
        self.so_far.ended(&status);
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
