//! `sync-scheduler`: on every EventBridge tick, one SQS sync job per tenant
//! that is `sync_enabled` and `authorised` (DESIGN.md 2.2). Wiring only.

use entra_sync::config::{ProcessEnv, SchedulerConfig};
use entra_sync::schedule::schedule;
use entra_sync::store::DynamoIntegrationsStore;
use entra_sync::store::queue::SqsSyncQueue;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

async fn tick(
    configs: &DynamoIntegrationsStore,
    queue: &SqsSyncQueue,
    event: LambdaEvent<Value>,
) -> Result<(), Error> {
    let detail_type = event
        .payload
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if detail_type != "Scheduled Event" {
        tracing::warn!(
            detail_type,
            "invoked by something other than the schedule; scheduling anyway"
        );
    }
    let report = schedule(configs, queue).await?;
    tracing::info!(
        enqueued = report.enqueued,
        skipped = report.skipped,
        unreadable = report.unreadable,
        failed = report.failed.len(),
        "tenants scheduled"
    );
    if !report.failed.is_empty() {
        // The invocation is retried; a tenant enqueued twice finds its lease held.
        return Err(format!("{} tenants could not be enqueued", report.failed.len()).into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    entra_sync::telemetry::init();
    let config = match SchedulerConfig::from_env(&ProcessEnv) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "sync-scheduler cannot start");
            std::process::exit(1);
        }
    };
    let aws = entra_sync::aws::load_sdk_config().await;
    let configs = DynamoIntegrationsStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.common.integrations_table.clone(),
    );
    let queue = SqsSyncQueue::new(
        aws_sdk_sqs::Client::new(&aws),
        config.sync_queue_url.clone(),
    );
    let (configs, queue) = (&configs, &queue);
    run(service_fn(move |event| tick(configs, queue, event))).await
}
