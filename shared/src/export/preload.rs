//! A stream batch's users and groups read at once (one BatchGetItem per 100
//! instead of a GetItem per change), and kept current with what the export
//! itself records, so a later change of the same object in the batch sees
//! its link and hash.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{DeletedEntraUser, DirectoryChange, ExportDirectory, ExportPlan};
use crate::model::TenantId;
use crate::model::directory::{EntraHash, GroupItem, ItemKey, LinkOrigin, UserItem};
use crate::ports::StoreError;

/// Items read for the batch: `None` = read, and not there.
#[derive(Default)]
pub struct Preloaded {
    users: Mutex<HashMap<(TenantId, String), Option<UserItem>>>,
    groups: Mutex<HashMap<(TenantId, String), Option<GroupItem>>>,
    /// For the users the batch may create: the Entra user the export
    /// deleted for each, to restore (DESIGN 2.13).
    deleted: Mutex<HashMap<(TenantId, String), Option<DeletedEntraUser>>>,
}

/// The users a change may create, by tenant: one batched read of what the
/// export deleted for them, not a read per create.
async fn read_deleted<D: ExportDirectory>(
    directory: &D,
    changes: &[DirectoryChange],
    preloaded: &Preloaded,
) -> Result<(), StoreError> {
    let mut wanted: HashMap<TenantId, Vec<String>> = HashMap::new();
    for change in changes {
        if let ExportPlan::CreateUser { user_id, .. } = change.plan() {
            wanted
                .entry(change.key.tenant().clone())
                .or_default()
                .push(user_id);
        }
    }
    for (tenant, mut users) in wanted {
        users.sort();
        users.dedup();
        let mut found = directory.deleted_users(&tenant, &users).await?;
        let mut cache = preloaded.deleted.lock().expect("preload lock");
        for id in users {
            let deleted = found.remove(&id);
            cache.insert((tenant.clone(), id), deleted);
        }
    }
    Ok(())
}

impl Preloaded {
    /// Reads every user and group the changes touch (a membership touches
    /// both), per tenant.
    pub async fn read<D: ExportDirectory>(
        directory: &D,
        changes: &[DirectoryChange],
    ) -> Result<Self, StoreError> {
        let mut wanted: HashMap<TenantId, (Vec<String>, Vec<String>)> = HashMap::new();
        for change in changes {
            let (users, groups) = wanted.entry(change.key.tenant().clone()).or_default();
            match &change.key {
                ItemKey::User { user_id, .. } => users.push(user_id.clone()),
                ItemKey::Group { group_id, .. } => groups.push(group_id.clone()),
                ItemKey::Membership { key, .. } => {
                    users.push(key.user_id.clone());
                    groups.push(key.group_id.clone());
                }
            }
        }
        let preloaded = Self::default();
        for (tenant, (mut users, mut groups)) in wanted {
            users.sort();
            users.dedup();
            groups.sort();
            groups.dedup();
            let mut found_users = directory.users(&tenant, &users).await?;
            let mut found_groups = directory.groups(&tenant, &groups).await?;
            let mut cache = preloaded.users.lock().expect("preload lock");
            for id in users {
                let item = found_users.remove(&id);
                cache.insert((tenant.clone(), id), item);
            }
            let mut cache = preloaded.groups.lock().expect("preload lock");
            for id in groups {
                let item = found_groups.remove(&id);
                cache.insert((tenant.clone(), id), item);
            }
        }
        read_deleted(directory, changes, &preloaded).await?;
        Ok(preloaded)
    }
}

/// The directory as the batch's export runs see it: preloaded items first.
pub struct PreloadedDirectory<'a, D> {
    pub inner: &'a D,
    pub preloaded: &'a Preloaded,
}

impl<D> PreloadedDirectory<'_, D> {
    /// What the export recorded (or forgot) of a deleted user, in the
    /// batch's copy too, when it has one.
    fn cache_deleted(&self, key: &ItemKey, deleted: Option<DeletedEntraUser>) {
        if let ItemKey::User { tenant, user_id } = key {
            let mut cache = self.preloaded.deleted.lock().expect("preload lock");
            if let Some(cached) = cache.get_mut(&(tenant.clone(), user_id.clone())) {
                *cached = deleted;
            }
        }
    }
}

impl<D: ExportDirectory> ExportDirectory for PreloadedDirectory<'_, D> {
    async fn user(&self, tenant: &TenantId, user_id: &str) -> Result<Option<UserItem>, StoreError> {
        let cached = self
            .preloaded
            .users
            .lock()
            .expect("preload lock")
            .get(&(tenant.clone(), user_id.to_owned()))
            .cloned();
        match cached {
            Some(item) => Ok(item),
            None => self.inner.user(tenant, user_id).await,
        }
    }

    async fn group(
        &self,
        tenant: &TenantId,
        group_id: &str,
    ) -> Result<Option<GroupItem>, StoreError> {
        let cached = self
            .preloaded
            .groups
            .lock()
            .expect("preload lock")
            .get(&(tenant.clone(), group_id.to_owned()))
            .cloned();
        match cached {
            Some(item) => Ok(item),
            None => self.inner.group(tenant, group_id).await,
        }
    }

    async fn has_membership(
        &self,
        tenant: &TenantId,
        key: &crate::model::directory::MembershipKey,
    ) -> Result<bool, StoreError> {
        self.inner.has_membership(tenant, key).await
    }

    async fn record_link(&self, key: &ItemKey, entra_id: &str) -> Result<(), StoreError> {
        self.inner.record_link(key, entra_id).await
    }

    async fn begin_create(
        &self,
        key: &ItemKey,
        at: chrono::DateTime<chrono::Utc>,
        unless_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.begin_create(key, at, unless_after).await
    }

    async fn create_begun(
        &self,
        key: &ItemKey,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.inner.create_begun(key).await
    }

    async fn forget_create(
        &self,
        key: &ItemKey,
        began: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.inner.forget_create(key, began).await
    }

    async fn record_deleted_user(
        &self,
        key: &ItemKey,
        deleted: &DeletedEntraUser,
    ) -> Result<(), StoreError> {
        self.inner.record_deleted_user(key, deleted).await?;
        self.cache_deleted(key, Some(deleted.clone()));
        Ok(())
    }

    async fn deleted_user(&self, key: &ItemKey) -> Result<Option<DeletedEntraUser>, StoreError> {
        let cached = match key {
            ItemKey::User { tenant, user_id } => self
                .preloaded
                .deleted
                .lock()
                .expect("preload lock")
                .get(&(tenant.clone(), user_id.clone()))
                .cloned(),
            _ => None,
        };
        match cached {
            Some(deleted) => Ok(deleted),
            None => self.inner.deleted_user(key).await,
        }
    }

    async fn forget_deleted_user(&self, key: &ItemKey) -> Result<(), StoreError> {
        self.inner.forget_deleted_user(key).await?;
        self.cache_deleted(key, None);
        Ok(())
    }

    async fn record_entra_state(
        &self,
        key: &ItemKey,
        entra_id: &str,
        hash: &EntraHash,
        origin: Option<LinkOrigin>,
    ) -> Result<(), StoreError> {
        self.inner
            .record_entra_state(key, entra_id, hash, origin)
            .await?;
        // What the write did to the item, in the batch's copy too.
        let tenant = key.tenant().clone();
        match key {
            ItemKey::User { user_id, .. } => {
                let mut users = self.preloaded.users.lock().expect("preload lock");
                if let Some(Some(user)) = users.get_mut(&(tenant, user_id.clone())) {
                    user.sync.link(entra_id, hash.clone(), origin);
                }
            }
            ItemKey::Group { group_id, .. } => {
                let mut groups = self.preloaded.groups.lock().expect("preload lock");
                if let Some(Some(group)) = groups.get_mut(&(tenant, group_id.clone())) {
                    group.sync.link(entra_id, hash.clone(), origin);
                }
            }
            ItemKey::Membership { .. } => {}
        }
        Ok(())
    }
}
