//! A `reauthorizationRequired` is never dropped (docs/behaviour.md 2.7, 2.11
//! "Subscriptions keep their promise"): one Graph sends right after a
//! renewal is kept pending and answered by the first run after the
//! 10-minute gap, and notifications, paused meanwhile, flow again.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_USER, LocalStack};

use crate::realtime::{
    deliver_until, deliver_when_queued, job_titles, realtime_stack, subscription_record,
};

/// PATCH requests (renewals) Graph received for the subscription.
fn renewals_of(stack: &LocalStack, subscription_id: &str) -> usize {
    let path = format!("/v1.0/subscriptions/{subscription_id}");
    stack
        .emulator
        .graph_requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .count()
}

/// The record says the subscription was last renewed `ago`.
async fn renewed_ago(stack: &LocalStack, subscription_id: &str, ago: chrono::Duration) {
    let at = (chrono::Utc::now() - ago).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&stack.tables.integrations)
        .key(
            "pk",
            AttributeValue::S(format!("SUBSCRIPTION#{subscription_id}")),
        )
        .key("sk", AttributeValue::S("ENTRA#SUBSCRIPTION".into()))
        .update_expression("SET renewed_at = :at")
        .expression_attribute_values(":at", AttributeValue::S(at))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn given_a_reauthorization_request_right_after_a_renewal_then_the_worker_answers_it_after_the_gap()
 {
    let (stack, mut functions, _gateway) = realtime_stack().await;
    stack.tick(&mut functions).await.unwrap();
    let users = stack
        .emulator
        .subscriptions()
        .into_iter()
        .find(|s| s.resource == "users")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stack.deliver(&mut functions.worker).await.unwrap();

    // Graph asks moments after the creation; its notifications pause.
    stack
        .emulator
        .send_lifecycle_event(&users.id, "reauthorizationRequired")
        .await
        .unwrap();
    deliver_when_queued(&stack, &mut functions).await;
    assert_eq!(renewals_of(&stack, &users.id), 0, "not within ten minutes");
    assert_eq!(
        subscription_record(&stack, &users.id).await["lifecycle_event"],
        "reauthorizationRequired",
        "kept pending, not dropped"
    );

    // The creation is now eleven minutes past: the next run answers it.
    renewed_ago(&stack, &users.id, chrono::Duration::minutes(11)).await;
    stack.tick(&mut functions).await.unwrap();

    assert_eq!(renewals_of(&stack, &users.id), 1, "one PATCH");
    assert_eq!(
        subscription_record(&stack, &users.id)
            .await
            .get("lifecycle_event"),
        None
    );
    let renewed = stack
        .emulator
        .subscriptions()
        .into_iter()
        .find(|s| s.id == users.id)
        .unwrap();
    assert!(!renewed.reauthorization_required);
    // Notifications flow again: a change arrives without a tick.
    let megan = stack
        .emulator
        .with_tenant(CONTOSO, |t| {
            t.user_by_upn(CONTOSO_USER).map(|u| u.id.clone())
        })
        .unwrap();
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&megan, |u| u.job_title = Some("Reauthorized".into()))
    });
    deliver_until(&stack, &mut functions, async |stack| {
        job_titles(stack)
            .await
            .get(&megan)
            .is_some_and(|t| t == "Reauthorized")
    })
    .await;
    // Answered: later runs make no further call.
    stack.tick(&mut functions).await.unwrap();
    assert_eq!(renewals_of(&stack, &users.id), 1);
}
