//! The AM directory as a preview sees it.

use std::collections::{HashMap, HashSet};

use super::overlay::{PreviewOverlay, id_hash};
use super::{Change, Sample};
use crate::import::buckets::KeyRange;
use crate::import::ports::PlatformUser;
use crate::import::records::DirectoryWrite;
use crate::import::{DirectoryStore, ObjectKind};
use crate::model::TenantId;
use crate::model::directory::{EntraSync, GroupItem, MembershipKey, Source, UserItem};
use crate::ports::StoreError;

/// Names of users the preview would create, remembered for the display of
/// membership samples (beyond it, a sample shows the id).
const REMEMBERED_NAMES: usize = 10_000;

/// What kind of change a write is, its object's id, and its display when
/// the write carries it.
fn classify(write: &DirectoryWrite) -> (Change, String, Option<String>) {
    match write {
        DirectoryWrite::CreateUser(user) => (
            Change::UserCreate,
            user.user_id.clone(),
            Some(user.attributes.user_name.clone()),
        ),
        DirectoryWrite::UpdateUser {
            user_id,
            attributes,
            ..
        } => (
            Change::UserUpdate,
            user_id.clone(),
            Some(attributes.user_name.clone()),
        ),
        DirectoryWrite::DeleteUser { user_id } => (Change::UserDelete, user_id.clone(), None),
        DirectoryWrite::CreateGroup(group) => (
            Change::GroupCreate,
            group.group_id.clone(),
            Some(group.attributes.name.clone()),
        ),
        DirectoryWrite::UpdateGroup {
            group_id,
            attributes,
            ..
        } => (
            Change::GroupUpdate,
            group_id.clone(),
            Some(attributes.name.clone()),
        ),
        DirectoryWrite::DeleteGroup { group_id } => (Change::GroupDelete, group_id.clone(), None),
        DirectoryWrite::AddMembership(key) => (Change::MemberAdd, key.encode(), None),
        DirectoryWrite::RemoveMembership(key) => (Change::MemberRemove, key.encode(), None),
    }
}

/// The AM directory as a preview sees it: read as it is, plus what the
/// round would have written; writes only sampled.
pub struct PreviewDirectory<'a, D> {
    pub inner: &'a D,
    pub overlay: &'a PreviewOverlay,
}

impl<D: DirectoryStore> PreviewDirectory<'_, D> {
    /// What an admin recognises for a user or group: its name, else its id.
    async fn display(&self, tenant: &TenantId, kind: ObjectKind, id: &str) -> String {
        let remembered = self.overlay.lock().user_names.get(&id_hash(id)).cloned();
        if let Some(name) = remembered.filter(|_| kind == ObjectKind::User) {
            return name;
        }
        if kind == ObjectKind::Group
            && let Some(attributes) = self.overlay.lock().group_attributes.get(&id_hash(id))
        {
            return attributes.name.clone();
        }
        let ids = [id.to_owned()];
        let found = match kind {
            ObjectKind::User => self
                .inner
                .users_by_entra_id(tenant, &ids)
                .await
                .map(|u| u.into_values().next().map(|user| user.attributes.user_name)),
            ObjectKind::Group => self
                .inner
                .groups_by_entra_id(tenant, &ids)
                .await
                .map(|g| g.into_values().next().map(|group| group.attributes.name)),
        };
        found.ok().flatten().unwrap_or_else(|| id.to_owned())
    }

    async fn sample(&self, tenant: &TenantId, write: &DirectoryWrite) {
        let (change, object_id, display) = classify(write);
        if !self.overlay.lock().wants(change) {
            return;
        }
        let display = match (display, write) {
            (Some(display), _) => display,
            (None, DirectoryWrite::DeleteUser { user_id }) => {
                self.display(tenant, ObjectKind::User, user_id).await
            }
            (None, DirectoryWrite::DeleteGroup { group_id }) => {
                self.display(tenant, ObjectKind::Group, group_id).await
            }
            (None, DirectoryWrite::AddMembership(key) | DirectoryWrite::RemoveMembership(key)) => {
                format!(
                    "{} / {}",
                    self.display(tenant, ObjectKind::Group, &key.group_id).await,
                    self.display(tenant, ObjectKind::User, &key.user_id).await
                )
            }
            (None, _) => object_id.clone(),
        };
        let mut overlay = self.overlay.lock();
        if overlay.wants(change) {
            overlay.samples.push(Sample {
                change,
                object_id,
                display,
            });
        }
    }

    fn remember(&self, write: &DirectoryWrite) {
        let mut overlay = self.overlay.lock();
        match write {
            DirectoryWrite::CreateUser(user) if overlay.user_names.len() < REMEMBERED_NAMES => {
                let name = user.attributes.user_name.clone();
                overlay.user_names.insert(id_hash(&user.user_id), name);
            }
            DirectoryWrite::CreateGroup(group) => {
                let attributes = group.attributes.clone();
                overlay
                    .group_attributes
                    .insert(id_hash(&group.group_id), attributes);
            }
            _ => {}
        }
    }
}

impl<D: DirectoryStore> DirectoryStore for PreviewDirectory<'_, D> {
    async fn users_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, UserItem>, StoreError> {
        self.inner.users_by_entra_id(tenant, entra_ids).await
    }

    /// As the directory holds them: what the round would have written
    /// for them is not kept.
    async fn reports_of(
        &self,
        tenant: &TenantId,
        manager_entra_ids: &[String],
    ) -> Result<Vec<UserItem>, StoreError> {
        self.inner.reports_of(tenant, manager_entra_ids).await
    }

    async fn released_by_platform(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        self.inner.released_by_platform(tenant, entra_ids).await
    }

    /// A user an earlier page would have created is there, under its
    /// Entra id (as the import creates it).
    async fn user_ids_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut found = self.inner.user_ids_by_entra_id(tenant, entra_ids).await?;
        let overlay = self.overlay.lock();
        for id in entra_ids {
            let hash = id_hash(id);
            if !found.contains_key(id)
                && overlay.users.contains(&hash)
                && !overlay.skipped.contains(&hash)
            {
                found.insert(id.clone(), id.clone());
            }
        }
        Ok(found)
    }

    async fn groups_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, GroupItem>, StoreError> {
        let mut found = self.inner.groups_by_entra_id(tenant, entra_ids).await?;
        let overlay = self.overlay.lock();
        for id in entra_ids {
            let hash = id_hash(id);
            if found.contains_key(id)
                || !overlay.groups.contains(&hash)
                || overlay.skipped.contains(&hash)
            {
                continue;
            }
            let attributes = overlay.group_attributes.get(&hash).cloned();
            found.insert(
                id.clone(),
                GroupItem {
                    group_id: id.clone(),
                    attributes: attributes.unwrap_or_default(),
                    source: Source::Entra,
                    sync: EntraSync::default(),
                },
            );
        }
        Ok(found)
    }

    async fn existing_memberships(
        &self,
        tenant: &TenantId,
        keys: &[MembershipKey],
    ) -> Result<HashSet<MembershipKey>, StoreError> {
        let mut found = self.inner.existing_memberships(tenant, keys).await?;
        let overlay = self.overlay.lock();
        found.extend(
            keys.iter()
                .filter(|key| overlay.members.contains(&id_hash(&key.encode())))
                .cloned(),
        );
        Ok(found)
    }

    async fn imported_ids_in(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        range: KeyRange,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.imported_ids_in(tenant, kind, range).await
    }

    async fn imported_memberships_in(
        &self,
        tenant: &TenantId,
        range: KeyRange,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        self.inner.imported_memberships_in(tenant, range).await
    }

    async fn platform_user_names(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<PlatformUser>, StoreError> {
        self.inner.platform_user_names(tenant).await
    }

    async fn memberships_involving(
        &self,
        tenant: &TenantId,
        user_ids: &HashSet<String>,
        group_ids: &HashSet<String>,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        self.inner
            .memberships_involving(tenant, user_ids, group_ids)
            .await
    }

    /// Writes nothing: remembers what later pages need, and samples.
    async fn apply(
        &self,
        tenant: &TenantId,
        writes: Vec<DirectoryWrite>,
    ) -> Result<u64, StoreError> {
        for write in &writes {
            self.remember(write);
            self.sample(tenant, write).await;
        }
        Ok(0)
    }
}
