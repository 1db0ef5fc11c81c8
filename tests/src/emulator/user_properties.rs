//! The user properties docs/mapping.md 1.2 reads, beyond the typed fields of `User`:
//! which Graph knows, how an answer shows them (`$select` only, the
//! `onPremisesExtensionAttributes` object whole), and the accessors tests
//! and handlers use.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::directory::User;
use super::graph::graph_error;

/// `onPremisesExtensionAttributes`: `extensionAttribute1..15`, selected
/// only as a whole.
pub const ON_PREMISES_EXTENSION_ATTRIBUTES: &str = "onPremisesExtensionAttributes";
pub const ON_PREMISES_SYNC_ENABLED: &str = "onPremisesSyncEnabled";

/// String collections (null when unset is `[]` for these).
const LIST_PROPERTIES: &[&str] = &["businessPhones", "otherMails"];

/// The properties kept in `User::properties`, by their Graph names.
pub const USER_EXTRA_PROPERTIES: &[&str] = &[
    "employeeId",
    "employeeType",
    "companyName",
    "officeLocation",
    "businessPhones",
    "otherMails",
    "city",
    "country",
    "state",
    "postalCode",
    "streetAddress",
    "usageLocation",
    "preferredLanguage",
    "faxNumber",
    "mailNickname",
    ON_PREMISES_SYNC_ENABLED,
    "onPremisesSamAccountName",
    "onPremisesUserPrincipalName",
    "onPremisesDomainName",
    "onPremisesImmutableId",
    ON_PREMISES_EXTENSION_ATTRIBUTES,
];

/// What an answer without `$select` carries: the emulator's first set and
/// Graph's default ones among the new (never an extension or a property
/// Graph returns only when asked).
pub const DEFAULT_USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "mobilePhone",
    "jobTitle",
    "department",
    "accountEnabled",
    "userType",
    "businessPhones",
    "officeLocation",
    "preferredLanguage",
];

impl User {
    /// A property of `USER_EXTRA_PROPERTIES`, when set.
    pub fn property(&self, name: &str) -> Option<&Value> {
        self.properties.get(name).filter(|v| !v.is_null())
    }

    /// Sets (or with `null` clears) a property of `USER_EXTRA_PROPERTIES`.
    pub fn set_property(&mut self, name: &str, value: Value) {
        assert!(
            USER_EXTRA_PROPERTIES.contains(&name),
            "the emulator does not model the user property {name}"
        );
        if value.is_null() {
            self.properties.remove(name);
        } else {
            self.properties.insert(name.to_owned(), value);
        }
    }

    /// `set_property` for a seed: `User { .. }.with_property("employeeId", json!("E1"))`.
    pub fn with_property(mut self, name: &str, value: Value) -> Self {
        self.set_property(name, value);
        self
    }

    /// Graph's three states: true = mastered on premises, false = synced
    /// once and no more, none = cloud-only and never synced.
    pub fn on_premises_sync_enabled(&self) -> Option<bool> {
        self.property(ON_PREMISES_SYNC_ENABLED)
            .and_then(Value::as_bool)
    }

    /// `onPremisesExtensionAttributes.extensionAttribute<n>` (1..=15).
    pub fn set_extension_attribute(&mut self, n: u8, value: Option<&str>) {
        assert!(
            (1..=15).contains(&n),
            "extensionAttribute{n} does not exist"
        );
        let attributes = self
            .properties
            .entry(ON_PREMISES_EXTENSION_ATTRIBUTES.to_owned())
            .or_insert_with(|| json!({}));
        if let Some(attributes) = attributes.as_object_mut() {
            attributes.insert(format!("extensionAttribute{n}"), json!(value));
        }
    }
}

/// All 15 keys, null when unset.
fn extension_attributes(user: &User) -> Value {
    let stored = user.property(ON_PREMISES_EXTENSION_ATTRIBUTES);
    let attributes: Map<String, Value> = (1..=15)
        .map(|n| {
            let key = format!("extensionAttribute{n}");
            let value = stored
                .and_then(|s| s.get(&key))
                .cloned()
                .unwrap_or(Value::Null);
            (key, value)
        })
        .collect();
    Value::Object(attributes)
}

/// Adds the properties of `USER_EXTRA_PROPERTIES` and the directory
/// extension values set (an extension without a value is left out).
pub(crate) fn insert_extra_properties(map: &mut Map<String, Value>, user: &User) {
    for name in USER_EXTRA_PROPERTIES {
        let value = match user.property(name) {
            _ if *name == ON_PREMISES_EXTENSION_ATTRIBUTES => extension_attributes(user),
            Some(value) => value.clone(),
            None if LIST_PROPERTIES.contains(name) => json!([]),
            None => Value::Null,
        };
        map.insert((*name).to_owned(), value);
    }
    for (name, value) in &user.extensions {
        map.insert(name.clone(), value.clone());
    }
}

/// A user as an answer shows it: `id` and what `$select` names, or the
/// default set without one.
pub fn user_view(user: &User, select: Option<&[String]>) -> Map<String, Value> {
    let mut object = super::graph::user_json(user);
    match select {
        Some(select) => {
            object.retain(|k, _| k == "id" || select.iter().any(|s| s.eq_ignore_ascii_case(k)))
        }
        None => object.retain(|k, _| DEFAULT_USER_PROPERTIES.contains(&k.as_str())),
    }
    object
}

/// Graph refuses a `$select` of a complex property's part, such as
/// `onPremisesExtensionAttributes/extensionAttribute1`: the individual
/// extension attributes "are neither selectable nor filterable" (the user
/// resource; docs/mapping.md 1.2). The message's exact words are not confirmed.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
pub(crate) fn check_select(select: Option<&[String]>) -> Result<(), Response> {
    match select.unwrap_or_default().iter().find(|s| s.contains('/')) {
        Some(part) => Err(graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &format!(
                "Parsing OData Select and Expand failed: the property '{part}' can not be selected; select '{ON_PREMISES_EXTENSION_ATTRIBUTES}' as a whole."
            ),
        )),
        None => Ok(()),
    }
}
