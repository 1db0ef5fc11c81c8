//! Driving the export as AWS would: the directory table's stream records,
//! filtered like the event source mapping in template.yaml, delivered to the
//! real `export-stream` binary as DynamoDB stream events, with its
//! `batchItemFailures` retried from the failed record.

use anyhow::Context;
use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, Record};
use serde_json::{Map, Value, json};

use crate::lambda_runtime_api::LambdaFunction;
use crate::local_aws::template_stream_filter_prefixes;
use crate::sync::StreamCursor;

fn attribute(value: &StreamValue) -> Value {
    match value {
        StreamValue::S(s) => json!({"S": s}),
        StreamValue::N(n) => json!({"N": n}),
        StreamValue::Bool(b) => json!({"BOOL": b}),
        StreamValue::Null(_) => json!({"NULL": true}),
        StreamValue::Ss(v) => json!({"SS": v}),
        StreamValue::Ns(v) => json!({"NS": v}),
        StreamValue::L(items) => json!({"L": items.iter().map(attribute).collect::<Vec<_>>()}),
        StreamValue::M(map) => json!({"M": image(map)}),
        StreamValue::B(b) => {
            json!({"B": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b.as_ref())})
        }
        _ => json!({"NULL": true}),
    }
}

fn image(map: &std::collections::HashMap<String, StreamValue>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()
}

/// A record as Lambda receives it from a DynamoDB stream.
pub fn lambda_record(record: &Record, stream_arn: &str) -> Value {
    let change = record.dynamodb.as_ref();
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change.and_then(|c| c.approximate_creation_date_time).map(|t| t.secs()).unwrap_or_else(|| chrono::Utc::now().timestamp()),
        "Keys": change.and_then(|c| c.keys.as_ref()).map(image).unwrap_or_default(),
        "SequenceNumber": change.and_then(|c| c.sequence_number.clone()).unwrap_or_default(),
        "SizeBytes": change.and_then(|c| c.size_bytes).unwrap_or(0),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(new) = change.and_then(|c| c.new_image.as_ref()) {
        dynamodb["NewImage"] = Value::Object(image(new));
    }
    if let Some(old) = change.and_then(|c| c.old_image.as_ref()) {
        dynamodb["OldImage"] = Value::Object(image(old));
    }
    json!({
        "eventID": record.event_id.clone().unwrap_or_default(),
        "eventName": record.event_name.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

/// The event source mapping's filter (template.yaml): directory items only.
fn passes_filter(record: &Value, prefixes: &[String]) -> bool {
    record["dynamodb"]["Keys"]["sk"]["S"]
        .as_str()
        .is_some_and(|sk| prefixes.iter().any(|p| sk.starts_with(p.as_str())))
}

#[derive(Debug, Default)]
pub struct ExportReport {
    pub records: usize,
    pub invocations: usize,
    /// Sequence numbers the function asked to retry, in order.
    pub retried: Vec<String>,
}

/// Feeds every new stream record to `export-stream` in batches of up to
/// 100, retrying from a reported failure up to `max_retries` times.
pub async fn export_pending(
    cursor: &mut StreamCursor,
    function: &mut LambdaFunction,
    max_retries: usize,
) -> anyhow::Result<ExportReport> {
    let prefixes = template_stream_filter_prefixes()?;
    let records: Vec<Value> = cursor
        .read()
        .await?
        .iter()
        .map(|r| {
            lambda_record(
                r,
                "arn:aws:dynamodb:us-east-1:123456789012:table/directory/stream/local",
            )
        })
        .filter(|r| passes_filter(r, &prefixes))
        .collect();
    deliver(records, function, max_retries).await
}

/// Delivers these Lambda stream records as the event source mapping does.
pub async fn deliver(
    records: Vec<Value>,
    function: &mut LambdaFunction,
    max_retries: usize,
) -> anyhow::Result<ExportReport> {
    let mut report = ExportReport {
        records: records.len(),
        ..ExportReport::default()
    };
    let mut pending: Vec<Value> = records;
    let mut retries = 0;
    while !pending.is_empty() {
        let batch: Vec<Value> = pending.iter().take(100).cloned().collect();
        report.invocations += 1;
        let answer = function
            .invoke(json!({ "Records": batch }))
            .await?
            .map_err(|e| anyhow::anyhow!("export-stream reported an error: {e}"))?;
        let failed = answer["batchItemFailures"]
            .as_array()
            .context("no batchItemFailures")?
            .first()
            .and_then(|f| f["itemIdentifier"].as_str())
            .map(str::to_owned);
        match failed {
            None => {
                pending.drain(..batch.len());
            }
            Some(sequence) => {
                report.retried.push(sequence.clone());
                retries += 1;
                let position = pending
                    .iter()
                    .position(|r| r["dynamodb"]["SequenceNumber"] == sequence.as_str())
                    .context("the failure names a record not in the batch")?;
                pending.drain(..position);
                if retries > max_retries {
                    anyhow::bail!("gave up after {retries} retries at {sequence}");
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    Ok(report)
}

/// A platform user of `tenant` as the platform writes one (local, enabled,
/// its password checked by Entra ID), for the export to take to Entra.
pub async fn put_platform_user(
    stack: &crate::stack::LocalStack,
    tenant: &str,
    id: &str,
    upn: &str,
) -> anyhow::Result<()> {
    let item = json!({
        "pk": format!("TENANT#{tenant}"), "sk": format!("USER#{id}"),
        "user_id": id, "user_name": upn, "display_name": "Ada Lovelace",
        "enabled": true, "source": "local", "password_mode": "entra"
    });
    stack
        .aws
        .dynamodb
        .put_item()
        .table_name(&stack.tables.directory)
        .set_item(Some(serde_dynamo::to_item(item)?))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        })?;
    Ok(())
}

/// The export of one platform user end to end: export-stream started, the
/// user `p-ada` (`upn`) written to `tenant`'s directory and its stream
/// records delivered, none retried. Returns the function (its logs) and
/// whether the Entra organisation `entra_tenant` now holds the user.
pub async fn export_one_platform_user(
    stack: &crate::stack::LocalStack,
    tenant: &str,
    entra_tenant: &str,
    upn: &str,
) -> anyhow::Result<(LambdaFunction, bool)> {
    let mut export = LambdaFunction::start("export-stream", &stack.function_env()).await?;
    let mut cursor = StreamCursor::start(stack).await?;
    put_platform_user(stack, tenant, "p-ada", upn).await?;
    let exported = export_pending(&mut cursor, &mut export, 5).await?;
    anyhow::ensure!(exported.retried.is_empty(), "retried: {exported:?}");
    let created = stack.emulator.with_tenant(entra_tenant, |t| {
        t.users
            .values()
            .any(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
    });
    Ok((export, created))
}
