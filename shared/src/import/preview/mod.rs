//! A preview (docs/behaviour.md 2.9): what a full sync would do now, found by
//! running the import's own full round against stand-ins that read the
//! real stores and write nothing. The round's pages, checkpoints and
//! continuations are the import's; its lease, checkpoint and report are
//! the preview's own (`PreviewRuns`), so a sync in progress and the delta
//! state are never touched.
//!
//! What later pages need of the writes an earlier page would have made
//! (the user a membership names, a large group's earlier page) comes from
//! the round's seen ids, which the ledger keeps anyway: in memory as
//! 64-bit hashes, loaded again when a preview resumes.
//!
//! This file holds the report a preview writes and the port of its own
//! items; `overlay` what the round would have written, `directory`,
//! `state` and `problems` the stand-ins the import runs against.

mod directory;
mod overlay;
mod problems;
mod state;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use directory::PreviewDirectory;
pub use overlay::PreviewOverlay;
pub use problems::PreviewProblems;
pub use state::PreviewState;

use super::LeaseError;
use super::state::{Checkpoint, Counts, RunResult};
use crate::model::TenantId;
use crate::ports::StoreError;

/// Samples kept per kind of change.
pub const SAMPLES_PER_CHANGE: usize = 25;

/// One kind of change a sync would make (`samples[].change`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    UserCreate,
    UserUpdate,
    UserDelete,
    GroupCreate,
    GroupUpdate,
    GroupDelete,
    MemberAdd,
    MemberRemove,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreate => "user_create",
            Self::UserUpdate => "user_update",
            Self::UserDelete => "user_delete",
            Self::GroupCreate => "group_create",
            Self::GroupUpdate => "group_update",
            Self::GroupDelete => "group_delete",
            Self::MemberAdd => "member_add",
            Self::MemberRemove => "member_remove",
        }
    }
}

/// One change a sync would make: `object_id` is the Entra id (for a
/// membership `<group_id>#<user_id>`), `display` what an admin recognises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub change: Change,
    pub object_id: String,
    pub display: String,
}

/// `ENTRA#PREVIEW` (docs/contract.md 1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewReport {
    /// The request answered (`preview_requested_at` as it was read).
    pub requested_at: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    /// `Ok` or `Error`; a preview that would hold is `Ok` with `would_hold`.
    pub result: RunResult,
    pub error: Option<String>,
    /// What a full sync would do now, deletions counted as if approved.
    pub counts: Counts,
    pub would_hold: bool,
    pub samples: Vec<Sample>,
}

/// A preview in progress, as its store keeps it between invocations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewProgress {
    pub checkpoint: Option<Checkpoint>,
    pub samples: Vec<Sample>,
    /// The preview run before this one never gave its lease back.
    pub previous_run_died: bool,
}

/// The preview's own lease, checkpoint and report, apart from the sync's.
pub trait PreviewRuns: Send + Sync {
    /// Takes the tenant's preview lease (free, expired, or ours); `None`
    /// when another preview run holds it. Progress made for another
    /// request than `requested_at` is dropped: a new request starts over.
    fn begin_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
        requested_at: Option<&str>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<PreviewProgress>, StoreError>> + Send;

    /// Saves progress and renews the lease, only while we hold it.
    fn checkpoint_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
        checkpoint: &Checkpoint,
        samples: &[Sample],
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), LeaseError>> + Send;

    /// Releases the lease, keeping the checkpoint (a paused preview).
    fn pause_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends the preview: its checkpoint and lease gone (unless another run
    /// holds the lease), then the report written.
    fn finish_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
        report: &PreviewReport,
    ) -> impl Future<Output = Result<(), LeaseError>> + Send;
}
