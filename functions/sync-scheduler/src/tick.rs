//! One EventBridge tick: every tenant to sync gets its job on the queue.

use entra_sync::schedule::schedule;
use entra_sync::store::DynamoIntegrationsStore;
use entra_sync::store::queue::SqsSyncQueue;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

pub async fn tick(
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
