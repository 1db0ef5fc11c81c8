//! A manager's reports, from the sparse `by-manager` index (DESIGN 2.13:
//! the import links them once their manager is imported).

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{CONCURRENCY, DynamoDirectoryStore, parse};
use crate::model::TenantId;
use crate::model::directory::UserItem;
use crate::ports::StoreError;
use crate::store::dynamo::{Item, query_all, s, text};
use crate::store::layout::{MANAGER_INDEX, key, tenant_pk};

impl DynamoDirectoryStore {
    /// The users whose `sync_manager_entra_id` is one of these: one index
    /// query per manager, then the items themselves.
    pub(super) async fn reports_by_manager(
        &self,
        tenant: &TenantId,
        manager_entra_ids: &[String],
    ) -> Result<Vec<UserItem>, StoreError> {
        let keys: Vec<Vec<Item>> = stream::iter(manager_entra_ids.to_vec())
            .map(|manager: String| {
                let query = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(MANAGER_INDEX)
                    .key_condition_expression("pk = :pk AND sync_manager_entra_id = :manager")
                    .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                    .expression_attribute_values(":manager", s(manager));
                query_all(query, "looking up a manager's reports")
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let keys: Vec<Item> = keys
            .into_iter()
            .flatten()
            .filter_map(|found| text(&found, "sk"))
            .map(|sk| key(tenant, sk))
            .collect();
        let items = self.batch_get(keys).await?;
        items
            .into_iter()
            .map(|item| parse(item, "a user item"))
            .collect()
    }
}
