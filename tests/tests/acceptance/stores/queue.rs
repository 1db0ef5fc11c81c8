//! `SqsSyncQueue`: the scheduler's jobs in batches of ten, one per tenant.

use std::sync::{Arc, Mutex};

use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use entra_sync::model::TenantId;
use entra_sync::ports::StoreError;
use entra_sync::schedule::{SyncQueue, parse_job};
use entra_sync::store::queue::SqsSyncQueue;
use entra_sync_tests::local_aws::LocalAws;
use serde_json::{Value, json};

const TENANT: &str = "acme";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// The SendMessageBatch requests a client made, by their entry count.
#[derive(Debug, Clone, Default)]
struct BatchSizes(Arc<Mutex<Vec<usize>>>);

impl aws_sdk_sqs::config::Intercept for BatchSizes {
    fn name(&self) -> &'static str {
        "BatchSizes"
    }

    fn read_before_execution(
        &self,
        context: &aws_sdk_sqs::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_sqs::config::ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        if let Some(batch) = context.input().downcast_ref::<SendMessageBatchInput>() {
            self.0.lock().unwrap().push(batch.entries().len());
        }
        Ok(())
    }
}

async fn queue(aws: &LocalAws) -> String {
    aws.sqs
        .create_queue()
        .queue_name(unique("q"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

/// Every message on the queue, received until it answers with none.
async fn drain(aws: &LocalAws, queue_url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut empty_answers = 0;
    while empty_answers < 2 {
        let messages = aws
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            empty_answers += 1;
        }
        bodies.extend(messages.into_iter().filter_map(|m| m.body));
    }
    bodies
}

#[tokio::test]
async fn given_23_tenants_when_enqueued_then_three_batches_carry_one_job_each() {
    let aws = LocalAws::from_env().await.unwrap();
    let queue_url = queue(&aws).await;
    let sizes = BatchSizes::default();
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&aws.sdk)
            .interceptor(sizes.clone())
            .build(),
    );
    let tenants: Vec<TenantId> = (1..=23)
        .map(|n| TenantId::parse(&format!("tenant-{n:02}")).unwrap())
        .collect();

    let failed = SqsSyncQueue::new(client, queue_url.clone())
        .enqueue(&tenants)
        .await
        .unwrap();

    assert!(failed.is_empty(), "{failed:?}");
    let mut batches = sizes.0.lock().unwrap().clone();
    batches.sort_unstable();
    assert_eq!(batches, [3, 10, 10]);
    let bodies = drain(&aws, &queue_url).await;
    assert_eq!(bodies.len(), 23, "{bodies:?}");
    let mut received: Vec<TenantId> = bodies.iter().map(|b| parse_job(b).unwrap()).collect();
    received.sort();
    assert_eq!(received, tenants);
    for body in &bodies {
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            json!({"tenant_id": parse_job(body).unwrap().as_str()})
        );
    }
}

#[tokio::test]
async fn given_no_tenants_when_enqueued_then_nothing_is_sent() {
    let aws = LocalAws::from_env().await.unwrap();
    let queue_url = queue(&aws).await;
    let sizes = BatchSizes::default();
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&aws.sdk)
            .interceptor(sizes.clone())
            .build(),
    );

    let failed = SqsSyncQueue::new(client, queue_url.clone())
        .enqueue(&[])
        .await
        .unwrap();

    assert!(failed.is_empty());
    assert!(sizes.0.lock().unwrap().is_empty());
    assert!(drain(&aws, &queue_url).await.is_empty());
}

#[tokio::test]
async fn given_a_queue_that_does_not_exist_when_enqueued_then_it_is_an_error() {
    let aws = LocalAws::from_env().await.unwrap();
    let queue_url = format!("{}/123456789012/{}", aws.endpoint, unique("missing"));
    let tenants = [TenantId::parse(TENANT).unwrap()];

    let err = SqsSyncQueue::new(aws.sqs.clone(), queue_url)
        .enqueue(&tenants)
        .await
        .unwrap_err();

    match &err {
        StoreError::Unavailable { operation, detail } => {
            assert_eq!(*operation, "enqueueing sync jobs");
            assert!(
                detail.contains("NonExistentQueue") || detail.contains("QueueDoesNotExist"),
                "{detail}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
