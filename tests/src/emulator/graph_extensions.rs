//! Directory extension properties (`extension_<appid>_<name>`) as Graph
//! plays them: only those registered on an app the organisation consented
//! to can be written or selected; an extension without a value is left out
//! of an answer, and none is sent unasked.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::EmulatorState;
use super::graph::{Shared, authorise, graph_error, group_json, parse_select, project, tenant_mut};

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

/// `<extension> eq '<value>'` (a quote inside doubled): the one `$filter`
/// the emulator answers on a list, as Graph does on a directory extension
/// without advanced query parameters. `None`: any other filter.
fn extension_eq(filter: &str) -> Option<(String, String)> {
    let (name, literal) = filter.trim().split_once(" eq ")?;
    let name = name.trim();
    let inner = literal.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    // A lone quote inside ends the literal early: not one literal.
    if inner.replace("''", "").contains('\'') || !name.starts_with("extension_") {
        return None;
    }
    Some((name.to_owned(), inner.replace("''", "'")))
}

fn unsupported_filter(resource: &str) -> Response {
    bad_request(&format!(
        "Unsupported or invalid query filter clause specified for resource '{resource}'."
    ))
}

/// One object for a list: its projection and the selected extensions.
type Listed<'a> = (Map<String, Value>, &'a BTreeMap<String, Value>, &'a str);

/// `GET /users` or `/groups`, filtered by a directory extension's value; a
/// just-created object is not found until replication has caught up.
fn list(
    state: &EmulatorState,
    q: &HashMap<String, String>,
    objects: Vec<Listed<'_>>,
    kind: &str,
) -> Response {
    let select = parse_select(q.get("$select"));
    let wanted = match q.get("$filter").map(|f| extension_eq(f)) {
        None => None,
        Some(Some(wanted)) => Some(wanted),
        Some(None) => return unsupported_filter(kind),
    };
    if let Some((name, _)) = &wanted
        && !state.extension_properties.contains(name)
    {
        return bad_request(&format!(
            "Property '{name}' does not exist as a declared property or extension property."
        ));
    }
    let mut value = Vec::new();
    for (object, extensions, id) in objects {
        let matches = wanted.as_ref().is_none_or(|(name, v)| {
            extensions
                .get(name)
                .and_then(Value::as_str)
                .is_some_and(|have| have.eq_ignore_ascii_case(v))
        });
        if !matches || !super::graph_write::visible(state, id) {
            continue;
        }
        let mut body = project(object, select.as_deref());
        match selected(
            &state.extension_properties,
            extensions,
            select.as_deref(),
            kind,
        ) {
            Ok(values) => body.extend(values),
            Err(refused) => return refused,
        }
        value.push(Value::Object(body));
    }
    axum::Json(json!({ "value": value })).into_response()
}

pub(crate) async fn list_users(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let users: Vec<_> = tenant_mut(&mut state, &tenant_id)
        .users
        .values()
        .filter(|u| !u.deleted)
        .cloned()
        .collect();
    let select = parse_select(q.get("$select"));
    super::user_properties::check_select(select.as_deref())?;
    let listed = users
        .iter()
        .map(|u| {
            let view = super::user_properties::user_view(u, select.as_deref());
            (view, &u.extensions, u.id.as_str())
        })
        .collect();
    Ok(list(&state, &q, listed, "user"))
}

pub(crate) async fn list_groups(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let groups: Vec<_> = tenant_mut(&mut state, &tenant_id)
        .groups
        .values()
        .filter(|g| !g.deleted)
        .cloned()
        .collect();
    let listed = groups
        .iter()
        .map(|g| (group_json(g), &g.extensions, g.id.as_str()))
        .collect();
    Ok(list(&state, &q, listed, "group"))
}

#[cfg(test)]
mod tests {
    use super::extension_eq;

    #[test]
    fn only_an_extension_equal_to_one_literal_is_a_filter_the_emulator_answers() {
        assert_eq!(
            extension_eq("extension_abc_mark eq 'acme/USER#o''brien'"),
            Some(("extension_abc_mark".into(), "acme/USER#o'brien".into()))
        );
        assert_eq!(extension_eq("extension_abc_mark eq 'a'b'"), None);
        assert_eq!(extension_eq("displayName eq 'a'"), None);
        assert_eq!(extension_eq("extension_abc_mark ne 'a'"), None);
    }
}
