//! The parts AWS plays between the functions, as template.yaml configures
//! them: EventBridge's schedule, the SQS event source mapping of
//! `sync-worker` (batches of 5, `batchItemFailures`, the visibility
//! timeout, redrive to the dead-letter queue after 5 receives), and the
//! DynamoDB stream mapping of `export-stream` (batches of 100 after a 1 s
//! window, `ReportBatchItemFailures`, bisection on a function error, 10
//! retries, then the on-failure queue), in shard order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::activity::Activity;
use super::sandbox::Sandbox;
use crate::export::lambda_record;
use crate::local_aws::{LocalAws, template_stream_filter_prefixes};
use crate::sync::{StreamCursor, scheduled_event, sqs_event};

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
pub struct QueueMapping {
    pub aws: LocalAws,
    pub queue_url: String,
    pub queue_arn: String,
    pub worker: Arc<Sandbox>,
    pub activity: Activity,
}

impl QueueMapping {
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
    async fn poll_once(&self) -> anyhow::Result<usize> {
        let output = self
            .aws
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(WORKER_BATCH)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
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
        let event = sqs_event(&self.queue_arn, &batch);
        let failed: Vec<String> = match self.worker.invoke(event, WORKER_TIMEOUT).await {
            Ok(Ok(answer)) => answer["batchItemFailures"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            // A function error or a crash fails the whole batch.
            Ok(Err(_)) | Err(_) => batch.iter().map(|(id, _, _)| id.clone()).collect(),
        };
        for (id, receipt, _) in &batch {
            if failed.contains(id) {
                continue;
            }
            self.aws
                .sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
        }
        let note = match failed.len() {
            0 => format!("sync-worker ran {} job(s)", batch.len()),
            n => format!("sync-worker ran {} job(s), {n} to be retried", batch.len()),
        };
        self.activity.note("sqs", &note);
        Ok(batch.len())
    }
}

/// The DynamoDB stream mapping of `export-stream`.
pub struct StreamMapping {
    pub cursor: StreamCursor,
    pub stream_arn: String,
    pub export: Arc<Sandbox>,
    pub aws: LocalAws,
    /// The on-failure destination (`ExportFailedQueue`).
    pub failed_queue_url: String,
    pub activity: Activity,
}

impl StreamMapping {
    pub async fn run(mut self) {
        let prefixes = match template_stream_filter_prefixes() {
            Ok(prefixes) => prefixes,
            Err(err) => {
                self.activity.note("stream", &format!("no filter: {err:#}"));
                return;
            }
        };
        loop {
            match self.read_window(&prefixes).await {
                Ok(records) if records.is_empty() => {
                    tokio::time::sleep(Duration::from_millis(300)).await
                }
                Ok(records) => {
                    for batch in records.chunks(EXPORT_BATCH) {
                        self.deliver(batch.to_vec()).await;
                    }
                }
                Err(err) => {
                    self.activity
                        .note("stream", &format!("reading failed: {err:#}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// The records of one batching window (from the first record on), in
    /// shard order, those the filter lets through.
    async fn read_window(&mut self, prefixes: &[String]) -> anyhow::Result<Vec<Value>> {
        let mut records = self.cursor.read().await?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        tokio::time::sleep(BATCHING_WINDOW).await;
        records.extend(self.cursor.read().await?);
        Ok(records
            .iter()
            .map(|r| lambda_record(r, &self.stream_arn))
            .filter(|r| passes(r, prefixes))
            .collect())
    }

    /// One batch, as the mapping retries it: from the first failed record
    /// on a reported failure, in halves on a function error, and to the
    /// on-failure queue after ten retries.
    async fn deliver(&self, batch: Vec<Value>) {
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
                        backoff(retries).await;
                        pending.push_front((records[position..].to_vec(), retries + 1));
                    }
                },
                Ok(Err(_)) | Err(_) if records.len() > 1 => {
                    let (first, second) = records.split_at(records.len() / 2);
                    pending.push_front((second.to_vec(), retries + 1));
                    pending.push_front((first.to_vec(), retries + 1));
                }
                Ok(Err(_)) | Err(_) => {
                    backoff(retries).await;
                    pending.push_front((records, retries + 1));
                }
            }
        }
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
        let sent = self
            .aws
            .sqs
            .send_message()
            .queue_url(&self.failed_queue_url)
            .message_body(body.to_string())
            .send()
            .await;
        let note = match sent {
            Ok(_) => format!(
                "{} record(s) given up, on the on-failure queue",
                records.len()
            ),
            Err(err) => format!(
                "{} record(s) given up; the on-failure queue refused them: {}",
                records.len(),
                aws_sdk_sqs::error::DisplayErrorContext(err)
            ),
        };
        self.activity.note("stream", &note);
    }
}

fn passes(record: &Value, prefixes: &[String]) -> bool {
    record["dynamodb"]["Keys"]["sk"]["S"]
        .as_str()
        .is_some_and(|sk| prefixes.iter().any(|p| sk.starts_with(p.as_str())))
}

/// Where the first failed record is, if the answer names one.
fn first_failure(answer: &Value, records: &[Value]) -> Option<usize> {
    let failed = answer["batchItemFailures"].as_array()?.first()?["itemIdentifier"].as_str()?;
    records
        .iter()
        .position(|r| r["dynamodb"]["SequenceNumber"] == failed)
        .or(Some(0))
}

async fn backoff(retries: usize) {
    let millis = 200u64 << retries.min(5);
    tokio::time::sleep(Duration::from_millis(millis)).await;
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
