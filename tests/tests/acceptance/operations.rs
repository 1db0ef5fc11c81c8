//! What operators get (docs/behaviour.md 2.14): an alarm on every place a
//! message or a function can fail unnoticed, each notifying the optional
//! `AlarmTopicArn`, and the metrics the functions write as CloudWatch
//! embedded metric format lines, read from the binaries' own logs.

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::organisation::{self, MANAGED};
use entra_sync_tests::stack::{CONTOSO, LocalStack};
use serde_json::{Value, json};

fn alarms(template: &Value) -> Vec<Value> {
    template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|r| r["Properties"].clone())
        .collect()
}

/// The alarm watching `metric` of the resource `Ref`'d or `GetAtt`'d as `target`.
fn watches(alarm: &Value, metric: &str, target: &str) -> bool {
    alarm["MetricName"] == metric
        && alarm["Dimensions"][0]["Value"]
            .to_string()
            .contains(&format!("\"{target}"))
}

#[test]
fn every_function_and_both_failure_queues_have_an_alarm_that_notifies_the_topic() {
    let template = entra_sync_tests::iam::template::translated_template().unwrap();
    let alarms = alarms(&template);
    let functions: Vec<String> = entra_sync_tests::iam::template::function_binaries()
        .unwrap()
        .into_iter()
        .map(|(logical_id, _)| logical_id)
        .collect();
    assert_eq!(functions.len(), 6, "{functions:?}");
    for function in &functions {
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarms.iter().any(|a| watches(a, metric, function)),
                "no {metric} alarm on {function}"
            );
        }
    }
    for queue in ["SyncDeadLetterQueue", "ExportFailedQueue"] {
        assert!(
            alarms
                .iter()
                .any(|a| watches(a, "ApproximateNumberOfMessagesVisible", queue)),
            "no alarm on {queue}"
        );
    }
    for alarm in &alarms {
        let actions = &alarm["AlarmActions"]["Fn::If"];
        assert_eq!(actions[0], "HasAlarmTopic", "{alarm}");
        assert_eq!(actions[1], json!([{"Ref": "AlarmTopicArn"}]), "{alarm}");
        assert_eq!(alarm["Threshold"], 0, "any failure is worth a look");
    }
}

/// The EMF lines of a function's logs.
fn metric_lines(logs: &[String]) -> Vec<Value> {
    logs.iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["_aws"]["CloudWatchMetrics"].is_array())
        .collect()
}

#[tokio::test]
async fn given_a_tick_then_the_worker_writes_a_metric_line_per_run_and_per_invocation() {
    let stack = LocalStack::start().await.unwrap();
    organisation::seed(&stack.emulator, CONTOSO, 3, 1);
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
    let report = stack.tick(&mut sync).await.unwrap();
    assert!(report.failed_message_ids.is_empty(), "{report:?}");
    let lines = metric_lines(&sync.worker.settled_logs().await);
    let run = lines
        .iter()
        .find(|l| l["Runs"] == 1.0)
        .unwrap_or_else(|| panic!("no run line in {lines:?}"));
    assert_eq!(run["Function"], "sync-worker");
    assert_eq!(run["Result"], "ok");
    assert_eq!(run["tenant_id"], "acme");
    assert!(run["ObjectsApplied"].as_f64().unwrap() >= 4.0, "{run}");
    assert_eq!(run["OpenProblems"], 0.0);
    let directive = &run["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "EntraSync");
    assert_eq!(directive["Dimensions"], json!([["Function", "Result"]]));
    assert!(
        run.get("NotificationToSyncLatency").is_none(),
        "a scheduled run has no notification to measure from"
    );
    assert!(
        lines.iter().any(|l| l["GraphThrottled"] == 0.0),
        "the invocation's throttling line: {lines:?}"
    );
}
