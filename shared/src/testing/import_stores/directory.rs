//! The AM directory table in memory, for the import engine (its
//! `DirectoryStore` port): typed items, memberships by key, and a by-member
//! index that can lag as a GSI does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use crate::import::buckets;
use crate::import::ports::{DirectoryStore, ObjectKind};
use crate::import::records::{DirectoryWrite, ManagerWrite};
use crate::model::directory::{GroupItem, MembershipKey, Source, SyncedObject, UserItem};
use crate::ports::StoreError;

#[derive(Default)]
pub(crate) struct MemoryDirectory {
    pub(crate) users: Mutex<BTreeMap<String, UserItem>>,
    pub(crate) groups: Mutex<BTreeMap<String, GroupItem>>,
    pub(crate) memberships: Mutex<BTreeMap<MembershipKey, Source>>,
    pub(crate) writes: Mutex<u64>,
    /// This many `apply` calls fail, writing nothing.
    pub(crate) failing_applies: Mutex<u32>,
    /// Memberships written that the by-member index does not show yet
    /// (a GSI is eventually consistent): kept only while `index_lags`.
    pub(crate) unindexed: Mutex<HashSet<MembershipKey>>,
    pub(crate) index_lags: Mutex<bool>,
    /// Reads of a bucket of imported objects or memberships (a sweep's).
    pub(crate) bucket_reads: Mutex<u32>,
    /// The most ids one read of imported objects or memberships returned.
    pub(crate) largest_read: Mutex<usize>,
    /// Entra users linked to platform users the platform deleted since
    /// (their link outlived them).
    pub(crate) released: Mutex<HashSet<String>>,
}

impl MemoryDirectory {
    pub(crate) fn note_read(&self, ids: usize) {
        *self.bucket_reads.lock().unwrap() += 1;
        let mut largest = self.largest_read.lock().unwrap();
        *largest = (*largest).max(ids);
    }
}

impl MemoryDirectory {
    /// An `UpdateUser`, as the table's update expression applies it.
    fn update_user(&self, update: DirectoryWrite) {
        let DirectoryWrite::UpdateUser {
            user_id,
            entra_link,
            attributes,
            password_mode,
            hash,
            deprovision,
            manager,
        } = update
        else {
            return;
        };
        let mut users = self.users.lock().unwrap();
        let u = users.get_mut(&user_id).unwrap();
        if let ManagerWrite::Set { entra_id } = manager {
            u.sync.manager_entra_id = entra_id;
        }
        u.attributes = attributes;
        u.password_mode = password_mode.or(u.password_mode);
        u.sync.entra_id = entra_link.or(u.sync.entra_id.take());
        u.sync.entra_hash = Some(hash);
        deprovision.apply_to(&mut u.sync);
    }
}

impl DirectoryStore for MemoryDirectory {
    async fn users_by_entra_id(
        &self,
        _: &crate::model::TenantId,
        ids: &[String],
    ) -> Result<HashMap<String, UserItem>, StoreError> {
        let users = self.users.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| {
                users
                    .values()
                    .find(|u| u.entra_object_id() == Some(id.as_str()))
                    .map(|u| (id.clone(), u.clone()))
            })
            .collect())
    }
    async fn reports_of(
        &self,
        _: &crate::model::TenantId,
        managers: &[String],
    ) -> Result<Vec<UserItem>, StoreError> {
        let users = self.users.lock().unwrap();
        Ok(users
            .values()
            .filter(|u| {
                let manager = u.sync.manager_entra_id.as_ref();
                manager.is_some_and(|m| managers.contains(m))
            })
            .cloned()
            .collect())
    }
    async fn released_by_platform(
        &self,
        _: &crate::model::TenantId,
        ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let released = self.released.lock().unwrap();
        Ok(ids
            .iter()
            .filter(|id| released.contains(*id))
            .cloned()
            .collect())
    }
    async fn groups_by_entra_id(
        &self,
        _: &crate::model::TenantId,
        ids: &[String],
    ) -> Result<HashMap<String, GroupItem>, StoreError> {
        let groups = self.groups.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| {
                groups
                    .values()
                    .find(|g| g.entra_object_id() == Some(id.as_str()))
                    .map(|g| (id.clone(), g.clone()))
            })
            .collect())
    }
    async fn existing_memberships(
        &self,
        _: &crate::model::TenantId,
        keys: &[MembershipKey],
    ) -> Result<HashSet<MembershipKey>, StoreError> {
        let m = self.memberships.lock().unwrap();
        Ok(keys
            .iter()
            .filter(|k| m.contains_key(*k))
            .cloned()
            .collect())
    }
    async fn imported_ids_in(
        &self,
        _: &crate::model::TenantId,
        kind: ObjectKind,
        range: buckets::KeyRange,
    ) -> Result<Vec<String>, StoreError> {
        let ids: Vec<String> = match kind {
            ObjectKind::User => self
                .users
                .lock()
                .unwrap()
                .values()
                .filter(|u| u.source == Source::Entra)
                .map(|u| u.user_id.clone())
                .collect(),
            ObjectKind::Group => self
                .groups
                .lock()
                .unwrap()
                .values()
                .filter(|g| g.source == Source::Entra)
                .map(|g| g.group_id.clone())
                .collect(),
        };
        let ids: Vec<String> = ids.into_iter().filter(|id| range.contains(id)).collect();
        self.note_read(ids.len());
        Ok(ids)
    }
    async fn imported_memberships_in(
        &self,
        _: &crate::model::TenantId,
        range: buckets::KeyRange,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        let keys: Vec<MembershipKey> = self
            .memberships
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, s)| **s == Source::Entra && range.contains_membership(k))
            .map(|(k, _)| k.clone())
            .collect();
        self.note_read(keys.len());
        Ok(keys)
    }
    async fn platform_user_names(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<Vec<crate::import::ports::PlatformUser>, StoreError> {
        Ok(self
            .users
            .lock()
            .unwrap()
            .values()
            .filter(|u| u.source == Source::Local)
            .map(|u| crate::import::ports::PlatformUser {
                user_id: u.user_id.clone(),
                user_name: u.attributes.user_name.clone(),
            })
            .collect())
    }
    async fn memberships_involving(
        &self,
        _: &crate::model::TenantId,
        users: &HashSet<String>,
        groups: &HashSet<String>,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        Ok(self
            .memberships
            .lock()
            .unwrap()
            .keys()
            .filter(|k| users.contains(&k.user_id) || groups.contains(&k.group_id))
            .filter(|k| !self.unindexed.lock().unwrap().contains(*k))
            .cloned()
            .collect())
    }
    async fn apply(
        &self,
        _: &crate::model::TenantId,
        writes: Vec<DirectoryWrite>,
    ) -> Result<u64, StoreError> {
        {
            let mut failing = self.failing_applies.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                return Err(StoreError::Unavailable {
                    operation: "writing the directory",
                    detail: "throttled (test)".into(),
                });
            }
        }
        let n = writes.len() as u64;
        *self.writes.lock().unwrap() += n;
        for write in writes {
            match write {
                DirectoryWrite::CreateUser(u) => {
                    self.users.lock().unwrap().insert(u.user_id.clone(), u);
                }
                update @ DirectoryWrite::UpdateUser { .. } => self.update_user(update),
                DirectoryWrite::DeleteUser { user_id } => {
                    self.users.lock().unwrap().remove(&user_id);
                }
                DirectoryWrite::CreateGroup(g) => {
                    self.groups.lock().unwrap().insert(g.group_id.clone(), g);
                }
                DirectoryWrite::UpdateGroup {
                    group_id,
                    attributes,
                    hash,
                    ..
                } => {
                    let mut groups = self.groups.lock().unwrap();
                    let g = groups.get_mut(&group_id).unwrap();
                    g.attributes = attributes;
                    g.sync.entra_hash = Some(hash);
                }
                DirectoryWrite::DeleteGroup { group_id } => {
                    self.groups.lock().unwrap().remove(&group_id);
                }
                DirectoryWrite::AddMembership(k) => {
                    if *self.index_lags.lock().unwrap() {
                        self.unindexed.lock().unwrap().insert(k.clone());
                    }
                    self.memberships.lock().unwrap().insert(k, Source::Entra);
                }
                DirectoryWrite::RemoveMembership(k) => {
                    self.memberships.lock().unwrap().remove(&k);
                }
            }
        }
        Ok(n)
    }
}
