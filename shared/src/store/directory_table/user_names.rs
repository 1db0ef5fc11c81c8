//! Users by their `user_name`, from the `by-user-name` index (keys only):
//! sync-object's object given as a user name, and its name-conflict check,
//! without reading the tenant's user items.

use super::DynamoDirectoryStore;
use crate::export::ExportDirectory;
use crate::model::TenantId;
use crate::model::directory::{Source, USER_PREFIX, UserItem, user_name_key};
use crate::ports::StoreError;
use crate::store::dynamo::{Item, query_kept, s, text, unavailable};
use crate::store::layout::{USER_NAME_INDEX, tenant_pk};

/// More users of one exact name than this are not looked at (a user name
/// is a login: one user has it, two only while a rename passes).
const NAMESAKES: i32 = 5;

/// The AM user id an index item names.
fn user_id_of(item: &Item) -> Option<String> {
    text(item, "sk")?
        .strip_prefix(USER_PREFIX)
        .map(str::to_owned)
}

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
        Ok(output.items().iter().filter_map(user_id_of).collect())
    }

    /// The ids of the tenant's users whose name has `key` (`user_name_key`),
    /// from all the index's pages (keys and names, about a hundred bytes a
    /// user): every case of a name is seen, never a user item.
    pub(crate) async fn user_ids_named_in_any_case(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Vec<String>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(USER_NAME_INDEX)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(tenant_pk(tenant)));
        let named = |item: &Item| text(item, "user_name").is_some_and(|n| user_name_key(&n) == key);
        let items = query_kept(query, "reading the tenant's user names", named).await?;
        Ok(items.iter().filter_map(user_id_of).collect())
    }

    /// Those of these users that are platform users (`source` not `entra`)
    /// still named with `key`: each is read, as the index lags a rename a
    /// moment.
    pub(crate) async fn platform_users_among(
        &self,
        tenant: &TenantId,
        user_ids: Vec<String>,
        key: &str,
    ) -> Result<Vec<UserItem>, StoreError> {
        let mut users = Vec::new();
        for user_id in user_ids {
            let user = ExportDirectory::user(self, tenant, &user_id).await?;
            let owns = |u: &UserItem| {
                u.source != Source::Entra && user_name_key(&u.attributes.user_name) == key
            };
            users.extend(user.filter(owns));
        }
        Ok(users)
    }
}
