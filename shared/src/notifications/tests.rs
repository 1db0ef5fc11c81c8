use std::collections::HashMap;
use std::sync::Mutex;

use super::*;

const USERS_SUB: &str = "7f1c0e44-0000-4000-8000-000000000001";
const GROUPS_SUB: &str = "7f1c0e44-0000-4000-8000-000000000002";
const ENTRA_TENANT: &str = "11111111-2222-3333-4444-555555555555";

#[derive(Default)]
struct MemoryRecords {
    records: HashMap<String, SubscriptionRecord>,
    events: Mutex<Vec<(String, LifecycleEvent)>>,
    reads: Mutex<usize>,
}

impl MemoryRecords {
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        *self.reads.lock().unwrap() += 1;
        Ok(self.records.get(id).cloned())
    }
}

impl SubscriptionRecords for MemoryRecords {
    async fn subscriptions(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, SubscriptionRecord>, StoreError> {
        let mut found = HashMap::new();
        for id in ids {
            if let Some(record) = self.subscription(id).await? {
                found.insert(id.clone(), record);
            }
        }
        Ok(found)
    }
    async fn record_lifecycle_event(
        &self,
        id: &str,
        event: LifecycleEvent,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.events.lock().unwrap().push((id.to_owned(), event));
        Ok(())
    }
}

/// One pending job per tenant, as the Dynamo store keeps it.
#[derive(Default)]
struct MemoryRequests {
    pending: Mutex<BTreeSet<TenantId>>,
    queued: Mutex<Vec<TenantId>>,
    requested: Mutex<Vec<TenantId>>,
}

impl SyncRequests for MemoryRequests {
    async fn request_sync(
        &self,
        tenant: &TenantId,
        _: DateTime<Utc>,
    ) -> Result<SyncRequest, StoreError> {
        self.requested.lock().unwrap().push(tenant.clone());
        if self.pending.lock().unwrap().insert(tenant.clone()) {
            self.queued.lock().unwrap().push(tenant.clone());
            Ok(SyncRequest::Queued)
        } else {
            Ok(SyncRequest::AlreadyPending)
        }
    }
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn record(id: &str, resource: &str, client_state: &str, tenants: &[&str]) -> SubscriptionRecord {
    SubscriptionRecord {
        subscription_id: id.into(),
        entra_tenant_id: ENTRA_TENANT.into(),
        resource: resource.into(),
        client_state_sha256: SubscriptionRecord::hash_client_state(&client_state.into()),
        am_tenants: tenants.iter().map(|t| tenant(t)).collect(),
    }
}

fn intake() -> NotificationIntake<MemoryRecords, MemoryRequests> {
    let mut records = MemoryRecords::default();
    records.records.insert(
        USERS_SUB.into(),
        record(USERS_SUB, "users", "state-u", &["acme", "acme-eu"]),
    );
    records.records.insert(
        GROUPS_SUB.into(),
        record(GROUPS_SUB, "groups", "state-g", &["acme"]),
    );
    NotificationIntake {
        records,
        requests: MemoryRequests::default(),
    }
}

fn change(subscription: &str, client_state: &str) -> serde_json::Value {
    serde_json::json!({
        "subscriptionId": subscription,
        "subscriptionExpirationDateTime": "2026-12-20T10:00:00Z",
        "clientState": client_state,
        "changeType": "updated",
        "resource": "Users/0f2b0c7e-1111-4111-8111-000000000001",
        "tenantId": ENTRA_TENANT,
        "resourceData": {"@odata.type": "#Microsoft.Graph.User", "id": "0f2b0c7e-1111-4111-8111-000000000001"}
    })
}

fn delivery(items: Vec<serde_json::Value>) -> Delivery {
    parse_delivery(serde_json::json!({ "value": items }).to_string().as_bytes()).unwrap()
}

#[tokio::test]
async fn given_a_burst_for_one_tenant_then_one_job_is_queued_and_later_ones_join_it() {
    let intake = intake();
    let burst = delivery((0..1000).map(|_| change(GROUPS_SUB, "state-g")).collect());

    let first = intake.accept(&burst, Utc::now()).await.unwrap();
    let second = intake.accept(&burst, Utc::now()).await.unwrap();

    assert_eq!(first.accepted, 1000);
    assert_eq!((first.jobs_queued, first.already_pending), (1, 0));
    assert_eq!((second.jobs_queued, second.already_pending), (0, 1));
    assert_eq!(*intake.requests.queued.lock().unwrap(), [tenant("acme")]);
    assert_eq!(
        *intake.records.reads.lock().unwrap(),
        2,
        "one read per subscription per delivery"
    );
}

#[tokio::test]
async fn given_a_shared_entra_tenant_then_every_am_tenant_on_it_is_woken() {
    let intake = intake();
    let report = intake
        .accept(&delivery(vec![change(USERS_SUB, "state-u")]), Utc::now())
        .await
        .unwrap();
    assert_eq!(report.jobs_queued, 2);
    assert_eq!(
        *intake.requests.pending.lock().unwrap(),
        BTreeSet::from([tenant("acme"), tenant("acme-eu")])
    );
}

#[tokio::test]
async fn given_forged_stale_or_foreign_notifications_then_nothing_is_requested() {
    let intake = intake();
    let mut foreign = change(USERS_SUB, "state-u");
    foreign["tenantId"] = "99999999-2222-3333-4444-555555555555".into();
    let mut no_state = change(USERS_SUB, "state-u");
    no_state.as_object_mut().unwrap().remove("clientState");
    let forged = delivery(vec![
        change(USERS_SUB, "guess"),
        change(USERS_SUB, "state-g"),
        change("00000000-0000-4000-8000-00000000dead", "state-u"),
        foreign,
        no_state,
    ]);

    let report = intake.accept(&forged, Utc::now()).await.unwrap();

    assert_eq!(report.accepted, 0);
    assert_eq!(
        report.ignored,
        BTreeMap::from([
            (Ignored::UnknownSubscription, 1),
            (Ignored::ClientStateMismatch, 3),
            (Ignored::TenantMismatch, 1),
        ])
    );
    assert!(intake.requests.requested.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_lifecycle_events_then_they_are_recorded_once_and_the_tenant_runs() {
    let intake = intake();
    let lifecycle = |event: &str| {
        serde_json::json!({
            "subscriptionId": GROUPS_SUB,
            "subscriptionExpirationDateTime": "2026-12-20T10:00:00Z",
            "tenantId": ENTRA_TENANT,
            "clientState": "state-g",
            "lifecycleEvent": event
        })
    };
    let report = intake
        .accept(
            &delivery(vec![
                lifecycle("reauthorizationRequired"),
                lifecycle("reauthorizationRequired"),
                lifecycle("somethingNew"),
            ]),
            Utc::now(),
        )
        .await
        .unwrap();

    assert_eq!(report.accepted, 3);
    assert_eq!(report.jobs_queued, 1);
    assert_eq!(
        *intake.records.events.lock().unwrap(),
        [(
            GROUPS_SUB.to_owned(),
            LifecycleEvent::ReauthorizationRequired
        )]
    );
}

#[test]
fn bodies_that_are_not_collections_are_refused_without_quoting_them() {
    for body in [
        &b""[..],
        b"  ",
        b"{",
        b"[]",
        b"{\"value\": \"secret-looking-text\"}",
    ] {
        let err = parse_delivery(body).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("secret-looking-text"), "{text}");
    }
    assert_eq!(parse_delivery(b"{\"value\": []}").unwrap().items(), 0);
}

#[test]
fn a_malformed_item_is_dropped_and_the_rest_of_the_delivery_counts() {
    let body = serde_json::json!({"value": [
        {"clientState": "no subscription id"},
        change(USERS_SUB, "state-u"),
    ]});
    let delivery = parse_delivery(body.to_string().as_bytes()).unwrap();
    assert_eq!(delivery.malformed, 1);
    assert_eq!(delivery.notifications.len(), 1);
    let (notification, _) = delivery.notifications.first_key_value().unwrap();
    assert_eq!(notification.subscription_key(), USERS_SUB);
}

#[tokio::test]
async fn given_items_without_a_well_formed_subscription_id_then_none_is_read_and_each_is_counted() {
    let intake = intake();
    let garbage = [
        serde_json::json!({"subscriptionId": "not-a-guid", "clientState": "state-u"}),
        // A GUID in another spelling, or one digit short, or not hex.
        serde_json::json!({"subscriptionId": format!("{{{USERS_SUB}}}"), "clientState": "state-u"}),
        serde_json::json!({"subscriptionId": USERS_SUB.replace('-', ""), "clientState": "state-u"}),
        serde_json::json!({"subscriptionId": &USERS_SUB[1..], "clientState": "state-u"}),
        serde_json::json!({"subscriptionId": USERS_SUB.replace('7', "g"), "clientState": "state-u"}),
        serde_json::json!({"subscriptionId": 7, "clientState": "state-u"}),
        serde_json::json!({"subscriptionId": null}),
        serde_json::json!({"subscriptionId": {"nested": [USERS_SUB]}}),
        serde_json::json!({"clientState": "state-u"}),
        serde_json::json!([USERS_SUB]),
        serde_json::json!(USERS_SUB),
        serde_json::json!(null),
        serde_json::json!(12.5),
    ];
    let mut many: Vec<serde_json::Value> = (0..49_999)
        .map(|i| garbage[i % garbage.len()].clone())
        .collect();
    // Whatever its length.
    many.push(serde_json::json!({"subscriptionId": "x".repeat(100_000), "clientState": "state-u"}));

    let delivery = delivery(many);
    let report = intake.accept(&delivery, Utc::now()).await.unwrap();

    assert_eq!(delivery.malformed, 50_000);
    assert!(delivery.notifications.is_empty());
    assert_eq!(*intake.records.reads.lock().unwrap(), 0);
    assert_eq!(report, IntakeReport::default());
    assert!(intake.requests.requested.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_notifications_without_a_client_state_then_their_subscription_is_not_read() {
    let intake = intake();
    let mut no_state = change(USERS_SUB, "state-u");
    no_state.as_object_mut().unwrap().remove("clientState");

    let report = intake
        .accept(&delivery(vec![no_state; 10]), Utc::now())
        .await
        .unwrap();

    assert_eq!(*intake.records.reads.lock().unwrap(), 0);
    assert_eq!(
        report.ignored,
        BTreeMap::from([(Ignored::UnknownSubscription, 10)])
    );
}

#[test]
fn the_subscription_and_tenant_ids_are_read_whatever_their_case() {
    let mut upper = change(&USERS_SUB.to_uppercase(), "state-u");
    upper["tenantId"] = ENTRA_TENANT.to_uppercase().into();
    let delivery = delivery(vec![upper]);
    let (notification, _) = delivery.notifications.first_key_value().unwrap();
    assert_eq!(notification.subscription_key(), USERS_SUB);
    let record = record(USERS_SUB, "users", "state-u", &["acme"]);
    assert_eq!(check(notification, Some(&record)).unwrap(), &record);
}

#[test]
fn the_client_state_is_compared_by_its_hash() {
    let r = record(USERS_SUB, "users", "state-u", &["acme"]);
    let hash = |s: &str| SubscriptionRecord::hash_client_state(&s.into());
    assert!(r.client_state_matches(&hash("state-u")));
    assert!(!r.client_state_matches(&hash("state-U")));
    assert!(!r.client_state_matches(&hash("")));
}
