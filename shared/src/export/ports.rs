//! What the export engine needs: the AM directory's current items and a
//! place to record their link to Entra ID; and Entra ID's write side, in
//! typed values (the Graph adapter alone turns them into JSON).

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::model::TenantId;
use crate::model::directory::{EntraHash, GroupItem, ItemKey, LinkOrigin, MembershipKey, UserItem};
use crate::model::entra::{
    DomainInfo, EntraObjectKind, EntraPatch, EntraUser, ExistingEntraUser, ExportMark, GraphError,
    NewEntraGroup, NewEntraUser,
};
use crate::ports::StoreError;

pub trait ExportDirectory: Send + Sync {
    /// The user as it is now (strongly consistent).
    fn user(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<UserItem>, StoreError>> + Send;

    fn group(
        &self,
        tenant: &TenantId,
        group_id: &str,
    ) -> impl Future<Output = Result<Option<GroupItem>, StoreError>> + Send;

    /// Whether the membership item exists now.
    fn has_membership(
        &self,
        tenant: &TenantId,
        key: &MembershipKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// These users as they are now, by id (those that exist).
    fn users(
        &self,
        tenant: &TenantId,
        user_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, UserItem>, StoreError>> + Send {
        async move {
            let mut found = HashMap::new();
            for id in user_ids {
                if let Some(user) = self.user(tenant, id).await? {
                    found.insert(id.clone(), user);
                }
            }
            Ok(found)
        }
    }

    fn groups(
        &self,
        tenant: &TenantId,
        group_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, GroupItem>, StoreError>> + Send {
        async move {
            let mut found = HashMap::new();
            for id in group_ids {
                if let Some(group) = self.group(tenant, id).await? {
                    found.insert(id.clone(), group);
                }
            }
            Ok(found)
        }
    }

    /// Records that the user or group is linked to this Entra object, so
    /// that the import finds it by its Entra id (before `entra_id` is set).
    fn record_link(
        &self,
        key: &ItemKey,
        entra_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records that the item now agrees with Entra ID: its `entra_id` and the
    /// hash of its synchronised values, and, for a link the export has just
    /// made, how it came about (`None` leaves that as it is). A vanished
    /// item is left vanished.
    fn record_entra_state(
        &self,
        key: &ItemKey,
        entra_id: &str,
        hash: &EntraHash,
        origin: Option<LinkOrigin>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records, before its POST, that a create of the user or group begins
    /// at `at` (its answer may be lost, and Graph may not show what it made
    /// for a while), unless one began after `unless_after`: `false` then.
    fn begin_create(
        &self,
        key: &ItemKey,
        at: DateTime<Utc>,
        unless_after: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// When the last create of the user or group began, if it is recorded.
    fn create_begun(
        &self,
        key: &ItemKey,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// Graph refused the create that began at `began`: nothing was made,
    /// nothing to wait for (a later create's intent stays).
    fn forget_create(
        &self,
        key: &ItemKey,
        began: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records, before its DELETE, that the export deletes this Entra user
    /// for the AM user `key` (kept 30 days, as Entra keeps it restorable):
    /// the AM user's return restores it (DESIGN 2.13).
    fn record_deleted_user(
        &self,
        key: &ItemKey,
        deleted: &DeletedEntraUser,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The Entra user the export last deleted for the AM user `key`, if
    /// it is still recorded.
    fn deleted_user(
        &self,
        key: &ItemKey,
    ) -> impl Future<Output = Result<Option<DeletedEntraUser>, StoreError>> + Send;

    /// `deleted_user` for these AM users of the tenant, those recorded (a
    /// batch's creates, read at once).
    fn deleted_users(
        &self,
        tenant: &TenantId,
        user_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, DeletedEntraUser>, StoreError>> + Send {
        async move {
            let mut found = HashMap::new();
            for id in user_ids {
                if let Some(deleted) = self.deleted_user(&ItemKey::user(tenant, id)).await? {
                    found.insert(id.clone(), deleted);
                }
            }
            Ok(found)
        }
    }

    /// Forgets it: restored, or gone for good.
    fn forget_deleted_user(
        &self,
        key: &ItemKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// An Entra user the export deleted for an AM user, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedEntraUser {
    pub entra_id: String,
    pub deleted_at: DateTime<Utc>,
}

impl DeletedEntraUser {
    /// How long Entra ID keeps a deleted user restorable (GRAPH.md 3.3).
    pub const RESTORABLE_FOR: chrono::TimeDelta = chrono::TimeDelta::days(30);

    pub fn restorable_at(&self, now: DateTime<Utc>) -> bool {
        now < self.deleted_at + Self::RESTORABLE_FOR
    }
}

pub trait EntraWriter: Send + Sync {
    fn domains(&self) -> impl Future<Output = Result<Vec<DomainInfo>, GraphError>> + Send;
    /// The user with this UPN, and the export's mark on it.
    fn user_by_upn(
        &self,
        upn: &str,
    ) -> impl Future<Output = Result<Option<ExistingEntraUser>, GraphError>> + Send;
    /// The user that carries the export's mark for an AM object (a
    /// `$filter` on the directory extension): its create may have gone
    /// through with its answer lost. `None`: none is visible (yet).
    fn user_by_mark(
        &self,
        mark: &ExportMark,
    ) -> impl Future<Output = Result<Option<ExistingEntraUser>, GraphError>> + Send;
    /// The id of the group that carries the export's mark for an AM object.
    fn group_by_mark(
        &self,
        mark: &ExportMark,
    ) -> impl Future<Output = Result<Option<String>, GraphError>> + Send;
    /// What makes the user an administrator, by name: directory roles it
    /// holds directly or through a group, role-assignable groups it is in,
    /// roles it is eligible for (PIM). None: not an administrator.
    fn directory_roles(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, GraphError>> + Send;
    /// The group's name when it is role-assignable (its members hold its
    /// roles); `None` for any other group.
    fn role_assignable_group(
        &self,
        group_id: &str,
    ) -> impl Future<Output = Result<Option<String>, GraphError>> + Send;
    /// The export's mark on the user or group (`None`: it has none).
    fn mark_of(
        &self,
        kind: EntraObjectKind,
        id: &str,
    ) -> impl Future<Output = Result<Option<ExportMark>, GraphError>> + Send;
    /// Writes the export's mark on an object it adopts, so that it may
    /// later delete it as its own.
    fn write_mark(
        &self,
        kind: EntraObjectKind,
        id: &str,
        mark: &ExportMark,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
    /// Returns the new object's id.
    fn create_user(
        &self,
        user: &NewEntraUser,
    ) -> impl Future<Output = Result<String, GraphError>> + Send;
    fn update_user(
        &self,
        id: &str,
        patch: &EntraPatch,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
    fn delete_user(&self, id: &str) -> impl Future<Output = Result<(), GraphError>> + Send;
    /// `POST /directory/deletedItems/{id}/restore`: the deleted user back,
    /// the same object, as Graph restored it.
    fn restore_user(&self, id: &str) -> impl Future<Output = Result<EntraUser, GraphError>> + Send;
    fn create_group(
        &self,
        group: &NewEntraGroup,
    ) -> impl Future<Output = Result<String, GraphError>> + Send;
    fn update_group(
        &self,
        id: &str,
        patch: &EntraPatch,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
    fn delete_group(&self, id: &str) -> impl Future<Output = Result<(), GraphError>> + Send;
    fn add_member(
        &self,
        group_id: &str,
        member_id: &str,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
    fn remove_member(
        &self,
        group_id: &str,
        member_id: &str,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
    /// Makes the user `manager_id`'s report (`PUT /users/{id}/manager/$ref`),
    /// or leaves it without a manager (`None`: `DELETE`; `NotFound` when
    /// it has none). Both are Entra object ids.
    fn set_manager(
        &self,
        user_id: &str,
        manager_id: Option<&str>,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
}
