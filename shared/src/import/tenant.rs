//! One sync job: the tenant's config read, then its run. A config that is
//! gone or unusable skips the tenant (logged), never fails the message.

use tokio::time::Instant;

use super::{
    AfterRun, Continuations, DirectoryStore, EntraDirectory, ImportError, ImportRun, ImportState,
    RunDeadline, RunOutcome,
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

pub struct TenantImport<'a, D, S, C, R, Q, A> {
    pub directory: &'a D,
    pub state: &'a S,
    pub configs: &'a C,
    pub readers: &'a R,
    pub continuations: &'a Q,
    pub after_run: &'a A,
}

impl<
    D: DirectoryStore,
    S: ImportState,
    C: TenantConfigs,
    R: TenantReaders,
    Q: Continuations,
    A: AfterRun,
> TenantImport<'_, D, S, C, R, Q, A>
{
    /// Syncs the tenant; `Err` when the job should be delivered again.
    pub async fn sync(
        &self,
        tenant: &TenantId,
        deadline: Option<RunDeadline>,
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
        let entra = self.readers.for_tenant(tenant, deadline.map(|d| d.at));
        let run = ImportRun::new(
            self.directory,
            self.state,
            self.configs,
            &entra,
            &config,
            deadline,
        );
        let outcome = run.run().await?;
        if outcome == RunOutcome::Paused || run.another_run_wanted() {
            self.queue_continuation(tenant, &run.run_id).await;
        }
        self.after_run.after_run(&config, &outcome).await;
        Ok(outcome)
    }

    /// The paused run (or one that must be followed by another) gave its
    /// lease back; its continuation starts as soon as SQS delivers it.
    /// Should the queue refuse, the next tick runs all the same.
    async fn queue_continuation(&self, tenant: &TenantId, run_id: &str) {
        match self.continuations.continue_run(tenant, run_id).await {
            Ok(()) => tracing::info!(tenant_id = %tenant, run_id, "queued the run's continuation"),
            Err(err) => {
                tracing::warn!(tenant_id = %tenant, error = %err, "could not queue the continuation; the next tick resumes")
            }
        }
    }
}
