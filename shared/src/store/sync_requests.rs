//! Sync requests in the integrations table, jobs on the sync queue.
//!
//! A sync request lives on the tenant's `ENTRA#STATUS` item:
//! `sync_requested_at` (changes to read, as of then), `last_notification_at`,
//! and `sync_job_queued_ms` while a job for them is queued and not yet
//! started. Only the request that sets `sync_job_queued_ms` sends a message:
//! a burst of notifications yields one job. The worker removes it when its
//! run begins, so a notification during a run queues the next one.

use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};

use super::dynamo::{is_condition_failure, n, timestamp, unavailable};
use super::layout::{STATUS_SK, key};
use super::queue::SqsSyncQueue;
use crate::model::TenantId;
use crate::notifications::{SyncRequest, SyncRequests};
use crate::ports::StoreError;

/// A queued job that has not started after this long is taken as lost
/// (longer than the worker's visibility timeout): the next request queues
/// another.
pub const QUEUED_JOB_EXPIRY: Duration = Duration::minutes(7);

/// Sync requests on the status item, jobs on the sync queue.
#[derive(Debug, Clone)]
pub struct DynamoSyncRequests {
    client: Client,
    table: String,
    queue: SqsSyncQueue,
}

impl DynamoSyncRequests {
    pub fn new(client: Client, table: String, queue: SqsSyncQueue) -> Self {
        Self {
            client,
            table,
            queue,
        }
    }

    /// Records the request and claims the job slot; false when a job is
    /// already queued.
    async fn claim_job(&self, tenant: &TenantId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, STATUS_SK)))
            .update_expression(
                "SET sync_requested_at = :at, last_notification_at = :at, sync_job_queued_ms = :ms",
            )
            .condition_expression(
                "attribute_not_exists(sync_job_queued_ms) OR sync_job_queued_ms < :expired",
            )
            .expression_attribute_values(":at", timestamp(at))
            .expression_attribute_values(":ms", n(at.timestamp_millis()))
            .expression_attribute_values(":expired", n((at - QUEUED_JOB_EXPIRY).timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(unavailable("recording a sync request")(err)),
        }
    }

    /// Records the request for the job already queued.
    async fn join_job(&self, tenant: &TenantId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, STATUS_SK)))
            .update_expression("SET sync_requested_at = :at, last_notification_at = :at")
            .expression_attribute_values(":at", timestamp(at))
            .send()
            .await
            .map_err(unavailable("recording a sync request"))?;
        Ok(())
    }

    /// Gives the job slot back after a failed send, unless a later claim
    /// took it.
    async fn release_claim(&self, tenant: &TenantId, at: DateTime<Utc>) {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, STATUS_SK)))
            .update_expression("REMOVE sync_job_queued_ms")
            .condition_expression("sync_job_queued_ms = :ms")
            .expression_attribute_values(":ms", n(at.timestamp_millis()))
            .send()
            .await;
        if let Err(err) = result
            && !is_condition_failure(&err)
        {
            tracing::warn!(tenant_id = %tenant, error = %crate::aws::describe_sdk_error(&err), "could not release the job slot; it expires by itself");
        }
    }
}

impl SyncRequests for DynamoSyncRequests {
    async fn request_sync(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
    ) -> Result<SyncRequest, StoreError> {
        if !self.claim_job(tenant, at).await? {
            self.join_job(tenant, at).await?;
            return Ok(SyncRequest::AlreadyPending);
        }
        let dedup = format!("notified-{}", at.timestamp_millis());
        if let Err(err) = self
            .queue
            .queue_job(tenant, &dedup, Some(super::queue::NOTIFICATION_TRIGGER))
            .await
        {
            self.release_claim(tenant, at).await;
            return Err(err);
        }
        Ok(SyncRequest::Queued)
    }
}
