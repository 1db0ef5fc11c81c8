//! The on-demand export's AM look-ups on the directory table, through the
//! import's own reads: the by-entra-id index for links, the by-member
//! index for a group's memberships, and the by-user-name index for a user
//! name.

use std::collections::HashSet;

use crate::import::DirectoryStore;
use crate::model::TenantId;
use crate::model::directory::{GroupItem, MembershipKey, UserItem, user_name_key};
use crate::on_demand::ExportLookups;
use crate::ports::StoreError;
use crate::store::directory_table::DynamoDirectoryStore;

impl ExportLookups for DynamoDirectoryStore {
    async fn user_linked_to(
        &self,
        tenant: &TenantId,
        entra_id: &str,
    ) -> Result<Option<UserItem>, StoreError> {
        let ids = [entra_id.to_owned()];
        Ok(self.users_by_entra_id(tenant, &ids).await?.remove(entra_id))
    }

    /// User names compare case-insensitively (DESIGN 2.2), but the index
    /// holds them as written: the name as given, then its lower-case form
    /// (how most logins are stored), one Query each. Only when both miss
    /// (a stored `Megan@Contoso.com` asked as `megan@contoso.com`, or no
    /// such user) are the index's pages read, never the user items.
    async fn platform_user_named(
        &self,
        tenant: &TenantId,
        user_name: &str,
    ) -> Result<Option<UserItem>, StoreError> {
        let key = user_name_key(user_name);
        let mut forms = vec![user_name];
        if key != user_name {
            forms.push(&key);
        }
        for name in forms {
            let ids = self.user_ids_named(tenant, name).await?;
            let found = self.platform_users_among(tenant, ids, &key).await?;
            if let Some(user) = found.into_iter().next() {
                return Ok(Some(user));
            }
        }
        let ids = self.user_ids_named_in_any_case(tenant, &key).await?;
        let found = self.platform_users_among(tenant, ids, &key).await?;
        Ok(found.into_iter().next())
    }

    async fn group_linked_to(
        &self,
        tenant: &TenantId,
        entra_id: &str,
    ) -> Result<Option<GroupItem>, StoreError> {
        let ids = [entra_id.to_owned()];
        Ok(self
            .groups_by_entra_id(tenant, &ids)
            .await?
            .remove(entra_id))
    }

    async fn memberships_of(
        &self,
        tenant: &TenantId,
        group_id: &str,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        let groups = HashSet::from([group_id.to_owned()]);
        self.memberships_involving(tenant, &HashSet::new(), &groups)
            .await
    }
}
