//! What POST and PATCH `/users` may write (docs/graph.md 3.2,
//! docs/mapping.md 1.1): read-only properties refused, `manager` only
//! through its `$ref`, a user mastered on premises writable only in its
//! cloud-owned few, `onPremisesExtensionAttributes` only on a user never
//! synced. A refused write changes nothing.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::directory::User;
use super::graph::graph_error;
use super::user_properties::{ON_PREMISES_EXTENSION_ATTRIBUTES, USER_EXTRA_PROPERTIES};

/// Graph computes or syncs these; no client writes them.
const READ_ONLY_PROPERTIES: &[&str] = &[
    "id",
    "onPremisesSyncEnabled",
    "onPremisesSamAccountName",
    "onPremisesUserPrincipalName",
    "onPremisesDomainName",
    "onPremisesSecurityIdentifier",
    "onPremisesDistinguishedName",
    "creationType",
    "externalUserState",
    "proxyAddresses",
    "createdDateTime",
    "deletedDateTime",
];

/// What Graph still writes on a user mastered on premises: its cloud-only
/// settings and directory extensions (`extension_*`). Microsoft's user resource lists the
/// identity and profile properties as synced-read-only and is silent on
/// these; this is the brief's choice. `manager` has its own route.
const CLOUD_OWNED_PROPERTIES: &[&str] = &["usageLocation", "preferredLanguage"];

/// Graph's words (microsoft-graph-docs #7301, #18038).
pub const ON_PREMISES_MASTERED: &str = "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.";
/// onPremisesExtensionAttributes of a user ever synced
/// (microsoft-graph-docs-contrib #3001).
pub const EXTERNALLY_ORIGINATED: &str = "Unable to update the specified properties for objects that have originated within an external service.";

fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

/// Checks a create (`existing` none) or an update of `existing` before
/// anything is applied.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
pub(crate) fn check_user_write(
    existing: Option<&User>,
    body: &Map<String, Value>,
) -> Result<(), Response> {
    if let Some(read_only) = body
        .keys()
        .find(|k| READ_ONLY_PROPERTIES.contains(&k.as_str()))
    {
        return Err(bad_request(&format!(
            "Property '{read_only}' is read-only and cannot be set."
        )));
    }
    if body.contains_key("manager") {
        // A navigation property: PUT /users/{id}/manager/$ref sets it.
        return Err(bad_request(
            "Property 'manager' is a navigation property and cannot be set by an update; use the manager/$ref reference.",
        ));
    }
    check_list_values(body)?;
    let Some(user) = existing else {
        return Ok(());
    };
    let mastered_on_premises = user.on_premises_sync_enabled() == Some(true);
    if mastered_on_premises
        && body
            .keys()
            .any(|k| !k.starts_with("extension_") && !CLOUD_OWNED_PROPERTIES.contains(&k.as_str()))
    {
        return Err(bad_request(ON_PREMISES_MASTERED));
    }
    if body.contains_key(ON_PREMISES_EXTENSION_ATTRIBUTES)
        && user.on_premises_sync_enabled().is_some()
    {
        return Err(bad_request(EXTERNALLY_ORIGINATED));
    }
    Ok(())
}

/// `businessPhones` takes one value at most; both lists take strings only.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn check_list_values(body: &Map<String, Value>) -> Result<(), Response> {
    for (name, most) in [("businessPhones", 1), ("otherMails", usize::MAX)] {
        let valid = match body.get(name) {
            None | Some(Value::Null) => true,
            Some(Value::Array(values)) => {
                values.len() <= most && values.iter().all(Value::is_string)
            }
            Some(_) => false,
        };
        if !valid {
            return Err(bad_request(&format!(
                "Invalid value specified for property '{name}' of resource 'User'."
            )));
        }
    }
    Ok(())
}

/// Applies the writable properties of `USER_EXTRA_PROPERTIES` the body
/// names; `onPremisesExtensionAttributes` merges key by key (null clears).
pub(crate) fn apply_extra_properties(user: &mut User, body: &Map<String, Value>) {
    for name in USER_EXTRA_PROPERTIES
        .iter()
        .filter(|n| !READ_ONLY_PROPERTIES.contains(n))
    {
        let Some(value) = body.get(*name) else {
            continue;
        };
        if *name == ON_PREMISES_EXTENSION_ATTRIBUTES {
            merge_extension_attributes(user, value);
        } else {
            user.set_property(name, value.clone());
        }
    }
}

fn merge_extension_attributes(user: &mut User, value: &Value) {
    let Some(attributes) = value.as_object() else {
        user.set_property(ON_PREMISES_EXTENSION_ATTRIBUTES, Value::Null);
        return;
    };
    for n in 1..=15u8 {
        if let Some(value) = attributes.get(&format!("extensionAttribute{n}")) {
            user.set_extension_attribute(n, value.as_str());
        }
    }
}
