//! Graph subscriptions in the integrations table (sync requests are in
//! store/sync_requests.rs).
//!
//! A subscription item, `pk = SUBSCRIPTION#<subscription_id>`,
//! `sk = ENTRA#SUBSCRIPTION`, holds what a delivery is checked against: the
//! Entra tenant, the resource, the SHA-256 of its `clientState` (never the
//! value), and the AM tenants it wakes; lifecycle events wait on it for the
//! worker.
//!
//! The worker finds the subscription it keeps for an Entra tenant and
//! resource through `pk = ENTRA_TENANT#<entra_tenant_id>`,
//! `sk = ENTRA#SUBSCRIPTION#<resource>`, which holds its id.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::dynamo::{
    batch_get, is_condition_failure, malformed, refused_or_unavailable, s, text, timestamp,
    unavailable,
};
use super::layout::{
    REALTIME_MARKER_SK, STATUS_SK, key, subscription_key, subscription_lock_key,
    subscription_pointer_key,
};
use super::lease::SUBSCRIPTION_LOCK;
use crate::model::TenantId;
use crate::notifications::{LifecycleEvent, SubscriptionRecord, SubscriptionRecords};
use crate::ports::StoreError;
use crate::realtime::{KeptSubscription, KeptSubscriptions, RealtimeStatus};

const WHAT: &str = "a subscription item";

fn parse_time(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    text(item, name)
        .map(|raw| {
            DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| malformed(WHAT, format!("{name}: {e}")))
        })
        .transpose()
}

fn parse_event(raw: &str) -> Option<LifecycleEvent> {
    [
        LifecycleEvent::ReauthorizationRequired,
        LifecycleEvent::SubscriptionRemoved,
        LifecycleEvent::Missed,
    ]
    .into_iter()
    .find(|e| e.as_str() == raw)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(raw: &str) -> Option<[u8; 32]> {
    if raw.len() != 64 || !raw.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[derive(Debug, Clone)]
pub struct DynamoSubscriptionStore {
    client: Client,
    table: String,
}

impl DynamoSubscriptionStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Writes the record of a subscription Graph created (or renewed).
    pub async fn save(
        &self,
        record: &SubscriptionRecord,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        self.put_record(&KeptSubscription {
            record: record.clone(),
            expires_at,
            renewed_at: now,
            verified_at: now,
            lifecycle_event: None,
            lifecycle_event_at: None,
            notification_url: None,
        })
        .await
    }

    /// Writes the worker's fields of the record; a lifecycle event
    /// graph-notifications recorded meanwhile is left as it is.
    async fn put_record(&self, kept: &KeptSubscription) -> Result<(), StoreError> {
        let fields = Self::record_fields(kept);
        // Names through placeholders: `resource` is a reserved word.
        let set: Vec<String> = fields.iter().map(|(k, _)| format!("#{k} = :{k}")).collect();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(subscription_key(&kept.record.subscription_id)))
            .update_expression(format!("SET {}", set.join(", ")));
        for (name, value) in fields {
            request = request
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), value);
        }
        request
            .send()
            .await
            .map_err(unavailable("saving a subscription"))?;
        if let (None, Some(seen)) = (kept.lifecycle_event, kept.lifecycle_event_at) {
            self.clear_lifecycle_event(&kept.record.subscription_id, seen)
                .await?;
        }
        Ok(())
    }

    /// Removes the event the worker answered, unless a newer one came.
    async fn clear_lifecycle_event(&self, id: &str, seen: DateTime<Utc>) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(subscription_key(id)))
            .update_expression("REMOVE lifecycle_event, lifecycle_event_at")
            .condition_expression("lifecycle_event_at = :seen")
            .expression_attribute_values(":seen", timestamp(seen))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(unavailable("clearing a lifecycle event")(err)),
        }
    }

    fn record_fields(kept: &KeptSubscription) -> Vec<(&'static str, AttributeValue)> {
        let record = &kept.record;
        let mut fields = vec![
            ("subscription_id", s(&record.subscription_id)),
            ("entra_tenant_id", s(&record.entra_tenant_id)),
            ("resource", s(&record.resource)),
            ("client_state_sha256", s(hex(&record.client_state_sha256))),
            (
                "am_tenant_ids",
                AttributeValue::L(record.am_tenants.iter().map(|t| s(t.as_str())).collect()),
            ),
            ("expires_at", timestamp(kept.expires_at)),
            ("renewed_at", timestamp(kept.renewed_at)),
            ("verified_at", timestamp(kept.verified_at)),
        ];
        if let Some(url) = &kept.notification_url {
            fields.push(("notification_url", s(url)));
        }
        fields
    }

    fn parse(item: &HashMap<String, AttributeValue>) -> Result<SubscriptionRecord, StoreError> {
        let field =
            |name: &str| text(item, name).ok_or_else(|| malformed(WHAT, format!("no {name}")));
        let client_state_sha256 = from_hex(&field("client_state_sha256")?)
            .ok_or_else(|| malformed(WHAT, "client_state_sha256 is not 64 hex digits"))?;
        let am_tenants = item
            .get("am_tenant_ids")
            .and_then(|v| v.as_l().ok())
            .ok_or_else(|| malformed(WHAT, "no am_tenant_ids list"))?
            .iter()
            .map(|v| {
                let raw = v
                    .as_s()
                    .map_err(|_| malformed(WHAT, "an AM tenant id is not a string"))?;
                TenantId::parse(raw).map_err(|e| malformed(WHAT, format!("am_tenant_ids: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(SubscriptionRecord {
            subscription_id: field("subscription_id")?,
            entra_tenant_id: field("entra_tenant_id")?,
            resource: field("resource")?,
            client_state_sha256,
            am_tenants,
        })
    }
}

impl DynamoSubscriptionStore {
    /// Writes or removes the tenant's `ENTRA#REALTIME` marker.
    async fn mark_holder(&self, tenant: &TenantId, holds: bool) -> Result<(), StoreError> {
        let marker = key(tenant, REALTIME_MARKER_SK);
        if holds {
            let mut item = marker;
            item.insert("tenant_id".to_owned(), s(tenant.as_str()));
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(unavailable("marking the tenant as holding subscriptions"))?;
        } else {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(marker))
                .send()
                .await
                .map_err(unavailable("removing the tenant's subscription marker"))?;
        }
        Ok(())
    }
}

impl SubscriptionRecords for DynamoSubscriptionStore {
    /// One BatchGetItem per 100 ids (docs/behaviour.md 2.11).
    async fn subscriptions(
        &self,
        subscription_ids: &[String],
    ) -> Result<HashMap<String, SubscriptionRecord>, StoreError> {
        let keys = subscription_ids
            .iter()
            .map(|id| subscription_key(id))
            .collect();
        batch_get(&self.client, &self.table, keys, "reading subscriptions")
            .await?
            .iter()
            .map(|item| Self::parse(item).map(|r| (r.subscription_id.clone(), r)))
            .collect()
    }

    async fn record_lifecycle_event(
        &self,
        subscription_id: &str,
        event: LifecycleEvent,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(subscription_key(subscription_id)))
            .update_expression("SET lifecycle_event = :event, lifecycle_event_at = :at")
            // Never recreate an item the worker deleted meanwhile.
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":event", s(event.as_str()))
            .expression_attribute_values(":at", timestamp(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(refused_or_unavailable("recording a lifecycle event")(err)),
        }
    }
}

impl KeptSubscriptions for DynamoSubscriptionStore {
    async fn kept(
        &self,
        entra_tenant_id: &str,
        resource: &str,
    ) -> Result<Option<KeptSubscription>, StoreError> {
        let pointer = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(subscription_pointer_key(entra_tenant_id, resource)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the tenant's subscription"))?;
        let Some(id) = pointer
            .item
            .as_ref()
            .and_then(|i| text(i, "subscription_id"))
        else {
            return Ok(None);
        };
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(subscription_key(&id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading a subscription"))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let record = Self::parse(&item)?;
        let expires_at =
            parse_time(&item, "expires_at")?.ok_or_else(|| malformed(WHAT, "no expires_at"))?;
        let renewed_at =
            parse_time(&item, "renewed_at")?.unwrap_or(expires_at - crate::realtime::LIFETIME);
        Ok(Some(KeptSubscription {
            record,
            expires_at,
            renewed_at,
            verified_at: parse_time(&item, "verified_at")?.unwrap_or(renewed_at),
            lifecycle_event: text(&item, "lifecycle_event")
                .as_deref()
                .and_then(parse_event),
            lifecycle_event_at: parse_time(&item, "lifecycle_event_at")?,
            notification_url: text(&item, "notification_url"),
        }))
    }

    async fn keep(&self, kept: &KeptSubscription) -> Result<(), StoreError> {
        self.put_record(kept).await?;
        let mut pointer =
            subscription_pointer_key(&kept.record.entra_tenant_id, &kept.record.resource);
        pointer.insert(
            "subscription_id".to_owned(),
            s(&kept.record.subscription_id),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(pointer))
            .send()
            .await
            .map_err(unavailable("saving the tenant's subscription"))?;
        Ok(())
    }

    async fn forget(&self, kept: &KeptSubscription) -> Result<(), StoreError> {
        for key in [
            subscription_pointer_key(&kept.record.entra_tenant_id, &kept.record.resource),
            subscription_key(&kept.record.subscription_id),
        ] {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .send()
                .await
                .map_err(unavailable("forgetting a subscription"))?;
        }
        Ok(())
    }

    async fn realtime_status(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RealtimeStatus>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, STATUS_SK)))
            .projection_expression("realtime, realtime_error")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the realtime status"))?;
        let item = output.item.unwrap_or_default();
        Ok(match text(&item, "realtime").as_deref() {
            Some("active") => Some(RealtimeStatus::Active),
            Some("inactive") => Some(RealtimeStatus::Inactive),
            Some("error") => Some(RealtimeStatus::Error(
                text(&item, "realtime_error").unwrap_or_default(),
            )),
            _ => None,
        })
    }

    async fn set_realtime_status(
        &self,
        tenant: &TenantId,
        status: &RealtimeStatus,
    ) -> Result<(), StoreError> {
        // The marker first: should the status write fail after it, the
        // status still differs and the next run writes both again.
        self.mark_holder(tenant, *status != RealtimeStatus::Inactive)
            .await?;
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, STATUS_SK)))
            .expression_attribute_values(":realtime", s(status.as_str()));
        let request = match status {
            RealtimeStatus::Error(reason) => request
                .update_expression("SET realtime = :realtime, realtime_error = :reason")
                .expression_attribute_values(":reason", s(reason)),
            _ => request.update_expression("SET realtime = :realtime REMOVE realtime_error"),
        };
        request
            .send()
            .await
            .map_err(unavailable("writing the realtime status"))?;
        Ok(())
    }

    async fn lock(
        &self,
        entra_tenant_id: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let taken = SUBSCRIPTION_LOCK
            .on(
                &self.client,
                &self.table,
                subscription_lock_key(entra_tenant_id),
            )
            .take(holder, Utc::now(), until)
            .send("locking the tenant's subscriptions")
            .await?;
        Ok(taken.is_some())
    }

    async fn unlock(&self, entra_tenant_id: &str, holder: &str) -> Result<(), StoreError> {
        // Expired and taken by another: nothing of ours to remove.
        SUBSCRIPTION_LOCK
            .on(
                &self.client,
                &self.table,
                subscription_lock_key(entra_tenant_id),
            )
            .delete_held(holder, "unlocking the tenant's subscriptions")
            .await?;
        Ok(())
    }
}
