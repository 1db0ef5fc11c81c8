//! Delivering change notifications for the directory's changes, batched and
//! at least once, and lifecycle events.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::{DeliveryRecord, Shared, Subscription, record_delivery};
use crate::emulator::EmulatorState;
use crate::emulator::directory::ObjectKind;

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
