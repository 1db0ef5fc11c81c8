//! The answer (DESIGN 2.14): `{result, steps, modified, problem}`.

use serde::Serialize;

use crate::events::AttributeChange;

/// What happened to the object (or, in a dry run, would).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncResult {
    Create,
    Update,
    Restore,
    Disable,
    Delete,
    /// Marked deprovisioned, left as it is (`keep`).
    Keep,
    NoChange,
    /// Not synchronised: the steps say why.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    Read,
    Scope,
    Match,
    Act,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Success,
    /// The step decided that the object is not synchronised.
    Skipped,
    Failure,
}

/// One step, with a sentence an admin understands and its facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub step: StepName,
    pub status: StepStatus,
    pub description: String,
    pub details: serde_json::Value,
}

/// The problem that applies to the object (its code as in problem items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemNote {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncObjectAnswer {
    pub result: SyncResult,
    pub dry_run: bool,
    pub steps: Vec<Step>,
    pub modified: Vec<AttributeChange>,
    pub problem: Option<ProblemNote>,
    /// The Entra object id, once known.
    pub object_id: Option<String>,
    /// What an admin recognises (the UPN).
    pub display: Option<String>,
    /// The AM id of the object an export acted on (export problems and
    /// events name it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub am_id: Option<String>,
    /// Whether the directory was written (never in a dry run).
    pub written: bool,
}

impl SyncObjectAnswer {
    pub(super) fn new(dry_run: bool) -> Self {
        Self {
            result: SyncResult::Skipped,
            dry_run,
            steps: Vec::new(),
            modified: Vec::new(),
            problem: None,
            object_id: None,
            display: None,
            am_id: None,
            written: false,
        }
    }

    pub(super) fn step(
        &mut self,
        step: StepName,
        status: StepStatus,
        description: impl Into<String>,
        details: serde_json::Value,
    ) {
        self.steps.push(Step {
            step,
            status,
            description: description.into(),
            details,
        });
    }

    /// Ends the answer as skipped at `step`, for this reason.
    pub(super) fn skip(
        mut self,
        step: StepName,
        description: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        self.step(step, StepStatus::Skipped, description, details);
        self.result = SyncResult::Skipped;
        self
    }
}

impl SyncObjectAnswer {
    /// What the call applied, in a run's counts (a deprovisioned, kept or
    /// restored user is an update; memberships are the sync's).
    pub fn counts(&self, group: bool) -> crate::import::state::Counts {
        let mut counts = crate::import::state::Counts::default();
        if !self.written {
            return counts;
        }
        let (created, updated, deleted) = match group {
            false => (
                &mut counts.users_created,
                &mut counts.users_updated,
                &mut counts.users_deleted,
            ),
            true => (
                &mut counts.groups_created,
                &mut counts.groups_updated,
                &mut counts.groups_deleted,
            ),
        };
        match self.result {
            SyncResult::Create => *created = 1,
            SyncResult::Update | SyncResult::Restore | SyncResult::Disable | SyncResult::Keep => {
                *updated = 1
            }
            SyncResult::Delete => *deleted = 1,
            SyncResult::NoChange | SyncResult::Skipped => {}
        }
        counts
    }
}
