//! The sync job queue on SQS.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::import::Continuations;
use crate::model::TenantId;
use crate::ports::StoreError;
use crate::schedule::{SyncQueue, job_body};

#[derive(Debug, Clone)]
pub struct SqsSyncQueue {
    client: Client,
    queue_url: String,
}

impl SqsSyncQueue {
    pub fn new(client: Client, queue_url: String) -> Self {
        Self { client, queue_url }
    }

    fn is_fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }
}

impl SyncQueue for SqsSyncQueue {
    /// SendMessageBatch, ten at a time, several batches in flight: thousands
    /// of tenants take a few hundred milliseconds.
    async fn enqueue(&self, tenants: &[TenantId]) -> Result<Vec<(TenantId, String)>, StoreError> {
        let batches: Vec<Vec<TenantId>> = tenants.chunks(10).map(<[TenantId]>::to_vec).collect();
        let failures: Vec<Vec<(TenantId, String)>> = stream::iter(batches)
            .map(|batch| async move {
                let entries = batch
                    .iter()
                    .enumerate()
                    .map(|(i, tenant)| {
                        let mut entry = SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(job_body(tenant));
                        if self.is_fifo() {
                            // One group per tenant; a tick's jobs are distinct.
                            entry = entry
                                .message_group_id(tenant.as_str())
                                .message_deduplication_id(uuid::Uuid::new_v4().to_string());
                        }
                        entry.build().map_err(|e| StoreError::Malformed {
                            what: "a queue message",
                            detail: e.to_string(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let output = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| StoreError::Unavailable {
                        operation: "enqueueing sync jobs",
                        detail: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
                    })?;
                Ok::<_, StoreError>(
                    output
                        .failed
                        .into_iter()
                        .filter_map(|f| {
                            let tenant = batch.get(f.id.parse::<usize>().ok()?)?.clone();
                            Some((
                                tenant,
                                format!("{}: {}", f.code, f.message.unwrap_or_default()),
                            ))
                        })
                        .collect(),
                )
            })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        Ok(failures.into_iter().flatten().collect())
    }
}

/// The message attribute naming what queued a job (`notification` for
/// graph-notifications): the worker measures notification-to-sync latency
/// from the message's `SentTimestamp` for those. The body stays the
/// contract's `{"tenant_id"}`.
pub const TRIGGER_ATTRIBUTE: &str = "trigger";
pub const NOTIFICATION_TRIGGER: &str = "notification";
/// A run's own continuation (its run history says so, docs/behaviour.md 2.14).
pub const CONTINUATION_TRIGGER: &str = "continuation";

impl SqsSyncQueue {
    /// One job message, at once. On a FIFO queue it gets the tenant as its
    /// group and `dedup` as its deduplication id: distinct for each job
    /// that must not be taken for another. `trigger` names what asked for it.
    pub async fn queue_job(
        &self,
        tenant: &TenantId,
        dedup: &str,
        trigger: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(job_body(tenant));
        if let Some(trigger) = trigger {
            let attribute = aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(trigger)
                .build()
                .map_err(|e| StoreError::Malformed {
                    what: "a queue message attribute",
                    detail: e.to_string(),
                })?;
            send = send.message_attributes(TRIGGER_ATTRIBUTE, attribute);
        }
        if self.is_fifo() {
            send = send
                .message_group_id(tenant.as_str())
                .message_deduplication_id(dedup);
        }
        send.send().await.map_err(|e| StoreError::Unavailable {
            operation: "queueing a sync job",
            detail: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
        })?;
        Ok(())
    }
}

impl Continuations for SqsSyncQueue {
    /// Deduplicated by the run's id, so never taken for the job that
    /// started the run.
    async fn continue_run(&self, tenant: &TenantId, run_id: &str) -> Result<(), StoreError> {
        self.queue_job(
            tenant,
            &format!("continue-{run_id}"),
            Some(CONTINUATION_TRIGGER),
        )
        .await
    }
}
