use std::sync::Mutex;

use chrono::{DateTime, Utc};
use entra_sync::model::TenantId;
use entra_sync::notifications::{LifecycleEvent, SubscriptionRecord, SyncRequest};
use lambda_http::http;

use super::*;

const KEY: &str = "mK4vQ9zT2xB7nR1cW8pL3fH6sJ0dG5yA";
const SUBSCRIPTION: &str = "7f1c0e44-0000-4000-8000-000000000001";

/// Subscription records that count their reads and answer as told.
#[derive(Default)]
struct Records {
    reads: Mutex<usize>,
    refuse: bool,
}

impl Records {
    async fn subscription(&self, _: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        *self.reads.lock().unwrap() += 1;
        if self.refuse {
            return Err(StoreError::Refused {
                operation: "reading a subscription",
                detail: "ValidationException: One or more parameter values were invalid".into(),
            });
        }
        Ok(None)
    }
}

impl SubscriptionRecords for Records {
    async fn subscriptions(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, SubscriptionRecord>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for id in ids {
            if let Some(record) = self.subscription(id).await? {
                found.insert(id.clone(), record);
            }
        }
        Ok(found)
    }
    async fn record_lifecycle_event(
        &self,
        _: &str,
        _: LifecycleEvent,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

struct Requests;

impl SyncRequests for Requests {
    async fn request_sync(
        &self,
        _: &TenantId,
        _: DateTime<Utc>,
    ) -> Result<SyncRequest, StoreError> {
        Ok(SyncRequest::Queued)
    }
}

fn route(refuse: bool) -> NotificationRoute<Records, Requests> {
    let url = url::Url::parse(&format!(
        "https://api.example.com/entra/notifications?key={KEY}"
    ))
    .unwrap();
    NotificationRoute {
        intake: NotificationIntake {
            records: Records {
                refuse,
                ..Records::default()
            },
            requests: Requests,
        },
        key: NotificationKey::from_url(&url).unwrap(),
    }
}

fn post(query: &str, body: Vec<u8>) -> Request {
    http::Request::builder()
        .method("POST")
        .uri(format!(
            "https://api.example.com/entra/notifications?{query}"
        ))
        .body(Body::from(body))
        .unwrap()
}

fn one_notification() -> Vec<u8> {
    format!(r#"{{"value":[{{"subscriptionId":"{SUBSCRIPTION}","clientState":"guess"}}]}}"#)
        .into_bytes()
}

fn reads(route: &NotificationRoute<Records, Requests>) -> usize {
    *route.intake.records.reads.lock().unwrap()
}

#[tokio::test]
async fn given_no_key_or_a_wrong_one_then_403_and_nothing_is_read() {
    let route = route(false);
    for query in [
        String::new(),
        "validationToken=abc".to_owned(),
        format!("key={}", &KEY[..20]),
        format!("key={KEY}x&validationToken=abc"),
    ] {
        let answer = route
            .handle(post(&query, one_notification()))
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{query}");
        assert!(!String::from_utf8_lossy(answer.body().as_ref()).contains("abc"));
    }
    assert_eq!(reads(&route), 0);

    let answer = route
        .handle(post(
            &format!("key={KEY}&validationToken=Validation%3A+ok"),
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.body().as_ref(), b"Validation: ok");
    let answer = route
        .handle(post(&format!("key={KEY}"), one_notification()))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    assert_eq!(reads(&route), 1);
}

#[tokio::test]
async fn given_a_body_over_one_mebibyte_then_413_before_it_is_read() {
    let route = route(false);
    let mut body = one_notification();
    body.resize(MAX_DELIVERY_BYTES + 1, b' ');

    let answer = route
        .handle(post(&format!("key={KEY}"), body))
        .await
        .unwrap();

    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reads(&route), 0);
    let mut at_limit = one_notification();
    at_limit.resize(MAX_DELIVERY_BYTES, b' ');
    let answer = route
        .handle(post(&format!("key={KEY}"), at_limit))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn given_an_input_the_store_refuses_as_a_key_then_400_not_503() {
    let route = route(true);

    let answer = route
        .handle(post(&format!("key={KEY}"), one_notification()))
        .await
        .unwrap();

    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let text = String::from_utf8_lossy(answer.body().as_ref()).into_owned();
    assert!(!text.contains("ValidationException"), "{text}");
}

#[test]
fn the_validation_token_is_decoded_as_a_form_value() {
    assert_eq!(
        validation_token("validationToken=Validation%3a+Testing%2B1%26x").as_deref(),
        Some("Validation: Testing+1&x")
    );
    assert_eq!(validation_token("tenant=acme&other=1"), None);
    assert_eq!(validation_token(""), None);
}
