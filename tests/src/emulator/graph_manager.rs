//! A user's manager, a navigation property (its delta
//! annotation: docs/graph.md 1.7):
//! `GET /users/{id}/manager`, `PUT` and `DELETE /users/{id}/manager/$ref`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::directory::Tenant;
use super::graph::{Shared, authorise, graph_error, not_found, parse_select, tenant_mut};
use super::user_properties::{check_select, user_view};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1.0/users/{id}/manager", get(manager))
        .route(
            "/v1.0/users/{id}/manager/$ref",
            put(set_manager).delete(remove_manager),
        )
}

fn live_user(tenant: &Tenant, id: &str) -> bool {
    tenant.users.get(id).is_some_and(|u| !u.deleted)
}

/// Graph's 404 for a user without a manager.
fn no_manager() -> Response {
    not_found("manager")
}

async fn manager(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let select = parse_select(q.get("$select"));
    check_select(select.as_deref())?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    if !live_user(tenant, &id) {
        return Err(not_found(&id));
    }
    let manager = tenant.users[&id]
        .manager
        .as_ref()
        .and_then(|m| tenant.users.get(m))
        .filter(|m| !m.deleted)
        .ok_or_else(no_manager)?;
    let mut body = user_view(manager, select.as_deref());
    body.insert("@odata.type".into(), json!("#microsoft.graph.user"));
    Ok(axum::Json(Value::Object(body)).into_response())
}

/// Body `{"@odata.id": ".../users/{manager}"}` (or `/directoryObjects/`).
async fn set_manager(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let Some(manager) = body["@odata.id"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
    else {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid value specified for property '@odata.id'.",
        ));
    };
    let tenant = tenant_mut(&mut state, &tenant_id);
    if !live_user(tenant, &id) {
        return Err(not_found(&id));
    }
    if !live_user(tenant, &manager) {
        return Err(not_found(&manager));
    }
    tenant.update_user(&id, |u| u.manager = Some(manager));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_manager(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let mut state = shared.lock().unwrap();
    let tenant_id = authorise(&mut state, &headers)?;
    let tenant = tenant_mut(&mut state, &tenant_id);
    if !live_user(tenant, &id) {
        return Err(not_found(&id));
    }
    if tenant.users[&id].manager.is_none() {
        return Err(no_manager());
    }
    tenant.update_user(&id, |u| u.manager = None);
    Ok(StatusCode::NO_CONTENT.into_response())
}
