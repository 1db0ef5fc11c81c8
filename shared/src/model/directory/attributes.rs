//! The attributes synchronised with Entra ID, on users and groups.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::lenient::{
    enabled_by_default, enabled_unless_false, text_or_empty, text_or_none, texts_by_name,
};

/// The longest `user_name` a user item can hold: it is the `by-user-name`
/// index's sort key, and DynamoDB refuses a longer one (README, the
/// stack). A UPN has at most 113 characters; a mapped login may be longer.
pub const MAX_USER_NAME_BYTES: usize = 1_024;

/// A user name as user names are compared (DESIGN 2.2: case-insensitively,
/// surrounding spaces aside): the import's conflicts, sync-object's look-ups.
pub fn user_name_key(user_name: &str) -> String {
    user_name.trim().to_lowercase()
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
    /// Mapped attributes (`attributes.<name>` targets of the tenant's
    /// import mappings, DESIGN 2.13): owned by the mappings, not hashed
    /// (the export does not send them).
    #[serde(
        default,
        deserialize_with = "texts_by_name",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub attributes: BTreeMap<String, String>,
    /// The manager's AM user id (DESIGN 1.3, 2.13): imported from Entra
    /// ID's `manager` when the tenant maps it; exported as the Entra
    /// user's manager (`PUT …/manager/$ref`) when a mapping says so.
    #[serde(
        default,
        deserialize_with = "text_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub manager_id: Option<String>,
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
            attributes: BTreeMap::new(),
            manager_id: None,
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
