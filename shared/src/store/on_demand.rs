//! What the on-demand sync keeps in the integrations table: the tenant's
//! run lease (the sync worker's, on `ENTRA#STATUS`), its rate-limit slots,
//! and the AM user an `object` names.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::directory_table::DynamoDirectoryStore;
use super::dynamo::{Item, conditional, n, unavailable};
use super::layout::{ON_DEMAND_RATE_SK, STATUS_SK, TTL_ATTRIBUTE, key};
use super::lease::RUN_LEASE;
use crate::export::ExportDirectory;
use crate::import::PlatformUser;
use crate::model::TenantId;
use crate::model::directory::{GroupItem, UserItem, user_name_key};
use crate::on_demand::rate::{Admission, REQUESTS_PER_WINDOW, RateLimiter, WINDOW, admission};
use crate::on_demand::{AmUsers, RunLeases};
use crate::ports::StoreError;

/// An on-demand sync holds the run lease at most this long: well beyond
/// its own work (seconds), short enough that a killed one blocks no sync
/// for long.
pub const ON_DEMAND_LEASE: Duration = Duration::from_secs(30);

/// Times a request tries for a slot another instance took meanwhile.
const SLOT_ATTEMPTS: usize = 3;

pub struct DynamoOnDemand {
    client: Client,
    table: String,
}

impl DynamoOnDemand {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn slots(
        &self,
        tenant: &TenantId,
    ) -> Result<[Option<i64>; REQUESTS_PER_WINDOW], StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, ON_DEMAND_RATE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the on-demand rate limit"))?;
        let item = output.item.unwrap_or_default();
        Ok(std::array::from_fn(|slot| slot_value(&item, slot)))
    }

    /// Takes `slot` at `now` if it still holds `replaces`.
    async fn take_slot(
        &self,
        tenant: &TenantId,
        (slot, replaces): (usize, Option<i64>),
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let name = slot_name(slot);
        let expires = now + chrono::TimeDelta::from_std(WINDOW * 6).unwrap_or_default();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, ON_DEMAND_RATE_SK)))
            .update_expression("SET #slot = :now, #ttl = :ttl")
            .expression_attribute_names("#slot", &name)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":ttl", n(expires.timestamp()));
        request = match replaces {
            None => request.condition_expression("attribute_not_exists(#slot)"),
            Some(old) => request
                .condition_expression("#slot = :old")
                .expression_attribute_values(":old", n(old)),
        };
        conditional(request.send().await, "taking an on-demand rate-limit slot")
    }
}

fn slot_name(slot: usize) -> String {
    format!("slot_{slot}")
}

fn slot_value(item: &Item, slot: usize) -> Option<i64> {
    match item.get(&slot_name(slot)) {
        Some(AttributeValue::N(raw)) => raw.parse().ok(),
        _ => None,
    }
}

impl RateLimiter for DynamoOnDemand {
    async fn admit(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Option<Duration>, StoreError> {
        for _ in 0..SLOT_ATTEMPTS {
            let slots = self.slots(tenant).await?;
            match admission(&slots, now.timestamp_millis()) {
                Admission::Refuse { retry_after } => return Ok(Some(retry_after)),
                Admission::Admit { slot, replaces } => {
                    if self.take_slot(tenant, (slot, replaces), now).await? {
                        return Ok(None);
                    }
                }
            }
        }
        // Others took the slots first, each time: the limit is reached.
        Ok(Some(Duration::from_secs(1)))
    }
}

impl RunLeases for DynamoOnDemand {
    async fn try_take(&self, tenant: &TenantId, holder: &str) -> Result<bool, StoreError> {
        let now = Utc::now();
        let until = now + chrono::TimeDelta::from_std(ON_DEMAND_LEASE).unwrap_or_default();
        let taken = RUN_LEASE
            .on(&self.client, &self.table, key(tenant, STATUS_SK))
            .take(holder, now, until)
            .send("taking the run lease for an on-demand sync")
            .await?;
        Ok(taken.is_some())
    }

    async fn release(&self, tenant: &TenantId, holder: &str) -> Result<(), StoreError> {
        RUN_LEASE
            .on(&self.client, &self.table, key(tenant, STATUS_SK))
            .release(holder)
            .send("releasing the run lease after an on-demand sync")
            .await?;
        Ok(())
    }
}

impl AmUsers for DynamoDirectoryStore {
    async fn am_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Option<UserItem>, StoreError> {
        ExportDirectory::user(self, tenant, user_id).await
    }

    async fn am_group(
        &self,
        tenant: &TenantId,
        group_id: &str,
    ) -> Result<Option<GroupItem>, StoreError> {
        ExportDirectory::group(self, tenant, group_id).await
    }

    /// From the `by-user-name` index's pages, never the user items.
    async fn platform_users_named(
        &self,
        tenant: &TenantId,
        user_name: &str,
    ) -> Result<Vec<PlatformUser>, StoreError> {
        let key = user_name_key(user_name);
        let ids = self.user_ids_named_in_any_case(tenant, &key).await?;
        let users = self.platform_users_among(tenant, ids, &key).await?;
        Ok(users
            .into_iter()
            .map(|user| PlatformUser {
                user_id: user.user_id,
                user_name: user.attributes.user_name,
            })
            .collect())
    }
}
