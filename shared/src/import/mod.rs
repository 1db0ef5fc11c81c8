//! The import engine (docs/behaviour.md 2.2): one run of a tenant's Graph delta
//! sync into the AM directory. Free of AWS types: it works through the
//! ports of `ports.rs`, so the same engine runs under unit tests with
//! in-memory stores, against moto, and in Lambda.

mod arrivals;
pub mod buckets;
mod deletion;
mod finish;
mod names;
mod pages;
pub mod ports;
pub mod preview;
mod problems;
pub mod records;
pub mod scope;
pub mod state;
mod tenant;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::Instrument;

use buckets::SeenBuckets;
pub use ports::{
    AfterRun, Continuations, DirectoryStore, EntraDirectory, HeldDeletions, ImportMemory,
    ImportState, LeaseError, NothingAfter, ObjectKind, RoundLedger, RunLease,
};
use state::{Checkpoint, Counts, Mode, Phase, RunStatus, SyncState};
pub use tenant::{TenantImport, TenantReaders};

use crate::model::TenantConfig;
use crate::model::entra::{Continuation, DeltaPage};
use crate::model::entra::{GraphError, TokenError};
use crate::ports::{StoreError, TenantConfigs};

/// A killed run blocks its tenant for at most this long (renewed with every
/// checkpoint; shorter than the 3-minute schedule).
pub const LEASE_DURATION: Duration = Duration::from_secs(90);
/// A run stops starting pages a tenth of its time budget before the
/// Lambda deadline (room to finish a page, checkpoint and queue its
/// continuation), within these bounds.
pub const MIN_DEADLINE_MARGIN: Duration = Duration::from_millis(500);
pub const MAX_DEADLINE_MARGIN: Duration = Duration::from_secs(20);

/// A full round's finish starts with at least this many margins left.
pub const FINISH_RESERVE_MARGINS: u32 = 5;

/// How long before the deadline a run with this time budget stops.
pub fn deadline_margin(budget: Duration) -> Duration {
    (budget / 10).clamp(MIN_DEADLINE_MARGIN, MAX_DEADLINE_MARGIN)
}

/// For a 403: the Graph permission the failed read needs, in words an
/// admin can act on (`last_sync_error`).
fn permission_hint(err: &GraphError, context: &str) -> String {
    if !matches!(err, GraphError::Forbidden { .. }) {
        return String::new();
    }
    let permission = if context.contains("users") {
        "User.Read.All"
    } else if context.contains("groups") {
        "Group.Read.All"
    } else {
        "User.Read.All and Group.Read.All"
    };
    format!(
        "; the integration lacks the Microsoft Graph permission {permission}: grant it (with admin consent) on the app registration, then authorise the integration again"
    )
}

/// When a run must stop: the invocation's deadline, and the margin from the
/// invocation's whole budget (a job that starts late in a batch keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunDeadline {
    pub at: Instant,
    pub margin: Duration,
}

impl RunDeadline {
    /// For an invocation that starts now and ends at `at`.
    pub fn for_invocation(at: Instant) -> Self {
        Self {
            at,
            margin: deadline_margin(at.saturating_duration_since(Instant::now())),
        }
    }
}

/// How one run ended, for the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The tenant is not to be synced now (why).
    Skipped(&'static str),
    /// Another run holds the tenant.
    LeaseHeld,
    Completed(RunStatus),
    /// Stopped before the deadline with its checkpoint saved; the next run resumes.
    Paused,
    /// Failed and recorded in the status item; the next scheduled run retries.
    Failed(RunStatus),
    /// The grant is dead; the config now says so.
    ReauthorisationRequired,
}

/// Failures the handler must report (the message is retried).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("a store failed: {0}")]
    Store(#[from] StoreError),
}

/// Why the page loop stopped early.
#[derive(Debug, thiserror::Error)]
enum Interruption {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the lease was lost to another run")]
    LeaseLost,
    #[error("the deadline is near")]
    Deadline,
}

impl From<LeaseError> for Interruption {
    fn from(err: LeaseError) -> Self {
        match err {
            LeaseError::Lost => Self::LeaseLost,
            LeaseError::Store(e) => Self::Store(e),
        }
    }
}

/// What a run is for: a sync writes the directory; a preview (docs/behaviour.md
/// 2.9) runs the same full round against stand-ins that write nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Sync,
    Preview,
}

pub struct ImportRun<'a, D, S, C, E> {
    pub directory: &'a D,
    pub state: &'a S,
    /// The tenant's config item, for the requests a run answers.
    pub configs: &'a C,
    pub entra: &'a E,
    pub config: &'a TenantConfig,
    pub run_id: String,
    pub deadline: Option<Instant>,
    /// See [`deadline_margin`].
    pub deadline_margin: Duration,
    /// Set when the run completed and changes reported during it may not
    /// have been read (see [`ImportRun::another_run_wanted`]).
    pub another_run_wanted: AtomicBool,
    pub purpose: Purpose,
    /// The platform's user names, read on first need in this invocation.
    platform_names: tokio::sync::OnceCell<names::PlatformNames>,
}

fn lease_until(now: DateTime<Utc>) -> DateTime<Utc> {
    now + LEASE_DURATION
}

impl<'a, D, S, C, E> ImportRun<'a, D, S, C, E> {
    /// A run with a new id; `deadline` is the Lambda invocation's (a past
    /// one still leaves a moment to release the lease).
    pub fn new(
        directory: &'a D,
        state: &'a S,
        configs: &'a C,
        entra: &'a E,
        config: &'a TenantConfig,
        deadline: Option<RunDeadline>,
    ) -> Self {
        let at_least = Instant::now() + Duration::from_secs(1);
        Self {
            directory,
            state,
            configs,
            entra,
            config,
            run_id: uuid::Uuid::new_v4().to_string(),
            deadline: deadline.map(|d| d.at.max(at_least)),
            deadline_margin: deadline.map_or(MIN_DEADLINE_MARGIN, |d| d.margin),
            another_run_wanted: AtomicBool::new(false),
            purpose: Purpose::Sync,
            platform_names: tokio::sync::OnceCell::new(),
        }
    }

    /// The same run as a preview: always a full round, whatever the sync
    /// toggle; the caller gives it stand-ins that write nothing.
    pub fn previewing(self) -> Self {
        Self {
            purpose: Purpose::Preview,
            ..self
        }
    }

    /// The run completed, but a change notification arrived while its
    /// round was read: the tenant needs another run now, not at the next
    /// tick.
    pub fn another_run_wanted(&self) -> bool {
        self.another_run_wanted.load(Ordering::Relaxed)
    }
}

impl<D: DirectoryStore, S: ImportState, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, C, E>
{
    fn tenant(&self) -> &crate::model::TenantId {
        &self.config.tenant_id
    }

    /// A full round's finish reads the tenant's whole directory (the sweep,
    /// unless nothing was imported before the round) and is not
    /// interrupted: it starts only with at least five margins (half a
    /// budget) left. A run that resumed at the finish always goes on.
    fn finish_wants_an_invocation(&self, checkpoint: &Checkpoint) -> bool {
        checkpoint.mode == Mode::Full
            && checkpoint.earlier_imports
            && checkpoint.recorded_pages > 0
            && self.deadline.is_some_and(|d| {
                Instant::now() + FINISH_RESERVE_MARGINS * self.deadline_margin >= d
            })
    }

    fn near_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|d| Instant::now() + self.deadline_margin >= d)
    }

    /// One run, its log lines in a span that names the tenant and the run.
    pub async fn run(&self) -> Result<RunOutcome, ImportError> {
        let preview = self.purpose == Purpose::Preview;
        let span = tracing::info_span!("import_run", tenant_id = %self.tenant(), run_id = %self.run_id, preview);
        self.run_in_span().instrument(span).await
    }

    async fn run_in_span(&self) -> Result<RunOutcome, ImportError> {
        if !self.config.sync_enabled && self.purpose == Purpose::Sync {
            return Ok(RunOutcome::Skipped("directory sync is off"));
        }
        if !self.config.is_authorised() {
            return Ok(RunOutcome::Skipped("the integration is not authorised"));
        }
        let now = Utc::now();
        let Some(mut state) = self
            .state
            .begin_run(self.tenant(), &self.run_id, now, lease_until(now))
            .await?
        else {
            tracing::info!("another run holds the tenant; nothing to do");
            return Ok(RunOutcome::LeaseHeld);
        };
        let fingerprint = scope::fingerprint(self.config);
        let mut checkpoint = self.resume_or_start(&mut state, &fingerprint, now);
        if state.previous_run_died && checkpoint.phase != Phase::Finishing {
            // It may have saved this page without its checkpoint.
            self.state
                .forget_page(
                    self.tenant(),
                    &checkpoint.round_id,
                    checkpoint.phase,
                    checkpoint.page,
                )
                .await?;
        }
        let resumed_to_finish = checkpoint.phase == Phase::Finishing;
        if let Some(outcome) = self
            .read_rounds(&mut checkpoint, &mut state, &fingerprint)
            .await?
        {
            return Ok(outcome);
        }
        let failed_as = RunStatus::failed(String::new(), &checkpoint);
        if !resumed_to_finish && self.finish_wants_an_invocation(&checkpoint) {
            // The checkpoint is saved at the finishing phase: the
            // continuation starts there with its whole time budget.
            return self
                .stopped(Interruption::Deadline, failed_as, "finishing the run")
                .await;
        }
        match self.finish(&mut state, checkpoint, fingerprint).await {
            Ok(status) => Ok(RunOutcome::Completed(status)),
            Err(interruption) => {
                self.stopped(interruption, failed_as, "finishing the run failed")
                    .await
            }
        }
    }

    /// The interrupted round to resume (when its scope still holds), or a
    /// new one.
    fn resume_or_start(
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

    /// Reads both rounds, restarting once when Graph's delta state is gone
    /// or a page link stops working. `Some` when the run ends here.
    async fn read_rounds(
        &self,
        checkpoint: &mut Checkpoint,
        state: &mut SyncState,
        fingerprint: &str,
    ) -> Result<Option<RunOutcome>, ImportError> {
        let mut restarted = false;
        loop {
            let interruption = match self.drive(checkpoint, state).await {
                Ok(()) => return Ok(None),
                Err(interruption) => interruption,
            };
            match interruption {
                Interruption::Graph(GraphError::SyncStateGone(reason)) if !restarted => {
                    tracing::warn!(reason = %reason, "delta state gone; starting a full round");
                    state.users_delta_link = None;
                    state.groups_delta_link = None;
                    *checkpoint = self.restarted_round(Mode::Full, fingerprint);
                }
                Interruption::Graph(refusal)
                    if refusal.code().is_some() && !restarted && checkpoint.next_link.is_some() =>
                {
                    // A page link that stopped working: restart the round.
                    tracing::warn!(reason = %refusal, "a page link was refused; restarting the round");
                    *checkpoint = self.restarted_round(checkpoint.mode, fingerprint);
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

    /// A run that fails while reading leaves what a killed one leaves: a
    /// page maybe written and recorded without its checkpoint, to be read
    /// again, from the start of its phase perhaps (a new round, or the
    /// delta link's changes: not the same items). As a killed run's
    /// successor does, it forgets that page's record, makes the round
    /// sweep, and saves the checkpoint in hand (never behind the stored
    /// one: it moves only once a page is applied and recorded). Should a
    /// write fail, the lease is kept: the next run then finds this one
    /// died, and forgets the page its stored checkpoint names.
    async fn forget_unrecorded_page(&self, checkpoint: &mut Checkpoint) -> Result<(), ImportError> {
        let (round, phase, page) = (&checkpoint.round_id, checkpoint.phase, checkpoint.page);
        // At the finishing phase (both rounds read) no page is in flight.
        if phase != Phase::Finishing {
            self.state
                .forget_page(self.tenant(), round, phase, page)
                .await?;
        }
        checkpoint.earlier_imports = true;
        match self.save_checkpoint(checkpoint).await {
            Err(Interruption::Store(err)) => Err(ImportError::Store(err)),
            _ => Ok(()),
        }
    }

    /// Ends a run that was interrupted: the outcome for the handler, the
    /// status item and the lease released. `failed_as` carries the round's
    /// mode and counts; `context` says what failed.
    async fn stopped(
        &self,
        interruption: Interruption,
        failed_as: RunStatus,
        context: &str,
    ) -> Result<RunOutcome, ImportError> {
        let failed = |error: String| RunStatus {
            error: Some(error),
            ..failed_as.clone()
        };
        match interruption {
            Interruption::Graph(GraphError::Token(TokenError::ReauthorisationRequired(reason))) => {
                self.reauthorisation_required(&reason, failed_as).await
            }
            Interruption::Deadline => {
                tracing::info!(
                    "pausing before the deadline; the run is continued from its checkpoint"
                );
                self.release_lease(None).await?;
                Ok(RunOutcome::Paused)
            }
            Interruption::LeaseLost => {
                tracing::warn!("lost the lease to another run; stopping");
                Ok(RunOutcome::LeaseHeld)
            }
            Interruption::Graph(err) => {
                tracing::error!(error = %err, "the run failed; its checkpoint is kept");
                let status = failed(format!(
                    "{context}: {err}{}",
                    permission_hint(&err, context)
                ));
                self.release_lease(Some(&status)).await?;
                Ok(RunOutcome::Failed(status))
            }
            Interruption::Store(err) if self.purpose == Purpose::Preview => {
                // Kept for the next try, as a sync keeps its checkpoint.
                tracing::error!(error = %err, "a store failed during the preview; it pauses");
                if let Err(release) = self.release_lease(None).await {
                    tracing::warn!(error = %release, "could not release the preview's lease");
                }
                Err(ImportError::Store(err))
            }
            Interruption::Store(err) => {
                tracing::error!(error = %err, "a store failed during the run");
                let status = failed(format!("writing the AM directory failed: {err}"));
                // The store is failing: the lease expires by itself if this fails too.
                if let Err(release) = self.release_lease(Some(&status)).await {
                    tracing::warn!(error = %release, "could not release the lease");
                }
                Err(ImportError::Store(err))
            }
        }
    }

    /// Gives the lease back, keeping the checkpoint; records `status`.
    async fn release_lease(&self, status: Option<&RunStatus>) -> Result<(), StoreError> {
        self.state
            .abandon_run(self.tenant(), &self.run_id, status)
            .await
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

    /// The round that replaces one this run began: its own id (the
    /// replaced round's may be this second's and this run's too), so that
    /// its records never mix with those the stored checkpoint still names.
    fn restarted_round(&self, mode: Mode, fingerprint: &str) -> Checkpoint {
        let mut round = self.new_round(mode, fingerprint, Utc::now(), true);
        round.round_id.push_str("-restart");
        round
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
        }
    }

    async fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), Interruption> {
        let now = Utc::now();
        self.state
            .checkpoint(self.tenant(), &self.run_id, checkpoint, lease_until(now))
            .await?;
        Ok(())
    }

    /// Reads both rounds, users then groups, and leaves the checkpoint at
    /// the finishing phase with both delta links.
    async fn drive(
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
                let scope = scope::Scope {
                    domains: &self.config.domains,
                    groups: group_scope.as_ref(),
                };
                let start = self.round_start(checkpoint, &state.users_delta_link);
                let mut domains = pages::DomainCache::default();
                let delta_link = self
                    .read_round(
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
                    .read_round(
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
    async fn read_round<T>(
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

    /// The group scope: recomputed when a full round starts or when none
    /// is stored. A resumed full round keeps the scope its first pages
    /// were applied under: its end compares with it, and so does the next
    /// delta run when the scope's groups change.
    async fn current_group_scope(
        &self,
        checkpoint: &Checkpoint,
    ) -> Result<state::GroupScope, Interruption> {
        let round_begun = checkpoint.phase != Phase::Users || checkpoint.page > 0;
        if (checkpoint.mode == Mode::Delta || round_begun)
            && let Some(scope) = self.state.group_scope(self.tenant()).await?
        {
            return Ok(scope);
        }
        let scope = self.compute_group_scope().await?;
        self.state.save_group_scope(self.tenant(), &scope).await?;
        Ok(scope)
    }

    async fn compute_group_scope(&self) -> Result<state::GroupScope, Interruption> {
        let configured: Vec<String> = self
            .config
            .import_group_ids
            .iter()
            .map(|g| g.to_string())
            .collect();
        let mut members = Vec::new();
        for group in &configured {
            match self.entra.transitive_members(group).await {
                Ok(found) => members.extend(
                    found
                        .into_iter()
                        .filter(|(_, kind)| *kind != crate::model::entra::MemberKind::Other)
                        .map(|(id, kind)| {
                            (
                                id.to_string(),
                                kind == crate::model::entra::MemberKind::Group,
                            )
                        }),
                ),
                Err(GraphError::NotFound) => {
                    tracing::warn!(tenant_id = %self.tenant(), group_id = %group, "a configured import group does not exist in Entra ID");
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(scope::group_scope(&configured, members))
    }

    async fn reauthorisation_required(
        &self,
        reason: &str,
        failed_as: RunStatus,
    ) -> Result<RunOutcome, ImportError> {
        tracing::error!(reason = %reason, "the tenant's grant was refused; syncing stops until an administrator authorises again");
        self.configs
            .mark_reauthorisation_required(self.tenant())
            .await?;
        let status = RunStatus {
            error: Some(format!(
                "Microsoft Entra ID refused the integration's authorisation ({reason}); a Global Administrator must authorise it again"
            )),
            ..failed_as
        };
        self.release_lease(Some(&status)).await?;
        Ok(RunOutcome::ReauthorisationRequired)
    }
}
