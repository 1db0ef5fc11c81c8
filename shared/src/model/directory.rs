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

use serde::{Deserialize, Deserializer, Serialize};

use super::TenantId;

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

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entra => "entra",
            Self::Local => "local",
        }
    }
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

// Other writers share these items, so a value of an unexpected type (a
// NULL, a number where text belongs) is read as no value, as docs/contract.md 1.3
// reads an absent one, rather than making the item unreadable: one odd item
// must not stop a tenant's import or lose a change on the stream.

/// Text; an empty string or a value of another type is no value.
fn text_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// Required text (`user_name`, a group's `name`): no value is "".
fn text_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(text_or_none(d)?.unwrap_or_default())
}

/// `enabled`: anything but `false` means enabled.
fn enabled_unless_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(!matches!(
        serde_json::Value::deserialize(d)?,
        serde_json::Value::Bool(false)
    ))
}

fn enabled_by_default() -> bool {
    true
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

/// `sync_entra_origin`: `created`, `adopted`, or none (anything else).
fn origin_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LinkOrigin>, D::Error> {
    Ok(match text_or_none(d)?.as_deref() {
        Some("created") => Some(LinkOrigin::Created),
        Some("adopted") => Some(LinkOrigin::Adopted),
        _ => None,
    })
}

fn hash_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EntraHash>, D::Error> {
    Ok(text_or_none(d)?.map(EntraHash))
}

/// `password_mode`: `entra`, `temporary` (any other text), or none.
fn password_mode_or_none<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<PasswordMode>, D::Error> {
    Ok(text_or_none(d)?.map(|mode| match mode.as_str() {
        "entra" => PasswordMode::Entra,
        _ => PasswordMode::Temporary,
    }))
}

/// The user attributes synchronised with Entra ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAttributes {
    /// The login; the UPN for Entra users.
    #[serde(default, deserialize_with = "text_or_empty")]
    pub user_name: String,
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub given_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub surname: Option<String>,
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub mobile_phone: Option<String>,
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_title: Option<String>,
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub department: Option<String>,
    #[serde(
        default = "enabled_by_default",
        deserialize_with = "enabled_unless_false"
    )]
    pub enabled: bool,
}

impl Default for UserAttributes {
    /// No values, and enabled (as an absent `enabled` means).
    fn default() -> Self {
        Self {
            user_name: String::new(),
            display_name: None,
            given_name: None,
            surname: None,
            email: None,
            mobile_phone: None,
            job_title: None,
            department: None,
            enabled: true,
        }
    }
}

impl UserAttributes {
    /// The user name's domain, lowercase.
    pub fn domain(&self) -> Option<String> {
        self.user_name
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
    }
}

/// The group attributes synchronised with Entra ID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupAttributes {
    #[serde(default, deserialize_with = "text_or_empty")]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
}

/// A user item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserItem {
    pub user_id: String,
    #[serde(flatten)]
    pub attributes: UserAttributes,
    #[serde(default)]
    pub source: Source,
    /// The linked Entra object (platform users once exported); imported
    /// users are their Entra object and carry none.
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub entra_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "password_mode_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub password_mode: Option<PasswordMode>,
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
}

/// A group item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupItem {
    pub group_id: String,
    #[serde(flatten)]
    pub attributes: GroupAttributes,
    #[serde(default)]
    pub source: Source,
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

/// The key of a directory item: the one place `pk`/`sk` are encoded and
/// decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKey {
    User {
        tenant: TenantId,
        user_id: String,
    },
    Group {
        tenant: TenantId,
        group_id: String,
    },
    Membership {
        tenant: TenantId,
        key: MembershipKey,
    },
}

pub const USER_PREFIX: &str = "USER#";
pub const GROUP_PREFIX: &str = "GROUP#";
pub const MEMBER_PREFIX: &str = "MEMBER#";

impl ItemKey {
    pub fn user(tenant: &TenantId, user_id: &str) -> Self {
        Self::User {
            tenant: tenant.clone(),
            user_id: user_id.to_owned(),
        }
    }

    pub fn group(tenant: &TenantId, group_id: &str) -> Self {
        Self::Group {
            tenant: tenant.clone(),
            group_id: group_id.to_owned(),
        }
    }

    /// The kind of directory item `pk`/`sk` name; `None` for anything else,
    /// and for a key whose ids hold `#` (see [`ItemKey::separator_in_id`]).
    pub fn parse(pk: &str, sk: &str) -> Option<Self> {
        let tenant = TenantId::parse(pk.strip_prefix("TENANT#")?).ok()?;
        if Self::separator_in_id(sk) {
            return None;
        }
        if let Some(id) = sk.strip_prefix(USER_PREFIX) {
            return (!id.is_empty()).then(|| Self::user(&tenant, id));
        }
        if let Some(id) = sk.strip_prefix(GROUP_PREFIX) {
            return (!id.is_empty()).then(|| Self::group(&tenant, id));
        }
        let key = MembershipKey::decode(sk.strip_prefix(MEMBER_PREFIX)?)?;
        (!key.group_id.is_empty() && !key.user_id.is_empty())
            .then_some(Self::Membership { tenant, key })
    }

    /// A user, group or membership key whose ids hold `#`, the keys'
    /// separator: `MEMBER#a#b#c` could be (`a#b`, `c`) or (`a`, `b#c`), so
    /// such a key names no object at all.
    pub fn separator_in_id(sk: &str) -> bool {
        if let Some(id) = sk
            .strip_prefix(USER_PREFIX)
            .or_else(|| sk.strip_prefix(GROUP_PREFIX))
        {
            return id.contains('#');
        }
        sk.strip_prefix(MEMBER_PREFIX)
            .is_some_and(|ids| ids.matches('#').count() != 1)
    }

    pub fn tenant(&self) -> &TenantId {
        match self {
            Self::User { tenant, .. }
            | Self::Group { tenant, .. }
            | Self::Membership { tenant, .. } => tenant,
        }
    }

    pub fn pk(&self) -> String {
        format!("TENANT#{}", self.tenant())
    }

    /// The id attributes the key names (`user_id`, `group_id`): an item is
    /// always read under these, whatever it says itself.
    pub fn ids(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::User { user_id, .. } => vec![("user_id", user_id)],
            Self::Group { group_id, .. } => vec![("group_id", group_id)],
            Self::Membership { key, .. } => {
                vec![("group_id", &key.group_id), ("user_id", &key.user_id)]
            }
        }
    }

    /// Sets the key's id attributes on an item's JSON image.
    pub fn fill_ids(&self, item: &mut serde_json::Map<String, serde_json::Value>) {
        for (name, id) in self.ids() {
            item.insert(name.to_owned(), serde_json::Value::String(id.to_owned()));
        }
    }

    pub fn sk(&self) -> String {
        match self {
            Self::User { user_id, .. } => format!("{USER_PREFIX}{user_id}"),
            Self::Group { group_id, .. } => format!("{GROUP_PREFIX}{group_id}"),
            Self::Membership { key, .. } => format!("{MEMBER_PREFIX}{}", key.encode()),
        }
    }
}

/// What users and groups share: an id, a source, a link to Entra ID and
/// the hash of the values last synchronised.
pub trait SyncedObject {
    type Attributes: 'static;
    const FIELDS: &'static [Field<Self::Attributes>];
    fn id(&self) -> &str;
    fn source(&self) -> Source;
    fn linked_entra_id(&self) -> Option<&str>;
    fn attributes(&self) -> &Self::Attributes;
    fn stored_hash(&self) -> Option<&EntraHash>;
    /// The import marked the item just before deleting it.
    fn import_deleted(&self) -> bool;
    /// How the export linked the item, when it did.
    fn export_origin(&self) -> Option<LinkOrigin>;

    /// The Entra object this item is: its `entra_id` once linked, or its
    /// own id when it was imported (imported objects use the Entra id as
    /// their id and carry no `entra_id`).
    fn entra_object_id(&self) -> Option<&str> {
        match self.linked_entra_id() {
            Some(linked) => Some(linked),
            None if self.source() == Source::Entra => Some(self.id()),
            None => None,
        }
    }

    /// Hashes earlier releases computed for these same values.
    fn legacy_hashes(&self) -> Vec<EntraHash> {
        Vec::new()
    }

    /// The item still holds the values entra-sync last synchronised.
    fn agrees_with_entra(&self) -> bool {
        let Some(stored) = self.stored_hash() else {
            return false;
        };
        stored == &EntraHash::of(Self::FIELDS, self.attributes())
            || self.legacy_hashes().contains(stored)
    }

    /// The platform changed the item since it last agreed with Entra ID and
    /// the export has not pushed it yet: the import leaves it alone.
    fn pending_export(&self) -> bool {
        self.stored_hash().is_some() && !self.agrees_with_entra()
    }
}

impl SyncedObject for UserItem {
    type Attributes = UserAttributes;
    const FIELDS: &'static [Field<UserAttributes>] = USER_FIELDS;
    fn id(&self) -> &str {
        &self.user_id
    }
    fn source(&self) -> Source {
        self.source
    }
    fn linked_entra_id(&self) -> Option<&str> {
        self.entra_id.as_deref()
    }
    fn attributes(&self) -> &UserAttributes {
        &self.attributes
    }
    fn stored_hash(&self) -> Option<&EntraHash> {
        self.entra_hash.as_ref()
    }
    fn import_deleted(&self) -> bool {
        self.import_deleted_at.is_some()
    }
    fn export_origin(&self) -> Option<LinkOrigin> {
        self.entra_origin
    }

    /// Releases before the typed model hashed the item's JSON, where an
    /// absent `enabled` (which means enabled) rendered as no value.
    fn legacy_hashes(&self) -> Vec<EntraHash> {
        if !self.attributes.enabled {
            return Vec::new();
        }
        let without_enabled: Vec<Field<UserAttributes>> = USER_FIELDS
            .iter()
            .map(|f| Field {
                read: if f.am == "enabled" {
                    |_| FieldValue::Text(None)
                } else {
                    f.read
                },
                ..*f
            })
            .collect();
        vec![EntraHash::of(&without_enabled, &self.attributes)]
    }
}

impl SyncedObject for GroupItem {
    type Attributes = GroupAttributes;
    const FIELDS: &'static [Field<GroupAttributes>] = GROUP_FIELDS;
    fn id(&self) -> &str {
        &self.group_id
    }
    fn source(&self) -> Source {
        self.source
    }
    fn linked_entra_id(&self) -> Option<&str> {
        self.entra_id.as_deref()
    }
    fn attributes(&self) -> &GroupAttributes {
        &self.attributes
    }
    fn stored_hash(&self) -> Option<&EntraHash> {
        self.entra_hash.as_ref()
    }
    fn import_deleted(&self) -> bool {
        self.import_deleted_at.is_some()
    }
    fn export_origin(&self) -> Option<LinkOrigin> {
        self.entra_origin
    }
}

/// A synchronised attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// `None` = no value (Graph's `null`; absent on the item).
    Text(Option<String>),
    Flag(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Flag,
}

/// One synchronised attribute: its AM name, its Graph property, and how to
/// read and write it on the attributes. The engines and the Graph adapter
/// read these tables instead of naming attributes themselves, so a
/// per-tenant mapping later is a different table, not new code.
#[derive(Clone, Copy)]
pub struct Field<A: 'static> {
    pub am: &'static str,
    pub graph: &'static str,
    pub kind: FieldKind,
    pub read: fn(&A) -> FieldValue,
    pub write: fn(&mut A, FieldValue),
}

impl<A> std::fmt::Debug for Field<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <-> {}", self.am, self.graph)
    }
}

fn text_value(value: &Option<String>) -> FieldValue {
    FieldValue::Text(value.clone().filter(|s| !s.is_empty()))
}

fn into_text(value: FieldValue) -> Option<String> {
    match value {
        FieldValue::Text(text) => text.filter(|s| !s.is_empty()),
        FieldValue::Flag(_) => None,
    }
}

macro_rules! optional_text {
    ($am:literal, $graph:literal, $attributes:ty, $field:ident) => {
        Field {
            am: $am,
            graph: $graph,
            kind: FieldKind::Text,
            read: |a: &$attributes| text_value(&a.$field),
            write: |a: &mut $attributes, v| a.$field = into_text(v),
        }
    };
}

/// AM user attribute <-> Graph user property. The order is the hash's.
pub const USER_FIELDS: &[Field<UserAttributes>] = &[
    Field {
        am: "user_name",
        graph: "userPrincipalName",
        kind: FieldKind::Text,
        read: |a| FieldValue::Text(Some(a.user_name.clone()).filter(|s| !s.is_empty())),
        write: |a, v| a.user_name = into_text(v).unwrap_or_default(),
    },
    optional_text!("display_name", "displayName", UserAttributes, display_name),
    optional_text!("given_name", "givenName", UserAttributes, given_name),
    optional_text!("surname", "surname", UserAttributes, surname),
    optional_text!("email", "mail", UserAttributes, email),
    optional_text!("mobile_phone", "mobilePhone", UserAttributes, mobile_phone),
    optional_text!("job_title", "jobTitle", UserAttributes, job_title),
    optional_text!("department", "department", UserAttributes, department),
    Field {
        am: "enabled",
        graph: "accountEnabled",
        kind: FieldKind::Flag,
        read: |a| FieldValue::Flag(a.enabled),
        // Graph's null (or an absent property) means enabled.
        write: |a, v| a.enabled = !matches!(v, FieldValue::Flag(false)),
    },
];

/// AM group attribute <-> Graph group property.
pub const GROUP_FIELDS: &[Field<GroupAttributes>] = &[
    Field {
        am: "name",
        graph: "displayName",
        kind: FieldKind::Text,
        read: |a| FieldValue::Text(Some(a.name.clone()).filter(|s| !s.is_empty())),
        write: |a, v| a.name = into_text(v).unwrap_or_default(),
    },
    optional_text!("description", "description", GroupAttributes, description),
];

/// The synchronised attributes whose values differ between two versions.
pub fn changed_fields<A>(fields: &'static [Field<A>], old: &A, new: &A) -> Vec<&'static Field<A>> {
    fields
        .iter()
        .filter(|f| (f.read)(old) != (f.read)(new))
        .collect()
}

/// A hash of the synchronised values, stored as `sync_entra_hash`:
/// FNV-1a 64 over a canonical rendering, stable across processes and
/// releases (no std `Hasher`, whose output may change).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntraHash(String);

impl EntraHash {
    pub fn of<A>(fields: &[Field<A>], attributes: &A) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for field in fields {
            let rendered = match (field.read)(attributes) {
                FieldValue::Text(None) => String::from("\u{0}"),
                FieldValue::Text(Some(s)) => format!("s:{s}"),
                FieldValue::Flag(b) => format!("v:{b}"),
            };
            for byte in field
                .am
                .bytes()
                .chain([b'='])
                .chain(rendered.bytes())
                .chain([b';'])
            {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Self(format!("{hash:016x}"))
    }

    pub fn of_user(attributes: &UserAttributes) -> Self {
        Self::of(USER_FIELDS, attributes)
    }

    pub fn of_group(attributes: &GroupAttributes) -> Self {
        Self::of(GROUP_FIELDS, attributes)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_name_their_kind_and_others_are_not_directory_items() {
        assert!(
            matches!(ItemKey::parse("TENANT#acme", "USER#u1"), Some(ItemKey::User { user_id, .. }) if user_id == "u1")
        );
        assert!(
            matches!(ItemKey::parse("TENANT#acme", "MEMBER#g1#u1"), Some(ItemKey::Membership { key, .. }) if key.group_id == "g1" && key.user_id == "u1")
        );
        assert!(ItemKey::parse("TENANT#acme", "ROLE#admin").is_none());
        assert!(ItemKey::parse("ORG#acme", "USER#u1").is_none());
        assert!(ItemKey::parse("TENANT#acme", "MEMBER#g1").is_none());
        // An id holding the separator names no object (never another one).
        for sk in ["USER#a#b", "GROUP#g#1", "MEMBER#a#b#c", "MEMBER#a#b#"] {
            assert!(ItemKey::separator_in_id(sk), "{sk}");
            assert!(ItemKey::parse("TENANT#acme", sk).is_none(), "{sk}");
        }
        assert!(!ItemKey::separator_in_id("MEMBER#g1#u1"));
        assert!(!ItemKey::separator_in_id("ROLE#a#b"));
        let key = ItemKey::parse("TENANT#acme", "MEMBER#g1#u1").unwrap();
        assert_eq!(
            (key.pk(), key.sk()),
            ("TENANT#acme".into(), "MEMBER#g1#u1".into())
        );
    }

    fn user(value: serde_json::Value) -> UserItem {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_item_parses_with_defaults_for_what_is_absent_and_keeps_nothing_else() {
        let item = user(
            json!({"user_id": "u1", "user_name": "ann@contoso.com", "role": "x", "email": ""}),
        );
        assert_eq!(item.source, Source::Local);
        assert!(item.attributes.enabled);
        assert_eq!(item.attributes.email, None);
        assert_eq!(item.entra_object_id(), None);
        let imported = user(json!({"user_id": "e1", "user_name": "a@b.c", "source": "entra"}));
        assert_eq!(imported.entra_object_id(), Some("e1"));
    }

    #[test]
    fn values_of_another_type_read_as_no_value_and_never_make_the_item_unreadable() {
        let item = user(json!({
            "user_id": "u1", "user_name": null, "enabled": "yes", "source": 7,
            "display_name": 42, "password_mode": true, "sync_entra_hash": null,
            "sync_import_deleted_at": 1
        }));
        assert_eq!(item.attributes.user_name, "");
        assert!(item.attributes.enabled);
        assert_eq!(item.source, Source::Local);
        assert_eq!(item.attributes.display_name, None);
        assert_eq!(item.password_mode, None);
        assert_eq!((item.entra_hash, item.import_deleted_at), (None, None));
        let disabled = user(json!({"user_id": "u2", "enabled": false, "password_mode": "entra"}));
        assert!(!disabled.attributes.enabled);
        assert_eq!(disabled.password_mode, Some(PasswordMode::Entra));
    }

    #[test]
    fn the_hash_covers_only_synchronised_values_and_treats_absent_as_empty() {
        let a = user(
            json!({"user_id": "u1", "user_name": "ann@contoso.com", "enabled": true, "job_title": "CTO", "sync_other": 1}),
        );
        let b = user(
            json!({"user_id": "u2", "user_name": "ann@contoso.com", "enabled": true, "job_title": "CTO", "email": null, "role": "x"}),
        );
        let hash = |i: &UserItem| EntraHash::of_user(&i.attributes);
        assert_eq!(hash(&a), hash(&b));
        let c = user(
            json!({"user_id": "u1", "user_name": "ann@contoso.com", "enabled": false, "job_title": "CTO"}),
        );
        assert_ne!(hash(&a), hash(&c));
        assert_eq!(hash(&a).as_str().len(), 16);
    }

    #[test]
    fn the_hash_is_the_one_earlier_releases_stored() {
        // Computed by the release before the typed model, from the item's JSON.
        let item = user(
            json!({"user_id": "u1", "user_name": "ann@contoso.com", "enabled": true, "job_title": "CTO"}),
        );
        assert_eq!(EntraHash::of_user(&item.attributes).as_str(), LEGACY_HASH);
    }

    /// FNV-1a of `user_name=s:ann@contoso.com;display_name=\0;...enabled=v:true;`.
    const LEGACY_HASH: &str = "2856858713eef70b";

    #[test]
    fn a_hash_stored_for_an_item_without_enabled_still_agrees() {
        let legacy = user(json!({"user_id": "u1", "user_name": "ann@contoso.com"}));
        let mut item = legacy.clone();
        // What the release before the typed model stored for this item.
        item.entra_hash = legacy.legacy_hashes().pop();
        assert!(item.agrees_with_entra() && !item.pending_export());
    }

    #[test]
    fn a_changed_value_makes_the_item_pending_until_the_hash_is_renewed() {
        let mut item = user(json!({"user_id": "u1", "user_name": "ann@contoso.com"}));
        assert!(!item.pending_export(), "never synchronised");
        item.entra_hash = Some(EntraHash::of_user(&item.attributes));
        assert!(item.agrees_with_entra() && !item.pending_export());
        item.attributes.department = Some("Sales".into());
        assert!(item.pending_export());
        let changed = changed_fields(USER_FIELDS, &UserAttributes::default(), &item.attributes);
        let names: Vec<&str> = changed.iter().map(|f| f.am).collect();
        assert_eq!(names, vec!["user_name", "department"]);
    }
}
