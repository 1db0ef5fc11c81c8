//! One stream batch through the shared `ExportBatch` (objects in lanes,
//! each object's changes in order, each tenant within its time budget); a
//! record that cannot be read is logged and skipped; the records to deliver
//! again (a failing tenant's, from its first failed one on) are reported by
//! their sequence numbers, in stream order.

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::Utc;
use entra_sync::export::{DirectoryChange, ExportBatch};
use entra_sync::graph::GraphClient;
use entra_sync::graph::tenants::TenantGraphWriters;
use entra_sync::metrics::MetricLine;
use entra_sync::model::ByCloud;
use entra_sync::model::entra::TenantDomains;
use entra_sync::store::DynamoIntegrationsStore;
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync::store::events::DynamoChangeEvents;
use entra_sync::store::problems::DynamoProblemStore;
use entra_sync::wiring::LambdaTenantTokens;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Map, Value};

pub struct Exporter {
    pub configs: DynamoIntegrationsStore,
    pub directory: DynamoDirectoryStore,
    pub tokens: LambdaTenantTokens,
    /// One per cloud served.
    pub graph: ByCloud<GraphClient>,
    pub domains: TenantDomains,
    pub problems: DynamoProblemStore,
    /// The change events of what each batch exported.
    pub events: DynamoChangeEvents,
    /// The directory extension of the export's mark on what it creates,
    /// per cloud (each cloud's app registers its own).
    pub mark_properties: ByCloud<String>,
}

fn image(item: serde_dynamo::Item) -> Map<String, Value> {
    serde_dynamo::from_item(item).unwrap_or_default()
}

/// The directory change a raw stream record is, if it is one; a record
/// that cannot be read or understood is logged and skipped.
fn directory_change(raw: Value) -> Option<DirectoryChange> {
    let sequence = raw["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let record: EventRecord = match serde_json::from_value(raw) {
        Ok(record) => record,
        Err(err) => {
            tracing::error!(sequence_number = %sequence, reason = %err, "skipping a stream record that cannot be read");
            return None;
        }
    };
    let change = DirectoryChange::parse(
        &record.event_name,
        &image(record.change.keys),
        image(record.change.old_image),
        image(record.change.new_image),
        record.change.sequence_number.clone().unwrap_or_default(),
        Some(record.change.approximate_creation_date_time),
    );
    change.unwrap_or_else(|err| {
        tracing::error!(sequence_number = %sequence, reason = %err, "skipping a stream record that cannot be understood");
        None
    })
}

pub async fn handle(
    exporter: &Exporter,
    event: LambdaEvent<Value>,
) -> Result<DynamoDbEventResponse, Error> {
    let deadline = entra_sync::wiring::deadline_instant(event.context.deadline());
    let records = match event.payload.get("Records") {
        Some(Value::Array(records)) => records.clone(),
        _ => Vec::new(),
    };
    let writers = TenantGraphWriters::new(
        &exporter.graph,
        &exporter.tokens,
        &exporter.mark_properties,
        Some(deadline),
    );
    let batch = ExportBatch::new(
        &exporter.configs,
        &exporter.directory,
        &writers,
        &exporter.domains,
        &exporter.problems,
    );
    let changes: Vec<DirectoryChange> = records.into_iter().filter_map(directory_change).collect();
    let mut response = DynamoDbEventResponse::default();
    for index in batch.export_all(&changes, Utc::now(), Some(deadline)).await {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(changes[index].sequence_number.clone());
        response.batch_item_failures.push(failure);
    }
    let events = batch.write_events(&exporter.events).await;
    let tally = batch.tally();
    MetricLine::of_function("export-stream")
        .count("ExportChanges", tally.exported)
        .count("ExportProblems", tally.problems)
        .count("ChangeEvents", events)
        .count("ExportRetried", response.batch_item_failures.len() as u64)
        .count("GraphThrottled", entra_sync::graph::take_throttled())
        .emit();
    Ok(response)
}
