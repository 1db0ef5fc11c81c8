//! The export's intent to create an AM object in Entra, recorded before
//! its POST: a create whose answer was lost may have made an object that
//! Graph does not show for a while (replication lag), so a retry within
//! that while waits rather than create a second one, and a deletion looks
//! again later (docs/behaviour.md 2.11). `ENTRA#CREATING#…` items of
//! entra-sync's own design in `INTEGRATIONS_TABLE` (docs/contract.md 1.3).

use chrono::{DateTime, Utc};

use super::DynamoDirectoryStore;
use super::links::object_of;
use crate::model::directory::ItemKey;
use crate::ports::StoreError;
use crate::store::dynamo::{conditional, malformed, n, unavailable};
use crate::store::layout::{TTL_ATTRIBUTE, create_intent_sk, key};

const STARTED_AT: &str = "started_at_epoch";
/// Long past any replication lag; the item only has to outlive it.
const KEPT_FOR_SECONDS: i64 = 24 * 3600;

fn intent_key(item: &ItemKey) -> Result<crate::store::dynamo::Item, StoreError> {
    let (prefix, am_id) = object_of(item)
        .ok_or_else(|| malformed("a create intent", "a membership is never created"))?;
    Ok(key(item.tenant(), create_intent_sk(prefix, am_id)))
}

impl DynamoDirectoryStore {
    /// Records that a create begins at `at`, unless one began after
    /// `unless_after`: `false` then, and nothing is written.
    pub(super) async fn write_create_intent(
        &self,
        item: &ItemKey,
        at: DateTime<Utc>,
        unless_after: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut record = intent_key(item)?;
        record.insert(STARTED_AT.into(), n(at.timestamp()));
        record.insert(TTL_ATTRIBUTE.into(), n(at.timestamp() + KEPT_FOR_SECONDS));
        let written = self
            .client
            .put_item()
            .table_name(self.links.table())
            .set_item(Some(record))
            .condition_expression("attribute_not_exists(pk) OR #started <= :cutoff")
            .expression_attribute_names("#started", STARTED_AT)
            .expression_attribute_values(":cutoff", n(unless_after.timestamp()))
            .send()
            .await;
        conditional(written, "recording the intent to create in Entra ID")
    }

    /// When the last create of the object began, if it is still recorded.
    pub(super) async fn read_create_intent(
        &self,
        item: &ItemKey,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(self.links.table())
            .set_key(Some(intent_key(item)?))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the intent to create in Entra ID"))?;
        let Some(record) = found.item else {
            return Ok(None);
        };
        let started = record
            .get(STARTED_AT)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or_else(|| malformed("a create intent", format!("no {STARTED_AT}")))?;
        Ok(Some(started))
    }

    /// Forgets the intent of the create that began at `began`: Graph
    /// refused it, so nothing was made. A later create's intent stays.
    pub(super) async fn delete_create_intent(
        &self,
        item: &ItemKey,
        began: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(self.links.table())
            .set_key(Some(intent_key(item)?))
            .condition_expression("#started = :began")
            .expression_attribute_names("#started", STARTED_AT)
            .expression_attribute_values(":began", n(began.timestamp()))
            .send()
            .await;
        conditional(deleted, "forgetting the intent to create in Entra ID").map(drop)
    }
}
