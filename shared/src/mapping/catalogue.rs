//! The names mappings and filters may use: Graph user properties (the
//! import sources and export targets) and AM user attributes (the import
//! targets and export sources). Facts: WAVE3 §1.3, GRAPH.md 3.2.

use crate::model::entra::EXPORT_MARK_EXTENSION;

/// What a target holds, so a mapped value is shaped for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Text,
    /// `enabled`, `accountEnabled`: a flag, or the text `true`/`false`.
    Flag,
    /// A user's id: `manager_id` on import (the manager's AM user id),
    /// `manager` on export (written with `PUT …/manager/$ref`).
    Reference,
    /// `businessPhones`: a collection of which Graph accepts one value.
    SingleValueList,
    /// `otherMails`.
    TextList,
}

/// Graph user properties an import mapping or a scoping filter may read
/// (besides the extension attributes and `manager`).
const GRAPH_USER_SOURCES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "mailNickname",
    "mobilePhone",
    "jobTitle",
    "department",
    "accountEnabled",
    "employeeId",
    "employeeType",
    "companyName",
    "officeLocation",
    "businessPhones",
    "faxNumber",
    "otherMails",
    "proxyAddresses",
    "city",
    "state",
    "country",
    "postalCode",
    "streetAddress",
    "preferredLanguage",
    "usageLocation",
    "userType",
    "externalUserState",
    "creationType",
    "onPremisesSyncEnabled",
    "onPremisesSamAccountName",
    "onPremisesUserPrincipalName",
    "onPremisesDomainName",
    "onPremisesImmutableId",
    "onPremisesSecurityIdentifier",
    "onPremisesDistinguishedName",
];

/// The manager, a navigation property: only `manager_id` maps it.
pub(crate) const GRAPH_MANAGER: &str = "manager";
/// The AM side of the manager.
pub(crate) const AM_MANAGER: &str = "manager_id";

const EXTENSION_ATTRIBUTES: &str = "onPremisesExtensionAttributes";

/// Graph user properties an export mapping may write, and their kind.
const GRAPH_WRITABLE: &[(&str, TargetKind)] = &[
    ("accountEnabled", TargetKind::Flag),
    ("userPrincipalName", TargetKind::Text),
    ("displayName", TargetKind::Text),
    ("givenName", TargetKind::Text),
    ("surname", TargetKind::Text),
    ("mail", TargetKind::Text),
    ("mailNickname", TargetKind::Text),
    ("mobilePhone", TargetKind::Text),
    ("jobTitle", TargetKind::Text),
    ("department", TargetKind::Text),
    ("employeeId", TargetKind::Text),
    ("employeeType", TargetKind::Text),
    ("companyName", TargetKind::Text),
    ("officeLocation", TargetKind::Text),
    ("businessPhones", TargetKind::SingleValueList),
    ("faxNumber", TargetKind::Text),
    ("otherMails", TargetKind::TextList),
    ("city", TargetKind::Text),
    ("state", TargetKind::Text),
    ("country", TargetKind::Text),
    ("postalCode", TargetKind::Text),
    ("streetAddress", TargetKind::Text),
    ("preferredLanguage", TargetKind::Text),
    ("usageLocation", TargetKind::Text),
    ("manager", TargetKind::Reference),
];

/// Graph user properties an export mapping may not write, and why.
const GRAPH_READ_ONLY: &[(&str, &str)] = &[
    ("id", "the object id is Entra's own"),
    ("createdDateTime", "Entra sets it"),
    ("deletedDateTime", "Entra sets it"),
    ("proxyAddresses", "Graph does not allow writing it"),
    (
        "externalUserState",
        "Entra sets it when a guest redeems an invitation",
    ),
    ("creationType", "Entra sets it"),
    (
        "userType",
        "member or guest decides what the account may do in the tenant: an admin's decision in Entra ID (guests follow guest_users)",
    ),
    (
        "passwordProfile",
        "passwords are entra-sync's own business (DESIGN 2.4)",
    ),
    (
        "passwordPolicies",
        "passwords are entra-sync's own business (DESIGN 2.4)",
    ),
];

/// SharePoint-stored properties: app-only writes are refused (GRAPH.md 3.2).
const GRAPH_SHAREPOINT: &[&str] = &[
    "aboutMe",
    "birthday",
    "hireDate",
    "interests",
    "mySite",
    "pastProjects",
    "preferredName",
    "responsibilities",
    "schools",
    "skills",
];

/// AM user attributes (DESIGN 1.3) a mapping may fill or read.
const AM_USER_ATTRIBUTES: &[(&str, TargetKind)] = &[
    ("user_name", TargetKind::Text),
    ("display_name", TargetKind::Text),
    ("given_name", TargetKind::Text),
    ("surname", TargetKind::Text),
    ("email", TargetKind::Text),
    ("mobile_phone", TargetKind::Text),
    ("job_title", TargetKind::Text),
    ("department", TargetKind::Text),
    ("enabled", TargetKind::Flag),
    ("manager_id", TargetKind::Reference),
];

/// AM user attributes only entra-sync writes.
const AM_ENGINE_OWNED: &[&str] = &[
    "user_id",
    "source",
    "entra_id",
    "password_mode",
    "attributes",
];

/// Where `attributes.<name>` keeps mapped values on the AM user item.
pub(crate) const ATTRIBUTES_PREFIX: &str = "attributes.";

/// Whether `name` is a Graph user property an import may read.
pub(crate) fn is_graph_source(name: &str) -> bool {
    GRAPH_USER_SOURCES.contains(&name)
        || extension_attribute_number(name).is_some()
        || (is_directory_extension(name) && !is_export_mark(name))
}

/// Why the export's mark is no mapping's source or target.
pub(crate) const EXPORT_MARK_REFUSED: &str = "entra-sync's own mark (extension_<app id>_entraSyncCreatedFor) is not mappable: it names the AM tenant and object that own the Entra object, which may be another AM tenant's; a mapping must neither read nor write it";

/// `extension_<any app id>_entraSyncCreatedFor`: the export's mark. Each
/// AM tenant sharing an Entra organisation marks its own objects with it;
/// read by a mapping it would show another tenant's ids, written it would
/// forge ownership.
pub(crate) fn is_export_mark(name: &str) -> bool {
    let property = name
        .strip_prefix("extension_")
        .and_then(|rest| rest.split_once('_'));
    is_directory_extension(name)
        && property.is_some_and(|(_, property)| property == EXPORT_MARK_EXTENSION)
}

/// The `$select` entry that brings `source`: the whole
/// `onPremisesExtensionAttributes` object for one of its attributes, since
/// Graph cannot select them one by one (WAVE3 §0.2).
pub fn graph_select_property(source: &str) -> &str {
    match source.split_once('.') {
        Some((EXTENSION_ATTRIBUTES, _)) => EXTENSION_ATTRIBUTES,
        _ => source,
    }
}

/// `onPremisesExtensionAttributes.extensionAttributeN`, N in 1..=15.
fn extension_attribute_number(name: &str) -> Option<u8> {
    let rest = name
        .strip_prefix(EXTENSION_ATTRIBUTES)?
        .strip_prefix(".extensionAttribute")?;
    let number: u8 = rest.parse().ok().filter(|_| !rest.starts_with('0'))?;
    (1..=15).contains(&number).then_some(number)
}

/// `extension_<app id without hyphens>_<name>`: a directory extension.
fn is_directory_extension(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("extension_") else {
        return false;
    };
    let Some((app_id, property)) = rest.split_once('_') else {
        return false;
    };
    // Graph names an extension property in at most 120 characters.
    app_id.len() == 32
        && app_id.chars().all(|c| c.is_ascii_hexdigit())
        && !property.is_empty()
        && property.len() <= 120
        && property
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A known name spelled in another case, to suggest it.
pub(crate) fn graph_spelling(name: &str) -> Option<&'static str> {
    GRAPH_USER_SOURCES
        .iter()
        .chain(GRAPH_WRITABLE.iter().map(|(n, _)| n))
        .find(|known| known.eq_ignore_ascii_case(name))
        .copied()
}

/// What a Graph property is as an export target.
pub(crate) enum GraphTarget {
    Writable(TargetKind),
    ReadOnly(&'static str),
    Unknown,
}

pub(crate) fn graph_target(name: &str) -> GraphTarget {
    if let Some((_, kind)) = GRAPH_WRITABLE.iter().find(|(n, _)| *n == name) {
        return GraphTarget::Writable(*kind);
    }
    if is_export_mark(name) {
        return GraphTarget::ReadOnly(EXPORT_MARK_REFUSED);
    }
    if extension_attribute_number(name).is_some() || is_directory_extension(name) {
        return GraphTarget::Writable(TargetKind::Text);
    }
    if let Some((_, why)) = GRAPH_READ_ONLY.iter().find(|(n, _)| *n == name) {
        return GraphTarget::ReadOnly(why);
    }
    if GRAPH_SHAREPOINT.contains(&name) {
        return GraphTarget::ReadOnly(
            "Graph refuses to write it with the app's permissions (SharePoint-stored)",
        );
    }
    if name.starts_with("onPremisesExtensionAttributes.") {
        // Not one of extensionAttribute1..15, which are writable above.
        return GraphTarget::Unknown;
    }
    if name.starts_with("onPremises") {
        return GraphTarget::ReadOnly("on-premises AD owns it, through Entra Connect");
    }
    GraphTarget::Unknown
}

/// What an AM user attribute is as an import target or export source.
pub(crate) enum AmAttribute {
    BuiltIn(TargetKind),
    /// `attributes.<name>`: the name after the prefix.
    Mapped,
    EngineOwned,
    Unknown,
}

pub(crate) fn am_attribute(name: &str) -> AmAttribute {
    if let Some((_, kind)) = AM_USER_ATTRIBUTES.iter().find(|(n, _)| *n == name) {
        return AmAttribute::BuiltIn(*kind);
    }
    if let Some(key) = name.strip_prefix(ATTRIBUTES_PREFIX) {
        return if is_attribute_key(key) {
            AmAttribute::Mapped
        } else {
            AmAttribute::Unknown
        };
    }
    if AM_ENGINE_OWNED.contains(&name) || name.starts_with("sync_") {
        return AmAttribute::EngineOwned;
    }
    AmAttribute::Unknown
}

/// A key of the `attributes` map: 1–64 letters, digits, `_` or `-`.
fn is_attribute_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The AM built-in attribute names, for messages.
pub(crate) fn am_attribute_names() -> String {
    AM_USER_ATTRIBUTES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}
