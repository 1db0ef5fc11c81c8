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
    pending_authorisation_key, proven_authorisation_key,
};
use crate::authorisation::{
    AuthorisationRecord, IntegrationsStore, PendingAuthorisation, PendingLeg, ProvenAuthorisation,
    RecordOutcome,
};
use crate::model::cloud::Cloud;
use crate::model::entra::{PermissionCheck, ReauthorisationReason};
use crate::model::{Guid, TenantConfig, TenantId};
use crate::ports::{StoreError, TenantConfigs};
use crate::tokens::PermissionRecords;

mod auth_switch;

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
        let fields = Fields::of(item, "a pending authorisation");
        let leg = match fields.text("leg")?.as_str() {
            "consent" => PendingLeg::Consent,
            "sign_in" => PendingLeg::SignIn {
                entra_tenant_id: fields.guid("entra_tenant_id")?,
                pkce_verifier: SecretString::from(fields.text("pkce_verifier")?),
                nonce: SecretString::from(fields.text("nonce")?),
                interactive: flag(item, "interactive").unwrap_or(false),
            },
            other => return Err(fields.malformed(format!("unknown leg {other:?}"))),
        };
        Ok(PendingAuthorisation {
            state: SecretString::from(fields.text("state")?),
            tenant_id: fields.tenant_id()?,
            leg,
            binding_hash: fields.text("binding_hash")?,
            created_at: fields.time("created_at")?,
            expires_at: fields.time("expires_at")?,
        })
    }

    fn parse_proven(item: &Item) -> Result<ProvenAuthorisation, StoreError> {
        let fields = Fields::of(item, "a proven authorisation");
        Ok(ProvenAuthorisation {
            result_hash: fields.text("result_hash")?,
            tenant_id: fields.tenant_id()?,
            binding_hash: fields.text("binding_hash")?,
            entra_tenant_id: fields.guid("entra_tenant_id")?,
            cloud: fields.cloud()?,
            authorised_by: text(item, "authorised_by"),
            authorised_by_id: fields.text("authorised_by_id")?,
            granted_permissions: fields.list("granted_permissions"),
            missing_permissions: fields.list("missing_permissions"),
            created_at: fields.time("created_at")?,
            expires_at: fields.time("expires_at")?,
        })
    }
}

/// The attributes of one OAuth item, read with errors that name it.
struct Fields<'a> {
    item: &'a Item,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn of(item: &'a Item, what: &'static str) -> Self {
        Self { item, what }
    }

    fn malformed(&self, detail: String) -> StoreError {
        StoreError::Malformed {
            what: self.what,
            detail,
        }
    }

    fn text(&self, name: &'static str) -> Result<String, StoreError> {
        text(self.item, name).ok_or_else(|| self.malformed(format!("attribute {name} is missing")))
    }

    fn time(&self, name: &'static str) -> Result<DateTime<Utc>, StoreError> {
        DateTime::parse_from_rfc3339(&self.text(name)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| self.malformed(format!("attribute {name} is not a timestamp")))
    }

    fn guid(&self, name: &'static str) -> Result<Guid, StoreError> {
        Guid::parse(&self.text(name)?).map_err(|e| self.malformed(e.to_string()))
    }

    fn cloud(&self) -> Result<Cloud, StoreError> {
        let name = self.text("cloud")?;
        Cloud::parse(&name).ok_or_else(|| self.malformed(format!("unknown cloud {name:?}")))
    }

    fn tenant_id(&self) -> Result<TenantId, StoreError> {
        TenantId::parse(&self.text("tenant_id")?).map_err(|e| self.malformed(e.to_string()))
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.item
            .get(name)
            .and_then(|v| v.as_l().ok())
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_s().ok().cloned())
                    .collect()
            })
            .unwrap_or_default()
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
        let mut item: Item = pending_authorisation_key(state);
        item.insert("state".into(), s(state));
        item.insert("tenant_id".into(), s(pending.tenant_id.as_str()));
        item.insert("binding_hash".into(), s(&pending.binding_hash));
        match &pending.leg {
            PendingLeg::Consent => {
                item.insert("leg".into(), s("consent"));
            }
            PendingLeg::SignIn {
                entra_tenant_id,
                pkce_verifier,
                nonce,
                interactive,
            } => {
                item.insert("leg".into(), s("sign_in"));
                item.insert("entra_tenant_id".into(), s(entra_tenant_id.as_str()));
                item.insert("pkce_verifier".into(), s(pkce_verifier.expose_secret()));
                item.insert("nonce".into(), s(nonce.expose_secret()));
                item.insert("interactive".into(), AttributeValue::Bool(*interactive));
            }
        }
        self.put_expiring(item, pending.created_at, pending.expires_at)
            .await
            .map_err(unavailable("saving the pending authorisation"))
    }

    async fn take_pending_authorisation(
        &self,
        state: &str,
    ) -> Result<Option<PendingAuthorisation>, StoreError> {
        match self.take(pending_authorisation_key(state)).await {
            Ok(Some(item)) => Self::parse_pending(&item).map(Some),
            Ok(None) => Ok(None),
            Err(err) => Err(unavailable("consuming the pending authorisation")(err)),
        }
    }

    async fn save_proven_authorisation(
        &self,
        proven: &ProvenAuthorisation,
    ) -> Result<(), StoreError> {
        let mut item: Item = proven_authorisation_key(&proven.result_hash);
        item.insert("result_hash".into(), s(&proven.result_hash));
        item.insert("tenant_id".into(), s(proven.tenant_id.as_str()));
        item.insert("binding_hash".into(), s(&proven.binding_hash));
        item.insert("entra_tenant_id".into(), s(proven.entra_tenant_id.as_str()));
        item.insert("authorised_by_id".into(), s(&proven.authorised_by_id));
        item.insert("cloud".into(), s(proven.cloud.as_str()));
        if let Some(by) = &proven.authorised_by {
            item.insert("authorised_by".into(), s(by));
        }
        item.insert(
            "granted_permissions".into(),
            list(&proven.granted_permissions),
        );
        item.insert(
            "missing_permissions".into(),
            list(&proven.missing_permissions),
        );
        self.put_expiring(item, proven.created_at, proven.expires_at)
            .await
            .map_err(unavailable("saving the proven authorisation"))
    }

    async fn take_proven_authorisation(
        &self,
        result_hash: &str,
    ) -> Result<Option<ProvenAuthorisation>, StoreError> {
        match self.take(proven_authorisation_key(result_hash)).await {
            Ok(Some(item)) => Self::parse_proven(&item).map(Some),
            Ok(None) => Ok(None),
            Err(err) => Err(unavailable("consuming the proven authorisation")(err)),
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
            .expression_attribute_values(":application", s("application"))
            .expression_attribute_values(":at", timestamp(record.authorised_at))
            .expression_attribute_values(":tid", s(record.entra_tenant_id.as_str()))
            .expression_attribute_values(":cloud", s(record.cloud.as_str()))
            .expression_attribute_values(":by_id", s(&record.authorised_by_id))
            .expression_attribute_values(":granted", list(&record.granted_permissions))
            .condition_expression(SAME_ENTRA_TENANT)
            .return_values(ReturnValue::None);
        let mut set = vec![
            "authorisation = :authorised",
            "auth_mode = :application",
            "authorised_at = :at",
            "entra_tenant_id = :tid",
            "authorised_entra_tenant_id = :tid",
            "authorised_cloud = :cloud",
            "authorised_by_id = :by_id",
            "granted_permissions = :granted",
            "permissions_checked_at = :at",
        ];
        let mut remove = vec!["reauthorisation_reason"];
        match &record.authorised_by {
            Some(by) => {
                update = update.expression_attribute_values(":by", s(by));
                set.push("authorised_by = :by");
            }
            None => remove.push("authorised_by"),
        }
        if record.missing_permissions.is_empty() {
            remove.push("missing_permissions");
        } else {
            update =
                update.expression_attribute_values(":missing", list(&record.missing_permissions));
            set.push("missing_permissions = :missing");
        }
        let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        match update.update_expression(expression).send().await {
            Ok(_) => Ok(RecordOutcome::Recorded),
            Err(err) if is_condition_failure(&err) => self.refusal_of(tenant).await,
            Err(err) => Err(unavailable("marking the config authorised")(err)),
        }
    }
}

fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(s).collect())
}

impl DynamoIntegrationsStore {
    /// Writes a new single-use item that the table's TTL removes once
    /// expired (a leftover is never read: expiry is checked on use).
    async fn put_expiring(
        &self,
        mut item: Item,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<
        (),
        aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>,
    > {
        item.insert("created_at".into(), timestamp(created_at));
        item.insert("expires_at".into(), timestamp(expires_at));
        item.insert(
            TTL_ATTRIBUTE.into(),
            AttributeValue::N(expires_at.timestamp().to_string()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(|_| ())
    }

    /// Deletes a single-use item and returns it: of two concurrent calls,
    /// at most one gets it.
    async fn take(
        &self,
        key: Item,
    ) -> Result<
        Option<Item>,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::delete_item::DeleteItemError,
        >,
    > {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.attributes),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(err),
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
