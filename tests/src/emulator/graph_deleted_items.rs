//! `/v1.0/directory/deletedItems` (docs/graph.md 3.3): the cast lists
//! (`microsoft.graph.user`, `microsoft.graph.group`; paged, `$top` up to
//! 999), one item, restore and purge.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::directory::{ObjectKind, Tenant};
use super::graph::{
    Shared, authorise, decode_token, encode_token, graph_error, group_json, not_found,
    parse_select, project, tenant_mut,
};
use super::user_properties::{check_select, user_view};

const USER_CAST: &str = "microsoft.graph.user";
const GROUP_CAST: &str = "microsoft.graph.group";

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1.0/directory/deletedItems", get(without_cast))
        .route(
            "/v1.0/directory/deletedItems/{id}",
            get(list_or_get).delete(purge),
        )
        .route("/v1.0/directory/deletedItems/{id}/restore", post(restore))
}

fn bad_request(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

/// Graph needs the OData cast segment on a list (the message's exact words
/// are not confirmed).
async fn without_cast(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let mut state = shared.lock().unwrap();
    if let Err(refused) = authorise(&mut state, &headers) {
        return refused;
    }
    bad_request(
        "The type of the deleted items must be given: /directory/deletedItems/microsoft.graph.user or /microsoft.graph.group.",
    )
}

/// Where a list resumes.
#[derive(Serialize, Deserialize)]
struct DeletedCursor {
    cast: String,
    offset: usize,
    top: usize,
}

/// A deleted object as deletedItems shows it: its properties (`$select`
/// applied) and `deletedDateTime`.
fn deleted_json(
    tenant: &Tenant,
    id: &str,
    select: Option<&[String]>,
) -> Option<Map<String, Value>> {
    let (kind, at) = tenant.deleted_object(id)?;
    let mut body = match kind {
        ObjectKind::User => user_view(&tenant.users[id], select),
        ObjectKind::Group => project(group_json(&tenant.groups[id]), select),
    };
    body.insert(
        "deletedDateTime".into(),
        json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    Some(body)
}

fn odata_type(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "#microsoft.graph.user",
        ObjectKind::Group => "#microsoft.graph.group",
    }
}

async fn list_or_get(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let base = state.issuer_base.clone();
    let select = parse_select(q.get("$select"));
    check_select(select.as_deref())?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    let kind = match id.as_str() {
        USER_CAST => ObjectKind::User,
        GROUP_CAST => ObjectKind::Group,
        _ => {
            let (kind, _) = tenant.deleted_object(&id).ok_or_else(|| not_found(&id))?;
            let mut body = deleted_json(tenant, &id, select.as_deref()).unwrap_or_default();
            body.insert("@odata.type".into(), json!(odata_type(kind)));
            return Ok(axum::Json(Value::Object(body)).into_response());
        }
    };
    let (offset, top) = page_bounds(&q, &id)?;
    let ids: Vec<String> = match kind {
        ObjectKind::User => tenant
            .users
            .values()
            .filter(|u| u.deleted)
            .map(|u| u.id.clone())
            .collect(),
        ObjectKind::Group => tenant
            .groups
            .values()
            .filter(|g| g.deleted)
            .map(|g| g.id.clone())
            .collect(),
    };
    let value: Vec<Value> = ids
        .iter()
        .skip(offset)
        .take(top)
        .filter_map(|id| deleted_json(tenant, id, select.as_deref()).map(Value::Object))
        .collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#directoryObjects/{id}"),
        "value": value,
    });
    if offset + top < ids.len() {
        let token = encode_token(&DeletedCursor {
            cast: id.clone(),
            offset: offset + top,
            top,
        });
        body["@odata.nextLink"] = json!(format!(
            "{base}/v1.0/directory/deletedItems/{id}?$skiptoken={token}"
        ));
    }
    Ok(axum::Json(body).into_response())
}

/// The page's start and size: from `$skiptoken`, else `$top` (1-999,
/// default 100) from the start.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn page_bounds(q: &HashMap<String, String>, cast: &str) -> Result<(usize, usize), Response> {
    if let Some(raw) = q.get("$skiptoken") {
        return decode_token::<DeletedCursor>(raw)
            .filter(|c| c.cast == cast)
            .map(|c| (c.offset, c.top))
            .ok_or_else(|| bad_request("The skip token is invalid."));
    }
    let Some(raw) = q.get("$top") else {
        return Ok((0, 100));
    };
    match raw.parse::<usize>() {
        Ok(top) if (1..=999).contains(&top) => Ok((0, top)),
        _ => Err(bad_request(&format!(
            "Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive."
        ))),
    }
}

/// Restores a deleted user or group: 200 and the object. A user whose UPN
/// another user took meanwhile is refused as Graph refuses a create.
async fn restore(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    let (kind, _) = tenant.deleted_object(&id).ok_or_else(|| not_found(&id))?;
    let mut body = match kind {
        ObjectKind::User => {
            let upn = tenant.users[&id].user_principal_name.clone();
            let taken = tenant
                .users
                .values()
                .any(|u| u.id != id && u.user_principal_name.eq_ignore_ascii_case(&upn));
            if taken {
                return Err(super::graph_write::conflict("userPrincipalName"));
            }
            tenant.restore_user(&id);
            user_view(&tenant.users[&id], None)
        }
        ObjectKind::Group => {
            tenant.restore_group(&id);
            group_json(&tenant.groups[&id])
        }
    };
    body.insert("@odata.type".into(), json!(odata_type(kind)));
    body.insert(
        "@odata.context".into(),
        json!("https://graph.microsoft.com/v1.0/$metadata#directoryObjects/$entity"),
    );
    Ok(axum::Json(Value::Object(body)).into_response())
}

/// The permanent delete: 204; delta then says `deleted`.
async fn purge(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    match tenant.deleted_object(&id) {
        Some((ObjectKind::User, _)) => tenant.purge_user(&id),
        Some((ObjectKind::Group, _)) => tenant.purge_group(&id),
        None => return Err(not_found(&id)),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
