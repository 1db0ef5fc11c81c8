//! The writes the import asks of the AM directory. Each carries the
//! [`EntraHash`] of the values it sets, computed here in the domain: the
//! store only persists it.

use crate::model::directory::{
    EntraHash, GroupAttributes, GroupItem, MembershipKey, PasswordMode, UserAttributes, UserItem,
};

/// One change to the AM directory. Updates name only the import's own
/// attributes: everything else on the item stays as other writers left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryWrite {
    /// A new imported user, its hash set.
    CreateUser(UserItem),
    UpdateUser {
        user_id: String,
        /// Set on platform users linked to Entra (their id is not the
        /// Entra id); imported users carry no `entra_id`.
        entra_link: Option<String>,
        attributes: UserAttributes,
        /// `None` leaves it as it is (the platform's, on linked users).
        password_mode: Option<PasswordMode>,
        hash: EntraHash,
        deprovision: DeprovisionMark,
        /// Whether it sets `manager_id` (in `attributes`) and the manager's
        /// Entra id: only a tenant that imports the manager owns them.
        manager: ManagerWrite,
    },
    DeleteUser {
        user_id: String,
    },
    CreateGroup(GroupItem),
    UpdateGroup {
        group_id: String,
        entra_link: Option<String>,
        attributes: GroupAttributes,
        hash: EntraHash,
    },
    DeleteGroup {
        group_id: String,
    },
    AddMembership(MembershipKey),
    RemoveMembership(MembershipKey),
}

/// What an update does to the user's manager (DESIGN 2.13).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ManagerWrite {
    /// Leaves `manager_id` and `sync_manager_entra_id` as they are.
    #[default]
    Unchanged,
    /// Writes `manager_id` as `attributes` has it, and the manager's Entra
    /// id (`None` removes both: no manager).
    Set { entra_id: Option<String> },
}

/// Why an imported user is no longer in Entra ID's view (DESIGN 2.13),
/// which decides the tenant's deprovisioning choice that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemovalCause {
    /// `@removed` `changed`: restorable for 30 days.
    SoftDeleted,
    /// `@removed` `deleted`: gone for good.
    Purged,
    /// Still in Entra ID, outside the tenant's scope.
    LeftScope,
    /// A full round did not show it: deleted (softly or not) or out of
    /// scope, the round cannot tell.
    NotSeen,
}

impl RemovalCause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SoftDeleted => "soft_deleted",
            Self::Purged => "purged",
            Self::LeftScope => "out_of_scope",
            Self::NotSeen => "not_seen",
        }
    }
}

/// What an update does to the user's deprovisioning mark.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DeprovisionMark {
    #[default]
    Unchanged,
    /// Entra ID brought the user back.
    Clear,
    /// Deprovisioned now, for this cause.
    Set {
        at: chrono::DateTime<chrono::Utc>,
        cause: RemovalCause,
    },
}

impl DeprovisionMark {
    /// The mark's attributes as the update sets them (`None` removes one);
    /// none when unchanged.
    pub fn attribute_values(&self) -> Vec<(&'static str, Option<String>)> {
        use crate::model::directory::{DEPROVISIONED_AT, DEPROVISIONED_REASON};
        match self {
            Self::Unchanged => Vec::new(),
            Self::Clear => vec![(DEPROVISIONED_AT, None), (DEPROVISIONED_REASON, None)],
            Self::Set { at, cause } => vec![
                (
                    DEPROVISIONED_AT,
                    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                ),
                (DEPROVISIONED_REASON, Some(cause.as_str().to_owned())),
            ],
        }
    }

    /// Applies the mark to an item's bookkeeping (in-memory stores).
    pub fn apply_to(&self, sync: &mut crate::model::directory::EntraSync) {
        for (name, value) in self.attribute_values() {
            match name {
                crate::model::directory::DEPROVISIONED_AT => sync.deprovisioned_at = value,
                _ => sync.deprovisioned_reason = value,
            }
        }
    }
}
