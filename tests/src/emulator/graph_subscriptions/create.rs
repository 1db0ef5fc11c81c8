//! Creating a subscription: the request's checks, the quota, and the
//! validation handshake against its notification URLs.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value};

use super::{
    DeliveryRecord, Shared, Subscription, bad_request, check_expiry, parse_time, record_delivery,
};
use crate::emulator::EmulatorState;
use crate::emulator::graph::{authorise, graph_error};

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
        made_for_user: None,
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

pub(super) async fn create(
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
        let mut subscription = match requested(&tenant_id, &body) {
            Ok(s) => s,
            Err(response) => return response,
        };
        subscription.made_for_user = super::caller_user(&state, &headers);
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
