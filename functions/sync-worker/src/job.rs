//! SQS messages in, import runs out, batch item failures back.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use entra_sync::auth_switch::{AuthSwitch, SwitchesSettled};
use entra_sync::export::batch::TenantWriters;
use entra_sync::export::{ExportRun, replay};
use entra_sync::graph::GraphClient;
use entra_sync::graph::subscriptions::GraphSubscriptions;
use entra_sync::graph::tenants::TenantGraphReaders;
use entra_sync::graph::tenants::TenantGraphWriters;
use entra_sync::import::history::Trigger;
use entra_sync::import::{AfterRun, ImportError, RunDeadline, RunOutcome, TenantImport};
use entra_sync::model::ByCloud;
use entra_sync::model::entra::TenantDomains;
use entra_sync::model::{TenantConfig, TenantId};
use entra_sync::realtime::{self, RealtimeKeeper};
use entra_sync::schedule::parse_job;
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync::store::preview::DynamoPreviewStore;
use entra_sync::store::problems::DynamoProblemStore;
use entra_sync::store::queue::SqsSyncQueue;
use entra_sync::store::subscriptions::DynamoSubscriptionStore;
use entra_sync::store::sync_state::DynamoSyncStateStore;
use entra_sync::store::{DynamoIntegrationsStore, SecretsManagerTokenStore};
use entra_sync::wiring::LambdaTenantTokens;
use futures::stream::{self, StreamExt};

use crate::switch::WorkerSwitchSteps;
use lambda_runtime::{Error, LambdaEvent};

pub struct SyncWorker {
    pub configs: DynamoIntegrationsStore,
    pub state: DynamoSyncStateStore,
    pub directory: DynamoDirectoryStore,
    pub tokens: LambdaTenantTokens,
    /// One per cloud served.
    pub graph: ByCloud<GraphClient>,
    /// Where a run paused before its deadline queues its continuation.
    pub queue: SqsSyncQueue,
    pub subscriptions: DynamoSubscriptionStore,
    /// `NOTIFICATION_URL`: absent = no subscriptions.
    pub notification_url: Option<String>,
    /// Export problems, replayed after each run.
    pub problems: DynamoProblemStore,
    /// Previews' own lease, checkpoint and report (docs/behaviour.md 2.9).
    pub previews: DynamoPreviewStore,
    pub domains: TenantDomains,
    /// The directory extension of the export's mark on what it creates,
    /// per cloud (each cloud's app registers its own).
    pub mark_properties: ByCloud<String>,
    /// Delegated grants, deleted once a tenant is switched to application
    /// mode (docs/behaviour.md 2.12).
    pub tenant_secrets: SecretsManagerTokenStore,
    pub switches: SwitchesSettled,
}

/// After a run: a delegated tenant's switch to application mode when due,
/// the tenant's Graph subscriptions, and its export problems that are due
/// (by the tenant's next run at the latest, docs/behaviour.md 2.8, 2.12).
pub struct AfterSync<'a> {
    pub worker: &'a SyncWorker,
    pub deadline: RunDeadline,
}

impl AfterRun for AfterSync<'_> {
    async fn after_run(&self, config: &TenantConfig, outcome: &RunOutcome) {
        let steps = WorkerSwitchSteps {
            after: self,
            outcome,
        };
        let switch = AuthSwitch {
            app: self.worker.tokens.app(),
            records: &self.worker.configs,
            steps: &steps,
            settled: &self.worker.switches,
        };
        let completed = matches!(outcome, RunOutcome::Completed(_));
        let switched = Box::pin(switch.after_run(config, completed, chrono::Utc::now())).await;
        let config = switched.config_after(config);
        if matches!(outcome, RunOutcome::Completed(_) | RunOutcome::Failed(_)) {
            Box::pin(self.replay_export_problems(&config)).await;
        }
    }
}

impl AfterSync<'_> {
    async fn replay_export_problems(&self, config: &TenantConfig) {
        let worker = self.worker;
        let writers = TenantGraphWriters::new(
            &worker.graph,
            &worker.tokens,
            &worker.mark_properties,
            Some(self.deadline.at),
        );
        let writer = writers.for_tenant(config, None);
        let run = ExportRun::new(&worker.directory, &writer, config);
        if let Some(domains) = worker.domains.fresh(&config.tenant_id) {
            let _ = run.domains.set(domains);
        }
        let until = (self.deadline.at - self.deadline.margin).into_std();
        match replay::replay_due(&run, &worker.problems, chrono::Utc::now(), Some(until)).await {
            Ok(replayed) if replayed == Default::default() => {}
            Ok(replayed) => tracing::info!(
                exported = replayed.exported,
                still_failing = replayed.still_failing,
                "export problems replayed"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "replaying export problems failed; the next run tries again")
            }
        }
    }

    pub async fn keep_subscriptions(&self, config: &TenantConfig, outcome: &RunOutcome) {
        let worker = self.worker;
        let tokens = worker.tokens.for_config(config);
        let graph = entra_sync::graph::of_cloud(&worker.graph, config.cloud);
        let api = GraphSubscriptions::new(graph, tokens, Some(self.deadline.at));
        let wanted = realtime::wanted(config, worker.notification_url.as_deref());
        let keeper = RealtimeKeeper {
            api: &api,
            kept: &worker.subscriptions,
            notification_url: wanted.unwrap_or_default(),
        };
        // Boxed: the run's future is deep enough already.
        Box::pin(keeper.settle(config, outcome, wanted.is_some(), chrono::Utc::now())).await;
    }
}

/// Messages of one batch run side by side (different tenants; a duplicate
/// finds the lease held).
const PARALLEL_TENANTS: usize = 4;

pub async fn handle(
    worker: &SyncWorker,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    // The margin comes from the whole invocation, also for jobs that start
    // late in the batch.
    let deadline = RunDeadline::for_invocation(entra_sync::wiring::deadline_instant(
        event.context.deadline(),
    ));
    let failures: Vec<Option<String>> = stream::iter(event.payload.records)
        .map(|message| worker.process(message, deadline))
        .buffer_unordered(PARALLEL_TENANTS)
        .collect()
        .await;
    crate::metrics::emit_invocation();
    let mut response = SqsBatchResponse::default();
    for id in failures.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

impl SyncWorker {
    /// Runs one message; returns its id when SQS should deliver it again.
    async fn process(&self, message: SqsMessage, deadline: RunDeadline) -> Option<String> {
        let message_id = message.message_id.clone().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or("");
        let tenant = match parse_job(body) {
            Ok(tenant) => tenant,
            Err(reason) => {
                // A poison message must not block the queue: logged and dropped.
                tracing::error!(message_id = %message_id, reason = %reason, "dropping an unreadable sync job");
                return None;
            }
        };
        let notified_at = crate::metrics::notified_at(&message);
        let trigger = crate::metrics::trigger_of(&message);
        match self.sync(&tenant, deadline, trigger).await {
            Ok(outcome) => {
                log_outcome(&tenant, &outcome);
                crate::metrics::run_line(&tenant, &outcome, notified_at, chrono::Utc::now()).emit();
                None
            }
            Err(reason) => {
                tracing::error!(tenant_id = %tenant, message_id = %message_id, reason = %reason, "the sync job failed and will be retried");
                crate::metrics::failed_job_line(&tenant).emit();
                (!message_id.is_empty()).then_some(message_id)
            }
        }
    }

    async fn sync(
        &self,
        tenant: &TenantId,
        deadline: RunDeadline,
        trigger: Trigger,
    ) -> Result<RunOutcome, ImportError> {
        let readers = TenantGraphReaders::new(&self.graph, &self.tokens);
        let after_run = AfterSync {
            worker: self,
            deadline,
        };
        TenantImport {
            directory: &self.directory,
            state: &self.state,
            problems: &self.problems,
            previews: &self.previews,
            configs: &self.configs,
            readers: &readers,
            continuations: &self.queue,
            after_run: &after_run,
        }
        .sync(tenant, Some(deadline), trigger)
        .await
    }
}

fn log_outcome(tenant: &TenantId, outcome: &RunOutcome) {
    match outcome {
        RunOutcome::Skipped(why) => {
            tracing::info!(tenant_id = %tenant, reason = why, "sync skipped")
        }
        RunOutcome::LeaseHeld => {
            tracing::info!(tenant_id = %tenant, "another run holds the tenant")
        }
        RunOutcome::Completed(status) => {
            tracing::info!(tenant_id = %tenant, result = status.result.as_str(), mode = status.mode.as_str(), "sync completed")
        }
        RunOutcome::Paused => {
            tracing::info!(tenant_id = %tenant, "sync paused before the deadline; its continuation resumes it")
        }
        RunOutcome::Failed(status) => {
            tracing::warn!(tenant_id = %tenant, error = status.error.as_deref().unwrap_or(""), "sync failed; the next run retries")
        }
        RunOutcome::ReauthorisationRequired => {
            tracing::warn!(tenant_id = %tenant, "sync stopped: the tenant must be authorised again")
        }
    }
}
