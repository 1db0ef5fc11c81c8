//! Failed password attempts per user, in `INTEGRATIONS_TABLE`:
//! `pk = TENANT#<id>`, `sk = ENTRA#PWFAIL#<user name, lowercase>`, expiring
//! through the table's TTL when the window ends.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::dynamo::tenant_pk;
use super::dynamo::unavailable;
use super::integrations::TTL_ATTRIBUTE;
use crate::model::TenantId;
use crate::password::{FailureCounter, FailureWindow};
use crate::ports::StoreError;

#[derive(Debug, Clone)]
pub struct DynamoFailureCounter {
    client: Client,
    table: String,
}

impl DynamoFailureCounter {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn key(tenant: &TenantId, user: &str) -> [(String, AttributeValue); 2] {
        [
            ("pk".to_owned(), AttributeValue::S(tenant_pk(tenant))),
            (
                "sk".to_owned(),
                AttributeValue::S(format!("ENTRA#PWFAIL#{user}")),
            ),
        ]
    }
}

impl FailureCounter for DynamoFailureCounter {
    async fn current(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Option<FailureWindow>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant, user).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the failure count"))?;
        Ok(output.item.and_then(|item| {
            let number = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i64>().ok())
            };
            Some(FailureWindow {
                failures: u32::try_from(number("failures")?).unwrap_or(u32::MAX),
                until: DateTime::from_timestamp(number(TTL_ATTRIBUTE)?, 0)?,
            })
        }))
    }

    async fn record_failure(
        &self,
        tenant: &TenantId,
        user: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<(), StoreError> {
        let until = now + window;
        // A new window when there is none or it has ended...
        let opened = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant, user).into_iter().collect()))
            .update_expression("SET failures = :one, #ttl = :until")
            .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":until", AttributeValue::N(until.timestamp().to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .send()
            .await;
        match opened {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                // ...otherwise one more in the open window.
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(tenant, user).into_iter().collect()))
                    .update_expression("ADD failures :one")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .send()
                    .await
                    .map_err(unavailable("counting a failed attempt"))?;
                Ok(())
            }
            Err(err) => Err(unavailable("counting a failed attempt")(err)),
        }
    }

    async fn clear(&self, tenant: &TenantId, user: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant, user).into_iter().collect()))
            .send()
            .await
            .map_err(unavailable("resetting the failure count"))?;
        Ok(())
    }
}
