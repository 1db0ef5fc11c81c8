//! The import engine (docs/behaviour.md 2.2): one run of a tenant's Graph delta
//! sync into the AM directory. Free of AWS types: it works through the
//! ports of `ports.rs`, so the same engine runs under unit tests with
//! in-memory stores, against moto, and in Lambda.

mod arrivals;
pub mod buckets;
mod change_log;
mod deletion;
mod finish;
pub mod flows;
pub mod history;
mod managers;
mod names;
mod pages;
pub mod ports;
pub mod preview;
mod problems;
mod recording;
pub mod records;
mod rounds;
pub mod scope;
pub mod state;
mod stopping;
mod tenant;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::Instrument;

/// What the on-demand sync (`crate::on_demand`) reuses of the import's rules.
pub(crate) use finish::deprovision;
pub(crate) use names::needs_check;
pub(crate) use pages::{group_upsert, user_upsert};

pub use ports::{
    AfterRun, Continuations, DirectoryStore, EntraDirectory, HeldDeletions, ImportMemory,
    ImportState, LeaseError, NothingAfter, ObjectKind, PlatformUser, RoundLedger, RunHistory,
    RunLease,
};
use state::{Checkpoint, Mode, Phase, RunStatus};
pub use stopping::REAUTHORISATION_GRACE;
pub use tenant::{TenantImport, TenantReaders};

use crate::model::TenantConfig;
use crate::model::entra::GraphError;
use crate::ports::{StoreError, TenantConfigs};
use crate::problems::ProblemStore;

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

/// One run of a tenant's import, over its ports: the AM directory, the
/// import's own bookkeeping, its problem items, the config item and Entra ID.
pub struct ImportRun<'a, D, S, P, C, E> {
    directory: &'a D,
    state: &'a S,
    problems: &'a P,
    /// The tenant's config item, for the requests a run answers.
    configs: &'a C,
    entra: &'a E,
    config: &'a TenantConfig,
    run_id: String,
    deadline: Option<Instant>,
    /// See [`deadline_margin`].
    deadline_margin: Duration,
    /// Set when the run completed and changes reported during it may not
    /// have been read (see [`ImportRun::another_run_wanted`]).
    another_run_wanted: AtomicBool,
    purpose: Purpose,
    /// The platform's user names, read on first need in this invocation.
    platform_names: tokio::sync::OnceCell<names::PlatformNames>,
    /// The tenant's mappings and scoping filters, compiled (DESIGN 2.13).
    flows: Result<flows::ImportFlows, flows::FlowsError>,
    /// Why the run runs, unless its round began earlier or says otherwise.
    trigger: history::Trigger,
    /// What the run's history item is made of (see `recording.rs`).
    so_far: recording::SoFar,
    /// The changes applied and not yet written as events.
    changes: change_log::ChangeLog,
}

fn lease_until(now: DateTime<Utc>) -> DateTime<Utc> {
    now + LEASE_DURATION
}

impl<'a, D, S, P, C, E> ImportRun<'a, D, S, P, C, E> {
    /// A run with a new id; `deadline` is the Lambda invocation's (a past
    /// one still leaves a moment to release the lease).
    pub fn new(
        directory: &'a D,
        state: &'a S,
        problems: &'a P,
        configs: &'a C,
        entra: &'a E,
        config: &'a TenantConfig,
        deadline: Option<RunDeadline>,
    ) -> Self {
        let at_least = Instant::now() + Duration::from_secs(1);
        Self {
            directory,
            state,
            problems,
            configs,
            entra,
            config,
            run_id: uuid::Uuid::new_v4().to_string(),
            deadline: deadline.map(|d| d.at.max(at_least)),
            deadline_margin: deadline.map_or(MIN_DEADLINE_MARGIN, |d| d.margin),
            another_run_wanted: AtomicBool::new(false),
            purpose: Purpose::Sync,
            platform_names: tokio::sync::OnceCell::new(),
            flows: flows::ImportFlows::compile(config),
            trigger: history::Trigger::Schedule,
            so_far: recording::SoFar::default(),
            changes: change_log::ChangeLog::recording(),
        }
    }

    /// The same run, for why its job was queued (the scheduler's tick by
    /// default).
    pub fn triggered_by(self, trigger: history::Trigger) -> Self {
        Self { trigger, ..self }
    }

    /// The same run as a preview: always a full round, whatever the sync
    /// toggle; the caller gives it stand-ins that write nothing.
    pub fn previewing(self) -> Self {
        Self {
            purpose: Purpose::Preview,
            changes: change_log::ChangeLog::default(),
            ..self
        }
    }

    /// The run's id (a continuation it queues names it).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The same run under a given id (a replay's runs are named by their
    /// number).
    pub fn with_run_id(self, run_id: String) -> Self {
        Self { run_id, ..self }
    }

    /// The run completed, but a change notification arrived while its
    /// round was read: the tenant needs another run now, not at the next
    /// tick.
    pub fn another_run_wanted(&self) -> bool {
        self.another_run_wanted.load(Ordering::Relaxed)
    }
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    fn tenant(&self) -> &crate::model::TenantId {
        &self.config.tenant_id
    }

    /// The compiled flows; a run never gets past its start without them.
    fn flows(&self) -> &flows::ImportFlows {
        static NONE: std::sync::OnceLock<flows::ImportFlows> = std::sync::OnceLock::new();
        self.flows
            .as_ref()
            .unwrap_or_else(|_| NONE.get_or_init(flows::ImportFlows::default))
    }

    /// The scope the config and its filters set, within `groups`.
    fn scope<'s>(&'s self, groups: Option<&'s state::GroupScope>) -> scope::Scope<'s> {
        scope::Scope::of(self.config, &self.flows().filters, groups)
    }

    fn near_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|d| Instant::now() + self.deadline_margin >= d)
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

    /// One run, its log lines in a span that names the tenant and the run.
    pub async fn run(&self) -> Result<RunOutcome, ImportError> {
        let preview = self.purpose == Purpose::Preview;
        let span = tracing::info_span!("import_run", tenant_id = %self.tenant(), run_id = %self.run_id, preview);
        let recorded = async {
            let outcome = self.run_in_span().await;
            self.write_changes(None).await;
            if let Ok(outcome) = &outcome {
                self.record_history(outcome).await;
            }
            outcome
        };
        crate::graph_tally::counting(recorded)
            .instrument(span)
            .await
    }

    async fn run_in_span(&self) -> Result<RunOutcome, ImportError> {
        if !self.config.sync_enabled && self.purpose == Purpose::Sync {
            return Ok(RunOutcome::Skipped("directory sync is off"));
        }
        if let Some(refusal) = self.config.authorisation_refusal() {
            return Ok(RunOutcome::Skipped(refusal));
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
        self.note(&checkpoint);
        if let Err(error) = &self.flows {
            // Before any write: nothing is half-applied.
            tracing::error!(error = %error, "the tenant's mappings or scoping filters are unusable");
            let status = RunStatus::failed(error.to_string(), &checkpoint);
            self.release_lease(Some(&status)).await?;
            return Ok(RunOutcome::Failed(status));
        }
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
            .read_rounds_restarting_once(&mut checkpoint, &mut state, &fingerprint)
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

    async fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), Interruption> {
        let now = Utc::now();
        self.note(checkpoint);
        self.state
            .checkpoint(self.tenant(), &self.run_id, checkpoint, lease_until(now))
            .await?;
        Ok(())
    }

    /// The run's history and its events follow the round's checkpoint.
    fn note(&self, checkpoint: &Checkpoint) {
        self.so_far.note(checkpoint);
        self.changes.follow(checkpoint);
    }

    /// Gives the lease back, keeping the checkpoint; records `status`.
    async fn release_lease(&self, status: Option<&RunStatus>) -> Result<(), StoreError> {
        if let Some(status) = status {
            self.so_far.ended(status);
        }
        self.state
            .abandon_run(self.tenant(), &self.run_id, status)
            .await
    }
}
