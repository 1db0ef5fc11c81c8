//! The live stack's SQS mapping of `sync-worker` against moto's real SQS:
//! what the worker fails comes back after the visibility timeout with its
//! receive count, and goes to the dead-letter queue after `maxReceiveCount`
//! receives; what it handled is deleted. Each record carries its message's
//! attributes and `SentTimestamp`, as Lambda's mapping passes them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use entra_sync_tests::lambda_runtime_api::InvocationResult;
use entra_sync_tests::live::activity::Activity;
use entra_sync_tests::live::pumps::{Invoke, QueueMapping};
use entra_sync_tests::local_aws::LocalAws;
use serde_json::{Value, json};

/// A worker that fails every "poison" job and remembers what it was given.
#[derive(Default)]
struct PickyWorker {
    /// (body, ApproximateReceiveCount) of each record seen.
    seen: Mutex<Vec<(String, String)>>,
}

impl Invoke for PickyWorker {
    async fn invoke(&self, event: Value, _: Duration) -> anyhow::Result<InvocationResult> {
        let mut failures = Vec::new();
        for record in event["Records"].as_array().into_iter().flatten() {
            let body = record["body"].as_str().unwrap_or("").to_owned();
            let count = record["attributes"]["ApproximateReceiveCount"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if body.contains("poison") {
                failures.push(json!({"itemIdentifier": record["messageId"]}));
            }
            self.seen.lock().unwrap().push((body, count));
        }
        Ok(Ok(json!({ "batchItemFailures": failures })))
    }
}

async fn queue(aws: &LocalAws, name: &str, attributes: &[(&str, String)]) -> (String, String) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let mut create = aws.sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        create = create.attributes(A::from(*k), v.clone());
    }
    let url = create.send().await.unwrap().queue_url.unwrap();
    let arn = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(A::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&A::QueueArn)
        .unwrap();
    (url, arn)
}

async fn bodies(aws: &LocalAws, url: &str) -> Vec<String> {
    let output = aws
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    output
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect()
}

#[tokio::test]
async fn given_a_job_the_worker_keeps_failing_then_it_returns_with_its_count_and_ends_in_the_dead_letter_queue()
 {
    let aws = LocalAws::from_env().await.unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (dead_url, dead_arn) = queue(&aws, &format!("dlq-{run}"), &[]).await;
    let redrive = json!({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2}).to_string();
    let attributes = [
        ("VisibilityTimeout", "1".to_owned()),
        ("RedrivePolicy", redrive),
    ];
    let (url, arn) = queue(&aws, &format!("jobs-{run}"), &attributes).await;
    for body in [r#"{"tenant_id":"good"}"#, r#"{"tenant_id":"poison"}"#] {
        aws.sqs
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let mapping = QueueMapping {
        aws: aws.clone(),
        queue_url: url.clone(),
        queue_arn: arn,
        worker: PickyWorker::default(),
        activity: Activity::default(),
    };
    let started = Instant::now();
    let dead = loop {
        mapping.poll_once().await.unwrap();
        let dead = bodies(&aws, &dead_url).await;
        if !dead.is_empty() || started.elapsed() > Duration::from_secs(20) {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    };
    assert_eq!(
        dead,
        [r#"{"tenant_id":"poison"}"#],
        "redriven after 2 receives"
    );
    let seen = mapping.worker.seen.lock().unwrap().clone();
    let good: Vec<_> = seen.iter().filter(|(b, _)| b.contains("good")).collect();
    assert_eq!(good.len(), 1, "handled once, then deleted: {seen:?}");
    let poison: Vec<&str> = seen
        .iter()
        .filter(|(b, _)| b.contains("poison"))
        .map(|(_, count)| count.as_str())
        .collect();
    assert_eq!(poison, ["1", "2"], "each delivery with its receive count");
    assert!(
        bodies(&aws, &url).await.is_empty(),
        "nothing left on the queue"
    );
}

/// A worker that handles every job and keeps the records it was given.
#[derive(Default)]
struct RecordingWorker {
    records: Mutex<Vec<Value>>,
}

impl Invoke for RecordingWorker {
    async fn invoke(&self, event: Value, _: Duration) -> anyhow::Result<InvocationResult> {
        let records = event["Records"].as_array().cloned().unwrap_or_default();
        self.records.lock().unwrap().extend(records);
        Ok(Ok(json!({ "batchItemFailures": [] })))
    }
}

#[tokio::test]
async fn given_a_job_graph_notifications_queued_then_the_worker_gets_its_trigger_and_sent_time() {
    let aws = LocalAws::from_env().await.unwrap();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (url, arn) = queue(&aws, &format!("jobs-{run}"), &[]).await;
    let trigger = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value("notification")
        .build()
        .unwrap();
    let sent_before = chrono::Utc::now().timestamp_millis();
    aws.sqs
        .send_message()
        .queue_url(&url)
        .message_body(r#"{"tenant_id":"acme"}"#)
        .message_attributes("trigger", trigger)
        .send()
        .await
        .unwrap();
    let sent_after = chrono::Utc::now().timestamp_millis();
    // Received well after it was sent: the record must say when it was sent.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mapping = QueueMapping {
        aws: aws.clone(),
        queue_url: url.clone(),
        queue_arn: arn,
        worker: RecordingWorker::default(),
        activity: Activity::default(),
    };
    assert_eq!(mapping.poll_once().await.unwrap(), 1);

    let records = mapping.worker.records.lock().unwrap().clone();
    let record = &records[0];
    assert_eq!(
        record["messageAttributes"]["trigger"]["stringValue"], "notification",
        "{record}"
    );
    let sent: i64 = record["attributes"]["SentTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (sent_before - 1_000..=sent_after + 1_000).contains(&sent),
        "{sent} not within [{sent_before}, {sent_after}]"
    );
}
