//! The switch to application mode on DynamoDB (docs/behaviour.md 2.12):
//! the config's check attributes, the conditional `auth_mode` write, and
//! the switch's marker item (`sk = ENTRA#AUTH_SWITCH`, functions' own).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::DynamoIntegrationsStore;
use crate::auth_switch::SwitchRecords;
use crate::model::entra::PermissionCheck;
use crate::model::{EntraTenantId, TenantId};
use crate::ports::StoreError;
use crate::store::dynamo::{conditional, s, timestamp, unavailable};
use crate::store::layout::{AUTH_SWITCH_SK, CONFIG_SK, key};

impl SwitchRecords for DynamoIntegrationsStore {
    async fn record_check_attempt(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET permissions_checked_at = :at")
            .expression_attribute_values(":at", timestamp(at))
            .send()
            .await;
        conditional(result, "recording the permission check's time")?;
        Ok(())
    }

    async fn begin_switch(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &EntraTenantId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(key(tenant, AUTH_SWITCH_SK)))
            .item("entra_tenant_id", s(entra_tenant_id.as_str()))
            .item("started_at", timestamp(at))
            .send()
            .await
            .map_err(unavailable("marking the switch to application mode"))?;
        Ok(())
    }

    async fn switch_pending(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, AUTH_SWITCH_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the switch marker"))?;
        Ok(found.item.is_some())
    }

    async fn switch_to_application(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &EntraTenantId,
        check: &PermissionCheck,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let granted = AttributeValue::L(check.granted.iter().map(s).collect());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, CONFIG_SK)))
            .condition_expression(
                "authorisation = :authorised AND entra_tenant_id = :entra \
                 AND (attribute_not_exists(auth_mode) OR auth_mode = :delegated) \
                 AND (attribute_not_exists(cloud) OR cloud = :global)",
            )
            .update_expression(
                "SET auth_mode = :application, authorised_entra_tenant_id = :entra, \
                 authorised_cloud = :global, \
                 granted_permissions = :granted, permissions_checked_at = :at \
                 REMOVE missing_permissions",
            )
            .expression_attribute_values(":authorised", s("authorised"))
            .expression_attribute_values(":entra", s(entra_tenant_id.as_str()))
            .expression_attribute_values(":delegated", s("delegated"))
            .expression_attribute_values(":global", s("global"))
            .expression_attribute_values(":application", s("application"))
            .expression_attribute_values(":granted", granted)
            .expression_attribute_values(":at", timestamp(at))
            .send()
            .await;
        conditional(result, "switching the tenant to application mode")
    }

    async fn finish_switch(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, AUTH_SWITCH_SK)))
            .send()
            .await
            .map_err(unavailable("removing the switch marker"))?;
        Ok(())
    }
}
