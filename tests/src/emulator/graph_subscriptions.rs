//! Graph change notifications as docs/graph-notifications.md describes them:
//! `/subscriptions` (create, list, renew, delete, reauthorize) with its
//! limits, the validation handshake against the notification URL before a
//! create succeeds, and the delivery of change notifications for the
//! directory's changes, batched, at least once.

use std::collections::HashMap;
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

use super::EmulatorState;
use super::directory::ObjectKind;
use super::graph::{authorise, graph_error};

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
    #[serde(with = "super::millis")]
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
        .route("/v1.0/subscriptions", post(create).get(list))
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

/// What a create request asks for, once its fields are checked.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn requested(tenant_id: &str, body: &Map<String, Value>) -> Result<Subscription, Response> {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let resource = text("resource").unwrap_or_default();
    let change_type = text("changeType").unwrap_or_default();
    check_resource(&resource, &change_type)?;
    let notification_url = text("notificationUrl").unwrap_or_default();
    let lifecycle_notification_url = text("lifecycleNotificationUrl");
    let client_state = text("clientState");
    check_delivery(
        &notification_url,
        lifecycle_notification_url.as_ref(),
        client_state.as_ref(),
    )?;
    let expiration = parse_time(body.get("expirationDateTime"))
        .ok_or_else(|| bad_request("InvalidRequest", "expirationDateTime is required."))?;
    check_expiry(expiration)?;
    Ok(Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.to_owned(),
        resource,
        change_type,
        notification_url,
        lifecycle_notification_url,
        client_state,
        expiration: expiration.max(Utc::now() + chrono::Duration::minutes(45)),
        delivered_up_to: 0,
        reauthorized_at: None,
        reauthorization_required: false,
    })
}

/// Only users and groups, only `updated` and `deleted`.
#[allow(clippy::result_large_err)]
fn check_resource(resource: &str, change_type: &str) -> Result<(), Response> {
    if !["users", "groups"].contains(
        &resource
            .trim_start_matches('/')
            .to_ascii_lowercase()
            .as_str(),
    ) {
        return Err(bad_request(
            "InvalidRequest",
            &format!("Resource '{resource}' is not supported."),
        ));
    }
    if let Some(bad) = change_type
        .split(',')
        .find(|c| !["updated", "deleted"].contains(&c.trim()))
    {
        return Err(bad_request(
            "InvalidRequest",
            &format!("Invalid 'changeType' attribute: '{bad}'."),
        ));
    }
    Ok(())
}

/// https URLs (loopback allowed for local runs), a clientState of at most
/// 128 characters.
#[allow(clippy::result_large_err)]
fn check_delivery(
    notification_url: &String,
    lifecycle_notification_url: Option<&String>,
    client_state: Option<&String>,
) -> Result<(), Response> {
    for url in std::iter::once(notification_url).chain(lifecycle_notification_url) {
        let loopback = url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost");
        if !(url.starts_with("https://") || loopback) {
            return Err(bad_request(
                "InvalidRequest",
                "The notification URL must use https.",
            ));
        }
    }
    if client_state.is_some_and(|c| c.chars().count() > 128) {
        return Err(bad_request(
            "InvalidRequest",
            "clientState must be at most 128 characters.",
        ));
    }
    Ok(())
}

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

async fn create(
    State(state): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Map<String, Value>>,
) -> Response {
    let mut subscription = {
        let mut state = state.lock().expect("emulator state lock");
        let tenant_id = match authorise(&mut state, &headers) {
            Ok(t) => t,
            Err(response) => return response,
        };
        let subscription = match requested(&tenant_id, &body) {
            Ok(s) => s,
            Err(response) => return response,
        };
        if let Err(response) = check_room(&state, &subscription) {
            return response;
        }
        subscription
    };
    // The handshake, before the subscription exists (docs/graph-notifications.md 2).
    if let Err(response) = handshake(&state, &subscription).await {
        return response;
    }
    let mut state = state.lock().expect("emulator state lock");
    subscription.delivered_up_to = state
        .tenants
        .get(&subscription.tenant_id)
        .map_or(0, |t| t.last_sequence());
    let answer = subscription.json(true);
    state
        .subscriptions
        .insert(subscription.id.clone(), subscription);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

/// No twin (same resource and change types) and room in the quota.
#[allow(clippy::result_large_err)]
fn check_room(state: &EmulatorState, subscription: &Subscription) -> Result<(), Response> {
    let same_resource = |s: &&Subscription| {
        s.tenant_id == subscription.tenant_id
            && s.resource.trim_start_matches('/') == subscription.resource.trim_start_matches('/')
    };
    let existing: Vec<&Subscription> = state.subscriptions.values().filter(same_resource).collect();
    if let Some(twin) = existing
        .iter()
        .find(|s| s.change_type == subscription.change_type)
    {
        return Err(graph_error(
            StatusCode::CONFLICT,
            "ExtensionError",
            &format!(
                "Subscription Id {} already exists for the requested combination",
                twin.id
            ),
        ));
    }
    if existing.len() >= state.notification_knobs.quota {
        return Err(graph_error(
            StatusCode::FORBIDDEN,
            "ExtensionError",
            &format!(
                "Subscription quota exceeded: at most {} subscriptions per app and tenant for this resource.",
                state.notification_knobs.quota
            ),
        ));
    }
    Ok(())
}

/// Every notification URL must echo its validation token.
#[allow(clippy::result_large_err)]
async fn handshake(state: &Shared, subscription: &Subscription) -> Result<(), Response> {
    let urls: Vec<String> = std::iter::once(subscription.notification_url.clone())
        .chain(subscription.lifecycle_notification_url.clone())
        .collect();
    for url in urls {
        if !validate_url(state, &url).await {
            return Err(bad_request(
                "InvalidRequest",
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
            ));
        }
    }
    Ok(())
}

/// Sends the validation request; true when the endpoint echoed the token
/// in time.
async fn validate_url(state: &Shared, url: &str) -> bool {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let mut target = url::Url::parse(url).expect("checked when requested");
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let answer = reqwest::Client::new()
        .post(target)
        .header("content-type", "text/plain; charset=utf-8")
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let (status, ok) = match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            (Some(status), status == 200 && body == token)
        }
        Err(_) => (None, false),
    };
    record_delivery(
        state,
        DeliveryRecord {
            url: url.to_owned(),
            subscription_ids: Vec::new(),
            notifications: 0,
            status,
            validation: true,
        },
    );
    ok
}

fn record_delivery(state: &Shared, record: DeliveryRecord) {
    state
        .lock()
        .expect("emulator state lock")
        .deliveries
        .push(record);
}

async fn list(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut state = state.lock().expect("emulator state lock");
    let tenant_id = match authorise(&mut state, &headers) {
        Ok(t) => t,
        Err(response) => return response,
    };
    let value: Vec<Value> = state
        .subscriptions
        .values()
        .filter(|s| s.tenant_id == tenant_id)
        .map(|s| s.json(false))
        .collect();
    axum::Json(json!({ "value": value })).into_response()
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

/// One POST to make: its URL and body.
struct Delivery {
    url: String,
    subscription_ids: Vec<String>,
    body: Value,
    count: usize,
}

/// The notifications owed for changes not yet delivered, one POST per
/// notification URL (a batch can mix subscriptions), and marks them sent.
fn due_deliveries(state: &mut EmulatorState) -> Vec<Delivery> {
    let now = Utc::now();
    let mut by_url: HashMap<String, Delivery> = HashMap::new();
    let tenants = &state.tenants;
    for subscription in state
        .subscriptions
        .values_mut()
        .filter(|s| s.expiration > now)
    {
        let Some(tenant) = tenants.get(&subscription.tenant_id) else {
            continue;
        };
        let kind = subscription.kind();
        let mut notifications: Vec<Value> = tenant
            .changes_after(subscription.delivered_up_to)
            .filter(|c| c.kind == kind)
            .map(|c| {
                let (odata_type, path) = match kind {
                    ObjectKind::Group => ("#Microsoft.Graph.Group", "Groups"),
                    _ => ("#Microsoft.Graph.User", "Users"),
                };
                json!({
                    "subscriptionId": subscription.id,
                    "subscriptionExpirationDateTime": subscription.expiration.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "clientState": subscription.client_state,
                    "changeType": if tenant.tombstones.contains_key(&c.id) { "deleted" } else { "updated" },
                    "resource": format!("{path}/{}", c.id),
                    "tenantId": subscription.tenant_id,
                    "resourceData": {
                        "@odata.type": odata_type,
                        "@odata.id": format!("{path}/{}", c.id),
                        "id": c.id,
                        "organizationId": subscription.tenant_id,
                        "sequenceNumber": c.sequence,
                    }
                })
            })
            .collect();
        subscription.delivered_up_to = tenant.last_sequence();
        if notifications.is_empty() || subscription.reauthorization_required {
            continue;
        }
        let delivery = by_url
            .entry(subscription.notification_url.clone())
            .or_insert_with(|| Delivery {
                url: subscription.notification_url.clone(),
                subscription_ids: Vec::new(),
                body: json!({ "value": [] }),
                count: 0,
            });
        delivery.subscription_ids.push(subscription.id.clone());
        delivery.count += notifications.len();
        delivery.body["value"]
            .as_array_mut()
            .expect("built as an array")
            .append(&mut notifications);
    }
    by_url.into_values().collect()
}

/// Sends a lifecycle event for a subscription to its lifecycle URL (or its
/// notification URL when it has none).
pub(crate) fn lifecycle_delivery(subscription: &Subscription, event: &str) -> (String, Value) {
    let url = subscription
        .lifecycle_notification_url
        .clone()
        .unwrap_or_else(|| subscription.notification_url.clone());
    let body = json!({ "value": [{
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": subscription.expiration.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "tenantId": subscription.tenant_id,
        "clientState": subscription.client_state,
        "lifecycleEvent": event,
    }]});
    (url, body)
}

pub(crate) async fn post_delivery(
    state: &Shared,
    url: &str,
    subscription_ids: Vec<String>,
    body: &Value,
    count: usize,
) {
    let answer = reqwest::Client::new()
        .post(url)
        .json(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    record_delivery(
        state,
        DeliveryRecord {
            url: url.to_owned(),
            subscription_ids,
            notifications: count,
            status: answer.ok().map(|r| r.status().as_u16()),
            validation: false,
        },
    );
}

/// Watches the tenants' change logs and delivers what is owed, every
/// 25 ms, each batch after the knobs' delay.
pub(crate) async fn deliver_forever(state: Shared) {
    loop {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let (deliveries, knobs) = {
            let mut guard = state.lock().expect("emulator state lock");
            if !guard.notification_knobs.delivery {
                continue;
            }
            (due_deliveries(&mut guard), guard.notification_knobs.clone())
        };
        for delivery in deliveries {
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(knobs.delay).await;
                let copies = if knobs.duplicates { 2 } else { 1 };
                for _ in 0..copies {
                    post_delivery(
                        &state,
                        &delivery.url,
                        delivery.subscription_ids.clone(),
                        &delivery.body,
                        delivery.count,
                    )
                    .await;
                }
            });
        }
    }
}
