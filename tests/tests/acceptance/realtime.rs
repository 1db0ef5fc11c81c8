//! Entra → AM in seconds: the worker keeps Graph subscriptions, the
//! emulator validates the notification URL and delivers change
//! notifications to graph-notifications (behind a local API Gateway), and
//! the job that queues reaches the worker without a scheduler tick.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

use entra_sync_tests::api_gateway::ApiGateway;
use entra_sync_tests::emulator::graph_subscriptions::NotificationKnobs;
use entra_sync_tests::emulator::{Knobs, User};
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, CONTOSO_USER, LocalStack};
use entra_sync_tests::sync::SyncFunctions;
use serde_json::json;

pub(crate) const TENANT: &str = "acme";

/// A stack whose worker has `NOTIFICATION_URL` pointing at graph-notifications.
pub(crate) async fn realtime_stack() -> (LocalStack, SyncFunctions, ApiGateway) {
    let mut stack = LocalStack::start().await.unwrap();
    let (functions, gateway) = stack.start_realtime_sync_functions().await.unwrap();
    stack
        .connect(TENANT, CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();
    (stack, functions, gateway)
}

/// Delivers queued jobs to the worker as they arrive, until one did.
pub(crate) async fn deliver_when_queued(
    stack: &LocalStack,
    functions: &mut SyncFunctions,
) -> usize {
    stack
        .deliver_until(
            &mut functions.worker,
            Duration::from_secs(20),
            async |_, jobs| jobs > 0,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn given_realtime_after_the_first_run_then_an_entra_change_arrives_without_a_tick() {
    let (stack, mut functions, gateway) = realtime_stack().await;

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
    // Nor is the notification key, which Graph was given in both URLs.
    let notification_logs = gateway
        .function
        .lock()
        .await
        .settled_logs()
        .await
        .join("\n");
    for subscription in stack.emulator.subscriptions() {
        let url = url::Url::parse(&subscription.notification_url).unwrap();
        let key = url
            .query_pairs()
            .find(|(name, _)| name == "key")
            .map(|(_, key)| key.into_owned())
            .expect("the subscription's URL carries the key");
        assert_eq!(
            subscription.lifecycle_notification_url.as_deref(),
            Some(subscription.notification_url.as_str())
        );
        assert!(!logs.contains(&key));
        assert!(!notification_logs.contains(&key));
        assert!(!stored.contains(&key));
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
    // The lifecycle event queued a run; no call within ten minutes of the
    // creation: it stays pending.
    deliver_when_queued(&stack, &mut functions).await;
    assert_eq!(
        subscription_record(&stack, &users.id).await["lifecycle_event"],
        "reauthorizationRequired"
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
    assert_eq!(
        subscription_record(&stack, &users.id)
            .await
            .get("lifecycle_event"),
        None,
        "the renewal answered the pending event"
    );
}

/// The worker's record of a subscription (`SUBSCRIPTION#<id>`).
pub(crate) async fn subscription_record(
    stack: &LocalStack,
    subscription_id: &str,
) -> serde_json::Map<String, serde_json::Value> {
    stack
        .item(
            &stack.tables.integrations,
            &format!("SUBSCRIPTION#{subscription_id}"),
            "ENTRA#SUBSCRIPTION",
        )
        .await
        .unwrap()
        .expect("the subscription's record")
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

/// Delivers jobs as they come until `done` holds; returns the jobs run.
pub(crate) async fn deliver_until(
    stack: &LocalStack,
    functions: &mut SyncFunctions,
    mut done: impl AsyncFnMut(&LocalStack) -> bool,
) -> usize {
    stack
        .deliver_until(
            &mut functions.worker,
            Duration::from_secs(30),
            async |stack, _| done(stack).await,
        )
        .await
        .unwrap()
}

pub(crate) async fn job_titles(stack: &LocalStack) -> std::collections::HashMap<String, String> {
    stack
        .directory_of(TENANT, "USER#")
        .await
        .unwrap()
        .into_iter()
        .map(|u| {
            (
                u["user_id"].as_str().unwrap().to_owned(),
                u.get("job_title")
                    .and_then(|t| t.as_str())
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn given_a_new_entra_user_then_it_arrives_by_notification_alone() {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    stack.tick(&mut functions).await.unwrap();

    stack.emulator.with_tenant(CONTOSO, |t| {
        t.upsert_user(User {
            id: "0c1d2e3f-4a5b-4c6d-8e7f-000000000777".into(),
            user_principal_name: "nadia@contoso.com".into(),
            display_name: Some("Nadia".into()),
            account_enabled: true,
            ..User::default()
        })
    });
    deliver_until(&stack, &mut functions, async |stack| {
        job_titles(stack)
            .await
            .contains_key("0c1d2e3f-4a5b-4c6d-8e7f-000000000777")
    })
    .await;
}

#[tokio::test]
async fn given_a_burst_of_300_changes_delivered_twice_then_a_handful_of_jobs_imports_every_one() {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    organisation::seed(&stack.emulator, CONTOSO, 300, 3);
    stack.tick(&mut functions).await.unwrap();
    stack.emulator.set_notification_knobs(NotificationKnobs {
        duplicates: true,
        ..NotificationKnobs::default()
    });

    stack.emulator.with_tenant(CONTOSO, |t| {
        for n in 0..300 {
            t.update_user(&organisation::user_id(n), |u| {
                u.job_title = Some(format!("Burst {n}"))
            });
        }
    });
    let jobs = deliver_until(&stack, &mut functions, async |stack| {
        let titles = job_titles(stack).await;
        (0..300)
            .filter(|n| n % 3 != 2) // the unlisted domain is out of scope
            .all(|n| {
                titles
                    .get(&organisation::user_id(n))
                    .is_some_and(|t| *t == format!("Burst {n}"))
            })
    })
    .await;

    let delivered: usize = stack
        .emulator
        .deliveries()
        .iter()
        .filter(|d| !d.validation)
        .map(|d| d.notifications)
        .sum();
    assert!(
        delivered >= 600,
        "every change notified, twice: {delivered}"
    );
    assert!(
        (1..=5).contains(&jobs),
        "{jobs} jobs for {delivered} notifications"
    );
}

#[tokio::test]
async fn given_a_change_while_a_run_reads_then_the_run_after_it_imports_it() {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    stack.tick(&mut functions).await.unwrap();
    let megan = stack
        .emulator
        .with_tenant(CONTOSO, |t| {
            t.user_by_upn(CONTOSO_USER).map(|u| u.id.clone())
        })
        .unwrap();
    // Slow Graph: the run reads users, then spends a while on groups.
    stack.emulator.set_knobs(Knobs {
        latency: Duration::from_millis(400),
        ..Knobs::default()
    });
    let users_reads = || {
        stack
            .emulator
            .graph_requests()
            .iter()
            .filter(|r| r.path == "/v1.0/users/delta")
            .count()
    };
    let before = users_reads();

    let run = async {
        let report = stack.tick(&mut functions).await.unwrap();
        assert_eq!(report.messages, 1);
    };
    let change = async {
        while users_reads() == before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stack.emulator.with_tenant(CONTOSO, |t| {
            t.update_user(&megan, |u| u.job_title = Some("Changed mid-run".into()))
        });
    };
    tokio::join!(run, change);
    stack.emulator.set_knobs(Knobs::default());

    let arrived = async |stack: &LocalStack| {
        job_titles(stack)
            .await
            .get(&megan)
            .is_some_and(|t| t == "Changed mid-run")
    };
    let jobs = deliver_until(&stack, &mut functions, arrived).await;
    assert!(jobs >= 1, "a run after the one that missed it");
}

#[tokio::test]
async fn given_no_notification_url_then_the_worker_polls_only_and_never_calls_subscriptions() {
    let mut stack = LocalStack::start().await.unwrap();
    stack
        .connect(TENANT, CONTOSO_ADMIN, json!({}))
        .await
        .unwrap();
    let mut functions = stack.start_sync_functions().await.unwrap();

    stack.tick(&mut functions).await.unwrap();
    stack.tick(&mut functions).await.unwrap();

    let calls: Vec<_> = stack
        .emulator
        .graph_requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1.0/subscriptions"))
        .collect();
    assert!(calls.is_empty(), "{calls:?}");
    assert_eq!(
        stack.status_item(TENANT).await.unwrap()["realtime"],
        "inactive"
    );
}

#[tokio::test]
async fn given_graph_refusing_the_subscriptions_then_realtime_is_error_with_why_and_the_poll_goes_on()
 {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    stack.emulator.set_notification_knobs(NotificationKnobs {
        quota: 0,
        ..NotificationKnobs::default()
    });

    let report = stack.tick(&mut functions).await.unwrap();

    assert!(report.failed_message_ids.is_empty());
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok", "the poll carries on");
    assert_eq!(status["realtime"], "error", "{status:?}");
    let reason = status["realtime_error"].as_str().unwrap();
    assert!(
        reason.contains("403") && reason.contains("User.Read.All"),
        "{reason}"
    );

    // A notification URL that does not answer Graph's validation: 400.
    let mut env = stack.function_env();
    env.push((
        "NOTIFICATION_URL".into(),
        "http://127.0.0.1:9/entra/notifications".into(),
    ));
    functions.worker = LambdaFunction::start("sync-worker", &env).await.unwrap();
    stack
        .emulator
        .set_notification_knobs(NotificationKnobs::default());
    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    let reason = status["realtime_error"].as_str().unwrap();
    assert!(
        reason.contains("400") && reason.contains("validation"),
        "{reason}"
    );
    assert!(stack.emulator.subscriptions().is_empty());
}
