//! Directory extension properties (`extension_<appid>_<name>`) as Graph
//! plays them: only those registered on an app the organisation consented
//! to can be written or selected; an extension without a value is left out
//! of an answer, and none is sent unasked.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::EmulatorState;
use super::graph::graph_error;

fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

/// The directory extension values a write sets (`extension_<appid>_<name>`;
/// `null` clears one), or Graph's refusal when one is not registered on an
/// app the organisation consented to.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
pub(crate) fn extension_values(
    state: &EmulatorState,
    body: &Map<String, Value>,
) -> Result<Vec<(String, Value)>, Response> {
    let values: Vec<(String, Value)> = body
        .iter()
        .filter(|(k, _)| k.starts_with("extension_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unknown: Vec<&str> = values
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !state.extension_properties.contains(*k))
        .collect();
    if !unknown.is_empty() {
        return Err(bad_request(&format!(
            "The following extension properties are not available: {}.",
            unknown.join(",")
        )));
    }
    Ok(values)
}

pub(crate) fn apply_extensions(target: &mut BTreeMap<String, Value>, values: Vec<(String, Value)>) {
    for (name, value) in values {
        if value.is_null() {
            target.remove(&name);
        } else {
            target.insert(name, value);
        }
    }
}

/// The directory extension values a `$select` names: only those set (Graph
/// leaves out an extension without a value, and never sends one unasked);
/// a name no app registered is refused.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
pub(crate) fn selected(
    registered: &BTreeSet<String>,
    values: &BTreeMap<String, Value>,
    select: Option<&[String]>,
    kind: &str,
) -> Result<Map<String, Value>, Response> {
    let mut selected = Map::new();
    for name in select.unwrap_or_default() {
        if !name.starts_with("extension_") {
            continue;
        }
        if !registered.contains(name) {
            return Err(bad_request(&format!(
                "Could not find a property named '{name}' on type 'microsoft.graph.{kind}'."
            )));
        }
        if let Some(value) = values.get(name) {
            selected.insert(name.clone(), value.clone());
        }
    }
    Ok(selected)
}
