//! Entra ID as the engines see it: its users and groups in the AM
//! directory's terms, delta pages and their items, domains, the objects the
//! export writes and its mark, and what can go wrong asking
//! (`error`). The Graph adapter (`crate::graph`) turns Graph's JSON into
//! these and back; the engines never see JSON or HTTP.

mod domains;
mod error;

use std::fmt;

use secrecy::SecretString;
use sha2::{Digest, Sha256};

pub use domains::{DOMAIN_CACHE_TTL, TenantDomains};
pub use error::{GraphError, PermissionCheck, ReauthorisationReason, TokenError};

use crate::model::EntraObjectId;
use crate::model::directory::{Field, FieldValue, GroupAttributes, ItemKey, UserAttributes};

/// The directory extension that holds the export's mark (docs/behaviour.md 2.11).
/// Registered once on the app registration (README); Graph offers it in
/// every tenant that consented to the app, and it is set in the create's
/// own body, so no crash leaves an object of ours unmarked. No mapping
/// reads or writes it (`mapping::catalogue`).
pub const EXPORT_MARK_EXTENSION: &str = "entraSyncCreatedFor";

/// A user as Graph has it, in the AM directory's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraUser {
    pub id: EntraObjectId,
    pub attributes: UserAttributes,
    /// A B2B guest (`userType` `Guest`): its `user_name` is its `mail` (its
    /// UPN, `alias_theirdomain#EXT#@…`, when it has none), and it is
    /// imported only when the tenant includes guests (DESIGN 2.13).
    pub guest: bool,
    /// Every property Graph sent, as sent: what the tenant's mappings and
    /// scoping filters read (DESIGN 2.13; `crate::mapping::SourceObject`).
    /// Shared: a user's copies (mapped, checked) do not copy them.
    pub properties: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraGroup {
    pub id: EntraObjectId,
    pub attributes: GroupAttributes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    User,
    Group,
    /// Devices, service principals, contacts: not part of the AM directory.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChange {
    pub member_id: EntraObjectId,
    pub kind: MemberKind,
    pub removed: bool,
}

/// One item of a delta page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaItem<T> {
    Upsert(T),
    /// `@removed`; `permanent` when the reason is `deleted`.
    Removed {
        id: EntraObjectId,
        permanent: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDelta {
    pub id: EntraObjectId,
    /// `None` when the item carried only its id and membership changes.
    pub group: Option<EntraGroup>,
    pub members: Vec<MemberChange>,
}

/// Where a round goes after this page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuation {
    Next(String),
    Done { delta_link: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaPage<T> {
    pub items: Vec<DeltaItem<T>>,
    pub continuation: Continuation,
    /// Items that do not hold what the directory needs (a user without a
    /// `userPrincipalName`, a property of the wrong type): a client must
    /// cope with fewer or other properties than it selected, so the import
    /// fetches them again by id, and names them as problems if they still
    /// cannot be imported. One object never fails its page.
    pub unusable: Vec<UnusableItem>,
}

/// A delta item that could not be read as the object it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableItem {
    pub id: EntraObjectId,
    /// Its UPN or name, when it has a readable one.
    pub display: Option<String>,
    pub reason: String,
    /// A user item's `manager@delta`, as sent: an item that carries only
    /// its id and a manager change is fetched again by id, and a user read
    /// by id does not state its manager (DESIGN 2.13).
    pub manager_link: Option<serde_json::Value>,
}

impl EntraUser {
    /// The user's UPN domain, lowercase.
    pub fn domain(&self) -> Option<String> {
        self.attributes.domain()
    }

    /// What the item says of the user's manager, when `$select` named it:
    /// `manager@delta` with the manager's id, or `@removed` (GRAPH.md:
    /// related objects carry only their id). `None` when the item does not
    /// say (an incremental round's unchanged manager). A manager that is
    /// not a user (an organisational contact) is none of the AM's.
    pub fn manager_link(&self) -> Option<ManagerLink> {
        let links = self.properties.get("manager@delta")?.as_array()?;
        if links.is_empty() {
            return Some(ManagerLink::None);
        }
        // The entry not removed names the manager, in whatever order Graph
        // lists the old one's removal beside it.
        let current = links.iter().find(|link| link.get("@removed").is_none());
        let Some(link) = current else {
            return Some(ManagerLink::None);
        };
        let is_user = link
            .get("@odata.type")
            .and_then(|t| t.as_str())
            .is_none_or(|t| t.eq_ignore_ascii_case("#microsoft.graph.user"));
        if !is_user {
            return Some(ManagerLink::None);
        }
        // An entry without a usable id says nothing the import can act on.
        let id = link.get("id").and_then(|id| id.as_str())?;
        let id = EntraObjectId::parse(id).ok()?;
        Some(ManagerLink::Manager(id.to_string()))
    }
}

/// A user's manager as a delta item states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerLink {
    /// The manager's Entra object id.
    Manager(String),
    /// No manager (removed, or not a user).
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainInfo {
    pub name: String,
    pub federated: bool,
    pub verified: bool,
}

/// A user to create in Entra ID.
#[derive(Debug, Clone)]
pub struct NewEntraUser {
    pub attributes: UserAttributes,
    /// What the tenant's export mappings give (DESIGN 2.13): the body's
    /// properties; `attributes` fills what Graph requires that they lack.
    pub properties: EntraPatch,
    pub mail_nickname: String,
    /// Required for users of federated domains.
    pub on_premises_immutable_id: Option<String>,
    /// The temporary password, changed at first sign-in.
    pub password: SecretString,
    /// Written with the user, so that a replay can prove it made it.
    pub mark: ExportMark,
}

impl NewEntraUser {
    /// The properties `POST /users` sets, besides its password and the
    /// export's mark: the mapped ones with a value, then what Graph
    /// requires that no mapping gave (a display name, `accountEnabled`,
    /// `mailNickname`), and the immutable id of a federated domain's user.
    pub fn posted_properties(&self) -> EntraPatch {
        let mut posted = EntraPatch {
            properties: (self.properties.properties.iter())
                .filter(|(_, value)| *value != GraphValue::Null)
                .cloned()
                .collect(),
        };
        let text = |value: &str| GraphValue::Text(value.to_owned());
        let required = [
            ("userPrincipalName", Some(text(&self.attributes.user_name))),
            (
                "displayName",
                self.attributes.display_name.as_deref().map(text),
            ),
            (
                "accountEnabled",
                Some(GraphValue::Flag(self.attributes.enabled)),
            ),
            ("mailNickname", Some(text(&self.mail_nickname))),
        ];
        for (property, value) in required {
            if let Some(value) = value.filter(|_| posted.value(property).is_none()) {
                posted.set(property, value);
            }
        }
        if let Some(anchor) = &self.on_premises_immutable_id {
            posted.set("onPremisesImmutableId", text(anchor));
        }
        posted
    }
}

#[derive(Debug, Clone)]
pub struct NewEntraGroup {
    pub attributes: GroupAttributes,
    pub mail_nickname: String,
    pub mark: ExportMark,
}

/// An Entra user found by its UPN, with the export's mark when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingEntraUser {
    pub user: EntraUser,
    pub mark: Option<ExportMark>,
}

/// A Graph property's value as the export writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphValue {
    /// Graph's `null`: clears the property.
    Null,
    Text(String),
    Flag(bool),
    /// A collection of texts (`businessPhones`, `otherMails`).
    Texts(Vec<String>),
}

impl GraphValue {
    /// The value as Graph's JSON has it.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Self::Text(text) => Value::String(text.clone()),
            Self::Null => Value::Null,
            Self::Flag(flag) => Value::Bool(*flag),
            Self::Texts(texts) => Value::Array(texts.iter().cloned().map(Value::String).collect()),
        }
    }
}

impl From<FieldValue> for GraphValue {
    fn from(value: FieldValue) -> Self {
        match value {
            FieldValue::Text(Some(text)) => Self::Text(text),
            FieldValue::Text(None) => Self::Null,
            FieldValue::Flag(flag) => Self::Flag(flag),
        }
    }
}

/// Graph properties to set, by their Graph names (the field table's, or
/// a mapping's target), in the order they were decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntraPatch {
    pub properties: Vec<(String, GraphValue)>,
}

impl EntraPatch {
    /// The given fields' values from `attributes`.
    pub fn of<A>(fields: &[&'static Field<A>], attributes: &A) -> Self {
        Self {
            properties: fields
                .iter()
                .map(|f| (f.graph.to_owned(), (f.read)(attributes).into()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// Sets `property`, replacing a value set before.
    pub fn set(&mut self, property: &str, value: GraphValue) {
        match self
            .properties
            .iter_mut()
            .find(|(name, _)| name == property)
        {
            Some((_, held)) => *held = value,
            None => self.properties.push((property.to_owned(), value)),
        }
    }

    /// The value the patch sets `property` to, if it sets it.
    pub fn value(&self, property: &str) -> Option<&GraphValue> {
        self.properties
            .iter()
            .find(|(name, _)| name == property)
            .map(|(_, value)| value)
    }

    /// The properties it sets, by name.
    pub fn names(&self) -> Vec<&str> {
        self.properties
            .iter()
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The patch split for a user mastered on premises: what Graph still
    /// writes on it (its cloud-only settings and directory extensions),
    /// and the properties Active Directory owns, which Graph refuses
    /// (WAVE3 §0 fact 4, §1.3).
    pub fn split_on_premises_mastered(&self) -> (EntraPatch, Vec<String>) {
        let (cloud, mastered): (Vec<_>, Vec<_>) = self
            .properties
            .iter()
            .cloned()
            .partition(|(name, _)| cloud_owned(name));
        let refused = mastered.into_iter().map(|(name, _)| name).collect();
        (EntraPatch { properties: cloud }, refused)
    }
}

/// Graph properties of a user that stay the cloud's when Active Directory
/// masters the user: the emulator's list, the only one at hand (Microsoft
/// documents the refusal, not the list).
const CLOUD_OWNED_USER_PROPERTIES: &[&str] = &["usageLocation", "preferredLanguage"];

fn cloud_owned(property: &str) -> bool {
    property.starts_with("extension_") || CLOUD_OWNED_USER_PROPERTIES.contains(&property)
}

/// Which kind of Entra object a call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntraObjectKind {
    User,
    Group,
}

impl EntraObjectKind {
    /// Graph's collection of such objects (`users`, `groups`).
    pub fn collection(self) -> &'static str {
        match self {
            Self::User => "users",
            Self::Group => "groups",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }
}

/// The mark the export writes on every Entra user and group it creates:
/// the AM object it was made for (`<tenant>/<sort key>`, e.g.
/// `acme/USER#p-1`). A replay whose create answer was lost finds its own
/// object by it; an object marked for another AM object is not its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportMark(String);

/// Graph's limit on a String directory extension value.
const MARK_LIMIT: usize = 256;

impl ExportMark {
    pub fn of(key: &ItemKey) -> Self {
        let plain = format!("{}/{}", key.tenant(), key.sk());
        if plain.chars().count() <= MARK_LIMIT {
            return Self(plain);
        }
        // Long ids: a digest still names this object and no other.
        let digest = Sha256::digest(plain.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("sha256:{hex}"))
    }

    /// A mark as Graph returned it.
    pub fn from_graph(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExportMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TenantId;

    #[test]
    fn a_mark_names_the_tenant_and_the_object_and_long_ones_are_digested() {
        let tenant = TenantId::parse("acme").unwrap();
        assert_eq!(
            ExportMark::of(&ItemKey::user(&tenant, "p-1")).as_str(),
            "acme/USER#p-1"
        );
        assert_ne!(
            ExportMark::of(&ItemKey::user(&tenant, "p-1")),
            ExportMark::of(&ItemKey::group(&tenant, "p-1"))
        );
        let long = ExportMark::of(&ItemKey::user(&tenant, &"x".repeat(300)));
        assert!(long.as_str().starts_with("sha256:") && long.as_str().len() <= MARK_LIMIT);
        assert_ne!(
            long,
            ExportMark::of(&ItemKey::user(&tenant, &"x".repeat(301)))
        );
    }

    #[test]
    fn a_patch_of_a_user_mastered_on_premises_keeps_only_what_the_cloud_owns() {
        let text = |v: &str| GraphValue::Text(v.into());
        let mut patch = EntraPatch::default();
        patch.set("jobTitle", text("Chef"));
        patch.set("usageLocation", text("FR"));
        patch.set("accountEnabled", GraphValue::Flag(false));
        patch.set("extension_abc_costCenter", text("42"));
        patch.set("otherMails", GraphValue::Texts(vec!["a@b.c".into()]));
        let (cloud, refused) = patch.split_on_premises_mastered();
        let written = cloud.names();
        assert_eq!(written, ["usageLocation", "extension_abc_costCenter"]);
        assert_eq!(refused, ["jobTitle", "accountEnabled", "otherMails"]);
    }
}
