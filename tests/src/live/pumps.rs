//! The parts AWS plays between the functions, as template.yaml configures
//! them: EventBridge's schedule, the SQS event source mapping of
//! `sync-worker` (batches of 5, `batchItemFailures`, the visibility
//! timeout, redrive to the dead-letter queue after 5 receives), and the
//! DynamoDB stream mapping of `export-stream` (batches of 100 after a 1 s
//! window, `ReportBatchItemFailures`, bisection on a function error, 10
//! retries, then the on-failure queue), in shard order.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::activity::Activity;
use super::sandbox::Sandbox;
use crate::export::lambda_record;
use crate::lambda_runtime_api::InvocationResult;
use crate::local_aws::{LocalAws, template_stream_filter_prefixes};
use crate::sync::{StreamCursor, scheduled_event, sqs_event_of};

const WORKER_TIMEOUT: Duration = Duration::from_secs(300);
const SCHEDULER_TIMEOUT: Duration = Duration::from_secs(60);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(120);
const WORKER_BATCH: i32 = 5;
const EXPORT_BATCH: usize = 100;
const EXPORT_RETRIES: usize = 10;
const BATCHING_WINDOW: Duration = Duration::from_secs(1);

/// EventBridge: the scheduler every `interval`, or at once when kicked
/// (the console's "Run the schedule now").
pub async fn schedule(
    scheduler: Arc<Sandbox>,
    interval: Duration,
    kick: Arc<Notify>,
    activity: Activity,
) {
    loop {
        // A failure is noted by the sandbox.
        if let Ok(Ok(_)) = scheduler.invoke(scheduled_event(), SCHEDULER_TIMEOUT).await {
            activity.note("schedule", "sync-scheduler ran");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = kick.notified() => {}
        }
    }
}

/// The SQS event source mapping of `sync-worker`.
pub struct QueueMapping<W> {
    pub aws: LocalAws,
    pub queue_url: String,
    pub queue_arn: String,
    pub worker: W,
    pub activity: Activity,
}

impl<W: Invoke> QueueMapping<W> {
    pub async fn run(self) {
        loop {
            match self.poll_once().await {
                Ok(0) => tokio::time::sleep(Duration::from_millis(300)).await,
                Ok(_) => {}
                Err(err) => {
                    self.activity
                        .note("sqs", &format!("polling failed: {err:#}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// One batch: received, handed to the worker, the messages it did not
    /// fail deleted. Those it failed (or all, if it crashed) come back after
    /// the visibility timeout; SQS moves them to the dead-letter queue after
    /// five receives.
    pub async fn poll_once(&self) -> anyhow::Result<usize> {
        let output = self
            .aws
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(WORKER_BATCH)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            // The worker reads what queued a job (its `trigger`) from them.
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let batch: Vec<(String, String, String)> = messages
            .iter()
            .map(|m| {
                (
                    m.message_id.clone().unwrap_or_default(),
                    m.receipt_handle.clone().unwrap_or_default(),
                    m.body.clone().unwrap_or_default(),
                )
            })
            .collect();
        let mut event = sqs_event_of(&self.queue_arn, &messages);
        add_receive_counts(&mut event, &messages);
        let ids: Vec<String> = batch.iter().map(|(id, _, _)| id.clone()).collect();
        let failed = match self.worker.invoke(event, WORKER_TIMEOUT).await {
            Ok(Ok(answer)) => failed_messages(&answer, &ids),
            // A function error or a crash fails the whole batch.
            Ok(Err(_)) | Err(_) => ids.clone(),
        };
        for (id, receipt, _) in &batch {
            if failed.contains(id) {
                continue;
            }
            self.aws.delete_message(&self.queue_url, receipt).await?;
        }
        let note = match failed.len() {
            0 => format!("sync-worker ran {} job(s)", batch.len()),
            n => format!("sync-worker ran {} job(s), {n} to be retried", batch.len()),
        };
        self.activity.note("sqs", &note);
        Ok(batch.len())
    }
}

/// Each record's ApproximateReceiveCount, as SQS counted it.
fn add_receive_counts(event: &mut Value, messages: &[aws_sdk_sqs::types::Message]) {
    for (record, message) in event["Records"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .zip(messages)
    {
        let count = message
            .attributes
            .as_ref()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            })
            .cloned()
            .unwrap_or_else(|| "1".into());
        record["attributes"]["ApproximateReceiveCount"] = json!(count);
    }
}

/// Where a mapping hands its events: a function's sandbox (a fake in the
/// unit tests below).
pub trait Invoke: Send + Sync {
    fn invoke(
        &self,
        event: Value,
        timeout: Duration,
    ) -> impl Future<Output = anyhow::Result<InvocationResult>> + Send;
}

impl Invoke for Arc<Sandbox> {
    async fn invoke(&self, event: Value, timeout: Duration) -> anyhow::Result<InvocationResult> {
        Sandbox::invoke(self, event, timeout).await
    }
}

/// The stream mapping's on-failure destination.
pub trait FailureDestination: Send + Sync {
    fn send(&self, body: String) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// `ExportFailedQueue`.
pub struct SqsDestination {
    pub aws: LocalAws,
    pub queue_url: String,
}

impl FailureDestination for SqsDestination {
    async fn send(&self, body: String) -> anyhow::Result<()> {
        self.aws
            .sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// The DynamoDB stream mapping of `export-stream`: reads the stream,
/// hands each window's records to `delivery`.
pub struct StreamMapping<F, D> {
    pub cursor: StreamCursor,
    pub delivery: StreamDelivery<F, D>,
}

impl<F: Invoke, D: FailureDestination> StreamMapping<F, D> {
    pub async fn run(mut self) {
        let activity = self.delivery.activity.clone();
        let prefixes = match template_stream_filter_prefixes() {
            Ok(prefixes) => prefixes,
            Err(err) => {
                activity.note("stream", &format!("no filter: {err:#}"));
                return;
            }
        };
        loop {
            let records = self.read_window(&prefixes).await;
            if records.is_empty() {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            for batch in records.chunks(EXPORT_BATCH) {
                self.delivery.deliver(batch.to_vec()).await;
            }
        }
    }

    /// The records of one batching window (from the first record on), in
    /// shard order, those the filter lets through. A read that fails is
    /// noted and the records read before it kept.
    async fn read_window(&mut self, prefixes: &[String]) -> Vec<Value> {
        let activity = &self.delivery.activity;
        let mut records = match self.cursor.read().await {
            Ok(records) => records,
            Err(err) => {
                activity.note("stream", &format!("reading failed: {err:#}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                return Vec::new();
            }
        };
        if !records.is_empty() {
            tokio::time::sleep(BATCHING_WINDOW).await;
            match self.cursor.read().await {
                Ok(more) => records.extend(more),
                Err(err) => activity.note("stream", &format!("reading failed: {err:#}")),
            }
        }
        let arn = &self.delivery.stream_arn;
        records
            .iter()
            .map(|r| lambda_record(r, arn))
            .filter(|r| passes(r, prefixes))
            .collect()
    }
}

/// How the stream mapping hands a batch to `export-stream` and retries it.
pub struct StreamDelivery<F, D> {
    pub export: F,
    pub failures: D,
    pub stream_arn: String,
    /// The first retry's delay, doubled for each one after (up to 32x).
    pub retry_delay: Duration,
    pub activity: Activity,
}

impl<F: Invoke, D: FailureDestination> StreamDelivery<F, D> {
    /// One batch, as the mapping retries it: from the first failed record
    /// on a reported failure, in halves on a function error, and to the
    /// on-failure destination after ten retries.
    pub async fn deliver(&self, batch: Vec<Value>) {
        let mut pending: VecDeque<(Vec<Value>, usize)> = VecDeque::from([(batch, 0)]);
        while let Some((records, retries)) = pending.pop_front() {
            if records.is_empty() {
                continue;
            }
            if retries > EXPORT_RETRIES {
                self.give_up(&records).await;
                continue;
            }
            let event = json!({ "Records": records });
            match self.export.invoke(event, EXPORT_TIMEOUT).await {
                Ok(Ok(answer)) => match first_failure(&answer, &records) {
                    None => self.activity.note(
                        "stream",
                        &format!("export-stream took {} record(s)", records.len()),
                    ),
                    Some(position) => {
                        self.backoff(retries).await;
                        pending.push_front((records[position..].to_vec(), retries + 1));
                    }
                },
                Ok(Err(_)) | Err(_) if records.len() > 1 => {
                    let (first, second) = records.split_at(records.len() / 2);
                    pending.push_front((second.to_vec(), retries + 1));
                    pending.push_front((first.to_vec(), retries + 1));
                }
                Ok(Err(_)) | Err(_) => {
                    self.backoff(retries).await;
                    pending.push_front((records, retries + 1));
                }
            }
        }
    }

    async fn backoff(&self, retries: usize) {
        tokio::time::sleep(self.retry_delay * (1u32 << retries.min(5))).await;
    }

    /// What the on-failure destination receives: where the records are,
    /// not the records.
    async fn give_up(&self, records: &[Value]) {
        let sequence = |r: &Value| {
            r["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        };
        let body = json!({
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": EXPORT_RETRIES + 1,
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:export-stream"
            },
            "DDBStreamBatchInfo": {
                "shardId": "local",
                "startSequenceNumber": records.first().map(sequence),
                "endSequenceNumber": records.last().map(sequence),
                "batchSize": records.len(),
                "streamArn": self.stream_arn
            }
        });
        let note = match self.failures.send(body.to_string()).await {
            Ok(()) => format!(
                "{} record(s) given up, on the on-failure queue",
                records.len()
            ),
            Err(err) => format!(
                "{} record(s) given up; the on-failure queue refused them: {err:#}",
                records.len()
            ),
        };
        self.activity.note("stream", &note);
    }
}

/// The messages the worker's answer fails. A failure naming no message of
/// the batch fails the whole batch, as Lambda reads it.
fn failed_messages(answer: &Value, ids: &[String]) -> Vec<String> {
    let Some(failures) = answer["batchItemFailures"].as_array() else {
        return Vec::new();
    };
    let named: Vec<Option<&str>> = failures
        .iter()
        .map(|f| f["itemIdentifier"].as_str())
        .collect();
    if named
        .iter()
        .any(|id| id.is_none_or(|id| !ids.iter().any(|m| m == id)))
    {
        return ids.to_vec();
    }
    named.into_iter().flatten().map(str::to_owned).collect()
}

fn passes(record: &Value, prefixes: &[String]) -> bool {
    record["dynamodb"]["Keys"]["sk"]["S"]
        .as_str()
        .is_some_and(|sk| prefixes.iter().any(|p| sk.starts_with(p.as_str())))
}

/// Where the first failed record is, if the answer names one. An answer
/// that is not a valid failure report fails the whole batch, as Lambda
/// reads one.
fn first_failure(answer: &Value, records: &[Value]) -> Option<usize> {
    let failures = match answer.get("batchItemFailures") {
        None | Some(Value::Null) => return None,
        Some(Value::Array(failures)) => failures,
        Some(_) => return Some(0),
    };
    let first = failures.first()?;
    let Some(failed) = first["itemIdentifier"].as_str().filter(|id| !id.is_empty()) else {
        return Some(0);
    };
    records
        .iter()
        .position(|r| r["dynamodb"]["SequenceNumber"] == failed)
        .or(Some(0))
}

/// The stream's ARN, for the records' `eventSourceARN`.
pub async fn stream_arn(aws: &LocalAws, table: &str) -> anyhow::Result<String> {
    let table = aws
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
    table
        .table
        .and_then(|t| t.latest_stream_arn)
        .context("the directory table has no stream")
}

#[cfg(test)]
mod tests;
