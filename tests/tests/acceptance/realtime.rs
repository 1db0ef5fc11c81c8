//! Entra → AM in seconds: the worker keeps Graph subscriptions, the
//! emulator validates the notification URL and delivers change
//! notifications to graph-notifications (behind a local API Gateway), and
//! the job that queues reaches the worker without a scheduler tick.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

use entra_sync_tests::api_gateway::ApiGateway;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, CONTOSO_USER, LocalStack};
use entra_sync_tests::sync::SyncFunctions;
use serde_json::json;

const TENANT: &str = "acme";

/// A stack whose worker has `NOTIFICATION_URL` pointing at graph-notifications.
async fn realtime_stack() -> (LocalStack, SyncFunctions, ApiGateway) {
    let mut stack = LocalStack::start().await.unwrap();
    let notifications = LambdaFunction::start("graph-notifications", &stack.function_env())
        .await
        .unwrap();
    let gateway = ApiGateway::start("POST /entra/notifications", notifications)
        .await
        .unwrap();
    let mut env = stack.function_env();
    env.push(("NOTIFICATION_URL".into(), gateway.url.clone()));
    let functions = SyncFunctions {
        worker: LambdaFunction::start("sync-worker", &env).await.unwrap(),
        scheduler: LambdaFunction::start("sync-scheduler", &env).await.unwrap(),
    };
    stack
        .connect(TENANT, CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();
    (stack, functions, gateway)
}

/// Delivers queued jobs to the worker as they arrive, until one did.
async fn deliver_when_queued(stack: &LocalStack, functions: &mut SyncFunctions) -> usize {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let report = stack.deliver(&mut functions.worker).await.unwrap();
        if report.messages > 0 {
            return report.messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no job was queued within 20 s");
}

#[tokio::test]
async fn given_realtime_after_the_first_run_then_an_entra_change_arrives_without_a_tick() {
    let (stack, mut functions, _gateway) = realtime_stack().await;

    stack.tick(&mut functions).await.unwrap();

    let subscriptions = stack.emulator.subscriptions();
    let mut resources: Vec<&str> = subscriptions.iter().map(|s| s.resource.as_str()).collect();
    resources.sort();
    assert_eq!(resources, ["groups", "users"]);
    assert!(
        subscriptions
            .iter()
            .all(|s| s.change_type == "updated,deleted")
    );
    assert!(
        subscriptions
            .iter()
            .all(|s| s.lifecycle_notification_url.is_some())
    );
    let validations: Vec<_> = stack
        .emulator
        .deliveries()
        .into_iter()
        .filter(|d| d.validation)
        .collect();
    assert_eq!(
        validations.len(),
        4,
        "both URLs of both subscriptions: {validations:?}"
    );
    assert!(validations.iter().all(|d| d.status == Some(200)));
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["realtime"], "active", "{status:?}");
    // Drain what the import's own writes may have caused.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stack.deliver(&mut functions.worker).await.unwrap();

    let megan = stack
        .emulator
        .with_tenant(CONTOSO, |t| {
            t.user_by_upn(CONTOSO_USER).map(|u| u.id.clone())
        })
        .unwrap();
    let changed_at = Instant::now();
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&megan, |u| u.job_title = Some("Head of Research".into()))
    });
    deliver_when_queued(&stack, &mut functions).await;

    let users = stack.directory_of(TENANT, "USER#").await.unwrap();
    let megan_in_am = users
        .iter()
        .find(|u| u["user_id"] == megan.as_str())
        .unwrap();
    assert_eq!(megan_in_am["job_title"], "Head of Research");
    println!("Entra → AM with notifications: {:?}", changed_at.elapsed());
    let status = stack.status_item(TENANT).await.unwrap();
    assert!(status["last_notification_at"].is_string(), "{status:?}");
    // The clientState values are secrets: in no log line, nor stored.
    let logs = functions.worker.settled_logs().await.join("\n");
    let stored = serde_json::to_string(&stack.integration_items().await.unwrap()).unwrap();
    for subscription in stack.emulator.subscriptions() {
        let client_state = subscription.client_state.unwrap();
        assert!(!logs.contains(&client_state));
        assert!(!stored.contains(&client_state));
    }
}

#[tokio::test]
async fn given_sync_switched_off_then_the_scheduler_still_enqueues_the_tenant_until_they_are_deleted()
 {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    stack.tick(&mut functions).await.unwrap();
    assert_eq!(stack.emulator.subscriptions().len(), 2);

    stack
        .update_config(TENANT, json!({"sync_enabled": false}))
        .await
        .unwrap();
    let release = stack.tick(&mut functions).await.unwrap();
    assert_eq!(release.messages, 1, "enqueued although sync is off");
    assert!(stack.emulator.subscriptions().is_empty());
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["realtime"],
        "inactive"
    );

    let after = stack.tick(&mut functions).await.unwrap();
    assert_eq!(after.messages, 0, "released: no longer enqueued");
}

#[tokio::test]
async fn given_realtime_switched_off_then_the_next_run_deletes_the_subscriptions() {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    stack.tick(&mut functions).await.unwrap();
    assert_eq!(stack.emulator.subscriptions().len(), 2);

    stack
        .update_config(TENANT, json!({"realtime_enabled": false}))
        .await
        .unwrap();
    stack.tick(&mut functions).await.unwrap();

    assert!(stack.emulator.subscriptions().is_empty());
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["realtime"], "inactive", "{status:?}");
}

#[tokio::test]
async fn given_a_subscription_graph_dropped_and_a_reauthorization_request_then_the_next_run_repairs_both()
 {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    stack.tick(&mut functions).await.unwrap();
    let before = stack.emulator.subscriptions();
    let users = before
        .iter()
        .find(|s| s.resource == "users")
        .unwrap()
        .clone();
    let groups = before
        .iter()
        .find(|s| s.resource == "groups")
        .unwrap()
        .clone();

    // The groups subscription vanishes; Graph asks to reauthorize users'.
    assert!(stack.emulator.drop_subscription(&groups.id));
    stack
        .emulator
        .send_lifecycle_event(&users.id, "reauthorizationRequired")
        .await
        .unwrap();
    // The lifecycle event queued a run; reauthorized at most once in ten
    // minutes: the subscription was created moments ago.
    deliver_when_queued(&stack, &mut functions).await;
    let record = stack
        .item(
            &stack.tables.integrations,
            &format!("SUBSCRIPTION#{}", users.id),
            "ENTRA#SUBSCRIPTION",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.get("lifecycle_event"),
        None,
        "answered by the recent creation"
    );
    // Three weeks on, fewer than three days are left (by Graph's answer).
    for subscription in [&users, &groups] {
        age_record(&stack, &subscription.id).await;
    }
    stack.tick(&mut functions).await.unwrap();

    let after = stack.emulator.subscriptions();
    assert_eq!(after.len(), 2, "{after:?}");
    let users_now = after.iter().find(|s| s.resource == "users").unwrap();
    assert_eq!(users_now.id, users.id, "renewed, not replaced");
    assert!(users_now.expiration > chrono::Utc::now() + chrono::Duration::days(20));
    let groups_now = after.iter().find(|s| s.resource == "groups").unwrap();
    assert_ne!(groups_now.id, groups.id, "recreated after Graph lost it");
}

/// The worker's record of a subscription, as if it expired in two days.
async fn age_record(stack: &LocalStack, subscription_id: &str) {
    let soon = (chrono::Utc::now() + chrono::Duration::days(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&stack.tables.integrations)
        .key(
            "pk",
            AttributeValue::S(format!("SUBSCRIPTION#{subscription_id}")),
        )
        .key("sk", AttributeValue::S("ENTRA#SUBSCRIPTION".into()))
        .update_expression("SET expires_at = :soon")
        .expression_attribute_values(":soon", AttributeValue::S(soon))
        .send()
        .await
        .unwrap();
}
