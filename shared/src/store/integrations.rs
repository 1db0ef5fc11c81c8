//! `INTEGRATIONS_TABLE` on DynamoDB: tenant configs; the authorisation
//! flow's items are in `authorisation`, the switch's in `auth_switch`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::dynamo::{Item, conditional, flag, query_all, s, text, timestamp, unavailable};
use super::layout::{BY_SK_INDEX, CONFIG_SK, PREVIEW_REQUEST_INDEX, REALTIME_MARKER_SK, key};
use crate::model::entra::{PermissionCheck, ReauthorisationReason};
use crate::model::{TenantConfig, TenantId};
use crate::ports::{StoreError, TenantConfigs};
use crate::tokens::PermissionRecords;

mod auth_switch;
mod authorisation;

#[derive(Clone, Debug)]
pub struct DynamoIntegrationsStore {
    client: Client,
    table: String,
}

impl DynamoIntegrationsStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn parse_config(item: Item) -> Result<TenantConfig, StoreError> {
        let attributes: serde_json::Map<String, serde_json::Value> = serde_dynamo::from_item(item)
            .map_err(|e| StoreError::Malformed {
                what: "the tenant config item",
                detail: e.to_string(),
            })?;
        Ok(TenantConfig::from_attributes(&attributes)?)
    }
}

impl DynamoIntegrationsStore {
    /// Removes a request attribute of the config unless it changed since
    /// `seen` (a request made again meanwhile stays).
    async fn remove_request(
        &self,
        tenant: &TenantId,
        attribute: &'static str,
        seen: &str,
    ) -> Result<(), StoreError> {
        self.remove_request_with(tenant, attribute, seen, "").await
    }

    /// As `remove_request`, removing `also` (e.g. `, preview_draft`) with it.
    async fn remove_request_with(
        &self,
        tenant: &TenantId,
        attribute: &'static str,
        seen: &str,
        also: &'static str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .update_expression(format!("REMOVE #request{also}"))
            .condition_expression("#request = :seen")
            .expression_attribute_names("#request", attribute)
            .expression_attribute_values(":seen", s(seen))
            .send()
            .await;
        conditional(result, "clearing a request of the config")?;
        Ok(())
    }
}

impl TenantConfigs for DynamoIntegrationsStore {
    async fn tenant_config(&self, tenant: &TenantId) -> Result<Option<TenantConfig>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the tenant config"))?;
        output.item.map(Self::parse_config).transpose()
    }

    async fn clear_resync_request(&self, tenant: &TenantId, seen: &str) -> Result<(), StoreError> {
        // Requested again meanwhile: the next run is full once more.
        self.remove_request(tenant, "resync_requested_at", seen)
            .await
    }

    async fn clear_preview_request(&self, tenant: &TenantId, seen: &str) -> Result<(), StoreError> {
        // Requested again meanwhile: the next tick previews once more.
        // Its draft (issue 22 §9) goes with it: a later request without
        // one previews the saved config.
        self.remove_request_with(tenant, "preview_requested_at", seen, ", preview_draft")
            .await
    }

    async fn clear_deletion_approval(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .update_expression("SET approve_held_deletions = :false")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        conditional(result, "resetting the deletion approval")?;
        Ok(())
    }

    async fn mark_reauthorisation_required(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .update_expression("SET authorisation = :required")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":required", s("reauthorisation_required"))
            .send()
            .await;
        conditional(result, "marking the tenant for reauthorisation")?;
        Ok(())
    }

    async fn require_reauthorisation(
        &self,
        tenant: &TenantId,
        reason: ReauthorisationReason,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .update_expression("SET authorisation = :required, reauthorisation_reason = :reason")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":required", s("reauthorisation_required"))
            .expression_attribute_values(":reason", s(reason.as_str()))
            .send()
            .await;
        conditional(result, "marking the tenant for reauthorisation")?;
        Ok(())
    }
}

impl PermissionRecords for DynamoIntegrationsStore {
    /// Only the check's three attributes (functions-owned, DESIGN 1.3);
    /// `missing_permissions` is absent when none is missing.
    async fn record_permission_check(
        &self,
        tenant: &TenantId,
        check: &PermissionCheck,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let list = |roles: &[String]| AttributeValue::L(roles.iter().map(s).collect());
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":granted", list(&check.granted))
            .expression_attribute_values(":at", timestamp(at));
        let set = "SET granted_permissions = :granted, permissions_checked_at = :at";
        update = if check.missing.is_empty() {
            update.update_expression(format!("{set} REMOVE missing_permissions"))
        } else {
            update
                .update_expression(format!("{set}, missing_permissions = :missing"))
                .expression_attribute_values(":missing", list(&check.missing))
        };
        conditional(update.send().await, "recording the app's permissions")?;
        Ok(())
    }
}

fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(s).collect())
}

impl crate::schedule::ConfigIndex for DynamoIntegrationsStore {
    async fn config_summaries(
        &self,
    ) -> Result<
        Vec<Result<crate::schedule::ConfigSummary, crate::schedule::UnreadableConfig>>,
        StoreError,
    > {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_SK_INDEX)
            .key_condition_expression("sk = :config")
            .expression_attribute_values(":config", s(CONFIG_SK));
        let items = query_all(query, "listing tenant configs").await?;
        let holders = self.subscription_holders().await?;
        let previewing = self.preview_requests().await?;
        Ok(items
            .iter()
            .map(|item| {
                config_summary(item).map(|mut summary| {
                    summary.holds_subscriptions = holders.contains(&summary.tenant_id);
                    summary.preview_requested = previewing.contains(&summary.tenant_id);
                    summary
                })
            })
            .collect())
    }
}

impl DynamoIntegrationsStore {
    /// The tenants with an `ENTRA#REALTIME` marker (store/subscriptions.rs
    /// writes them).
    async fn subscription_holders(
        &self,
    ) -> Result<std::collections::HashSet<TenantId>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_SK_INDEX)
            .key_condition_expression("sk = :realtime")
            .expression_attribute_values(":realtime", s(REALTIME_MARKER_SK));
        let items = query_all(query, "listing tenants holding subscriptions").await?;
        Ok(items
            .iter()
            .filter_map(|item| TenantId::parse(&text(item, "tenant_id")?).ok())
            .collect())
    }
}

impl DynamoIntegrationsStore {
    /// The tenants whose config asks for a preview: a scan of a sparse
    /// index that holds only those configs.
    async fn preview_requests(&self) -> Result<std::collections::HashSet<TenantId>, StoreError> {
        let mut tenants = std::collections::HashSet::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .index_name(PREVIEW_REQUEST_INDEX)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable("listing preview requests"))?;
            tenants.extend(
                page.items()
                    .iter()
                    .filter_map(|item| TenantId::parse(&text(item, "tenant_id")?).ok()),
            );
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(tenants),
            }
        }
    }
}

/// The scheduler's view of a config item, or why it cannot be read.
fn config_summary(
    item: &Item,
) -> Result<crate::schedule::ConfigSummary, crate::schedule::UnreadableConfig> {
    let unreadable = |problem: String| crate::schedule::UnreadableConfig {
        item: text(item, "pk").unwrap_or_default(),
        problem,
    };
    let tenant_id = text(item, "tenant_id")
        .ok_or_else(|| unreadable("tenant_id is missing".into()))
        .and_then(|raw| TenantId::parse(&raw).map_err(|e| unreadable(e.to_string())))?;
    Ok(crate::schedule::ConfigSummary {
        tenant_id,
        sync_enabled: flag(item, "sync_enabled") == Some(true),
        authorised: text(item, "authorisation").as_deref() == Some("authorised"),
        preview_requested: false,
        holds_subscriptions: false,
    })
}
