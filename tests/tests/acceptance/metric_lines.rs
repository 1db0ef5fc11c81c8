//! The operators' metrics (docs/behaviour.md 2.14) as the binaries write
//! them: CloudWatch embedded-metric-format lines on stdout, read from the
//! real sync-worker and export-stream processes after runs whose numbers
//! the test knows.

use std::time::{Duration, Instant};

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::emulator::{GraphFault, User};
use entra_sync_tests::organisation::{self, MANAGED};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_USER, LocalStack};
use serde_json::{Value, json};

use crate::export::{platform_user, world};
use crate::realtime::{deliver_when_queued, realtime_stack};

/// The EMF lines of a function's stdout, each checked as CloudWatch reads
/// it. Every stdout line must be one JSON object (a metric line never
/// splices into a log line), and none may carry a token or secret the
/// emulator issued, nor the app's client secret.
fn metric_lines(stack: &LocalStack, stdout: &[String]) -> Vec<Value> {
    let mut secrets = stack.emulator.issued_secrets();
    assert!(!secrets.is_empty(), "the run obtained tokens");
    secrets.push(stack.client_secret.clone());
    let mut lines = Vec::new();
    for line in stdout {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a secret on stdout: {line}"
            );
        }
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(parsed.is_object(), "{line}");
        if parsed.get("_aws").is_some() {
            assert_emf(&parsed);
            lines.push(parsed);
        }
    }
    lines
}

/// What CloudWatch requires of a line to extract its metrics.
fn assert_emf(line: &Value) {
    let aws = &line["_aws"];
    let now_ms = chrono::Utc::now().timestamp_millis();
    let stamped = aws["Timestamp"].as_i64().expect("a Timestamp in ms");
    assert!((now_ms - 600_000..=now_ms).contains(&stamped), "{line}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert_eq!(directives.len(), 1, "{line}");
    let directive = &directives[0];
    assert_eq!(directive["Namespace"], "EntraSync");
    for dimension in directive["Dimensions"][0].as_array().unwrap() {
        let name = dimension.as_str().unwrap();
        assert!(line[name].is_string(), "dimension {name}: {line}");
    }
    let metrics = directive["Metrics"].as_array().unwrap();
    assert!(!metrics.is_empty(), "{line}");
    for metric in metrics {
        let name = metric["Name"].as_str().unwrap();
        assert!(line[name].is_number(), "metric {name}: {line}");
        assert!(
            ["Count", "Milliseconds"].contains(&metric["Unit"].as_str().unwrap()),
            "{line}"
        );
    }
}

/// The lines of one job's run (`Runs`), and of one invocation (Graph's
/// throttling).
fn run_lines(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["Runs"] == 1.0).collect()
}

fn throttled(lines: &[Value]) -> f64 {
    lines
        .iter()
        .filter_map(|l| l["GraphThrottled"].as_f64())
        .sum()
}

fn new_user(n: usize) -> User {
    User {
        id: format!("0c1d2e3f-4a5b-4c6d-8e7f-00000000090{n}"),
        user_principal_name: format!("new{n}@{MANAGED}"),
        display_name: Some(format!("New {n}")),
        account_enabled: true,
        ..User::default()
    }
}

#[tokio::test]
async fn given_three_new_entra_users_and_throttling_then_the_run_line_says_three_applied_and_three_throttled()
 {
    let stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 6, 1);
    stack.emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    let config = json!({
        "auth_mode": "application", "authorisation": "authorised",
        "authorised_at": "2026-12-07T06:00:00Z", "domains": [MANAGED]
    });
    stack
        .put_config_with("acme", Some(CONTOSO), config)
        .await
        .unwrap();
    let mut sync = stack.start_sync_functions().await.unwrap();
    stack.tick(&mut sync).await.unwrap();
    let first_import = sync.worker.settled_stdout().await.len();

    stack.emulator.with_tenant(CONTOSO, |t| {
        (1..=3).for_each(|n| t.upsert_user(new_user(n)));
    });
    // Two 429s and a 503 on the way, which the client retries.
    stack.emulator.inject_graph_faults([
        GraphFault::Throttle {
            retry_after: Some("0.1".into()),
        },
        GraphFault::Unavailable { status: 503 },
        GraphFault::Throttle { retry_after: None },
    ]);
    let report = stack.tick(&mut sync).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");

    let stdout = sync.worker.settled_stdout().await;
    let lines = metric_lines(&stack, &stdout[first_import..]);
    let runs = run_lines(&lines);
    assert_eq!(runs.len(), 1, "one job, one run line: {lines:?}");
    let run = runs[0];
    assert_eq!(run["Function"], "sync-worker");
    assert_eq!(run["Result"], "ok");
    assert_eq!(run["tenant_id"], "acme", "a property of the line");
    assert_eq!(run["ObjectsApplied"], 3.0, "{run}");
    assert_eq!(run["OpenProblems"], 0.0);
    let directive = &run["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(
        directive["Dimensions"],
        json!([["Function", "Result"]]),
        "never the tenant"
    );
    assert!(
        run.get("NotificationToSyncLatency").is_none(),
        "a scheduled run has no notification to measure from"
    );
    let status = stack.status_item("acme").await.unwrap();
    assert_eq!(status["last_sync_counts"]["users_created"], 3, "{status:?}");
    assert_eq!(throttled(&lines), 3.0, "{lines:?}");
}

#[tokio::test]
async fn given_a_change_notification_then_the_run_it_queued_reports_the_time_since() {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    stack.tick(&mut functions).await.unwrap();
    // Drain what the import's own writes may have caused.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stack.deliver(&mut functions.worker).await.unwrap();
    let before = functions.worker.settled_stdout().await.len();

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
    let since_change = changed_at.elapsed().as_millis() as f64;

    let stdout = functions.worker.settled_stdout().await;
    let lines = metric_lines(&stack, &stdout[before..]);
    let notified: Vec<&Value> = run_lines(&lines)
        .into_iter()
        .filter(|l| l.get("NotificationToSyncLatency").is_some())
        .collect();
    assert!(!notified.is_empty(), "{lines:?}");
    for line in &notified {
        assert_eq!(line["Result"], "ok", "{line}");
        let latency = line["NotificationToSyncLatency"].as_f64().unwrap();
        assert!(
            latency > 0.0 && latency <= since_change,
            "{latency} ms, {since_change} ms since the change"
        );
        let unit = &line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Name"] == "NotificationToSyncLatency")
            .unwrap()["Unit"];
        assert_eq!(unit, "Milliseconds");
    }
    assert!(
        notified.iter().any(|l| l["ObjectsApplied"] == 1.0),
        "Megan's update: {notified:?}"
    );
}

#[tokio::test]
async fn given_an_export_batch_then_its_line_counts_the_changes_exported_and_parked() {
    let mut w = world(json!({"domains": [MANAGED, "unverified.contoso.com"]})).await;
    w.put("USER#p-1", platform_user("p-1", "one@contoso.com"))
        .await;
    w.put(
        "USER#p-2",
        platform_user("p-2", "two@unverified.contoso.com"),
    )
    .await;
    w.put("USER#p-3", platform_user("p-3", "three@contoso.com"))
        .await;
    let report = w.export().await;
    assert!(report.retried.is_empty(), "{report:?}");
    assert_eq!(report.invocations, 1, "{report:?}");

    let lines = metric_lines(&w.stack, &w.export.settled_stdout().await);
    assert_eq!(lines.len(), 1, "one line per batch: {lines:?}");
    let line = &lines[0];
    assert_eq!(line["Function"], "export-stream");
    assert_eq!(line["ExportChanges"], 2.0, "{line}");
    assert_eq!(line["ExportProblems"], 1.0, "{line}");
    assert_eq!(line["ExportRetried"], 0.0, "{line}");
    assert_eq!(line["ChangeEvents"], 2.0, "one per change exported: {line}");
    assert_eq!(line["GraphThrottled"], 0.0, "{line}");
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function"]])
    );
    assert_eq!(w.stack.problem_items("acme").await.unwrap().len(), 1);
}

#[tokio::test]
async fn given_a_store_the_worker_may_not_read_then_its_job_is_an_error_run() {
    let mut stack = LocalStack::start_with_roles(Box::new(crate::iam::without(
        "dynamodb:Query",
        "sync-worker",
    )))
    .await
    .unwrap();
    crate::iam::connected(&mut stack).await;
    let mut functions = stack.start_sync_functions().await.unwrap();

    let report = stack.tick(&mut functions).await.unwrap();
    assert_eq!(report.failed_message_ids.len(), 1, "{report:?}");

    let lines = metric_lines(&stack, &functions.worker.settled_stdout().await);
    let runs = run_lines(&lines);
    assert_eq!(runs.len(), 1, "{lines:?}");
    assert_eq!(runs[0]["Result"], "error");
    assert_eq!(runs[0]["tenant_id"], "acme");
    assert!(!stack.gate.take_denials().is_empty(), "denied, not crashed");
}
