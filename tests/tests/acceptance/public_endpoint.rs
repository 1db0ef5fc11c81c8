//! `POST /entra/notifications` is public (docs/behaviour.md 2.11): the real
//! graph-notifications binary refuses what lacks the notification key
//! before any store read, refuses a body over 1 MiB before parsing it, and
//! spends on a delivery what its distinct well-formed subscription ids
//! cost, in time, store reads, log lines and memory, whatever its size.

use std::time::Duration;

use entra_sync::notifications::MAX_DELIVERY_BYTES;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::stack::LocalStack;
use serde_json::{Value, json};

use crate::notifications::{CLIENT_STATE, Notified, USERS_SUB, user_changed};

/// Lines graph-notifications printed while `during` ran.
async fn lines_printed<T>(
    notified: &mut Notified,
    during: impl AsyncFnOnce(&mut Notified) -> T,
) -> (T, Vec<String>) {
    let before = notified.function.settled_logs().await.len();
    let result = during(notified).await;
    let after = notified.function.settled_logs().await;
    (result, after[before..].to_vec())
}

#[tokio::test]
async fn given_requests_without_the_notification_key_then_403_and_nothing_is_read() {
    let mut notified = Notified::start().await;
    let genuine = json!({ "value": [user_changed(CLIENT_STATE)] }).to_string();
    let key = notified.key.clone();

    for query in [
        String::new(),
        "validationToken=Validation%3A+Testing".to_owned(),
        "key=a-guess-at-the-notification-key".to_owned(),
        format!("key={}", &key[..key.len() - 1]),
        format!("key={key}&key={key}"),
    ] {
        let answer = notified.post_raw(&query, &genuine).await;
        assert_eq!(answer.status, 403, "{query}: {answer:?}");
        assert!(!answer.body.contains("Validation"), "{answer:?}");
    }

    assert_eq!(notified.aws_requests(), 0, "nothing read or written");
    assert!(notified.queued_tenants().await.is_empty());
    // With the key, the same delivery wakes both tenants.
    let answer = notified.post("", &genuine).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(notified.queued_tenants().await, ["acme", "acme-eu"]);
    let logs = notified.function.settled_logs().await.join("\n");
    assert!(!logs.contains(&key), "the key is never logged");
    assert!(!logs.contains("a-guess-at-the-notification-key"), "{logs}");
}

#[tokio::test]
async fn given_notification_url_without_a_usable_key_then_graph_notifications_refuses_to_start_naming_it()
 {
    let stack = LocalStack::start().await.unwrap();
    for url in [
        None,
        Some("https://abcdef1234.execute-api.us-east-1.amazonaws.com/entra/notifications"),
        Some(
            "https://abcdef1234.execute-api.us-east-1.amazonaws.com/entra/notifications?key=tiny-key",
        ),
    ] {
        let mut env = stack.function_env();
        env.extend(url.map(|u| ("NOTIFICATION_URL".to_owned(), u.to_owned())));
        let mut function = LambdaFunction::start("graph-notifications", &env)
            .await
            .unwrap();

        let status = function
            .wait_for_exit(Duration::from_secs(20))
            .await
            .unwrap();

        assert!(!status.success(), "{url:?}");
        let logs = function.logs();
        assert_eq!(logs.len(), 1, "one clear line: {logs:?}");
        let line: Value = serde_json::from_str(&logs[0]).unwrap();
        assert!(logs[0].contains("NOTIFICATION_URL"), "{logs:?}");
        assert_eq!(line["level"], "ERROR", "{logs:?}");
        assert!(!logs[0].contains("tiny-key"), "{logs:?}");
    }
}

#[tokio::test]
async fn given_a_body_over_one_mebibyte_then_413_before_it_is_parsed() {
    let mut notified = Notified::start().await;
    let genuine = user_changed(CLIENT_STATE);
    let items = MAX_DELIVERY_BYTES / genuine.to_string().len() + 10;
    let body = json!({ "value": vec![genuine; items] }).to_string();
    assert!(body.len() > MAX_DELIVERY_BYTES);

    let (answer, lines) = lines_printed(&mut notified, async |n| n.post("", &body).await).await;

    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(notified.aws_requests(), 0);
    assert!(notified.queued_tenants().await.is_empty());
    assert_eq!(lines.len(), 1, "{lines:?}");
}

/// 50,000 items, none with a well-formed subscription id, under 1 MiB:
/// ids that are numbers, strings that are not GUIDs (one a letter off),
/// and items that are not objects at all.
fn garbage_delivery() -> String {
    let items: Vec<String> = (0..50_000)
        .map(|n| match n {
            n if n % 1000 == 2 => format!(
                r#"{{"subscriptionId":"{}","clientState":"{CLIENT_STATE}"}}"#,
                USERS_SUB.replace('a', "g")
            ),
            n if n % 100 == 1 => {
                format!(r#"{{"subscriptionId":"not-a-guid-{n}","clientState":"x"}}"#)
            }
            n if n % 10 == 0 => ["0", "\"x\"", "[]", "null", "{}"][n / 10 % 5].to_owned(),
            n => format!(r#"{{"subscriptionId":{}}}"#, n % 10),
        })
        .collect();
    format!(r#"{{"value":[{}]}}"#, items.join(","))
}

#[tokio::test]
async fn given_50000_items_with_garbage_ids_then_202_one_log_line_and_no_store_read() {
    let mut notified = Notified::start().await;
    let body = garbage_delivery();
    assert!(body.len() <= MAX_DELIVERY_BYTES, "{}", body.len());

    let (answer, lines) = lines_printed(&mut notified, async |n| n.post("", &body).await).await;

    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(notified.aws_requests(), 0, "no store read, no write");
    assert!(notified.queued_tenants().await.is_empty());
    assert_eq!(lines.len(), 1, "one summary line: {lines:?}");
    let summary: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(summary["message"], "delivery accepted", "{summary}");
    assert_eq!(summary["items"], 50_000, "{summary}");
    assert_eq!(summary["malformed"], 50_000, "{summary}");
    assert_eq!(summary["subscriptions_read"], 0, "{summary}");
}

#[tokio::test]
async fn given_a_one_mebibyte_body_of_tiny_items_then_the_function_stays_small() {
    let mut notified = Notified::start().await;
    // What any delivery costs: the first one's allocations.
    let answer = notified.deliver(vec![user_changed("a-guess")]).await;
    assert_eq!(answer.status, 202);
    let before = notified.function.peak_memory_kib().expect("VmHWM on Linux");
    let item = r#"{"subscriptionId":"1"}"#;
    let items = vec![item; (MAX_DELIVERY_BYTES - 16) / (item.len() + 1)];
    let body = format!(r#"{{"value":[{}]}}"#, items.join(","));
    assert!(body.len() <= MAX_DELIVERY_BYTES);

    let (answer, lines) = lines_printed(&mut notified, async |n| n.post("", &body).await).await;

    assert_eq!(answer.status, 202, "{answer:?}");
    let after = notified.function.peak_memory_kib().unwrap();
    println!(
        "peak RSS {before} KiB before, {after} KiB after a {} byte body of {} items",
        body.len(),
        items.len()
    );
    assert!(
        after - before < 16 * 1024,
        "peak RSS grew by {} KiB for a 1 MiB body",
        after - before
    );
    assert_eq!(lines.len(), 1, "one summary line: {} lines", lines.len());
}

#[tokio::test]
async fn given_a_delivery_naming_a_thousand_subscriptions_then_they_are_read_a_hundred_at_a_time() {
    let mut notified = Notified::start().await;
    let mut notifications = vec![user_changed(CLIENT_STATE)];
    notifications.extend((0..999).map(|n| {
        let mut forged = user_changed("a-guess");
        forged["subscriptionId"] = json!(format!("9a1b2c3d-0000-4000-9000-{n:012x}"));
        forged
    }));

    let answer = notified.deliver(notifications).await;

    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(notified.dynamodb_requests("GetItem"), 0);
    assert_eq!(
        notified.dynamodb_requests("BatchGetItem"),
        10,
        "1,000 distinct subscriptions, 100 a request"
    );
    // The genuine one still wakes its tenants.
    assert_eq!(notified.queued_tenants().await, vec!["acme", "acme-eu"]);
}
