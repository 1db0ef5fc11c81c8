//! The DynamoDB attempt ledger of verify-password on moto: each reservation
//! is one conditional write, so the limit holds however many reservations
//! arrive at once (docs/behaviour.md 2.11).

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use entra_sync::password::{AttemptAccount, AttemptLedger, Reservation, ThrottlePolicy};
use entra_sync::ports::StoreError;
use entra_sync::store::password_attempts::DynamoAttemptLedger;
use entra_sync_tests::local_aws::LocalAws;
use serde_json::{Value, json};

use crate::aws_proxy;

/// The Entra tenant the attempts are against.
const ENTRA_TENANT: &str = "3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13";
const ANN: &str = "ann@contoso.com";
const WINDOW: StdDuration = StdDuration::from_secs(15 * 60);

fn policy(max_failures: u32) -> ThrottlePolicy {
    ThrottlePolicy {
        max_failures,
        window: WINDOW,
    }
}

fn account(user: &str) -> AttemptAccount {
    AttemptAccount::new(ENTRA_TENANT, user)
}

fn window() -> Duration {
    Duration::from_std(WINDOW).unwrap()
}

struct Ledger {
    aws: LocalAws,
    table: String,
    ledger: DynamoAttemptLedger,
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
        }
    }

    async fn reserve(&self, user: &str, limit: u32, now: DateTime<Utc>) -> Reservation {
        self.ledger
            .reserve(&account(user), policy(limit), now)
            .await
            .unwrap()
    }

    async fn release(&self, user: &str, window_until: DateTime<Utc>) {
        self.ledger
            .release(&account(user), window_until)
            .await
            .unwrap();
    }

    async fn item(&self, user: &str) -> Option<HashMap<String, Value>> {
        let item = self
            .aws
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(format!("PWFAIL#{ENTRA_TENANT}#{user}")),
            )
            .key("sk", AttributeValue::S("ENTRA#PWFAIL".into()))
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
    assert_eq!(item["window_until"], json!(until.timestamp()));
    // The item outlives its window by one window, to be carried.
    assert_eq!(
        item["expires_at_epoch"],
        json!((until + window()).timestamp())
    );
    // Another user's attempts are their own.
    assert_eq!(l.reserve("ben@contoso.com", 3, t0).await, admitted(until));
}

#[tokio::test]
async fn given_a_window_that_has_ended_then_the_next_carries_its_attempts_until_they_are_a_window_old()
 {
    let l = Ledger::start().await;
    let t0 = Utc::now().trunc_subsecs(0) - Duration::hours(2);
    for _ in 0..3 {
        l.reserve(ANN, 5, t0).await;
    }
    // The window's last instant counts as ended: the new window carries 3.
    let t1 = t0 + window();
    let until = t1 + window();
    for _ in 0..2 {
        assert_eq!(l.reserve(ANN, 5, t1).await, admitted(until));
    }
    assert_eq!(
        l.reserve(ANN, 5, t1 + Duration::seconds(1)).await,
        Reservation::Refused { until }
    );
    let item = l.item(ANN).await.unwrap();
    assert_eq!(
        (
            &item["attempts"],
            &item["previous_attempts"],
            &item["counted"]
        ),
        (&json!(2), &json!(3), &json!(5))
    );
    assert_eq!(item["window_until"], json!(until.timestamp()));
    // The next window carries the 2; then, two windows on, nothing.
    for _ in 0..3 {
        assert!(matches!(
            l.reserve(ANN, 5, until).await,
            Reservation::Admitted { .. }
        ));
    }
    assert!(matches!(
        l.reserve(ANN, 5, until).await,
        Reservation::Refused { .. }
    ));
    let much_later = until + window() * 2;
    for _ in 0..5 {
        assert_eq!(
            l.reserve(ANN, 5, much_later).await,
            admitted(much_later + window())
        );
    }
}

#[tokio::test]
async fn given_a_full_window_that_has_ended_then_its_carried_attempts_refuse_until_they_are_a_window_old()
 {
    let l = Ledger::start().await;
    let t0 = Utc::now().trunc_subsecs(0) - Duration::hours(2);
    for _ in 0..5 {
        l.reserve(ANN, 5, t0).await;
    }
    // Five more just after the end would be ten within seconds.
    let forgotten = t0 + window() * 2;
    for now in [t0 + window(), forgotten - Duration::seconds(1)] {
        assert_eq!(
            l.reserve(ANN, 5, now).await,
            Reservation::Refused { until: forgotten }
        );
    }
    assert_eq!(
        l.item(ANN).await.unwrap()["attempts"],
        json!(5),
        "a refusal writes nothing"
    );
    assert_eq!(
        l.reserve(ANN, 5, forgotten).await,
        admitted(forgotten + window())
    );
    assert_eq!(l.item(ANN).await.unwrap()["previous_attempts"], json!(0));
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
    // An open window, then one opened a whole window after the first
    // ended (nothing carried), where every reservation races to open it.
    for now in [t0, t0 + window() * 2] {
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
        .reserve(&account(ANN), policy(5), Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}
