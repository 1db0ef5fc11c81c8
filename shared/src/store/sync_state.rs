//! The import's bookkeeping in `INTEGRATIONS_TABLE`. The lease, the delta
//! links and the checkpoint live on the `ENTRA#STATUS` item beside the
//! status the admin reads, so that an idle poll costs two writes: begin
//! (lease + start time) and finish (links + status + release).
//!
//! Items of our own design, all under `pk = TENANT#<id>`:
//! `ENTRA#ROUND#<round>#<phase>#<page>#<part>` (what a page removed or
//! deferred; TTL 8 days), `ENTRA#ROUND#<round>#seen#<kind>#<bucket>#<page>#<part>`
//! (the ids it saw, by bucket; TTL 8 days),
//! `ENTRA#SCOPE` (the group scope), `ENTRA#HELD` (held deletions).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::chunked::{CHUNK_BYTES, ChunkedDocuments};
use super::dynamo::{
    Item, batch_write, delete_request, flag, from_json, malformed, n, put_request, query_all, s,
    sk_prefix_query, text, timestamp, to_json, unavailable,
};
use super::layout::{
    HELD_SK, SCOPE_SK, STATUS_SK, TTL_ATTRIBUTE, key, round_page, round_part_sk,
    round_record_prefix, round_seen_prefix, tenant_pk,
};
use super::lease::{LeasedItem, LeasedUpdate, RUN_LEASE, held};
use crate::import::buckets::{Bucket, SeenIds, SeenKind};
use crate::import::state::{
    Checkpoint, GroupScope, NumberedRecord, PageRecord, Phase, RunStatus, SyncState,
};
use crate::import::{HeldDeletions, ImportMemory, LeaseError, RoundLedger, RunLease};
use crate::model::TenantId;
use crate::ports::StoreError;

const PAGE_RECORD_DAYS: i64 = 8;
/// The parts of a page's record or bucket a killed run may have written.
const FORGET_PARTS: usize = 4;
const WHAT: &str = "the sync state";
/// When Microsoft first refused the app's token for the tenant, since the
/// last finished run (docs/contract.md, `ENTRA#STATUS`).
const SUSPECTED_SINCE: &str = "reauthorisation_suspected_since";
const LAST_SEEN: &str = "reauthorisation_last_seen";

#[derive(Debug, Clone)]
pub struct DynamoSyncStateStore {
    client: Client,
    table: String,
}

impl DynamoSyncStateStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// The client and the integrations table, for the store's other files.
    pub(super) fn table(&self) -> (&Client, &str) {
        (&self.client, &self.table)
    }

    fn status_fields(status: &RunStatus) -> Vec<(&'static str, AttributeValue)> {
        let counts = status
            .counts
            .as_pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), n(v as i64)))
            .collect();
        let mut fields = vec![
            ("last_sync_result", s(status.result.as_str())),
            ("last_sync_mode", s(status.mode.as_str())),
            ("last_sync_counts", AttributeValue::M(counts)),
        ];
        if let Some(at) = status.completed_at {
            fields.push(("last_sync_completed_at", timestamp(at)));
        }
        if let Some(error) = &status.error {
            fields.push(("last_sync_error", s(error)));
        }
        if let Some(open) = status.open_problems {
            fields.push(("open_problems", n(open as i64)));
        }
        fields
    }

    /// The status a run leaves (`status_fields`), and the run's place in
    /// the tenant's record (docs/behaviour.md 2.14): a run that read Entra
    /// ID to its end (ok, or deletions held) sets `last_successful_sync_at`
    /// and resets `consecutive_failures`; a failed one counts one more and
    /// leaves `last_successful_sync_at` alone.
    fn with_status(mut update: LeasedUpdate, status: &RunStatus) -> LeasedUpdate {
        update = update
            .set("running = :not_running")
            .value(":not_running", AttributeValue::Bool(false))
            .remove("progress");
        for (name, value) in Self::status_fields(status) {
            update = update
                .set(format!("{name} = :{name}"))
                .value(format!(":{name}"), value);
        }
        match (status.result, status.completed_at) {
            (crate::import::state::RunResult::Error, _) => update
                .set("consecutive_failures = if_not_exists(consecutive_failures, :no_failures) + :one_failure")
                .value(":no_failures", n(0))
                .value(":one_failure", n(1)),
            (_, Some(at)) => update
                .set("last_successful_sync_at = :last_successful_sync_at")
                .value(":last_successful_sync_at", timestamp(at))
                .set("consecutive_failures = :no_failures")
                .value(":no_failures", n(0)),
            (_, None) => update,
        }
    }

    /// The run lease on the tenant's status item.
    fn lease(&self, tenant: &TenantId) -> LeasedItem<'_> {
        RUN_LEASE.on(&self.client, &self.table, key(tenant, STATUS_SK))
    }

    fn documents(&self) -> ChunkedDocuments<'_> {
        ChunkedDocuments {
            client: &self.client,
            table: &self.table,
        }
    }

    /// A document that grows with the tenant, in as many items as it needs.
    async fn put_json<T: serde::Serialize>(
        &self,
        tenant: &TenantId,
        sk: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(value).expect("bookkeeping serialises");
        self.documents().save(tenant, sk, &json).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        tenant: &TenantId,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(json) = self.documents().load(tenant, sk).await? else {
            return Ok(None);
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| malformed(WHAT, format!("{sk}: {e}")))
    }
}

impl DynamoSyncStateStore {
    /// The lease was still held by a run that never gave it back: its
    /// invocation crashed or timed out. That counts as a failed run, so
    /// that a crash loop raises `consecutive_failures` (and the admin reads
    /// why) although no run ever finishes to say so; this run's end
    /// clears both if it succeeds.
    async fn count_dead_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tracing::warn!(
            "the previous run stopped without finishing (its invocation crashed or timed out)"
        );
        let counted = self
            .lease(tenant)
            .renew(run_id, lease_until)
            .set("consecutive_failures = if_not_exists(consecutive_failures, :no_failures) + :one_failure")
            .value(":no_failures", n(0))
            .value(":one_failure", n(1))
            .set("last_sync_error = :died")
            .value(":died", s(DEAD_RUN_ERROR))
            .send("counting the run that stopped without finishing")
            .await;
        match held(counted) {
            Ok(_) | Err(LeaseError::Lost) => Ok(()),
            Err(LeaseError::Store(error)) => Err(error),
        }
    }
}

/// `last_sync_error` while a run that died is taken over.
pub const DEAD_RUN_ERROR: &str = "the previous run stopped without finishing (its invocation crashed or timed out); the next run resumes its work";

impl RunLease for DynamoSyncStateStore {
    async fn begin_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SyncState>, StoreError> {
        let taken = self
            .lease(tenant)
            .take(run_id, now, lease_until)
            // The queued job (if any) is being run: a change reported from
            // now on queues another (store/sync_requests.rs).
            .set("last_sync_started_at = :now")
            .set("running = :running")
            .remove("sync_job_queued_ms")
            .value(":now", timestamp(now))
            .value(":running", AttributeValue::Bool(true))
            // The item as it was: whether a run had begun before this one.
            // The fields read below are not changed by this update.
            .return_values(ReturnValue::AllOld)
            .send("taking the tenant's lease")
            .await?;
        let Some(output) = taken else {
            return Ok(None);
        };
        let item = output.attributes.unwrap_or_default();
        if text(&item, "lease_owner").is_some_and(|owner| owner != run_id) {
            self.count_dead_run(tenant, run_id, lease_until).await?;
        }
        Ok(Some(SyncState {
            users_delta_link: text(&item, "users_delta_link"),
            groups_delta_link: text(&item, "groups_delta_link"),
            scope_fingerprint: text(&item, "scope_fingerprint"),
            checkpoint: from_json(&item, "checkpoint", WHAT)?,
            holding_deletions: flag(&item, "holding_deletions").unwrap_or(false),
            ran_before: item.contains_key("last_sync_started_at"),
            previous_run_died: item.contains_key("lease_owner"),
            round_paused: flag(&item, "running").unwrap_or(false),
        }))
    }

    async fn checkpoint(
        &self,
        tenant: &TenantId,
        run_id: &str,
        checkpoint: &Checkpoint,
        lease_until: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        let renewed = self
            .lease(tenant)
            .renew(run_id, lease_until)
            .set("checkpoint = :checkpoint")
            .value(":checkpoint", to_json(checkpoint))
            .set("progress = :progress")
            .value(":progress", progress(checkpoint))
            .send("saving the checkpoint")
            .await;
        held(renewed).map(|_| ())
    }

    async fn finish_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        state: &SyncState,
        status: &RunStatus,
    ) -> Result<Option<DateTime<Utc>>, LeaseError> {
        let mut update = self.lease(tenant).release(run_id).remove("checkpoint");
        let mut fields = Vec::new();
        fields.push((
            "holding_deletions",
            AttributeValue::Bool(state.holding_deletions),
        ));
        for (name, value) in [
            ("users_delta_link", &state.users_delta_link),
            ("groups_delta_link", &state.groups_delta_link),
            ("scope_fingerprint", &state.scope_fingerprint),
        ] {
            match value {
                Some(v) => fields.push((name, s(v))),
                None => update = update.remove(name),
            }
        }
        if status.error.is_none() {
            update = update.remove("last_sync_error");
        }
        // The run read Entra ID: the app's token works.
        update = update.remove(SUSPECTED_SINCE).remove(LAST_SEEN);
        for (name, value) in fields {
            update = update
                .set(format!("{name} = :{name}"))
                .value(format!(":{name}"), value);
        }
        update = Self::with_status(update, status);
        let finished = update
            .return_values(ReturnValue::AllNew)
            .send("finishing the run")
            .await;
        Ok(held(finished)?
            .attributes
            .as_ref()
            .and_then(|item| text(item, "sync_requested_at"))
            .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
            .map(|at| at.with_timezone(&Utc)))
    }

    async fn abandon_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        status: Option<&RunStatus>,
    ) -> Result<(), StoreError> {
        let mut update = self.lease(tenant).release(run_id);
        // Without a status the run paused: it goes on in its continuation,
        // still `running`.
        if let Some(status) = status {
            update = Self::with_status(update, status);
        }
        // Another run holding the lease now: nothing of ours to give back.
        update.send("releasing the tenant's lease").await?;
        Ok(())
    }

    async fn suspect_reauthorisation(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        continuous_since: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        // A window whose last sighting is older starts again at `now`.
        let restarted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, STATUS_SK)))
            .update_expression("SET #since = :now, #seen = :now")
            .condition_expression("attribute_not_exists(#seen) OR #seen < :continuous")
            .expression_attribute_names("#since", SUSPECTED_SINCE)
            .expression_attribute_names("#seen", LAST_SEEN)
            .expression_attribute_values(":now", timestamp(now))
            .expression_attribute_values(":continuous", timestamp(continuous_since))
            .send()
            .await;
        match restarted {
            Ok(_) => return Ok(now),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
            Err(err) => return Err(unavailable("recording a refused app token")(err)),
        }
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, STATUS_SK)))
            .update_expression("SET #since = if_not_exists(#since, :now), #seen = :now")
            .expression_attribute_names("#since", SUSPECTED_SINCE)
            .expression_attribute_names("#seen", LAST_SEEN)
            .expression_attribute_values(":now", timestamp(now))
            // Not UPDATED_NEW: moto leaves out an attribute the update kept.
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable("recording a refused app token"))?;
        let recorded = output
            .attributes
            .as_ref()
            .and_then(|item| text(item, SUSPECTED_SINCE))
            .ok_or_else(|| malformed(WHAT, format!("{SUSPECTED_SINCE} was not returned")))?;
        DateTime::parse_from_rfc3339(&recorded)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|e| malformed(WHAT, format!("{SUSPECTED_SINCE}: {e}")))
    }

    async fn clear_reauthorisation_suspicion(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, STATUS_SK)))
            .update_expression("REMOVE #since, #seen")
            .expression_attribute_names("#since", SUSPECTED_SINCE)
            .expression_attribute_names("#seen", LAST_SEEN)
            .send()
            .await
            .map_err(unavailable("forgetting a refused app token"))?;
        Ok(())
    }
}

/// `progress` (DESIGN 2.14): where a round spanning invocations is, in
/// the words the console shows.
fn progress(checkpoint: &Checkpoint) -> AttributeValue {
    AttributeValue::M(
        [
            ("phase", s(checkpoint.phase.as_str())),
            ("users_read", n(checkpoint.users_read as i64)),
            ("groups_read", n(checkpoint.groups_read as i64)),
            // Pages of the current phase.
            ("pages", n(i64::from(checkpoint.page))),
            ("started_at", timestamp(checkpoint.started_at)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    )
}

impl RoundLedger for DynamoSyncStateStore {
    async fn save_page_record(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
        record: &PageRecord,
        seen: &[SeenIds],
    ) -> Result<(), StoreError> {
        let expires = n((Utc::now() + chrono::Duration::days(PAGE_RECORD_DAYS)).timestamp());
        let mut values: Vec<(String, AttributeValue)> = Vec::new();
        if !record.is_empty() {
            let prefix = round_record_prefix(round_id, phase);
            let parts = record.split_to_fit(CHUNK_BYTES);
            values.extend(
                parts
                    .iter()
                    .enumerate()
                    .map(|(i, part)| (round_part_sk(&prefix, page, i), to_json(part))),
            );
        }
        for part in seen {
            let prefix = round_seen_prefix(round_id, part.kind, part.bucket);
            let chunks = ids_to_fit(&part.ids, CHUNK_BYTES);
            values.extend(
                chunks
                    .into_iter()
                    .enumerate()
                    .map(|(i, ids)| (round_part_sk(&prefix, page, i), to_json(&ids))),
            );
        }
        let requests = values
            .into_iter()
            .map(|(sk, value)| {
                let mut item = key(tenant, sk);
                item.insert("value".into(), value);
                item.insert(TTL_ATTRIBUTE.into(), expires.clone());
                put_request(item)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        batch_write(&self.client, &self.table, requests, "saving a page record").await?;
        Ok(())
    }

    async fn page_records(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
    ) -> Result<Vec<NumberedRecord>, StoreError> {
        let prefix = round_record_prefix(round_id, phase);
        let mut records = Vec::new();
        for item in self
            .query_round(tenant, &prefix, "reading page records")
            .await?
        {
            let page = page_of(&item, &prefix)?;
            records.extend(from_json::<PageRecord>(&item, "value", WHAT)?.map(|r| (page, r)));
        }
        Ok(records)
    }

    async fn forget_page(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
    ) -> Result<(), StoreError> {
        let mut prefixes = vec![round_record_prefix(round_id, phase)];
        for kind in phase.seen_kinds() {
            prefixes.extend(Bucket::all().map(|b| round_seen_prefix(round_id, *kind, b)));
        }
        // A page's part of one bucket is at most 300 KB of ids; four
        // parts are more than a Graph page of ids can fill.
        let requests = prefixes
            .iter()
            .flat_map(|prefix| (0..FORGET_PARTS).map(move |i| round_part_sk(prefix, page, i)))
            .map(|sk| delete_request(key(tenant, sk)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        batch_write(&self.client, &self.table, requests, "forgetting a page").await?;
        Ok(())
    }

    async fn seen_in(
        &self,
        tenant: &TenantId,
        round_id: &str,
        kind: SeenKind,
        bucket: Bucket,
    ) -> Result<Vec<(u32, Vec<String>)>, StoreError> {
        let prefix = round_seen_prefix(round_id, kind, bucket);
        let mut seen = Vec::new();
        for item in self
            .query_round(tenant, &prefix, "reading a round's seen ids")
            .await?
        {
            let page = page_of(&item, &prefix)?;
            seen.extend(from_json::<Vec<String>>(&item, "value", WHAT)?.map(|ids| (page, ids)));
        }
        Ok(seen)
    }
}

impl DynamoSyncStateStore {
    /// A round's items under `prefix`, in key order (page order).
    async fn query_round(
        &self,
        tenant: &TenantId,
        prefix: &str,
        operation: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        let query = sk_prefix_query(&self.client, &self.table, tenant_pk(tenant), prefix)
            .consistent_read(true);
        query_all(query, operation).await
    }
}

/// The page number a round item's key carries after `prefix`.
fn page_of(item: &Item, prefix: &str) -> Result<u32, StoreError> {
    let sk = text(item, "sk").unwrap_or_default();
    round_page(&sk, prefix)
        .ok_or_else(|| malformed(WHAT, format!("a round item's key {sk} names no page")))
}

/// Consecutive runs of `ids` of at most about `limit` bytes of JSON each.
fn ids_to_fit(ids: &[String], limit: usize) -> Vec<&[String]> {
    let mut parts = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, id) in ids.iter().enumerate() {
        let id_size = id.len() + 3;
        if size + id_size > limit && i > start {
            parts.push(&ids[start..i]);
            (start, size) = (i, 0);
        }
        size += id_size;
    }
    if start < ids.len() {
        parts.push(&ids[start..]);
    }
    parts
}

impl ImportMemory for DynamoSyncStateStore {
    async fn group_scope(&self, tenant: &TenantId) -> Result<Option<GroupScope>, StoreError> {
        self.get_json(tenant, SCOPE_SK).await
    }

    async fn save_group_scope(
        &self,
        tenant: &TenantId,
        scope: &GroupScope,
    ) -> Result<(), StoreError> {
        self.put_json(tenant, SCOPE_SK, scope).await
    }

    async fn held_deletions(&self, tenant: &TenantId) -> Result<HeldDeletions, StoreError> {
        let held: Option<(Vec<String>, Vec<String>)> = self.get_json(tenant, HELD_SK).await?;
        Ok(held
            .map(|(users, groups)| HeldDeletions { users, groups })
            .unwrap_or_default())
    }

    async fn save_held_deletions(
        &self,
        tenant: &TenantId,
        held: &HeldDeletions,
    ) -> Result<(), StoreError> {
        self.put_json(tenant, HELD_SK, &(&held.users, &held.groups))
            .await
    }
}
