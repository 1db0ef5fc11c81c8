//! The directory's items as both engines see them: users, groups and
//! memberships, and the `sync_` attributes entra-sync keeps on them.

use serde::{Deserialize, Deserializer, Serialize};

use super::attributes::{GroupAttributes, UserAttributes};
use super::hash::{EntraHash, hash_or_none};
use super::lenient::text_or_none;

/// Entra-side bookkeeping on directory items (a `sync_` attribute: other
/// writers keep it).
pub const ENTRA_HASH: &str = "sync_entra_hash";
/// Set by the import just before it deletes an item, so that the stream's
/// REMOVE record says who deleted it.
pub const IMPORT_DELETED: &str = "sync_import_deleted_at";
/// How the export came to link the item (a [`LinkOrigin`]), written with
/// its `entra_id`: the export deletes in Entra ID only what it created or
/// adopted (docs/behaviour.md 2.11).
pub const ENTRA_ORIGIN: &str = "sync_entra_origin";
/// Set when the import deprovisioned a user instead of deleting it.
pub const DEPROVISIONED_AT: &str = "sync_deprovisioned_at";
pub const DEPROVISIONED_REASON: &str = "sync_deprovisioned_reason";

/// How an AM object's link to its Entra object came about, when the export
/// made it. Links made otherwise (the import's objects, a link another
/// writer set) carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkOrigin {
    /// The export created the Entra object (its mark says so).
    Created,
    /// The export took over an existing Entra object, as the tenant allowed
    /// with `export_adopt_existing`.
    Adopted,
}

impl LinkOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Adopted => "adopted",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Entra,
    /// Created by the platform (`local` or absent): never deleted by import.
    #[default]
    Local,
}

impl<'de> Deserialize<'de> for Source {
    /// `entra`, or the platform's (`local`, absent, anything else).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match text_or_none(d)?.as_deref() {
            Some("entra") => Self::Entra,
            _ => Self::Local,
        })
    }
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entra => "entra",
            Self::Local => "local",
        }
    }
}

/// `sync_entra_origin`: `created`, `adopted`, or none (anything else).
pub(super) fn origin_or_none<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<LinkOrigin>, D::Error> {
    Ok(match text_or_none(d)?.as_deref() {
        Some("created") => Some(LinkOrigin::Created),
        Some("adopted") => Some(LinkOrigin::Adopted),
        _ => None,
    })
}

/// The seed's rule: managed-domain users verify their password against
/// Entra; federated (or unknown) ones get a temporary password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordMode {
    Entra,
    #[serde(other)]
    Temporary,
}

impl PasswordMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entra => "entra",
            Self::Temporary => "temporary",
        }
    }
}

/// `password_mode`: `entra`, `temporary` (any other text), or none.
pub(super) fn password_mode_or_none<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<PasswordMode>, D::Error> {
    Ok(text_or_none(d)?.map(|mode| match mode.as_str() {
        "entra" => PasswordMode::Entra,
        _ => PasswordMode::Temporary,
    }))
}

/// What entra-sync keeps on a user or group item, beside the platform's
/// values: flattened, so each stays a top-level attribute of the item
/// (docs/contract.md 1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraSync {
    /// The linked Entra object (platform objects once exported); imported
    /// objects are their Entra object and carry none.
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub entra_id: Option<String>,
    #[serde(
        rename = "sync_entra_hash",
        default,
        deserialize_with = "hash_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub entra_hash: Option<EntraHash>,
    #[serde(
        rename = "sync_import_deleted_at",
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub import_deleted_at: Option<String>,
    #[serde(
        rename = "sync_entra_origin",
        default,
        deserialize_with = "origin_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub entra_origin: Option<LinkOrigin>,
    /// When the import deprovisioned the user (disabled or kept it as
    /// its tenant chose, DESIGN 2.13) instead of deleting it; cleared when
    /// Entra ID brings it back.
    #[serde(
        rename = "sync_deprovisioned_at",
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub deprovisioned_at: Option<String>,
    /// Why: `soft_deleted`, `purged`, `out_of_scope` or `not_seen`.
    #[serde(
        rename = "sync_deprovisioned_reason",
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub deprovisioned_reason: Option<String>,
    /// The Entra id of the user's manager, when the tenant imports the
    /// manager (DESIGN 2.13): `manager_id` names its AM user once that is
    /// imported; the `by-manager` index finds a manager's reports.
    #[serde(
        rename = "sync_manager_entra_id",
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub manager_entra_id: Option<String>,
}

impl EntraSync {
    /// An imported object's: it is its Entra object, agreeing at `hash`.
    pub fn imported(hash: EntraHash) -> Self {
        Self {
            entra_hash: Some(hash),
            ..Self::default()
        }
    }

    /// Linked to `entra_id` by the export, agreeing at `hash`; an origin
    /// once recorded stays.
    pub fn link(&mut self, entra_id: &str, hash: EntraHash, origin: Option<LinkOrigin>) {
        self.entra_id = Some(entra_id.to_owned());
        self.entra_hash = Some(hash);
        self.entra_origin = origin.or(self.entra_origin);
    }
}

/// A user item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserItem {
    pub user_id: String,
    #[serde(flatten)]
    pub attributes: UserAttributes,
    #[serde(default)]
    pub source: Source,
    #[serde(
        default,
        deserialize_with = "password_mode_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub password_mode: Option<PasswordMode>,
    #[serde(flatten)]
    pub sync: EntraSync,
}

/// A group item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupItem {
    pub group_id: String,
    #[serde(flatten)]
    pub attributes: GroupAttributes,
    #[serde(default)]
    pub source: Source,
    #[serde(flatten)]
    pub sync: EntraSync,
}

/// A membership item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipItem {
    pub group_id: String,
    pub user_id: String,
    #[serde(default)]
    pub source: Source,
    #[serde(
        rename = "sync_import_deleted_at",
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub import_deleted_at: Option<String>,
}

/// A membership by AM ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MembershipKey {
    pub group_id: String,
    pub user_id: String,
}

impl MembershipKey {
    pub fn encode(&self) -> String {
        format!("{}#{}", self.group_id, self.user_id)
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let (group_id, user_id) = raw.split_once('#')?;
        Some(Self {
            group_id: group_id.to_owned(),
            user_id: user_id.to_owned(),
        })
    }
}
