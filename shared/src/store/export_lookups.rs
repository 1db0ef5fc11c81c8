//! The on-demand export's AM look-ups on the directory table, through the
//! import's own reads: the by-entra-id index for links, the by-member
//! index for a group's memberships, and the by-user-name index for a user
//! name (else the tenant's platform user names, a query of its user items,
//! projected).

use std::collections::HashSet;

use crate::export::ExportDirectory;
use crate::import::DirectoryStore;
use crate::model::TenantId;
use crate::model::directory::{GroupItem, MembershipKey, Source, UserItem};
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
    /// (a stored `Megan@Contoso.com` asked as `megan@contoso.com`) are the
    /// tenant's names read and compared, as before the index.
    async fn platform_user_named(
        &self,
        tenant: &TenantId,
        user_name: &str,
    ) -> Result<Option<UserItem>, StoreError> {
        let lower = user_name.to_lowercase();
        let mut forms = vec![user_name];
        if lower != user_name {
            forms.push(&lower);
        }
        for name in forms {
            for user_id in self.user_ids_named(tenant, name).await? {
                let user = ExportDirectory::user(self, tenant, &user_id).await?;
                if let Some(user) = user.filter(|u| u.source != Source::Entra) {
                    return Ok(Some(user));
                }
            }
        }
        let names = self.platform_user_names(tenant).await?;
        let Some(found) = names
            .into_iter()
            .find(|p| p.user_name.to_lowercase() == lower)
        else {
            return Ok(None);
        };
        ExportDirectory::user(self, tenant, &found.user_id).await
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
