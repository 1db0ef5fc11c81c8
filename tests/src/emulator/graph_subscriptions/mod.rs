//! Graph change notifications as docs/graph-notifications.md describes them:
//! `/subscriptions` (create, list, renew, delete, reauthorize) with its
//! limits, the validation handshake against the notification URL before a
//! create succeeds, and the delivery of change notifications for the
//! directory's changes, batched, at least once.

mod create;
mod deliver;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::emulator::EmulatorState;
use crate::emulator::directory::ObjectKind;
use crate::emulator::graph::{authorise, graph_error};

pub(crate) use deliver::{deliver_forever, lifecycle_delivery, post_delivery};

type Shared = Arc<Mutex<EmulatorState>>;

/// The longest a directory subscription may live (docs/graph-notifications.md 1).
pub const MAX_EXPIRY_MINUTES: i64 = 41_760;
/// Subscriptions per app and tenant, per resource.
pub const DEFAULT_QUOTA: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub tenant_id: String,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration: DateTime<Utc>,
    /// Changes up to this sequence of the tenant's log are delivered.
    pub delivered_up_to: u64,
    pub reauthorized_at: Option<DateTime<Utc>>,
    /// Graph asked for reauthorization: notifications pause (and changes
    /// meanwhile are lost) until a PATCH or reauthorize answers it
    /// (docs/graph-notifications.md 4).
    #[serde(default)]
    pub reauthorization_required: bool,
    /// Who made it: the app on its own (client credentials, `None`) or the
    /// app for a signed-in user (a delegated token: that user's id). An
    /// app-only list shows only the app's own (whether Microsoft's shows
    /// the delegated ones is not documented: the stricter reading).
    #[serde(default)]
    pub made_for_user: Option<String>,
}

/// Whom the request's token speaks for: `None` for an app-only token.
pub(crate) fn caller_user(state: &EmulatorState, headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    let grant = state.access_tokens.get(token)?;
    grant.app_roles.is_none().then(|| grant.user_id.clone())
}

impl Subscription {
    fn json(&self, with_client_state: bool) -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": "00000000-0000-0000-0000-000000000000",
            "changeType": self.change_type,
            "clientState": if with_client_state { json!(self.client_state) } else { Value::Null },
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_notification_url,
            "expirationDateTime": self.expiration.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "creatorId": "6d8f0c1e-0000-4000-8000-00000000c0de",
            "latestSupportedTlsVersion": "v1_2",
            "notificationContentType": "application/json",
            "includeResourceData": false,
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
        })
    }

    fn kind(&self) -> ObjectKind {
        if self
            .resource
            .trim_start_matches('/')
            .eq_ignore_ascii_case("groups")
        {
            ObjectKind::Group
        } else {
            ObjectKind::User
        }
    }
}

/// How the emulator delivers notifications.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotificationKnobs {
    /// Deliveries happen at all.
    pub delivery: bool,
    /// Between a change and its delivery.
    #[serde(with = "crate::emulator::state::millis")]
    pub delay: Duration,
    /// Every delivery is sent twice.
    pub duplicates: bool,
    /// Subscriptions per app, tenant and resource.
    pub quota: usize,
}

impl Default for NotificationKnobs {
    fn default() -> Self {
        Self {
            delivery: true,
            delay: Duration::ZERO,
            duplicates: false,
            quota: DEFAULT_QUOTA,
        }
    }
}

/// One POST the emulator made to a notification URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub url: String,
    pub subscription_ids: Vec<String>,
    pub notifications: usize,
    pub status: Option<u16>,
    pub validation: bool,
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1.0/subscriptions", post(create::create).get(list))
        .route(
            "/v1.0/subscriptions/{id}",
            patch(renew).delete(remove).get(read),
        )
        .route("/v1.0/subscriptions/{id}/reauthorize", post(reauthorize))
}

fn bad_request(code: &str, message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, code, message)
}

fn not_found(id: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The object was not found. Subscription Id {id} does not exist."),
    )
}

fn parse_time(raw: Option<&Value>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A requested expiry within Graph's limit for directory resources.
#[allow(clippy::result_large_err)]
fn check_expiry(expiration: DateTime<Utc>) -> Result<(), Response> {
    if expiration > Utc::now() + chrono::Duration::minutes(MAX_EXPIRY_MINUTES) {
        return Err(bad_request(
            "ExtensionError",
            &format!(
                "Subscription expiration can only be {MAX_EXPIRY_MINUTES} minutes in the future."
            ),
        ));
    }
    Ok(())
}

fn record_delivery(state: &Shared, record: DeliveryRecord) {
    state
        .lock()
        .expect("emulator state lock")
        .deliveries
        .push(record);
}

async fn list(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, Response> {
    let mut state = state.lock().expect("emulator state lock");
    let tenant_id = match authorise(&mut state, &headers) {
        Ok(t) => t,
        Err(response) => return Err(response),
    };
    let caller = caller_user(&state, &headers);
    let value: Vec<Value> = state
        .subscriptions
        .values()
        .filter(|s| s.tenant_id == tenant_id && s.made_for_user == caller)
        .map(|s| s.json(false))
        .collect();
    Ok(axum::Json(json!({ "value": value })).into_response())
}

/// The caller's subscription `id`, or the answer to give instead.
#[allow(clippy::result_large_err)]
fn own<'s>(
    state: &'s mut EmulatorState,
    headers: &HeaderMap,
    id: &str,
) -> Result<&'s mut Subscription, Response> {
    let tenant_id = authorise(state, headers)?;
    state
        .subscriptions
        .get_mut(id)
        .filter(|s| s.tenant_id == tenant_id && s.expiration > Utc::now())
        .ok_or_else(|| not_found(id))
}

async fn read(State(state): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let mut state = state.lock().expect("emulator state lock");
    match own(&mut state, &headers, &id) {
        Ok(s) => axum::Json(s.json(false)).into_response(),
        Err(response) => response,
    }
}

async fn renew(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(body): axum::Json<Map<String, Value>>,
) -> Response {
    let mut state = state.lock().expect("emulator state lock");
    let Some(expiration) = parse_time(body.get("expirationDateTime")) else {
        return bad_request(
            "InvalidRequest",
            "expirationDateTime or notificationUrl is required.",
        );
    };
    if let Err(response) = check_expiry(expiration) {
        return response;
    }
    match own(&mut state, &headers, &id) {
        Ok(s) => {
            s.expiration = expiration;
            s.reauthorized_at = Some(Utc::now());
            s.reauthorization_required = false;
            axum::Json(s.json(false)).into_response()
        }
        Err(response) => response,
    }
}

async fn remove(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = state.lock().expect("emulator state lock");
    if let Err(response) = own(&mut state, &headers, &id) {
        return response;
    }
    state.subscriptions.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}

async fn reauthorize(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = state.lock().expect("emulator state lock");
    match own(&mut state, &headers, &id) {
        Ok(s) => {
            s.reauthorized_at = Some(Utc::now());
            s.reauthorization_required = false;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(response) => response,
    }
}
