//! Run history and the status an admin trusts (docs/behaviour.md 2.14),
//! through the real binaries: each run's `ENTRA#RUN#<started_at>#<run_id>`
//! item (a scheduled delta run, a notification-queued one, a round that
//! spans invocations, a preview, a failure) and `ENTRA#STATUS`'s
//! `last_successful_sync_at`, `running` and `consecutive_failures`.

use std::time::Duration;

use entra_sync_tests::emulator::{GraphFault, Knobs, User};
use entra_sync_tests::organisation::{self, FEDERATED, MANAGED};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, CONTOSO_USER, LocalStack};
use entra_sync_tests::sync::SyncFunctions;
use serde_json::{Map, Value, json};

use crate::realtime::{deliver_when_queued, realtime_stack};

const TENANT: &str = "acme";

/// Contoso seeded with this many users (and a tenth as many groups),
/// read in small pages.
async fn connected(users: usize, settings: Value) -> (LocalStack, SyncFunctions) {
    let mut stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, users, users / 10);
    stack.emulator.set_knobs(Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        ..Knobs::default()
    });
    let mut config = json!({"domains": [MANAGED, FEDERATED]});
    for (k, v) in settings.as_object().unwrap() {
        config[k] = v.clone();
    }
    stack.connect(TENANT, CONTOSO_ADMIN, config).await.unwrap();
    let functions = stack.start_sync_functions().await.unwrap();
    (stack, functions)
}

/// The tenant's run items, in the order the runs began.
async fn run_items(stack: &LocalStack) -> Vec<Map<String, Value>> {
    let pk = format!("TENANT#{TENANT}");
    let mut runs: Vec<Map<String, Value>> = stack
        .integration_items()
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i["pk"] == pk.as_str())
        .filter(|i| {
            i["sk"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("ENTRA#RUN#"))
        })
        .collect();
    runs.sort_by(|a, b| a["sk"].as_str().cmp(&b["sk"].as_str()));
    runs
}

fn number(item: &Map<String, Value>, name: &str) -> u64 {
    item[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: {item:?}"))
}

/// The item's key names its start and its run; it is kept 30 days.
fn assert_well_formed(run: &Map<String, Value>) {
    let sk = run["sk"].as_str().unwrap();
    let started_at = run["started_at"].as_str().unwrap();
    let run_id = run["run_id"].as_str().unwrap();
    assert!(
        sk.starts_with("ENTRA#RUN#") && sk.ends_with(&format!("#{run_id}")),
        "{sk}"
    );
    let started = chrono::DateTime::parse_from_rfc3339(started_at).unwrap();
    assert!(
        sk.contains(&started.format("%Y-%m-%dT%H:%M:%S").to_string()),
        "{sk}"
    );
    let in_30_days = (chrono::Utc::now() + chrono::Duration::days(30)).timestamp();
    let expires = number(run, "expires_at_epoch") as i64;
    assert!(
        (in_30_days - 300..=in_30_days).contains(&expires),
        "{run:?}"
    );
}

fn new_user(n: usize) -> User {
    User {
        id: format!("0c1d2e3f-4a5b-4c6d-8e7f-00000000091{n}"),
        user_principal_name: format!("hired{n}@{MANAGED}"),
        display_name: Some(format!("Hired {n}")),
        account_enabled: true,
        ..User::default()
    }
}

#[tokio::test]
async fn given_a_scheduled_delta_run_then_its_item_has_its_trigger_counts_and_requests_and_an_idle_poll_adds_none()
 {
    let (stack, mut functions) = connected(40, json!({})).await;
    stack.tick(&mut functions).await.unwrap();
    let first = run_items(&stack).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        (first[0]["trigger"].as_str(), first[0]["mode"].as_str()),
        (Some("schedule"), Some("full"))
    );

    stack.emulator.with_tenant(CONTOSO, |t| {
        (1..=2).for_each(|n| t.upsert_user(new_user(n)));
    });
    stack.emulator.inject_graph_faults([GraphFault::Throttle {
        retry_after: Some("0.01".into()),
    }]);
    stack.tick(&mut functions).await.unwrap();

    let runs = run_items(&stack).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let delta = &runs[1];
    assert_well_formed(delta);
    assert_eq!(delta["trigger"], "schedule");
    assert_eq!(delta["mode"], "delta");
    assert_eq!(delta["result"], "ok");
    assert!(delta.contains_key("completed_at") && !delta.contains_key("error"));
    assert_eq!(number(delta, "invocations"), 1);
    assert_eq!(number(delta, "users_created"), 2);
    assert_eq!(number(delta, "users_deleted"), 0);
    assert_eq!(number(delta, "throttled"), 1);
    // Users, the throttled retry, groups.
    assert!(number(delta, "graph_requests") >= 3, "{delta:?}");
    assert_eq!(number(delta, "problems_opened"), 0);
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["running"], false);
    assert_eq!(status["consecutive_failures"], 0);
    assert_eq!(
        status["last_successful_sync_at"],
        status["last_sync_completed_at"]
    );

    stack.tick(&mut functions).await.unwrap();
    assert_eq!(
        run_items(&stack).await.len(),
        2,
        "an idle poll keeps no item"
    );
}

#[tokio::test]
async fn given_failed_runs_then_the_last_success_stays_the_failures_are_counted_and_a_success_resets_them()
 {
    let (stack, mut functions) = connected(40, json!({})).await;
    stack.tick(&mut functions).await.unwrap();
    let succeeded = stack.status_item(TENANT).await.unwrap();
    let last_success = succeeded["last_successful_sync_at"].clone();
    assert!(last_success.is_string(), "{succeeded:?}");

    for failures in 1..=2 {
        // As many as the client's attempts: the run fails, and no fault is
        // left for the next.
        stack
            .emulator
            .inject_graph_faults((0..8).map(|_| GraphFault::Throttle {
                retry_after: Some("0.01".into()),
            }));
        stack.tick(&mut functions).await.unwrap();
        let status = stack.status_item(TENANT).await.unwrap();
        assert_eq!(status["last_sync_result"], "error", "{status:?}");
        assert_eq!(status["last_successful_sync_at"], last_success);
        assert_eq!(status["consecutive_failures"], failures);
        assert_eq!(status["running"], false);
        let failed = run_items(&stack).await.pop().unwrap();
        assert_well_formed(&failed);
        assert_eq!(failed["result"], "error", "{failed:?}");
        assert!(
            failed["error"].as_str().unwrap().contains("429"),
            "{failed:?}"
        );
        assert!(!failed.contains_key("completed_at"));
        assert!(number(&failed, "throttled") >= 1, "{failed:?}");
    }
    assert_eq!(run_items(&stack).await.len(), 3);

    stack.tick(&mut functions).await.unwrap();
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(status["last_sync_result"], "ok");
    assert_eq!(status["consecutive_failures"], 0);
    assert!(
        status["last_successful_sync_at"].as_str() > last_success.as_str(),
        "{status:?}"
    );
}

#[tokio::test]
async fn given_a_change_notification_then_the_run_it_queued_says_notification() {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    stack.tick(&mut functions).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stack.deliver(&mut functions.worker).await.unwrap();

    let megan = stack
        .emulator
        .with_tenant(CONTOSO, |t| {
            t.user_by_upn(CONTOSO_USER).map(|u| u.id.clone())
        })
        .unwrap();
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&megan, |u| u.job_title = Some("Head of Research".into()))
    });
    deliver_when_queued(&stack, &mut functions).await;

    let runs = run_items(&stack).await;
    let notified: Vec<_> = runs
        .iter()
        .filter(|r| r["trigger"] == "notification")
        .collect();
    assert_eq!(notified.len(), 1, "{runs:?}");
    let run = notified[0];
    assert_well_formed(run);
    assert_eq!(
        (run["mode"].as_str(), run["result"].as_str()),
        (Some("delta"), Some("ok"))
    );
    assert_eq!(number(run, "users_updated"), 1, "{run:?}");

    // Its change is an event caused by that run.
    let events = event_items(&stack).await;
    let title = events
        .iter()
        .find(|e| e["cause"]["run_id"] == run["run_id"])
        .unwrap_or_else(|| panic!("no event of the notified run: {events:?}"));
    assert_eq!(title["cause"]["trigger"], "notification");
    assert_eq!(title["action"], "update");
    assert_eq!(title["object_id"], megan.as_str());
    assert!(
        title["modified"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["attribute"] == "job_title" && m["new"] == "Head of Research"),
        "{title:?}"
    );
}

/// The tenant's change events.
async fn event_items(stack: &LocalStack) -> Vec<Map<String, Value>> {
    let items = stack.integration_items().await.unwrap();
    items
        .into_iter()
        .filter(|i| {
            i["sk"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("ENTRA#EVENT#"))
        })
        .collect()
}

#[tokio::test]
async fn given_a_first_import_longer_than_one_invocation_then_it_is_one_run_whose_invocations_grow()
{
    let (stack, mut functions) = connected(300, json!({})).await;
    stack.emulator.set_knobs(Knobs {
        page_size: Some(7),
        member_page_size: Some(40),
        latency: Duration::from_millis(60),
        ..Knobs::default()
    });
    stack
        .send_messages(&[&format!(r#"{{"tenant_id":"{TENANT}"}}"#)])
        .await
        .unwrap();
    let mut invocations = 0;
    let mut seen_running = false;
    loop {
        let report = stack
            .deliver_within(&mut functions.worker, Duration::from_secs(2))
            .await
            .unwrap();
        if report.messages == 0 {
            break;
        }
        invocations += report.messages;
        assert!(invocations < 40, "the import never completed");
        let status = stack.status_item(TENANT).await.unwrap();
        if status.contains_key("checkpoint") {
            seen_running = true;
            assert_eq!(status["running"], true, "paused, not over");
            assert!(
                status["progress"]["users_read"].as_u64().is_some(),
                "{status:?}"
            );
            let runs = run_items(&stack).await;
            assert_eq!(runs.len(), 1, "{runs:?}");
            assert!(!runs[0].contains_key("result"), "still running: {runs:?}");
        }
    }
    assert!(
        invocations >= 2 && seen_running,
        "{invocations} invocation(s)"
    );

    let runs = run_items(&stack).await;
    assert_eq!(runs.len(), 1, "one run: {runs:?}");
    let run = &runs[0];
    assert_well_formed(run);
    assert_eq!(run["trigger"], "schedule", "why the run began");
    assert_eq!(run["result"], "ok");
    assert_eq!(number(run, "invocations"), invocations as u64);
    let status = stack.status_item(TENANT).await.unwrap();
    assert_eq!(
        number(run, "users_created"),
        status["last_sync_counts"]["users_created"]
            .as_u64()
            .unwrap()
    );
    assert!(!status.contains_key("progress") && status["running"] == false);

    // A first import across invocations: one summary event per page, each
    // caused by the one run, however many invocations it took.
    let events = event_items(&stack).await;
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["cause"]["run_id"] == run["run_id"]
            && e["object_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("page:"))),
        "{events:?}"
    );
    let users_page_summaries = events.iter().filter(|e| e["object_kind"] == "user").count();
    assert!(
        users_page_summaries <= 300_usize.div_ceil(7) + 1,
        "{users_page_summaries}"
    );
}

#[tokio::test]
async fn given_a_preview_then_its_run_says_preview_with_what_a_sync_would_do() {
    let (stack, mut functions) = connected(
        40,
        json!({
            "sync_enabled": false, "preview_requested_at": "2026-12-01T09:00:00Z"
        }),
    )
    .await;
    stack.tick(&mut functions).await.unwrap();

    let runs = run_items(&stack).await;
    assert_eq!(runs.len(), 1, "the preview alone: sync is off: {runs:?}");
    let run = &runs[0];
    assert_well_formed(run);
    assert_eq!(run["trigger"], "preview");
    assert_eq!(
        (run["mode"].as_str(), run["result"].as_str()),
        (Some("full"), Some("ok"))
    );
    assert!(number(run, "users_created") > 0, "{run:?}");
    assert!(number(run, "graph_requests") > 0, "{run:?}");
    assert!(
        stack
            .directory_of(TENANT, "USER#")
            .await
            .unwrap()
            .is_empty()
    );
}
