//! One sync job: the tenant's config read, a pending preview run (docs/behaviour.md
//! 2.9), then its sync. A config that is gone or unusable skips the tenant
//! (logged), never fails the message.

use tokio::time::Instant;

use super::history::Trigger;
use super::preview::{
    PreviewDirectory, PreviewOverlay, PreviewProblems, PreviewRuns, PreviewState,
};
use super::{
    AfterRun, Continuations, DirectoryStore, EntraDirectory, ImportError, ImportRun, ImportState,
    RunDeadline, RunOutcome,
};
use crate::model::{TenantConfig, TenantId};
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

/// Entra ID's read side for each tenant.
pub trait TenantReaders: Send + Sync {
    type Reader<'a>: EntraDirectory
    where
        Self: 'a;
    /// The tenant's reader, with the credentials its config chooses.
    fn for_tenant(&self, config: &TenantConfig, deadline: Option<Instant>) -> Self::Reader<'_>;
}

pub struct TenantImport<'a, D, S, P, C, R, Q, A, V> {
    pub directory: &'a D,
    pub state: &'a S,
    /// The import's problem items.
    pub problems: &'a P,
    /// The preview's own lease, checkpoint and report.
    pub previews: &'a V,
    pub configs: &'a C,
    pub readers: &'a R,
    pub continuations: &'a Q,
    pub after_run: &'a A,
}

impl<
    D: DirectoryStore,
    S: ImportState,
    P: ProblemStore,
    C: TenantConfigs,
    R: TenantReaders,
    Q: Continuations,
    A: AfterRun,
    V: PreviewRuns,
> TenantImport<'_, D, S, P, C, R, Q, A, V>
{
    /// Syncs the tenant; `Err` when the job should be delivered again.
    pub async fn sync(
        &self,
        tenant: &TenantId,
        deadline: Option<RunDeadline>,
        trigger: Trigger,
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
        let entra = self.readers.for_tenant(&config, deadline.map(|d| d.at));
        if let Some(requested) = &config.preview_requested_at {
            match self.preview(&config, requested, deadline).await {
                // No time left for the sync: the continuation runs both.
                Ok(RunOutcome::Paused) => return Ok(RunOutcome::Paused),
                Ok(_) => {}
                // The request stays: the next tick previews again. The
                // sync goes on.
                Err(err) => {
                    tracing::warn!(tenant_id = %tenant, error = %err, "the preview could not run now")
                }
            }
        }
        let run = ImportRun::new(
            self.directory,
            self.state,
            self.problems,
            self.configs,
            &entra,
            &config,
            deadline,
        )
        .triggered_by(trigger);
        let outcome = run.run().await?;
        if outcome == RunOutcome::Paused || run.another_run_wanted() {
            self.queue_continuation(tenant, run.run_id()).await;
        }
        self.after_run.after_run(&config, &outcome).await;
        Ok(outcome)
    }

    /// Runs the pending preview: the import's full round against stand-ins
    /// that write nothing but the preview's own items. The request is
    /// removed once answered (unless it changed meanwhile).
    async fn preview(
        &self,
        config: &TenantConfig,
        requested: &str,
        deadline: Option<RunDeadline>,
    ) -> Result<RunOutcome, ImportError> {
        let tenant = &config.tenant_id;
        // A draft of what flows is previewed instead of the saved choices.
        let Some(config) = self.drafted(config, requested).await? else {
            return Ok(RunOutcome::Skipped("the preview's draft is unusable"));
        };
        // Its own reader: a draft's mappings and filters may read more.
        let entra = self.readers.for_tenant(config, deadline.map(|d| d.at));
        let overlay = PreviewOverlay::default();
        let directory = PreviewDirectory {
            inner: self.directory,
            overlay: &overlay,
        };
        let fingerprint = super::scope::fingerprint(config);
        let state = PreviewState::new(
            self.state,
            self.previews,
            &overlay,
            Some(requested.into()),
            fingerprint,
        );
        let problems = PreviewProblems {
            inner: self.problems,
            overlay: &overlay,
        };
        let run = ImportRun::new(
            &directory,
            &state,
            &problems,
            self.configs,
            &entra,
            config,
            deadline,
        )
        .previewing();
        let outcome = run.run().await?;
        self.answered(&state, (tenant, requested), run.run_id(), outcome)
            .await
    }

    /// The preview's outcome: continued, left to the invocation that
    /// holds it, or written, its request then removed.
    async fn answered(
        &self,
        state: &PreviewState<'_, S, V>,
        (tenant, requested): (&TenantId, &str),
        run_id: &str,
        outcome: RunOutcome,
    ) -> Result<RunOutcome, ImportError> {
        match &outcome {
            RunOutcome::Paused => {
                self.queue_continuation(tenant, run_id).await;
                return Ok(outcome);
            }
            // Another invocation is previewing the tenant.
            RunOutcome::LeaseHeld => return Ok(outcome),
            RunOutcome::Skipped(why) => state.unrunnable(tenant, run_id, why).await?,
            RunOutcome::Completed(_)
            | RunOutcome::Failed(_)
            | RunOutcome::ReauthorisationRequired => {}
        }
        if state.lease_lost() {
            // Another run took the preview over; it answers the request.
            return Ok(RunOutcome::LeaseHeld);
        }
        tracing::info!(tenant_id = %tenant, outcome = ?outcome, "preview written");
        self.configs
            .clear_preview_request(tenant, requested)
            .await?;
        Ok(outcome)
    }

    /// The config with the preview's draft applied; `None` (the preview
    /// answered with why) when the draft is unusable.
    async fn drafted<'c>(
        &self,
        config: &'c TenantConfig,
        requested: &str,
    ) -> Result<Option<&'c TenantConfig>, ImportError> {
        let error = match &config.preview_draft {
            None => return Ok(Some(config)),
            Some(Ok(drafted)) => return Ok(Some(drafted.as_ref())),
            Some(Err(error)) => error,
        };
        let tenant = &config.tenant_id;
        tracing::warn!(tenant_id = %tenant, error = %error, "the preview's draft is unusable");
        let overlay = PreviewOverlay::default();
        let state = PreviewState::new(
            self.state,
            self.previews,
            &overlay,
            Some(requested.into()),
            String::new(),
        );
        state
            .unrunnable(tenant, "preview-draft", &error.to_string())
            .await?;
        self.configs
            .clear_preview_request(tenant, requested)
            .await?;
        Ok(None)
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
