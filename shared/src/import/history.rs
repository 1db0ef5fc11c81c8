//! Run history (docs/behaviour.md 2.14): what each run did, for the
//! admin's `ENTRA#RUN#<started_at>#<run_id>` items. A round that spans
//! invocations is one run: its checkpoint carries the run's identity, and
//! each invocation adds to the one item (`invocations` counts them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::{Counts, Mode, RunResult, RunStatus};
use crate::graph_tally::GraphTally;

/// Why a run runs (`trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The scheduler's tick.
    Schedule,
    /// A Graph change notification queued the job.
    Notification,
    /// A run queued it: changes were reported while its round was read.
    Continuation,
    /// The admin asked for a full resynchronisation.
    Resync,
    Preview,
    /// One object synchronised on demand.
    OnDemand,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Notification => "notification",
            Self::Continuation => "continuation",
            Self::Resync => "resync",
            Self::Preview => "preview",
            Self::OnDemand => "on_demand",
        }
    }

    /// The job message's `trigger` attribute; none (or one unknown) is the
    /// scheduler's.
    pub fn of_job(attribute: Option<&str>) -> Self {
        match attribute {
            Some("notification") => Self::Notification,
            Some("continuation") => Self::Continuation,
            Some("on_demand") => Self::OnDemand,
            _ => Self::Schedule,
        }
    }
}

/// The run a round belongs to: the invocation that began it names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub trigger: Trigger,
}

/// One invocation's part of a run, as its history item records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub run: RunRef,
    pub mode: Mode,
    /// `None` while the run goes on in a continuation.
    pub result: Option<RunResult>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// The run's counts so far, across its invocations.
    pub counts: Counts,
    /// This invocation's share, added to the item's.
    pub problems_opened: u64,
    pub problems_closed: u64,
    pub graph: GraphTally,
    /// The run began in this invocation.
    pub began_here: bool,
    /// Where its changes went: AM (every run but an on-demand export) or
    /// Entra ID.
    pub direction: crate::problems::Direction,
}

impl RunRecord {
    /// The record of an invocation that ended with `status` (`None`: it
    /// paused, its round goes on).
    pub fn of(run: RunRef, mode: Mode, counts: Counts, status: Option<&RunStatus>) -> Self {
        Self {
            run,
            mode: status.map_or(mode, |s| s.mode),
            result: status.map(|s| s.result),
            completed_at: status.and_then(|s| s.completed_at),
            error: status.and_then(|s| s.error.clone()),
            counts: status.map_or(counts, |s| s.counts),
            problems_opened: 0,
            problems_closed: 0,
            graph: GraphTally::default(),
            began_here: true,
            direction: crate::problems::Direction::Import,
        }
    }

    /// A scheduled delta poll, begun and completed in one invocation, that
    /// changed nothing: not kept, so that the idle poll writes only its
    /// two status writes (docs/behaviour.md 2.14).
    pub fn is_idle_poll(&self) -> bool {
        self.began_here
            && self.run.trigger == Trigger::Schedule
            && self.mode == Mode::Delta
            && self.result == Some(RunResult::Ok)
            && self.counts == Counts::default()
            && self.problems_opened == 0
            && self.problems_closed == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll() -> RunRecord {
        let status = RunStatus {
            completed_at: Some(Utc::now()),
            result: RunResult::Ok,
            error: None,
            mode: Mode::Delta,
            counts: Counts::default(),
            open_problems: Some(0),
        };
        let run = RunRef {
            run_id: "r".into(),
            started_at: Utc::now(),
            trigger: Trigger::Schedule,
        };
        RunRecord::of(run, Mode::Delta, Counts::default(), Some(&status))
    }

    #[test]
    fn only_a_scheduled_delta_poll_that_changed_nothing_is_idle() {
        assert!(poll().is_idle_poll());
        let mut changed = poll();
        changed.counts.users_updated = 1;
        let mut notified = poll();
        notified.run.trigger = Trigger::Notification;
        let mut failed = poll();
        failed.result = Some(RunResult::Error);
        let mut continued = poll();
        continued.began_here = false;
        let mut opened = poll();
        opened.problems_opened = 1;
        for run in [changed, notified, failed, continued, opened] {
            assert!(!run.is_idle_poll(), "{run:?}");
        }
    }

    #[test]
    fn a_job_names_its_trigger_and_one_without_is_the_schedule() {
        assert_eq!(Trigger::of_job(Some("notification")), Trigger::Notification);
        assert_eq!(Trigger::of_job(Some("continuation")), Trigger::Continuation);
        assert_eq!(Trigger::of_job(None), Trigger::Schedule);
        assert_eq!(Trigger::of_job(Some("what")), Trigger::Schedule);
    }
}
