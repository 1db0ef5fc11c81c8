//! The DynamoDB attempt ledger of verify-password on moto: each reservation
//! is one conditional write, so the limit holds however many reservations
//! arrive at once (DESIGN.md 2.11).

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use entra_sync::model::TenantId;
use entra_sync::password::{AttemptLedger, Reservation, ThrottlePolicy};
use entra_sync::ports::StoreError;
use entra_sync::store::password_attempts::DynamoAttemptLedger;
use entra_sync_tests::local_aws::LocalAws;
use serde_json::{Value, json};

use crate::aws_proxy;

const TENANT: &str = "acme";
const ANN: &str = "ann@contoso.com";
const WINDOW: StdDuration = StdDuration::from_secs(15 * 60);

fn policy(max_failures: u32) -> ThrottlePolicy {
    ThrottlePolicy {
        max_failures,
        window: WINDOW,
    }
}

fn window() -> Duration {
    Duration::from_std(WINDOW).unwrap()
}

struct Ledger {
    aws: LocalAws,
    table: String,
    ledger: DynamoAttemptLedger,
    tenant: TenantId,
}

impl Ledger {
    async fn start() -> Self {
        let aws = LocalAws::from_env().await.unwrap();
        let prefix = format!("pw{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let tables = aws.create_tables(&prefix).await.unwrap();
        Self {
            ledger: DynamoAttemptLedger::new(aws.dynamodb.clone(), tables.integrations.clone()),
            aws,
            table: tables.integrations,
            tenant: TenantId::parse(TENANT).unwrap(),
        }
    }

    async fn reserve(&self, user: &str, limit: u32, now: DateTime<Utc>) -> Reservation {
        self.ledger
            .reserve(&self.tenant, user, policy(limit), now)
            .await
            .unwrap()
    }

    async fn release(&self, user: &str, window_until: DateTime<Utc>) {
        self.ledger
            .release(&self.tenant, user, window_until)
            .await
            .unwrap();
    }

    async fn item(&self, user: &str) -> Option<HashMap<String, Value>> {
        let item = self
            .aws
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
            .key("sk", AttributeValue::S(format!("ENTRA#PWFAIL#{user}")))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        Some(serde_dynamo::from_item(item).unwrap())
    }
}

fn admitted(window_until: DateTime<Utc>) -> Reservation {
    Reservation::Admitted { window_until }
}

#[tokio::test]
async fn given_attempts_within_the_window_then_the_limit_is_admitted_and_the_next_refused() {
    let l = Ledger::start().await;
    let t0 = Utc::now().trunc_subsecs(0);
    let until = t0 + window();
    for minutes in [0, 5, 14] {
        let reserved = l.reserve(ANN, 3, t0 + Duration::minutes(minutes)).await;
        // The window does not slide: it ends where the first attempt put it.
        assert_eq!(reserved, admitted(until));
    }
    assert_eq!(
        l.reserve(ANN, 3, t0 + Duration::minutes(14)).await,
        Reservation::Refused { until }
    );
    let item = l.item(ANN).await.unwrap();
    assert_eq!(item["attempts"], json!(3), "a refusal writes nothing");
    assert_eq!(item["expires_at_epoch"], json!(until.timestamp()));
    // Another user's attempts are their own.
    assert_eq!(l.reserve("ben@contoso.com", 3, t0).await, admitted(until));
}

#[tokio::test]
async fn given_a_window_that_has_ended_then_a_new_one_starts_with_this_attempt() {
    let l = Ledger::start().await;
    let t0 = Utc::now().trunc_subsecs(0) - Duration::hours(1);
    for _ in 0..3 {
        l.reserve(ANN, 3, t0).await;
    }
    assert!(matches!(
        l.reserve(ANN, 3, t0).await,
        Reservation::Refused { .. }
    ));
    // The window's last instant counts as ended.
    let t1 = t0 + window();
    assert_eq!(l.reserve(ANN, 3, t1).await, admitted(t1 + window()));
    assert_eq!(l.item(ANN).await.unwrap()["attempts"], json!(1));
    assert_eq!(
        l.reserve(ANN, 3, t1 + Duration::seconds(1)).await,
        admitted(t1 + window())
    );
}

#[tokio::test]
async fn given_released_attempts_then_their_places_are_free_again_in_their_own_window_only() {
    let l = Ledger::start().await;
    let t0 = Utc::now().trunc_subsecs(0);
    let until = t0 + window();
    l.reserve(ANN, 2, t0).await;
    l.reserve(ANN, 2, t0).await;
    l.release(ANN, until).await;
    assert_eq!(l.reserve(ANN, 2, t0).await, admitted(until));
    // A release for another window, or for nobody, changes nothing.
    l.release(ANN, until - Duration::hours(1)).await;
    assert_eq!(l.item(ANN).await.unwrap()["attempts"], json!(2));
    l.release("nobody@contoso.com", until).await;
    assert!(l.item("nobody@contoso.com").await.is_none());
    // Never below zero.
    for _ in 0..3 {
        l.release(ANN, until).await;
    }
    assert_eq!(l.item(ANN).await.unwrap()["attempts"], json!(0));
}

#[tokio::test]
async fn given_thirty_reservations_at_once_then_exactly_the_limit_is_admitted_in_an_open_or_ended_window()
 {
    let mut l = Ledger::start().await;
    // DynamoDB applies one item's writes one at a time; moto needs help.
    let serial = aws_proxy::start(&l.aws.endpoint, None).await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        l.aws
            .dynamodb
            .config()
            .to_builder()
            .endpoint_url(serial)
            .build(),
    );
    l.ledger = DynamoAttemptLedger::new(client, l.table.clone());
    let t0 = Utc::now().trunc_subsecs(0) - Duration::hours(1);
    for now in [t0, t0 + window()] {
        let answers = futures::future::join_all((0..30).map(|_| l.reserve(ANN, 5, now))).await;
        let admitted = answers
            .iter()
            .filter(|r| matches!(r, Reservation::Admitted { .. }))
            .count();
        assert_eq!(admitted, 5, "at {now}: {answers:?}");
        assert_eq!(l.item(ANN).await.unwrap()["attempts"], json!(5));
    }
}

#[tokio::test]
async fn given_a_missing_table_then_reserving_fails_as_an_error_not_as_a_refusal() {
    let l = Ledger::start().await;
    let missing = DynamoAttemptLedger::new(l.aws.dynamodb.clone(), format!("{}-gone", l.table));
    let err = missing
        .reserve(&l.tenant, ANN, policy(5), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}
