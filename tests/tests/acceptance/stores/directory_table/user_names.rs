//! sync-object's platform user given by its user name: found through the
//! `by-user-name` index, in one Query when the name is given as stored,
//! and case-insensitively all the same (DESIGN 2.2).

use entra_sync::on_demand::{AmUsers, ExportLookups};
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync_tests::aws_meter::{self, AwsMeter};
use serde_json::json;

use crate::stores::Fresh;

/// The store, through a meter that counts its requests.
async fn metered(fresh: &Fresh) -> (DynamoDirectoryStore, AwsMeter) {
    let meter = AwsMeter::start(&fresh.aws.endpoint, vec![]).await.unwrap();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&fresh.aws.sdk)
            .endpoint_url(&meter.endpoint)
            .build(),
    );
    let store = DynamoDirectoryStore::new(
        client,
        fresh.tables.directory.clone(),
        fresh.tables.integrations.clone(),
    );
    (store, meter)
}

/// Megan, a platform user whose login is stored in mixed case, among
/// others of the tenant (an imported namesake in lower case too).
async fn megan_among_others(fresh: &Fresh) {
    let user = |id: &str, name: &str, source: &str| json!({"user_id": id, "user_name": name, "enabled": true, "source": source});
    for (id, name, source) in [
        ("p-megan", "Megan@Contoso.com", "local"),
        ("p-ann", "ann@contoso.com", "local"),
        ("e-megan", "megan@fabrikam.com", "entra"),
        ("e-bob", "bob@contoso.com", "entra"),
    ] {
        fresh
            .put_directory(&format!("USER#{id}"), user(id, name, source))
            .await;
    }
}

#[tokio::test]
async fn given_a_user_name_as_stored_then_the_platform_user_is_found_in_one_query() {
    let fresh = Fresh::tables().await;
    megan_among_others(&fresh).await;
    let (store, meter) = metered(&fresh).await;

    let before = meter.snapshot();
    let found = store
        .platform_user_named(&fresh.tenant, "Megan@Contoso.com")
        .await
        .unwrap();

    assert_eq!(found.map(|u| u.user_id).as_deref(), Some("p-megan"));
    let made = aws_meter::since(&before, &meter.snapshot());
    let queries: Vec<(&str, u64)> = made
        .iter()
        .filter(|(op, _)| op.name == "DynamoDB.Query")
        .map(|(op, tally)| (op.index.as_str(), tally.requests))
        .collect();
    assert_eq!(
        queries,
        vec![("by-user-name", 1)],
        "one Query of the index, no read of the tenant's users: {made:?}"
    );
}

#[tokio::test]
async fn given_a_user_name_in_another_case_then_the_platform_user_is_found_all_the_same() {
    let fresh = Fresh::tables().await;
    megan_among_others(&fresh).await;
    let store = fresh.directory();

    for asked in [
        "megan@contoso.com",
        "MEGAN@CONTOSO.COM",
        "Megan@Contoso.com",
    ] {
        let found = store
            .platform_user_named(&fresh.tenant, asked)
            .await
            .unwrap();
        assert_eq!(
            found.map(|u| u.user_id).as_deref(),
            Some("p-megan"),
            "{asked}"
        );
    }
    // Stored in lower case, asked in upper: the index's second Query.
    let found = store
        .platform_user_named(&fresh.tenant, "ANN@Contoso.com")
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.user_id).as_deref(), Some("p-ann"));
    // An imported user is no platform user.
    let imported = store
        .platform_user_named(&fresh.tenant, "bob@contoso.com")
        .await
        .unwrap();
    assert_eq!(imported, None);
}

/// Neither the name as given nor its lower case is stored: the index's own
/// pages are read (keys and names), never the tenant's user items.
#[tokio::test]
async fn given_a_name_stored_in_another_case_or_absent_then_only_the_index_is_read() {
    let fresh = Fresh::tables().await;
    megan_among_others(&fresh).await;
    let (store, meter) = metered(&fresh).await;

    for (asked, expected) in [
        ("MEGAN@CONTOSO.COM", Some("p-megan")),
        ("nobody@contoso.com", None),
    ] {
        let before = meter.snapshot();
        let found = store
            .platform_user_named(&fresh.tenant, asked)
            .await
            .unwrap();
        assert_eq!(found.map(|u| u.user_id).as_deref(), expected, "{asked}");
        let made = aws_meter::since(&before, &meter.snapshot());
        let indexes: Vec<&str> = made
            .iter()
            .filter(|(op, _)| op.name == "DynamoDB.Query")
            .map(|(op, _)| op.index.as_str())
            .collect();
        assert_eq!(
            indexes,
            vec!["by-user-name"],
            "{asked}: only the index is queried: {made:?}"
        );
    }
}

/// sync-object's import-direction name check: every platform user of the
/// name in any case (two here, in two cases), no imported namesake, and
/// only the index is queried for them.
#[tokio::test]
async fn given_a_name_owned_in_two_cases_then_both_platform_owners_are_found_from_the_index() {
    let fresh = Fresh::tables().await;
    megan_among_others(&fresh).await;
    fresh
        .put_directory(
            "USER#p-megan2",
            json!({"user_id": "p-megan2", "user_name": "megan@contoso.com ", "enabled": true, "source": "local"}),
        )
        .await;
    let (store, meter) = metered(&fresh).await;

    let before = meter.snapshot();
    let mut owners: Vec<String> = store
        .platform_users_named(&fresh.tenant, "MEGAN@contoso.com")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.user_id)
        .collect();
    owners.sort();

    assert_eq!(owners, vec!["p-megan", "p-megan2"]);
    let made = aws_meter::since(&before, &meter.snapshot());
    let indexes: Vec<&str> = made
        .iter()
        .filter(|(op, _)| op.name == "DynamoDB.Query")
        .map(|(op, _)| op.index.as_str())
        .collect();
    assert_eq!(indexes, vec!["by-user-name"], "{made:?}");
    let none = store
        .platform_users_named(&fresh.tenant, "bob@contoso.com")
        .await
        .unwrap();
    assert!(
        none.is_empty(),
        "an imported user is no platform owner: {none:?}"
    );
}
