//! The problem items as a preview uses them: read (a sync re-reads the
//! open import problems), never written.

use super::overlay::{PreviewOverlay, id_hash};
use crate::model::TenantId;
use crate::ports::StoreError;
use crate::problems::{Direction, Operation, Problem, ProblemKey, ProblemStore};

/// The sync's problem items, read; what the preview would record only
/// noted in the overlay.
pub struct PreviewProblems<'a, P> {
    pub inner: &'a P,
    pub overlay: &'a PreviewOverlay,
}

impl<P: ProblemStore> ProblemStore for PreviewProblems<'_, P> {
    /// Nothing is written; an object the sync would not create is noted,
    /// so that its memberships are not counted either.
    async fn record(&self, _: &TenantId, problem: &Problem) -> Result<Problem, StoreError> {
        if problem.operation == Operation::Create {
            let mut overlay = self.overlay.lock();
            overlay.skipped.insert(id_hash(&problem.key.object_id));
        }
        Ok(problem.clone())
    }

    async fn resolve(&self, _: &TenantId, _: &ProblemKey) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn open(
        &self,
        tenant: &TenantId,
        direction: Direction,
    ) -> Result<Vec<Problem>, StoreError> {
        self.inner.open(tenant, direction).await
    }

    async fn count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        self.inner.count(tenant).await
    }
}
