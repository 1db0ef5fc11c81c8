//! The AM directory's items (docs/contract.md 1.3) as both engines see them:
//! users, groups and memberships, parsed once at the edge (stream images,
//! table items) into these types; the field table that maps each
//! synchronised attribute to its Graph property; and the [`EntraHash`] that
//! tells entra-sync's writes from the platform's.
//!
//! The platform does not mark its writes, so the export decides by state:
//! every time entra-sync makes an item agree with Entra ID (import writing
//! Entra's values, or export after pushing the platform's), it stores a hash
//! of the synchronised attributes. An item whose attributes still hash to
//! that value holds nothing Entra ID lacks; one that does not was changed by
//! the platform since.
//!
//! One job a file: `items` (the item types and their `sync_` attributes),
//! `attributes` (what is synchronised), `key` (`pk`/`sk`), `synced` (what
//! users and groups share), `fields` (the field table), `hash` (the hash),
//! `lenient` (how values other writers share are read).

mod attributes;
mod fields;
mod hash;
mod items;
mod key;
mod lenient;
mod synced;

#[cfg(test)]
mod tests;

pub use attributes::{GroupAttributes, MAX_USER_NAME_BYTES, UserAttributes, user_name_key};
pub use fields::{Field, FieldKind, FieldValue, GROUP_FIELDS, USER_FIELDS, changed_fields};
pub use hash::EntraHash;
pub use items::{
    DEPROVISIONED_AT, DEPROVISIONED_REASON, ENTRA_HASH, ENTRA_ORIGIN, EntraSync, GroupItem,
    IMPORT_DELETED, LinkOrigin, MembershipItem, MembershipKey, PasswordMode, Source, UserItem,
};
pub use key::{GROUP_PREFIX, ItemKey, MEMBER_PREFIX, USER_PREFIX};
pub use synced::SyncedObject;
