//! Sync one object now (DESIGN 2.14, Microsoft's "provision on demand"):
//! one object read, its scope decided, matched and acted on — or, in a dry
//! run, what would be done — with every step explained in words an admin
//! reads. The rules are the import's own (`crate::import`) and the
//! export's (`crate::export`): this module only orders them for one object
//! and explains them.

mod answer;
mod explain;
mod export_act;
mod export_group;
mod export_group_gone;
mod export_user;
mod import_act;
mod import_group;
mod import_user;
pub mod rate;
mod request;

#[cfg(test)]
mod tests;

use std::future::Future;

pub use answer::{ProblemNote, Step, StepName, StepStatus, SyncObjectAnswer, SyncResult};
pub use export_user::{ExportLookups, OnDemandExport, export_read_properties};
pub use import_user::{AmUsers, OnDemandImport};
pub use request::{ObjectKindAsked, RequestError, SyncObjectRequest};

use crate::model::TenantId;
use crate::model::entra::GraphError;
use crate::ports::StoreError;

/// Why an on-demand sync could not answer.
#[derive(Debug, thiserror::Error)]
pub enum OnDemandError {
    #[error("Microsoft Graph failed: {0}")]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The tenant's run lease, which the sync worker takes per run: the
/// on-demand write takes it too, so that the two never interleave.
pub trait RunLeases: Send + Sync {
    /// Takes the lease for `holder` for a short while; false when a run
    /// holds it.
    fn try_take(
        &self,
        tenant: &TenantId,
        holder: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn release(
        &self,
        tenant: &TenantId,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
