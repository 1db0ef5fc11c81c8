//! `INTEGRATIONS_TABLE` on DynamoDB: tenant configs and pending OAuth states.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::dynamo::{
    Item, conditional, flag, is_condition_failure, query_all, s, text, timestamp, unavailable,
};
use super::layout::{
    BY_SK_INDEX, CONFIG_SK, PREVIEW_REQUEST_INDEX, REALTIME_MARKER_SK, TTL_ATTRIBUTE, key,
    pending_authorisation_key,
};
use crate::authorisation::{
    AuthorisationRecord, IntegrationsStore, PendingAuthorisation, RecordOutcome,
};
use crate::model::entra::{PermissionCheck, ReauthorisationReason};
use crate::model::{TenantConfig, TenantId};
use crate::ports::{StoreError, TenantConfigs};
use crate::tokens::PermissionRecords;

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

    fn parse_pending(item: &Item) -> Result<PendingAuthorisation, StoreError> {
        let text = |name: &'static str| -> Result<String, StoreError> {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .ok_or(StoreError::Malformed {
                    what: "a pending authorisation",
                    detail: format!("attribute {name} is missing"),
                })
        };
        let time = |name: &'static str| -> Result<DateTime<Utc>, StoreError> {
            DateTime::parse_from_rfc3339(&text(name)?)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| StoreError::Malformed {
                    what: "a pending authorisation",
                    detail: format!("attribute {name} is not a timestamp"),
                })
        };
        Ok(PendingAuthorisation {
            state: SecretString::from(text("state")?),
            tenant_id: TenantId::parse(&text("tenant_id")?).map_err(|e| StoreError::Malformed {
                what: "a pending authorisation",
                detail: e.to_string(),
            })?,
            authority: text("authority")?,
            pkce_verifier: SecretString::from(text("pkce_verifier")?),
            created_at: time("created_at")?,
            expires_at: time("expires_at")?,
        })
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
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .update_expression("REMOVE #request")
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
        self.remove_request(tenant, "preview_requested_at", seen)
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

impl IntegrationsStore for DynamoIntegrationsStore {
    async fn save_pending_authorisation(
        &self,
        pending: &PendingAuthorisation,
    ) -> Result<(), StoreError> {
        let state = pending.state.expose_secret();
        let mut request = self.client.put_item().table_name(&self.table);
        for (name, value) in pending_authorisation_key(state) {
            request = request.item(name, value);
        }
        request
            .item("state", s(state))
            .item("tenant_id", s(pending.tenant_id.as_str()))
            .item("authority", s(&pending.authority))
            .item("pkce_verifier", s(pending.pkce_verifier.expose_secret()))
            .item("created_at", timestamp(pending.created_at))
            .item("expires_at", timestamp(pending.expires_at))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N(pending.expires_at.timestamp().to_string()),
            )
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(unavailable("saving the pending authorisation"))?;
        Ok(())
    }

    async fn take_pending_authorisation(
        &self,
        state: &str,
    ) -> Result<Option<PendingAuthorisation>, StoreError> {
        // Delete-if-present returning the old item: the one atomic step that
        // makes a state single-use even under concurrent callbacks.
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(pending_authorisation_key(state)))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => match output.attributes {
                Some(item) => Self::parse_pending(&item).map(Some),
                None => Ok(None),
            },
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(unavailable("consuming the pending authorisation")(err)),
        }
    }

    async fn claim_entra_tenant(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &crate::model::EntraTenantId,
    ) -> Result<RecordOutcome, StoreError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .update_expression("SET entra_tenant_id = :tid")
            .expression_attribute_values(":tid", s(entra_tenant_id.as_str()))
            .condition_expression(SAME_ENTRA_TENANT)
            .return_values(ReturnValue::None)
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(RecordOutcome::Recorded),
            Err(err) if is_condition_failure(&err) => self.refusal_of(tenant).await,
            Err(err) => Err(unavailable("claiming the config for an Entra tenant")(err)),
        }
    }

    async fn record_authorisation(
        &self,
        tenant: &TenantId,
        record: &AuthorisationRecord,
    ) -> Result<RecordOutcome, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .expression_attribute_values(":authorised", s("authorised"))
            .expression_attribute_values(":at", timestamp(record.authorised_at))
            .expression_attribute_values(":tid", s(record.entra_tenant_id.as_str()))
            .condition_expression(SAME_ENTRA_TENANT)
            .return_values(ReturnValue::None);
        let mut set = vec![
            "authorisation = :authorised",
            "authorised_at = :at",
            "entra_tenant_id = :tid",
        ];
        let expression;
        if let Some(by) = &record.authorised_by {
            update = update.expression_attribute_values(":by", s(by));
            set.push("authorised_by = :by");
            expression = format!("SET {}", set.join(", "));
        } else {
            expression = format!("SET {} REMOVE authorised_by", set.join(", "));
        }
        match update.update_expression(expression).send().await {
            Ok(_) => Ok(RecordOutcome::Recorded),
            Err(err) if is_condition_failure(&err) => self.refusal_of(tenant).await,
            Err(err) => Err(unavailable("marking the config authorised")(err)),
        }
    }
}

/// The config exists and names no Entra tenant, or this one (`:tid`).
const SAME_ENTRA_TENANT: &str =
    "attribute_exists(pk) AND (attribute_not_exists(entra_tenant_id) OR entra_tenant_id = :tid)";

impl DynamoIntegrationsStore {
    /// Why a write under `SAME_ENTRA_TENANT` was refused: the config is
    /// gone, or it names another Entra tenant.
    async fn refusal_of(&self, tenant: &TenantId) -> Result<RecordOutcome, StoreError> {
        match self.tenant_config(tenant).await? {
            None => Ok(RecordOutcome::ConfigMissing),
            Some(_) => Ok(RecordOutcome::TenantMismatch),
        }
    }
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
