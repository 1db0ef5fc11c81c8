//! `INTEGRATIONS_TABLE` on DynamoDB: tenant configs and pending OAuth states.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{StoreError, unavailable};
use crate::authorisation::{
    AuthorisationRecord, IntegrationsStore, PendingAuthorisation, RecordOutcome,
};
use crate::model::{TenantConfig, TenantId};

pub const CONFIG_SK: &str = "ENTRA#CONFIG";
pub const STATUS_SK: &str = "ENTRA#STATUS";
const STATE_SK: &str = "OAUTH#STATE";
/// The table's TTL attribute (template.yaml): epoch seconds.
pub const TTL_ATTRIBUTE: &str = "expires_at_epoch";

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

fn state_pk(state: &str) -> String {
    format!("OAUTH#STATE#{state}")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn timestamp(t: DateTime<Utc>) -> AttributeValue {
    s(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

type Item = HashMap<String, AttributeValue>;

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

impl IntegrationsStore for DynamoIntegrationsStore {
    async fn tenant_config(&self, tenant: &TenantId) -> Result<Option<TenantConfig>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(CONFIG_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the tenant config"))?;
        output.item.map(Self::parse_config).transpose()
    }

    async fn save_pending_authorisation(
        &self,
        pending: &PendingAuthorisation,
    ) -> Result<(), StoreError> {
        let state = pending.state.expose_secret();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(state_pk(state)))
            .item("sk", s(STATE_SK))
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
            .key("pk", s(state_pk(state)))
            .key("sk", s(STATE_SK))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => match output.attributes {
                Some(item) => Self::parse_pending(&item).map(Some),
                None => Ok(None),
            },
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(unavailable("consuming the pending authorisation")(err)),
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
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(CONFIG_SK))
            .expression_attribute_values(":authorised", s("authorised"))
            .expression_attribute_values(":at", timestamp(record.authorised_at))
            .expression_attribute_values(":tid", s(record.entra_tenant_id.as_str()))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(entra_tenant_id) OR entra_tenant_id = :tid)",
            )
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
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // Tell apart "gone" from "now names another tenant".
                match self.tenant_config(tenant).await? {
                    None => Ok(RecordOutcome::ConfigMissing),
                    Some(_) => Ok(RecordOutcome::TenantMismatch),
                }
            }
            Err(err) => Err(unavailable("marking the config authorised")(err)),
        }
    }
}

pub const BY_SK_INDEX: &str = "by-sk";

impl crate::schedule::ConfigIndex for DynamoIntegrationsStore {
    async fn config_summaries(
        &self,
    ) -> Result<Vec<Result<crate::schedule::ConfigSummary, String>>, StoreError> {
        let mut summaries = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_SK_INDEX)
                .key_condition_expression("sk = :config")
                .expression_attribute_values(":config", s(CONFIG_SK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable("listing tenant configs"))?;
            for item in output.items.unwrap_or_default() {
                let pk = item
                    .get("pk")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let tenant = item
                    .get("tenant_id")
                    .and_then(|v| v.as_s().ok())
                    .ok_or_else(|| format!("{pk}: tenant_id is missing"))
                    .and_then(|raw| TenantId::parse(raw).map_err(|e| format!("{pk}: {e}")));
                let flag = |name: &str| {
                    item.get(name).and_then(|v| v.as_bool().ok()).copied() == Some(true)
                };
                summaries.push(tenant.map(|tenant_id| {
                    crate::schedule::ConfigSummary {
                        tenant_id,
                        sync_enabled: flag("sync_enabled"),
                        authorised: item
                            .get("authorisation")
                            .and_then(|v| v.as_s().ok())
                            .map(String::as_str)
                            == Some("authorised"),
                    }
                }));
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(summaries),
            }
        }
    }
}
