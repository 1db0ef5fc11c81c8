//! What operators get (docs/behaviour.md 2.14): an alarm on every place a
//! message or a function can fail unnoticed, each notifying the optional
//! `AlarmTopicArn`. The metric lines are checked in `metric_lines.rs`.

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
    // At least the six of docs/contract.md 1.1; a function added later
    // needs its two alarms too.
    assert!(functions.len() >= 6, "{functions:?}");
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
    // Without a topic the alarms only change state: the parameter is optional.
    assert_eq!(template["Parameters"]["AlarmTopicArn"]["Default"], "");
    assert_eq!(
        template["Conditions"]["HasAlarmTopic"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]})
    );
    for alarm in &alarms {
        let actions = &alarm["AlarmActions"]["Fn::If"];
        assert_eq!(actions[0], "HasAlarmTopic", "{alarm}");
        assert_eq!(actions[1], json!([{"Ref": "AlarmTopicArn"}]), "{alarm}");
        assert_eq!(alarm["Threshold"], 0, "any failure is worth a look");
    }
}
