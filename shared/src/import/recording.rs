//! The run's history item (docs/behaviour.md 2.14), written as each
//! invocation of the run ends: what the run did so far, from its round's
//! checkpoint and the status it left.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::history::{RunRecord, RunRef, Trigger};
use super::state::{Checkpoint, Counts, Mode, RunStatus};
use super::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Purpose, RunOutcome};
use crate::ports::TenantConfigs;
use crate::problems::{Problem, ProblemKey, ProblemStore};

/// What the invocation knows of its run: the round's run, mode and counts
/// at its latest checkpoint, the status it ended with, the problems it
/// opened and closed.
#[derive(Debug, Default)]
pub(super) struct SoFar {
    round: Mutex<Option<(RunRef, Mode, Counts)>>,
    ended: Mutex<Option<RunStatus>>,
    problems_opened: AtomicU64,
    problems_closed: AtomicU64,
}

impl SoFar {
    pub(super) fn note(&self, checkpoint: &Checkpoint) {
        if let Some(run) = &checkpoint.run {
            let round = (run.clone(), checkpoint.mode, checkpoint.counts);
            *self.round.lock().unwrap_or_else(|p| p.into_inner()) = Some(round);
        }
    }

    pub(super) fn ended(&self, status: &RunStatus) {
        *self.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(status.clone());
    }

    /// This invocation's record; `None` when it ran no round, or stopped
    /// without a status to show (lease lost, a store failing).
    fn record(&self, outcome: &RunOutcome, run_id: &str) -> Option<RunRecord> {
        let (run, mode, counts) = self.round.lock().ok()?.clone()?;
        let ended = self.ended.lock().ok()?.clone();
        let status = match (outcome, &ended) {
            (RunOutcome::Paused, _) => None,
            (RunOutcome::LeaseHeld | RunOutcome::Skipped(_), _) | (_, None) => return None,
            (_, Some(status)) => Some(status),
        };
        let mut record = RunRecord::of(run, mode, counts, status);
        record.began_here = record.run.run_id == run_id;
        record.problems_opened = self.problems_opened.load(Ordering::Relaxed);
        record.problems_closed = self.problems_closed.load(Ordering::Relaxed);
        record.graph = crate::graph_tally::tally();
        Some(record)
    }
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// The run a new round begins: this invocation's, for why it runs.
    pub(super) fn new_run(&self, mode: Mode, now: chrono::DateTime<chrono::Utc>) -> RunRef {
        let trigger = match self.purpose {
            Purpose::Preview => Trigger::Preview,
            Purpose::Sync if mode == Mode::Full && self.config.resync_requested_at.is_some() => {
                Trigger::Resync
            }
            Purpose::Sync => self.trigger,
        };
        RunRef {
            run_id: self.run_id.clone(),
            started_at: now,
            trigger,
        }
    }

    /// Writes the invocation's part of its run's history item; a scheduled
    /// poll that changed nothing writes none. Best effort: the status item
    /// holds the outcome, and the run is not repeated for its history.
    pub(super) async fn record_history(&self, outcome: &RunOutcome) {
        let Some(record) = self.so_far.record(outcome, &self.run_id) else {
            return;
        };
        if record.is_idle_poll() {
            return;
        }
        if let Err(err) = self.state.record_run(self.tenant(), &record).await {
            tracing::warn!(error = %err, "could not record the run in the tenant's history");
        }
    }

    /// Records a problem, counting it as opened when it was not open yet.
    pub(super) async fn record_problem(
        &self,
        problem: &Problem,
    ) -> Result<(), crate::ports::StoreError> {
        let stored = self.problems.record(self.tenant(), problem).await?;
        if stored.attempts <= 1 {
            self.so_far.problems_opened.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Resolves a problem, counting it as closed when it was open.
    pub(super) async fn resolve_problem(
        &self,
        key: &ProblemKey,
    ) -> Result<(), crate::ports::StoreError> {
        if self.problems.resolve(self.tenant(), key).await? {
            self.so_far.problems_closed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}
