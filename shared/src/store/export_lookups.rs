//! The on-demand export's AM look-ups on the directory table, through the
//! import's own reads: the by-entra-id index for links, the by-member
//! index for a group's memberships, and the by-user-name index for a user
//! name.

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
    /// (a stored `Megan@Contoso.com` asked as `megan@contoso.com`, or no
    /// such user) are the index's pages read in turn, never the user items.
    /// The index lags a rename a moment: each user found is read and its
    /// name compared again.
    async fn platform_user_named(
        &self,
        tenant: &TenantId,
        user_name: &str,
    ) -> Result<Option<UserItem>, StoreError> {
        let lower = user_name.trim().to_lowercase();
        let mut forms = vec![user_name];
        if lower != user_name {
            forms.push(&lower);
        }
        for name in forms {
            let ids = self.user_ids_named(tenant, name).await?;
            if let Some(user) = self.platform_user_of(tenant, ids, &lower).await? {
                return Ok(Some(user));
            }
        }
        let mut start = None;
        loop {
            let (ids, next) = self
                .user_ids_named_in_any_case(tenant, &lower, start)
                .await?;
            if let Some(user) = self.platform_user_of(tenant, ids, &lower).await? {
                return Ok(Some(user));
            }
            match next {
                Some(next) => start = Some(next),
                None => return Ok(None),
            }
        }
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

impl DynamoDirectoryStore {
    /// The first of these users that is a platform user (`source` not
    /// `entra`) still named `lower` in lower case.
    async fn platform_user_of(
        &self,
        tenant: &TenantId,
        user_ids: Vec<String>,
        lower: &str,
    ) -> Result<Option<UserItem>, StoreError> {
        for user_id in user_ids {
            let user = ExportDirectory::user(self, tenant, &user_id).await?;
            let named = |u: &UserItem| u.attributes.user_name.trim().to_lowercase() == lower;
            if let Some(user) = user.filter(|u| u.source != Source::Entra && named(u)) {
                return Ok(Some(user));
            }
        }
        Ok(None)
    }
}
