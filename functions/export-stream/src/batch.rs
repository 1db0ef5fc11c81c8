//! One stream batch: records in order; a record that can never succeed is
//! logged and skipped; at the first retryable failure the batch stops and
//! that record's sequence number is reported, so the stream resumes there.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::Utc;
use entra_sync::export::{DirectoryChange, ExportFailure, ExportOutcome, ExportRun};
use entra_sync::graph::GraphClient;
use entra_sync::graph::model::DomainInfo;
use entra_sync::graph::writer::GraphEntraWriter;
use entra_sync::model::{TenantConfig, TenantId};
use entra_sync::ports::TenantConfigs;
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync::store::{DynamoIntegrationsStore, SecretsManagerTokenStore};
use entra_sync::tokens::TokenProvider;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Map, Value};
use tokio::time::Instant;

/// A tenant's domain list is reused this long across invocations.
const DOMAIN_CACHE: Duration = Duration::from_secs(600);

pub struct Exporter {
    pub configs: DynamoIntegrationsStore,
    pub directory: DynamoDirectoryStore,
    pub tokens: TokenProvider<SecretsManagerTokenStore>,
    pub graph: GraphClient,
    pub domains: Mutex<HashMap<TenantId, (Instant, Vec<DomainInfo>)>>,
}

fn image(item: serde_dynamo::Item) -> Map<String, Value> {
    serde_dynamo::from_item(item).unwrap_or_default()
}

/// A record the handler could not even read, by its position.
fn sequence_of(raw: &Value) -> Option<String> {
    raw["dynamodb"]["SequenceNumber"]
        .as_str()
        .map(str::to_owned)
}

pub async fn handle(
    exporter: &Exporter,
    event: LambdaEvent<Value>,
) -> Result<DynamoDbEventResponse, Error> {
    let deadline = entra_sync::tokens::deadline_instant(event.context.deadline());
    let records = event
        .payload
        .get("Records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut configs: HashMap<TenantId, Option<TenantConfig>> = HashMap::new();
    let mut response = DynamoDbEventResponse::default();
    for raw in records {
        let sequence = sequence_of(&raw);
        let record: EventRecord = match serde_json::from_value(raw) {
            Ok(record) => record,
            Err(err) => {
                tracing::error!(sequence_number = sequence.as_deref().unwrap_or(""), reason = %err, "skipping a stream record that cannot be read");
                continue;
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
        let change = match change {
            Ok(Some(change)) => change,
            Ok(None) => continue,
            Err(err) => {
                tracing::error!(sequence_number = sequence.as_deref().unwrap_or(""), reason = %err, "skipping a stream record that cannot be understood");
                continue;
            }
        };
        match exporter.export(&change, &mut configs, deadline).await {
            Ok(()) => {}
            Err(reason) => {
                tracing::warn!(tenant_id = %change.key.tenant(), sequence_number = %change.sequence_number, reason = %reason, "stopping the batch here; the stream retries from this record");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(change.sequence_number.clone());
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    Ok(response)
}

impl Exporter {
    /// Exports one change; `Err` only when the record should be retried.
    async fn export(
        &self,
        change: &DirectoryChange,
        configs: &mut HashMap<TenantId, Option<TenantConfig>>,
        deadline: Instant,
    ) -> Result<(), String> {
        let tenant = change.key.tenant().clone();
        if !configs.contains_key(&tenant) {
            let config = match self.configs.tenant_config(&tenant).await {
                Ok(config) => config,
                Err(err) if err.is_retryable() => return Err(err.to_string()),
                Err(err) => {
                    tracing::error!(tenant_id = %tenant, error = %err, "the tenant config is unusable; its changes are not exported");
                    None
                }
            };
            configs.insert(tenant.clone(), config);
        }
        let Some(config) = configs.get(&tenant).and_then(Option::as_ref) else {
            tracing::info!(tenant_id = %tenant, "no Entra ID integration for this tenant; change not exported");
            return Ok(());
        };
        if !config.is_authorised() {
            tracing::warn!(
                tenant_id = %tenant,
                sequence_number = %change.sequence_number,
                item = ?change.key,
                action = ?change.action,
                "the tenant's integration is not authorised; this change is not exported"
            );
            return Ok(());
        }
        let writer =
            GraphEntraWriter::new(&self.graph, self.tokens.for_tenant(&tenant), Some(deadline));
        let run = ExportRun::new(&self.directory, &writer, config);
        if let Some((at, domains)) = self.domains.lock().expect("domain cache").get(&tenant)
            && at.elapsed() < DOMAIN_CACHE
        {
            let _ = run.domains.set(domains.clone());
        }
        let result = run.apply(change, Utc::now()).await;
        if let Some(domains) = run.domains.get() {
            self.domains
                .lock()
                .expect("domain cache")
                .insert(tenant.clone(), (Instant::now(), domains.clone()));
        }
        match result {
            Ok(ExportOutcome::Exported(what)) => {
                tracing::info!(tenant_id = %tenant, sequence_number = %change.sequence_number, item = ?change.key, what, "exported");
                Ok(())
            }
            Ok(ExportOutcome::Ignored(why)) => {
                tracing::debug!(tenant_id = %tenant, sequence_number = %change.sequence_number, why, "not exported");
                Ok(())
            }
            Err(ExportFailure::Permanent(reason)) => {
                tracing::error!(tenant_id = %tenant, sequence_number = %change.sequence_number, item = ?change.key, reason = %reason, "this change cannot be exported; skipped");
                Ok(())
            }
            Err(ExportFailure::Retry(reason)) => Err(reason),
        }
    }
}
