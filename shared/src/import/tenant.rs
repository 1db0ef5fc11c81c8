//! One sync job: the tenant's config read, then its run. A config that is
//! gone or unusable skips the tenant (logged), never fails the message.

use tokio::time::Instant;

use super::{
    Continuations, DirectoryStore, EntraDirectory, ImportError, ImportRun, ImportState, RunOutcome,
};
use crate::model::TenantId;
use crate::ports::TenantConfigs;

/// Entra ID's read side for each tenant.
pub trait TenantReaders: Send + Sync {
    type Reader<'a>: EntraDirectory
    where
        Self: 'a;
    fn for_tenant(&self, tenant: &TenantId, deadline: Option<Instant>) -> Self::Reader<'_>;
}

pub struct TenantImport<'a, D, S, C, R, Q> {
    pub directory: &'a D,
    pub state: &'a S,
    pub configs: &'a C,
    pub readers: &'a R,
    pub continuations: &'a Q,
}

impl<D: DirectoryStore, S: ImportState, C: TenantConfigs, R: TenantReaders, Q: Continuations>
    TenantImport<'_, D, S, C, R, Q>
{
    /// Syncs the tenant; `Err` when the job should be delivered again.
    pub async fn sync(
        &self,
        tenant: &TenantId,
        deadline: Option<Instant>,
    ) -> Result<RunOutcome, ImportError> {
        let config = match self.configs.tenant_config(tenant).await {
            Ok(Some(config)) => config,
            Ok(None) => return Ok(RunOutcome::Skipped("no Entra ID config for this tenant")),
            Err(err) if err.is_retryable() => return Err(ImportError::Store(err)),
            Err(err) => {
                tracing::error!(tenant_id = %tenant, error = %err, "the tenant config is unusable; not syncing");
                return Ok(RunOutcome::Skipped("the tenant config is unusable"));
            }
        };
        let entra = self.readers.for_tenant(tenant, deadline);
        ImportRun::new(
            self.directory,
            self.state,
            self.configs,
            &entra,
            &config,
            deadline,
        )
        .run()
        .await
    }
}
