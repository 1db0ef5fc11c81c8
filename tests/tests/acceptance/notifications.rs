//! `graph-notifications` as Microsoft Graph sees it: the real binary through
//! the Lambda Runtime API, API Gateway payload 2.0 events, moto behind it.

use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync::import::RunLease;
use entra_sync::model::TenantId;
use entra_sync::notifications::SubscriptionRecord;
use entra_sync::store::subscriptions::DynamoSubscriptionStore;
use entra_sync::store::sync_state::DynamoSyncStateStore;
use entra_sync_tests::aws_meter::AwsMeter;
use entra_sync_tests::events::{HttpResponse, http_api_request};
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, CONTOSO_USER, LocalStack};
use entra_sync_tests::sync::notification_key;
use serde_json::{Value, json};

const ROUTE: &str = "POST /entra/notifications";
const PATH: &str = "/entra/notifications";
/// Contoso, the Entra tenant `acme` and `acme-eu` are synced from.
const ENTRA_TENANT: &str = CONTOSO;
pub const USERS_SUB: &str = "9a1b2c3d-0000-4000-8000-0000000000aa";
pub const CLIENT_STATE: &str = "c1ient-state~9f8e7d6c5b4a39281706f5e4d3c2b1a0";

pub struct Notified {
    pub stack: LocalStack,
    pub function: LambdaFunction,
    /// The key of its `NOTIFICATION_URL`, which Graph sends back.
    pub key: String,
    /// Every AWS request graph-notifications makes passes through it.
    meter: AwsMeter,
}

impl Notified {
    /// A stack whose `acme` and `acme-eu` share the Entra tenant's `users`
    /// subscription, as the worker records it.
    pub async fn start() -> Self {
        let stack = LocalStack::start().await.unwrap();
        DynamoSubscriptionStore::new(
            stack.aws.dynamodb.clone(),
            stack.tables.integrations.clone(),
        )
        .save(
            &SubscriptionRecord {
                subscription_id: USERS_SUB.into(),
                entra_tenant_id: ENTRA_TENANT.into(),
                resource: "users".into(),
                client_state_sha256: SubscriptionRecord::hash_client_state(&CLIENT_STATE.into()),
                am_tenants: vec![
                    TenantId::parse("acme").unwrap(),
                    TenantId::parse("acme-eu").unwrap(),
                ],
            },
            chrono::Utc::now() + chrono::Duration::days(20),
        )
        .await
        .unwrap();
        // Counted here, then judged by the stack's IAM gate.
        let meter = AwsMeter::start(
            &stack.meter.endpoint,
            vec![(stack.tables.integrations.clone(), "integrations".into())],
        )
        .await
        .unwrap();
        let key = notification_key();
        let mut env = stack.function_env();
        for (name, value) in &mut env {
            if name == "AWS_ENDPOINT_URL" {
                *value = meter.endpoint.clone();
            }
        }
        env.push((
            "NOTIFICATION_URL".into(),
            format!("https://abcdef1234.execute-api.us-east-1.amazonaws.com{PATH}?key={key}"),
        ));
        let function = LambdaFunction::start("graph-notifications", &env)
            .await
            .unwrap();
        Self {
            stack,
            function,
            key,
            meter,
        }
    }

    /// How many AWS requests graph-notifications made so far.
    pub fn aws_requests(&self) -> u64 {
        self.meter.snapshot().values().map(|t| t.requests).sum()
    }

    /// Requests graph-notifications made so far of this DynamoDB operation
    /// (`GetItem`, `BatchGetItem`, ...).
    pub fn dynamodb_requests(&self, operation: &str) -> u64 {
        let name = format!("DynamoDB.{operation}");
        entra_sync_tests::aws_meter::requests(&self.meter.snapshot(), "", |op| op == name)
    }

    /// A POST as Graph makes it: the subscription's URL with its key.
    pub async fn post(&mut self, query: &str, body: &str) -> HttpResponse {
        let query = match query {
            "" => format!("key={}", self.key),
            more => format!("key={}&{more}", self.key),
        };
        self.post_raw(&query, body).await
    }

    /// A POST with exactly this query string.
    pub async fn post_raw(&mut self, query: &str, body: &str) -> HttpResponse {
        let mut event = http_api_request("POST", ROUTE, PATH, query);
        event["headers"]["content-type"] = json!("application/json");
        event["headers"]["content-length"] = json!(body.len().to_string());
        event["headers"]["user-agent"] = json!("Microsoft-Graph-ChangeNotifications");
        if !body.is_empty() {
            event["body"] = json!(body);
        }
        let answer = self.function.invoke(event).await.unwrap().unwrap();
        HttpResponse::from_lambda(&answer).unwrap()
    }

    pub async fn deliver(&mut self, notifications: Vec<Value>) -> HttpResponse {
        self.post("", &json!({ "value": notifications }).to_string())
            .await
    }

    pub async fn queued_tenants(&self) -> Vec<String> {
        let mut tenants: Vec<String> = self
            .stack
            .receive_all()
            .await
            .unwrap()
            .into_iter()
            .map(|(_, _, body)| {
                serde_json::from_str::<Value>(&body).unwrap()["tenant_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        tenants.sort();
        tenants
    }
}

pub fn user_changed(client_state: &str) -> Value {
    json!({
        "subscriptionId": USERS_SUB,
        "subscriptionExpirationDateTime": "2026-12-20T10:00:00Z",
        "clientState": client_state,
        "changeType": "updated",
        "resource": "Users/6e1f0a2b-1111-4111-8111-000000000001",
        "tenantId": ENTRA_TENANT,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.User",
            "@odata.id": "Users/6e1f0a2b-1111-4111-8111-000000000001",
            "id": "6e1f0a2b-1111-4111-8111-000000000001",
            "organizationId": ENTRA_TENANT
        }
    })
}

#[tokio::test]
async fn given_graphs_validation_request_then_the_decoded_token_comes_back_as_plain_text() {
    let mut notified = Notified::start().await;

    let answer = notified
        .post(
            "validationToken=Validation%3A+Testing+client+application+%2B+1",
            "",
        )
        .await;

    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.headers["content-type"].starts_with("text/plain"));
    assert_eq!(answer.body, "Validation: Testing client application + 1");
    assert!(notified.queued_tenants().await.is_empty());
}

#[tokio::test]
async fn given_a_burst_of_genuine_notifications_then_each_tenant_gets_one_job_and_the_time_is_recorded()
 {
    let mut notified = Notified::start().await;

    let first = notified
        .deliver((0..200).map(|_| user_changed(CLIENT_STATE)).collect())
        .await;
    let second = notified
        .deliver((0..200).map(|_| user_changed(CLIENT_STATE)).collect())
        .await;

    assert_eq!((first.status, second.status), (202, 202));
    assert!(first.body.is_empty());
    assert_eq!(notified.queued_tenants().await, ["acme", "acme-eu"]);
    let status = notified.stack.status_item("acme").await.unwrap();
    assert!(
        status["last_notification_at"].as_str().is_some(),
        "{status:?}"
    );
    assert!(status["sync_requested_at"].as_str().is_some(), "{status:?}");

    // acme's run begins (its job is being run): the next notification
    // queues acme's next job; acme-eu's job is still pending.
    let sync_state = DynamoSyncStateStore::new(
        notified.stack.aws.dynamodb.clone(),
        notified.stack.tables.integrations.clone(),
    );
    RunLease::begin_run(
        &sync_state,
        &TenantId::parse("acme").unwrap(),
        "run-1",
        chrono::Utc::now(),
        chrono::Utc::now() + chrono::Duration::seconds(90),
    )
    .await
    .unwrap()
    .unwrap();
    notified.deliver(vec![user_changed(CLIENT_STATE)]).await;
    assert_eq!(notified.queued_tenants().await, ["acme"]);
}

#[tokio::test]
async fn given_forged_or_unknown_notifications_then_they_get_202_and_change_nothing() {
    let mut notified = Notified::start().await;
    let mut unknown = user_changed(CLIENT_STATE);
    unknown["subscriptionId"] = json!("00000000-0000-4000-8000-00000000dead");

    let answer = notified
        .deliver(vec![user_changed("guessed-client-state"), unknown])
        .await;

    assert_eq!(answer.status, 202, "{answer:?}");
    assert!(notified.queued_tenants().await.is_empty());
    assert!(
        notified.stack.status_item("acme").await.is_err(),
        "no status written: last_notification_at is not set by forgeries"
    );
    let logs = notified.function.settled_logs().await.join("\n");
    assert!(!logs.contains("guessed-client-state"), "{logs}");
    assert!(!logs.contains(CLIENT_STATE), "{logs}");
}

#[tokio::test]
async fn given_bodies_that_are_not_notification_collections_then_400_naming_the_problem() {
    let mut notified = Notified::start().await;

    for body in ["", "not json", "{\"value\": \"x\"}", "[1, 2]"] {
        let answer = notified.post("", body).await;
        assert_eq!(answer.status, 400, "{body}: {answer:?}");
        assert!(
            answer.body.contains("notification collection") || answer.body.contains("empty"),
            "{answer:?}"
        );
    }
    assert!(notified.queued_tenants().await.is_empty());
}

/// The status item's `sync_requested_at`, as graph-notifications writes it.
async fn report_changes_at(stack: &LocalStack, tenant: &str, at: chrono::DateTime<chrono::Utc>) {
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&stack.tables.integrations)
        .key("pk", AttributeValue::S(format!("TENANT#{tenant}")))
        .key("sk", AttributeValue::S("ENTRA#STATUS".into()))
        .update_expression("SET sync_requested_at = :at")
        .expression_attribute_values(
            ":at",
            AttributeValue::S(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn given_an_entra_change_and_its_notification_then_it_reaches_am_without_a_tick() {
    let mut notified = Notified::start().await;
    notified
        .stack
        .connect("acme", CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();
    let mut sync = notified.stack.start_sync_functions().await.unwrap();
    notified.stack.tick(&mut sync).await.unwrap();
    let megan = notified
        .stack
        .emulator
        .with_tenant(CONTOSO, |t| {
            t.user_by_upn(CONTOSO_USER).map(|u| u.id.clone())
        })
        .unwrap();

    notified.stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&megan, |u| u.job_title = Some("Head of Research".into()))
    });
    let answer = notified.deliver(vec![user_changed(CLIENT_STATE)]).await;
    assert_eq!(answer.status, 202);
    // The queued jobs (acme and acme-eu, which has no config) go to the
    // worker: no scheduler tick.
    let report = notified.stack.deliver(&mut sync.worker).await.unwrap();

    assert_eq!(report.messages, 2);
    let users = notified.stack.directory_of("acme", "USER#").await.unwrap();
    let megan_in_am = users
        .iter()
        .find(|u| u["user_id"] == megan.as_str())
        .unwrap();
    assert_eq!(megan_in_am["job_title"], "Head of Research");
    // The operators' metric: the time from the notification's job to the
    // synced directory (docs/behaviour.md 2.14).
    let logs = sync.worker.settled_logs().await;
    let latency = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["tenant_id"] == "acme" && l["NotificationToSyncLatency"].is_number())
        .unwrap_or_else(|| panic!("no latency line in {logs:?}"));
    assert_eq!(latency["Result"], "ok");
    let ms = latency["NotificationToSyncLatency"].as_f64().unwrap();
    assert!((0.0..60_000.0).contains(&ms), "{ms} ms");
}

#[tokio::test]
async fn given_a_change_reported_while_a_run_reads_then_the_worker_queues_one_more_run() {
    let mut stack = LocalStack::start().await.unwrap();
    stack
        .connect("acme", CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    assert!(
        stack.receive_all().await.unwrap().is_empty(),
        "nothing reported: no follow-up"
    );

    // Reported after the next run's round began (the clock of the
    // notification's sandbox may run ahead): that run may not have read it.
    report_changes_at(
        &stack,
        "acme",
        chrono::Utc::now() + chrono::Duration::seconds(30),
    )
    .await;
    stack.tick(&mut sync).await.unwrap();

    let follow_up = stack.receive_all().await.unwrap();
    assert_eq!(follow_up.len(), 1, "{follow_up:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&follow_up[0].2).unwrap()["tenant_id"],
        "acme"
    );
}

#[tokio::test]
async fn given_a_lifecycle_event_recorded_while_the_worker_keeps_a_subscription_then_it_stays_pending()
 {
    use entra_sync::notifications::{LifecycleEvent, SubscriptionRecords};
    use entra_sync::realtime::KeptSubscriptions;
    let notified = Notified::start().await;
    let store = DynamoSubscriptionStore::new(
        notified.stack.aws.dynamodb.clone(),
        notified.stack.tables.integrations.clone(),
    );
    let kept_of = async || {
        let record = store
            .subscriptions(&[USERS_SUB.to_owned()])
            .await
            .unwrap()
            .remove(USERS_SUB)
            .unwrap();
        // What the worker reads: the record through its Entra tenant.
        let mut kept = store.kept(ENTRA_TENANT, "users").await.unwrap();
        if kept.is_none() {
            let k = entra_sync::realtime::KeptSubscription {
                record,
                expires_at: chrono::Utc::now() + chrono::Duration::days(20),
                renewed_at: chrono::Utc::now(),
                verified_at: chrono::Utc::now(),
                lifecycle_event: None,
                lifecycle_event_at: None,
                notification_url: None,
            };
            store.keep(&k).await.unwrap();
            kept = store.kept(ENTRA_TENANT, "users").await.unwrap();
        }
        kept.unwrap()
    };
    let t0 = chrono::Utc::now() - chrono::Duration::seconds(10);
    store
        .record_lifecycle_event(USERS_SUB, LifecycleEvent::ReauthorizationRequired, t0)
        .await
        .unwrap();
    let mut read = kept_of().await;
    assert_eq!(
        read.lifecycle_event,
        Some(LifecycleEvent::ReauthorizationRequired)
    );

    // A newer event arrives after the worker read the record...
    let t1 = chrono::Utc::now();
    store
        .record_lifecycle_event(USERS_SUB, LifecycleEvent::SubscriptionRemoved, t1)
        .await
        .unwrap();
    // ...and the worker saves it, having answered the first.
    read.lifecycle_event = None;
    store.keep(&read).await.unwrap();
    assert_eq!(
        kept_of().await.lifecycle_event,
        Some(LifecycleEvent::SubscriptionRemoved),
        "the newer event stays"
    );

    // Answered with nothing newer: cleared.
    let mut read = kept_of().await;
    read.lifecycle_event = None;
    store.keep(&read).await.unwrap();
    assert_eq!(kept_of().await.lifecycle_event, None);
}
