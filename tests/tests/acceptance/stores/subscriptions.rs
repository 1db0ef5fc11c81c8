//! `DynamoSubscriptionStore`'s lock on changing an Entra tenant's
//! subscriptions: `pk = ENTRA_TENANT#<id>`, `sk = ENTRA#SUBSCRIPTIONS#LOCK`,
//! `holder` and `until_ms` (docs/contract.md 1.3), held once.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use entra_sync::realtime::KeptSubscriptions;
use entra_sync::store::subscriptions::DynamoSubscriptionStore;

use super::{Fresh, Item};

const ENTRA_TENANT: &str = "3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13";

async fn lock_item(fresh: &Fresh) -> Option<Item> {
    fresh
        .aws
        .dynamodb
        .get_item()
        .table_name(&fresh.tables.integrations)
        .key(
            "pk",
            AttributeValue::S(format!("ENTRA_TENANT#{ENTRA_TENANT}")),
        )
        .key("sk", AttributeValue::S("ENTRA#SUBSCRIPTIONS#LOCK".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn given_the_subscription_lock_then_it_is_taken_once_until_it_expires_and_only_its_holder_removes_it()
 {
    let fresh = Fresh::tables().await;
    let store = DynamoSubscriptionStore::new(
        fresh.aws.dynamodb.clone(),
        fresh.tables.integrations.clone(),
    );
    let until = Utc::now() + Duration::minutes(2);

    assert!(store.lock(ENTRA_TENANT, "run-1", until).await.unwrap());
    assert!(!store.lock(ENTRA_TENANT, "run-2", until).await.unwrap());
    // Held once: not even its holder takes it again.
    assert!(!store.lock(ENTRA_TENANT, "run-1", until).await.unwrap());
    let item = lock_item(&fresh).await.unwrap();
    let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["holder", "pk", "sk", "until_ms"]);
    assert_eq!(item["holder"].as_s().unwrap(), "run-1");
    assert_eq!(
        item["until_ms"].as_n().unwrap(),
        &until.timestamp_millis().to_string()
    );

    store.unlock(ENTRA_TENANT, "run-2").await.unwrap();
    assert!(
        lock_item(&fresh).await.is_some(),
        "another's unlock removed it"
    );
    store.unlock(ENTRA_TENANT, "run-1").await.unwrap();
    assert!(lock_item(&fresh).await.is_none());

    let expired = Utc::now() - Duration::seconds(1);
    assert!(store.lock(ENTRA_TENANT, "run-3", expired).await.unwrap());
    assert!(store.lock(ENTRA_TENANT, "run-4", until).await.unwrap());
    let item = lock_item(&fresh).await.unwrap();
    assert_eq!(item["holder"].as_s().unwrap(), "run-4");
}
