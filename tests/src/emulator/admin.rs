//! `/_emulator/*`: the knobs and the request log over HTTP, for the
//! standalone binary and the local stack; and the middleware that records
//! every request and applies injected latency.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde_json::Value;

use super::app_only::AppConsent;
use super::{AppRegistration, Browser, EmulatorState, Knobs, RequestRecord, Revocation, Tenant};

type Shared = Arc<Mutex<EmulatorState>>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/knobs", post(set_knobs))
        .route("/_emulator/browser", post(set_browser))
        .route("/_emulator/app", post(set_app))
        .route("/_emulator/tenants", post(put_tenant))
        .route("/_emulator/tenants/{id}/revoke", post(revoke))
        .route(
            "/_emulator/tenants/{id}/app-consent",
            get(app_consent)
                .post(consent_app)
                .delete(revoke_app_consent),
        )
        .route("/_emulator/tenants/{id}/app-roles", put(set_app_roles))
        .route(
            "/_emulator/tenants/{id}/app-disabled",
            put(set_app_disabled),
        )
        .route("/_emulator/tenants/{id}/users/{user}", patch(edit_user))
        .route(
            "/_emulator/tenants/{id}/deleted/{object}/age",
            post(age_deleted),
        )
}

/// Sets a user's properties past Graph's write rules (read-only ones such
/// as `onPremisesSyncEnabled` too): Graph names of `USER_EXTRA_PROPERTIES`,
/// `extension_*` values, and `manager` (an id or null). 204, or 404.
async fn edit_user(
    State(shared): State<Shared>,
    Path((id, user)): Path<(String, String)>,
    axum::Json(body): axum::Json<serde_json::Map<String, Value>>,
) -> StatusCode {
    use super::user_properties::USER_EXTRA_PROPERTIES;
    if let Some(unknown) = body.keys().find(|k| {
        *k != "manager"
            && !k.starts_with("extension_")
            && !USER_EXTRA_PROPERTIES.contains(&k.as_str())
    }) {
        tracing::warn!(property = %unknown, "the emulator does not model this user property");
        return StatusCode::BAD_REQUEST;
    }
    let mut state = shared.lock().unwrap();
    let Some(tenant) = state
        .tenants
        .get_mut(&id)
        .filter(|t| t.users.contains_key(&user))
    else {
        return StatusCode::NOT_FOUND;
    };
    tenant.update_user(&user, |u| {
        for (name, value) in body {
            match name.as_str() {
                "manager" => u.manager = value.as_str().map(str::to_owned),
                n if n.starts_with("extension_") => super::graph_extensions::apply_extensions(
                    &mut u.extensions,
                    vec![(name, value)],
                ),
                n => u.set_property(n, value),
            }
        }
    });
    StatusCode::NO_CONTENT
}

/// Body `{"days": n}`: the deleted object looks deleted n days ago (past
/// 30 it is purged on the next Graph request).
async fn age_deleted(
    State(shared): State<Shared>,
    Path((id, object)): Path<(String, String)>,
    axum::Json(body): axum::Json<AgeBody>,
) -> StatusCode {
    match shared.lock().unwrap().tenants.get_mut(&id) {
        Some(t) if t.deleted_object(&object).is_some() => {
            t.age_deleted(&object, chrono::Duration::days(body.days));
            StatusCode::NO_CONTENT
        }
        _ => StatusCode::NOT_FOUND,
    }
}

#[derive(serde::Deserialize)]
struct AgeBody {
    days: i64,
}

/// Applies `edit` to the tenant's app consent: 204, or 404 for no tenant.
fn edit_app_consent(shared: &Shared, id: &str, edit: impl FnOnce(&mut AppConsent)) -> StatusCode {
    match shared.lock().unwrap().tenants.get_mut(id) {
        Some(t) => {
            edit(&mut t.app_consent);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn app_consent(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    match shared.lock().unwrap().tenants.get(&id) {
        Some(t) => axum::Json(t.app_consent.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Body `{"roles": [...]}`: consented with these roles, as if earlier.
async fn consent_app(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<RolesBody>,
) -> StatusCode {
    edit_app_consent(&shared, &id, |c| c.grant(body.roles))
}

async fn revoke_app_consent(State(shared): State<Shared>, Path(id): Path<String>) -> StatusCode {
    edit_app_consent(&shared, &id, AppConsent::revoke)
}

async fn set_app_roles(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<RolesBody>,
) -> StatusCode {
    edit_app_consent(&shared, &id, |c| c.granted_roles = body.roles)
}

/// Body `true` or `false`.
async fn set_app_disabled(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    axum::Json(disabled): axum::Json<bool>,
) -> StatusCode {
    edit_app_consent(&shared, &id, |c| c.disabled = disabled)
}

#[derive(serde::Deserialize)]
struct RolesBody {
    roles: Vec<String>,
}

async fn requests(State(shared): State<Shared>) -> Response {
    axum::Json(shared.lock().unwrap().requests.clone()).into_response()
}

async fn set_knobs(
    State(shared): State<Shared>,
    axum::Json(knobs): axum::Json<Knobs>,
) -> StatusCode {
    shared.lock().unwrap().knobs = knobs;
    StatusCode::NO_CONTENT
}

async fn set_browser(
    State(shared): State<Shared>,
    axum::Json(b): axum::Json<Browser>,
) -> StatusCode {
    shared.lock().unwrap().browser = b;
    StatusCode::NO_CONTENT
}

async fn set_app(
    State(shared): State<Shared>,
    axum::Json(app): axum::Json<AppRegistration>,
) -> StatusCode {
    shared.lock().unwrap().app = Some(app);
    StatusCode::NO_CONTENT
}

async fn put_tenant(State(shared): State<Shared>, axum::Json(t): axum::Json<Tenant>) -> StatusCode {
    shared.lock().unwrap().tenants.insert(t.id.clone(), t);
    StatusCode::NO_CONTENT
}

async fn revoke(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    axum::Json(how): axum::Json<Revocation>,
) -> StatusCode {
    match shared.lock().unwrap().tenants.get_mut(&id) {
        Some(t) => {
            t.consent_revoked = Some(how);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// Records each request (without its body) and applies the latency knob.
pub async fn record_and_delay(
    State(shared): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let is_admin = path.starts_with("/_emulator/");
    let in_batch = request
        .headers()
        .contains_key(super::graph_batch::IN_BATCH_HEADER);
    // A batch's items are logged one by one, bodies included.
    let graph_write = path.starts_with("/v1.0/") && method != "GET" && path != "/v1.0/$batch";
    let (request, grant_type, logged_body) = if path.ends_with("/oauth2/v2.0/token") || graph_write
    {
        read_logged_body(request, graph_write).await
    } else {
        (request, None, None)
    };
    let latency = shared.lock().unwrap().knobs.latency;
    if !latency.is_zero() && !is_admin && !in_batch {
        tokio::time::sleep(latency).await;
    }
    let mut response = next.run(request).await;
    if graph_write && response.status().is_success() {
        response = lose_answer(&shared, &method, &path).unwrap_or(response);
    }
    if response.status().is_success() {
        run_hook(&shared, &method, &path);
    }
    if !is_admin {
        shared.lock().unwrap().requests.push(RequestRecord {
            method,
            path,
            query,
            status: response.status().as_u16(),
            grant_type,
            body: logged_body,
            in_batch,
        });
    }
    response
}

/// Reads a token request's grant type, or a Graph write's body (passwords
/// redacted, kept for assertions), and rebuilds the request for the handler.
async fn read_logged_body(
    request: Request,
    graph_write: bool,
) -> (Request, Option<String>, Option<serde_json::Value>) {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let grant_type = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned())
        .filter(|_| !graph_write);
    let logged_body = graph_write
        .then(|| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .flatten()
        .map(|mut body| {
            if let Some(password) = body.pointer_mut("/passwordProfile/password") {
                *password = serde_json::Value::String("[redacted]".into());
            }
            body
        });
    (
        Request::from_parts(parts, Body::from(bytes)),
        grant_type,
        logged_body,
    )
}

/// The first hook due after this request (`Emulator::after_next`).
fn run_hook(shared: &Shared, method: &str, path: &str) {
    let mut state = shared.lock().unwrap();
    let Some(position) = state
        .request_hooks
        .iter()
        .position(|h| h.method == method && path.starts_with(&h.path_prefix))
    else {
        return;
    };
    let hook = state.request_hooks.remove(position);
    (hook.apply)(&mut state);
}

/// A 504 in place of the answer to a write that was applied, when a test
/// asked for it (`Emulator::lose_answer_to`).
fn lose_answer(shared: &Shared, method: &str, path: &str) -> Option<Response> {
    let mut state = shared.lock().unwrap();
    let position = state
        .lost_answers
        .iter()
        .position(|(m, p)| m == method && p == path)?;
    state.lost_answers.remove(position);
    Some(super::graph::graph_error(
        StatusCode::GATEWAY_TIMEOUT,
        "GatewayTimeout",
        "The gateway did not receive a timely response from the upstream server.",
    ))
}
