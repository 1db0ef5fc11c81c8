//! Previews in `INTEGRATIONS_TABLE` (docs/contract.md 1.3, 2.9): the report the
//! portal reads, `ENTRA#PREVIEW`, and the preview's own lease and
//! checkpoint, `ENTRA#PREVIEW#RUN` (apart from the sync's `ENTRA#STATUS`,
//! so a preview never disturbs a sync in progress). The round's page
//! records and seen ids are the import's own items, under the preview
//! round's id.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::dynamo::{Item, from_json, n, s, text, timestamp, to_json, unavailable};
use super::layout::{PREVIEW_RUN_SK, PREVIEW_SK, TTL_ATTRIBUTE, key};
use super::lease::{LeasedItem, RUN_LEASE, held};
use crate::import::LeaseError;
use crate::import::preview::{PreviewProgress, PreviewReport, PreviewRuns, Sample};
use crate::import::state::Checkpoint;
use crate::model::TenantId;
use crate::ports::StoreError;

const WHAT: &str = "the preview's progress";
const PROGRESS_DAYS: i64 = 7;

#[derive(Debug, Clone)]
pub struct DynamoPreviewStore {
    client: Client,
    table: String,
}

impl DynamoPreviewStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

/// `ENTRA#PREVIEW` as the portal reads it.
fn report_item(tenant: &TenantId, report: &PreviewReport) -> Item {
    let mut item = key(tenant, PREVIEW_SK);
    let counts = report
        .counts
        .as_pairs()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), n(v as i64)))
        .collect();
    let samples = report.samples.iter().map(sample_value).collect();
    let fields = [
        ("tenant_id", s(tenant.as_str())),
        ("started_at", timestamp(report.started_at)),
        ("completed_at", timestamp(report.completed_at)),
        ("result", s(report.result.as_str())),
        ("counts", AttributeValue::M(counts)),
        ("would_hold", AttributeValue::Bool(report.would_hold)),
        ("samples", AttributeValue::L(samples)),
    ];
    item.extend(fields.into_iter().map(|(k, v)| (k.to_owned(), v)));
    if let Some(requested) = &report.requested_at {
        item.insert("requested_at".into(), s(requested));
    }
    if let Some(error) = &report.error {
        item.insert("error".into(), s(error));
    }
    item
}

fn sample_value(sample: &Sample) -> AttributeValue {
    AttributeValue::M(
        [
            ("change", s(sample.change.as_str())),
            ("object_id", s(&sample.object_id)),
            ("display", s(&sample.display)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    )
}

/// The run item outlives its lease by a week at most, well within the
/// round's own items (8 days): an abandoned preview leaves nothing behind.
fn expires_at(now: DateTime<Utc>) -> i64 {
    (now + chrono::Duration::days(PROGRESS_DAYS)).timestamp()
}

/// Progress that does not read is no progress: the preview starts over.
fn readable<T: serde::de::DeserializeOwned>(item: &Item, name: &'static str) -> Option<T> {
    from_json(item, name, WHAT).unwrap_or_else(|err| {
        tracing::warn!(error = %err, "the preview's progress is unreadable; starting over");
        None
    })
}

impl DynamoPreviewStore {
    /// The preview's lease on its run item.
    fn lease(&self, tenant: &TenantId) -> LeasedItem<'_> {
        RUN_LEASE.on(&self.client, &self.table, key(tenant, PREVIEW_RUN_SK))
    }

    /// Drops the progress on the run item and ties it to `requested_at`.
    async fn start_over(
        &self,
        tenant: &TenantId,
        run_id: &str,
        requested_at: Option<&str>,
    ) -> Result<(), StoreError> {
        let update = self
            .lease(tenant)
            .while_held(run_id)
            .remove("checkpoint")
            .remove("samples");
        let update = match requested_at {
            Some(at) => update
                .set("requested_at = :requested")
                .value(":requested", s(at)),
            None => update.remove("requested_at"),
        };
        update.send("starting the preview over").await?;
        Ok(())
    }
}

impl PreviewRuns for DynamoPreviewStore {
    async fn begin_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
        requested_at: Option<&str>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<PreviewProgress>, StoreError> {
        let taken = self
            .lease(tenant)
            .take(run_id, now, lease_until)
            .set("#ttl = :ttl")
            .name("#ttl", TTL_ATTRIBUTE)
            .value(":ttl", n(expires_at(now)))
            .return_values(ReturnValue::AllOld)
            .send("taking the preview's lease")
            .await?;
        let Some(output) = taken else {
            return Ok(None);
        };
        let item = output.attributes.unwrap_or_default();
        let previous_run_died = item.contains_key("lease_owner");
        if text(&item, "requested_at").as_deref() != requested_at {
            // Progress of another request (or none): this one starts over.
            self.start_over(tenant, run_id, requested_at).await?;
            return Ok(Some(PreviewProgress {
                previous_run_died,
                ..PreviewProgress::default()
            }));
        }
        Ok(Some(PreviewProgress {
            checkpoint: readable(&item, "checkpoint"),
            samples: readable(&item, "samples").unwrap_or_default(),
            previous_run_died,
        }))
    }

    async fn checkpoint_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
        checkpoint: &Checkpoint,
        samples: &[Sample],
        lease_until: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        let renewed = self
            .lease(tenant)
            .renew(run_id, lease_until)
            .set("checkpoint = :checkpoint, samples = :samples, #ttl = :ttl")
            .name("#ttl", TTL_ATTRIBUTE)
            .value(":ttl", n(expires_at(Utc::now())))
            .value(":checkpoint", to_json(checkpoint))
            .value(":samples", to_json(&samples))
            .send("saving the preview's checkpoint")
            .await;
        held(renewed).map(|_| ())
    }

    async fn pause_preview(&self, tenant: &TenantId, run_id: &str) -> Result<(), StoreError> {
        // Another run holding the lease now: nothing of ours to give back.
        self.lease(tenant)
            .release(run_id)
            .send("releasing the preview's lease")
            .await?;
        Ok(())
    }

    /// The progress goes first (only while no other run holds it), then
    /// the report: killed in between, the request is still there and the
    /// next tick previews again.
    async fn finish_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
        report: &PreviewReport,
    ) -> Result<(), LeaseError> {
        let released = self
            .lease(tenant)
            .delete_unless_held_by_another(run_id, Utc::now(), "releasing the preview's lease")
            .await
            .map_err(LeaseError::Store)?;
        if !released {
            return Err(LeaseError::Lost);
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(report_item(tenant, report)))
            .send()
            .await
            .map_err(|e| LeaseError::Store(unavailable("writing the preview")(e)))?;
        Ok(())
    }
}
