use std::sync::Mutex;

use super::*;

fn record(n: u32) -> Value {
    json!({"dynamodb": {"SequenceNumber": format!("{n:03}"), "Keys": {"sk": {"S": "USER#u"}}}})
}

/// An export that fails what it is told to, and remembers each batch.
#[derive(Default)]
struct ScriptedExport {
    /// Fails (reports) this sequence number, this many times.
    reports: Mutex<Vec<(String, usize)>>,
    /// A function error for batches holding this record, always.
    crashes_on: Option<String>,
    batches: Mutex<Vec<Vec<String>>>,
}

impl Invoke for ScriptedExport {
    async fn invoke(&self, event: Value, _: Duration) -> anyhow::Result<InvocationResult> {
        let sequences: Vec<String> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned())
            .collect();
        self.batches.lock().unwrap().push(sequences.clone());
        if self
            .crashes_on
            .as_ref()
            .is_some_and(|c| sequences.contains(c))
        {
            return Ok(Err(json!({"errorMessage": "boom"})));
        }
        let mut reports = self.reports.lock().unwrap();
        for (sequence, left) in reports.iter_mut() {
            if *left > 0 && sequences.contains(sequence) {
                *left -= 1;
                return Ok(Ok(
                    json!({"batchItemFailures": [{"itemIdentifier": sequence}]}),
                ));
            }
        }
        Ok(Ok(json!({"batchItemFailures": []})))
    }
}

#[derive(Default)]
struct Collected(Mutex<Vec<Value>>);

impl FailureDestination for Collected {
    async fn send(&self, body: String) -> anyhow::Result<()> {
        self.0.lock().unwrap().push(serde_json::from_str(&body)?);
        Ok(())
    }
}

fn delivery(export: ScriptedExport) -> StreamDelivery<ScriptedExport, Collected> {
    StreamDelivery {
        export,
        failures: Collected::default(),
        stream_arn: "arn:stream".into(),
        retry_delay: Duration::ZERO,
        activity: Activity::default(),
    }
}

#[tokio::test]
async fn a_reported_failure_is_retried_from_that_record_on() {
    let export = ScriptedExport {
        reports: Mutex::new(vec![("002".into(), 2)]),
        ..ScriptedExport::default()
    };
    let delivery = delivery(export);
    delivery.deliver((1..=4).map(record).collect()).await;
    let batches = delivery.export.batches.lock().unwrap().clone();
    assert_eq!(batches[0], ["001", "002", "003", "004"]);
    assert_eq!(
        batches[1],
        ["002", "003", "004"],
        "in order, from the failure"
    );
    assert_eq!(batches.len(), 3);
    assert!(delivery.failures.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_function_error_bisects_until_the_bad_record_goes_to_the_on_failure_queue() {
    let export = ScriptedExport {
        crashes_on: Some("003".into()),
        ..ScriptedExport::default()
    };
    let delivery = delivery(export);
    delivery.deliver((1..=4).map(record).collect()).await;
    let batches = delivery.export.batches.lock().unwrap().clone();
    assert_eq!(batches[1], ["001", "002"], "the first half");
    assert!(
        batches.iter().any(|b| b == &["004"]),
        "the rest still goes out: {batches:?}"
    );
    let given_up = delivery.failures.0.lock().unwrap().clone();
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    let info = &given_up[0]["DDBStreamBatchInfo"];
    assert_eq!(info["startSequenceNumber"], "003");
    assert_eq!(info["batchSize"], 1);
    let tries = batches.iter().filter(|b| b == &&["003"]).count();
    assert!(tries <= EXPORT_RETRIES + 1, "bounded: {tries}");
}

#[test]
fn a_failure_report_that_names_no_record_of_the_batch_fails_all_of_it() {
    let records: Vec<Value> = (1..=2).map(record).collect();
    assert_eq!(
        first_failure(&json!({"batchItemFailures": []}), &records),
        None
    );
    assert_eq!(first_failure(&json!({}), &records), None);
    let empty_id = json!({"batchItemFailures": [{"itemIdentifier": ""}]});
    assert_eq!(first_failure(&empty_id, &records), Some(0));
    let ids = ["m1".to_owned(), "m2".to_owned()];
    let unknown = json!({"batchItemFailures": [{"itemIdentifier": "m9"}]});
    assert_eq!(failed_messages(&unknown, &ids), ids);
    let one = json!({"batchItemFailures": [{"itemIdentifier": "m2"}]});
    assert_eq!(failed_messages(&one, &ids), ["m2"]);
}
