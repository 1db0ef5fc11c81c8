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
