//! Users by their `user_name`, from the `by-user-name` index (keys only):
//! sync-object's object given as a user name, found without reading the
//! tenant's user items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoDirectoryStore;
use crate::model::TenantId;
use crate::model::directory::USER_PREFIX;
use crate::ports::StoreError;
use crate::store::dynamo::{s, text, unavailable};
use crate::store::layout::{USER_NAME_INDEX, tenant_pk};

/// More users of one exact name than this are not looked at (a user name
/// is a login: one user has it, two only while a rename passes).
const NAMESAKES: i32 = 5;

impl DynamoDirectoryStore {
    /// The ids of the tenant's users whose `user_name` is exactly `name`:
    /// one Query.
    pub(crate) async fn user_ids_named(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Vec<String>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(USER_NAME_INDEX)
            .key_condition_expression("pk = :pk AND user_name = :name")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .expression_attribute_values(":name", s(name))
            .limit(NAMESAKES)
            .send()
            .await
            .map_err(unavailable("looking up a user by its user name"))?;
        Ok(output
            .items()
            .iter()
            .filter_map(|item| {
                text(item, "sk")?
                    .strip_prefix(USER_PREFIX)
                    .map(str::to_owned)
            })
            .collect())
    }

    /// One page of the index for the tenant (its keys and names, about a
    /// hundred bytes a user), after `start`: the ids of the users whose
    /// name, trimmed and in lower case, is `lower`, and where the next page
    /// starts.
    pub(crate) async fn user_ids_named_in_any_case(
        &self,
        tenant: &TenantId,
        lower: &str,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<(Vec<String>, Option<HashMap<String, AttributeValue>>), StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(USER_NAME_INDEX)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable("reading the tenant's user names"))?;
        let ids = output
            .items()
            .iter()
            .filter(|item| {
                text(item, "user_name").is_some_and(|n| n.trim().to_lowercase() == lower)
            })
            .filter_map(|item| {
                text(item, "sk")?
                    .strip_prefix(USER_PREFIX)
                    .map(str::to_owned)
            })
            .collect();
        Ok((ids, output.last_evaluated_key))
    }
}
