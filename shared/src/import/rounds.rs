//! The rounds a run reads: which round it resumes or starts, then the
//! page loop, users then groups, each page applied while the next is
//! fetched and a checkpoint saved after it. A round whose delta state is
//! gone, or whose page link stops working, restarts once.

use chrono::{DateTime, Utc};

use super::buckets::SeenBuckets;
use super::state::{Checkpoint, Counts, Mode, Phase, RunStatus, SyncState};
use super::{
    DirectoryStore, EntraDirectory, ImportError, ImportRun, ImportState, Interruption, Purpose,
    RunOutcome, pages,
};
use crate::model::entra::GraphError;
use crate::model::entra::{Continuation, DeltaPage};
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// The interrupted round to resume (when its scope still holds), or a
    /// new one.
    pub(super) fn resume_or_start(
        &self,
        state: &mut SyncState,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Checkpoint {
        match state.checkpoint.take() {
            Some(mut checkpoint)
                if checkpoint.scope_fingerprint == fingerprint && checkpoint.seen.is_some() =>
            {
                if state.previous_run_died {
                    // It may have written a page without its checkpoint; the
                    // page read again can miss an object deleted meanwhile,
                    // which only a sweep finds.
                    checkpoint.earlier_imports = true;
                }
                tracing::info!(
                    round_id = %checkpoint.round_id,
                    mode = checkpoint.mode.as_str(),
                    phase = checkpoint.phase.as_str(),
                    page = checkpoint.page,
                    "resuming an interrupted round"
                );
                // The paused run goes on; a failed one's round is this run's.
                if !state.round_paused || checkpoint.run.is_none() {
                    checkpoint.run = Some(self.new_run(checkpoint.mode, now));
                }
                checkpoint
            }
            Some(other_scope) if other_scope.scope_fingerprint != fingerprint => {
                // That round may have written the directory under its scope
                // (its pages, its sweep) without storing that scope: the
                // delta links no longer describe what the directory holds.
                tracing::info!(round_id = %other_scope.round_id, "the scope changed since the interrupted round; starting a full round");
                self.new_round(Mode::Full, fingerprint, now, true)
            }
            _ => {
                let mode = self.initial_mode(state, fingerprint);
                self.new_round(mode, fingerprint, now, state.ran_before)
            }
        }
    }

    fn initial_mode(&self, state: &SyncState, fingerprint: &str) -> Mode {
        let users_link_missing = self.config.import_users && state.users_delta_link.is_none();
        let groups_link_missing = self.config.import_groups && state.groups_delta_link.is_none();
        // Groups whose members must be read again (the scope grew, an
        // object was imported late) lost only their link: a delta run
        // reads them from the start, the users from their link.
        let groups_read_again = groups_link_missing
            && state.users_delta_link.is_some()
            && state.scope_fingerprint.as_deref() == Some(fingerprint);
        if users_link_missing
            || (groups_link_missing && !groups_read_again)
            || self.purpose == Purpose::Preview
            || self.config.resync_requested_at.is_some()
            || state.scope_fingerprint.as_deref() != Some(fingerprint)
        {
            Mode::Full
        } else {
            Mode::Delta
        }
    }

    /// A round from its first page; `earlier_imports` unless no run of the
    /// tenant (this one included) can have written to the directory yet.
    fn new_round(
        &self,
        mode: Mode,
        fingerprint: &str,
        now: DateTime<Utc>,
        earlier_imports: bool,
    ) -> Checkpoint {
        Checkpoint {
            scope_fingerprint: fingerprint.to_owned(),
            round_id: format!(
                "{}-{}",
                now.format("%Y%m%dT%H%M%S"),
                &self.run_id[..8.min(self.run_id.len())]
            ),
            mode,
            phase: Phase::Users,
            next_link: None,
            page: 0,
            recorded_pages: 0,
            users_delta_link: None,
            groups_delta_link: None,
            scope_changed: false,
            scope_applying: false,
            earlier_imports,
            seen: Some(SeenBuckets::default()),
            counts: Counts::default(),
            started_at: now,
            users_read: 0,
            groups_read: 0,
            run: Some(self.new_run(mode, now)),
        }
    }

    /// The round that replaces one this run began: its own id (the
    /// replaced round's may be this second's and this run's too), so that
    /// its records never mix with those the stored checkpoint still names.
    /// The run stays the replaced round's.
    fn restarted_round(&self, replaced: &Checkpoint, mode: Mode, fingerprint: &str) -> Checkpoint {
        let mut round = self.new_round(mode, fingerprint, Utc::now(), true);
        round.round_id.push_str("-restart");
        round.run = replaced.run.clone().or(round.run);
        round
    }

    /// Reads both rounds, restarting once when Graph's delta state is gone
    /// or a page link stops working. `Some` when the run ends here.
    pub(super) async fn read_rounds_restarting_once(
        &self,
        checkpoint: &mut Checkpoint,
        state: &mut SyncState,
        fingerprint: &str,
    ) -> Result<Option<RunOutcome>, ImportError> {
        let mut restarted = false;
        loop {
            let interruption = match self.read_users_then_groups(checkpoint, state).await {
                Ok(()) => return Ok(None),
                Err(interruption) => interruption,
            };
            match interruption {
                Interruption::Graph(GraphError::SyncStateGone(reason)) if !restarted => {
                    tracing::warn!(reason = %reason, "delta state gone; starting a full round");
                    state.users_delta_link = None;
                    state.groups_delta_link = None;
                    *checkpoint = self.restarted_round(checkpoint, Mode::Full, fingerprint);
                }
                Interruption::Graph(refusal)
                    if refusal.code().is_some() && !restarted && checkpoint.next_link.is_some() =>
                {
                    // A page link that stopped working: restart the round.
                    tracing::warn!(reason = %refusal, "a page link was refused; restarting the round");
                    *checkpoint = self.restarted_round(checkpoint, checkpoint.mode, fingerprint);
                }
                other => {
                    if matches!(other, Interruption::Graph(_) | Interruption::Store(_)) {
                        self.forget_unrecorded_page(checkpoint).await?;
                    }
                    let failed_as = RunStatus::failed(String::new(), checkpoint);
                    let context = match checkpoint.phase {
                        Phase::Users => "reading Entra ID's users failed",
                        Phase::Groups => "reading Entra ID's groups failed",
                        Phase::Finishing => "reading Entra ID failed",
                    };
                    return self.stopped(other, failed_as, context).await.map(Some);
                }
            }
            restarted = true;
        }
    }

    /// Reads both rounds, users then groups, and leaves the checkpoint at
    /// the finishing phase with both delta links.
    async fn read_users_then_groups(
        &self,
        checkpoint: &mut Checkpoint,
        state: &SyncState,
    ) -> Result<(), Interruption> {
        let group_scope = if self.config.import_group_ids.is_empty() {
            None
        } else {
            Some(self.current_group_scope(checkpoint).await?)
        };
        if checkpoint.phase == Phase::Users {
            if self.config.import_users {
                let scope = self.scope(group_scope.as_ref());
                let start = self.round_start(checkpoint, &state.users_delta_link);
                let mut domains = pages::DomainCache::default();
                let delta_link = self
                    .read_round_pages(
                        checkpoint,
                        start,
                        async |link| self.entra.users_delta(link).await,
                        async |page, checkpoint| {
                            self.apply_users_page(page, &scope, &mut domains, checkpoint)
                                .await
                        },
                    )
                    .await?;
                checkpoint.users_delta_link = Some(delta_link);
            }
            self.end_phase(checkpoint, Phase::Groups).await?;
            if self.near_deadline() {
                return Err(Interruption::Deadline);
            }
        }
        if checkpoint.phase == Phase::Groups {
            if self.config.import_groups {
                let start = self.round_start(checkpoint, &state.groups_delta_link);
                // Read from the start, the round shows no group deleted since
                // the lost link: the scope is computed again at the end.
                checkpoint.scope_changed |=
                    start.is_none() && checkpoint.mode == Mode::Delta && group_scope.is_some();
                let delta_link = self
                    .read_round_pages(
                        checkpoint,
                        start,
                        async |link| self.entra.groups_delta(link).await,
                        async |page, checkpoint| {
                            self.apply_groups_page(page, group_scope.as_ref(), checkpoint)
                                .await
                        },
                    )
                    .await?;
                checkpoint.groups_delta_link = Some(delta_link);
            }
            self.end_phase(checkpoint, Phase::Finishing).await?;
        }
        Ok(())
    }

    /// Where a phase's round starts: the checkpoint's next page, else the
    /// stored delta link (delta mode), else the initial request.
    fn round_start(&self, checkpoint: &Checkpoint, delta_link: &Option<String>) -> Option<String> {
        checkpoint.next_link.clone().or_else(|| {
            (checkpoint.mode == Mode::Delta)
                .then(|| delta_link.clone())
                .flatten()
        })
    }

    /// One round, page by page: each page is applied while the next is
    /// fetched, and a checkpoint saved after it. Returns the delta link.
    async fn read_round_pages<T>(
        &self,
        checkpoint: &mut Checkpoint,
        start: Option<String>,
        fetch: impl AsyncFn(Option<&str>) -> Result<DeltaPage<T>, GraphError>,
        mut apply: impl AsyncFnMut(&DeltaPage<T>, &mut Checkpoint) -> Result<(), Interruption>,
    ) -> Result<String, Interruption> {
        let mut page = fetch(start.as_deref()).await?;
        loop {
            let next_link = match &page.continuation {
                Continuation::Next(link) => Some(link.clone()),
                Continuation::Done { .. } => None,
            };
            let prefetch = async {
                match &next_link {
                    Some(link) => Some(fetch(Some(link)).await),
                    None => None,
                }
            };
            let (applied, next_page) = tokio::join!(apply(&page, checkpoint), prefetch);
            applied?;
            checkpoint.page += 1;
            checkpoint.count_read(page.items.len());
            match (next_link, next_page, page.continuation) {
                (Some(link), Some(next_page), _) => {
                    checkpoint.next_link = Some(link);
                    self.save_checkpoint(checkpoint).await?;
                    page = next_page?;
                    if self.near_deadline() {
                        return Err(Interruption::Deadline);
                    }
                }
                (_, _, Continuation::Done { delta_link }) => return Ok(delta_link),
                (_, _, Continuation::Next(_)) => unreachable!("a next link is always followed"),
            }
        }
    }

    /// Moves the checkpoint to the next phase; saved only when the phase did
    /// something worth keeping (an idle poll writes no checkpoint).
    async fn end_phase(
        &self,
        checkpoint: &mut Checkpoint,
        next: Phase,
    ) -> Result<(), Interruption> {
        let progressed = checkpoint.page > 1 || checkpoint.recorded_pages > 0;
        checkpoint.phase = next;
        checkpoint.next_link = None;
        checkpoint.page = 0;
        if progressed {
            self.save_checkpoint(checkpoint).await?;
        }
        Ok(())
    }
}
