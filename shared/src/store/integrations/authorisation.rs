//! The authorisation flow's items on the integrations table (DESIGN 2.12):
//! pending and proven authorisations, each single-use and expiring, and
//! the conditional write that makes a config authorised.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::super::dynamo::{Item, flag, is_condition_failure, s, text, timestamp, unavailable};
use super::super::layout::{
    CONFIG_SK, TTL_ATTRIBUTE, key, pending_authorisation_key, proven_authorisation_key,
};
use super::{DynamoIntegrationsStore, list};
use crate::authorisation::{
    AuthorisationRecord, IntegrationsStore, PendingAuthorisation, PendingLeg, ProvenAuthorisation,
    RecordOutcome,
};
use crate::model::cloud::Cloud;
use crate::model::{Guid, TenantId};
use crate::ports::{StoreError, TenantConfigs};

impl DynamoIntegrationsStore {
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
