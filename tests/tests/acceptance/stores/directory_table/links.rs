//! Users and groups looked up by their Entra id: imported ones under their
//! own id, linked platform ones through link items (and the index for links
//! made before them).

use std::collections::HashMap;

use entra_sync::export::ExportDirectory;
use entra_sync::import::DirectoryStore;
use entra_sync::import::records::DirectoryWrite;
use entra_sync::model::directory::{EntraHash, ItemKey, LinkOrigin, Source};
use entra_sync::store::directory_table::DynamoDirectoryStore;
use serde_json::json;

use crate::stores::{
    Fresh, attributes, entra_guid, imported_group, imported_user, platform_user, sorted,
};

#[tokio::test]
async fn given_imported_and_linked_users_when_looked_up_with_few_misses_then_each_is_found_under_its_entra_id()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let imported = imported_user(&entra_guid(1));
    store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::CreateUser(imported.clone())],
        )
        .await
        .unwrap();
    for n in 2..=4 {
        fresh
            .put_directory(
                &format!("USER#p-{n}"),
                platform_user(&format!("p-{n}"), &entra_guid(n)),
            )
            .await;
    }
    // Misses after the point reads: 3 linked + 1 unknown, below the range query.
    let wanted: Vec<String> = (1..=5).map(entra_guid).collect();
    let found = store
        .users_by_entra_id(&fresh.tenant, &wanted)
        .await
        .unwrap();

    assert_eq!(
        sorted(found.keys().cloned().collect()),
        (1..=4).map(entra_guid).collect::<Vec<_>>()
    );
    assert_eq!(found[&entra_guid(1)], imported);
    for n in 2..=4 {
        let user = &found[&entra_guid(n)];
        assert_eq!(user.user_id, format!("p-{n}"));
        assert_eq!(user.source, Source::Local);
        assert_eq!(user.sync.entra_id.as_deref(), Some(entra_guid(n).as_str()));
    }
}

#[tokio::test]
async fn given_links_an_earlier_release_made_when_many_are_looked_up_then_only_the_wanted_users_are_found()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::CreateUser(imported_user(&entra_guid(0)))],
        )
        .await
        .unwrap();
    // Linked users at even numbers 2..=24 are wanted; the odd ones are
    // linked too but not asked for. Only `entra_id` on the items says so,
    // as an earlier release wrote them: the first look-up copies the links.
    for n in 2..=25 {
        fresh
            .put_directory(
                &format!("USER#p-{n}"),
                platform_user(&format!("p-{n}"), &entra_guid(n)),
            )
            .await;
    }
    // A linked group inside the range is not a user.
    fresh
        .put_directory(
            "GROUP#pg-1",
            json!({"group_id": "pg-1", "name": "Platform", "source": "local", "entra_id": entra_guid(10)}),
        )
        .await;
    let mut wanted: Vec<String> = (2..=24).step_by(2).map(entra_guid).collect();
    wanted.push(entra_guid(0));
    wanted.push(entra_guid(99)); // unknown
    let found = store
        .users_by_entra_id(&fresh.tenant, &wanted)
        .await
        .unwrap();

    let mut expected: Vec<String> = (2..=24).step_by(2).map(entra_guid).collect();
    expected.push(entra_guid(0));
    assert_eq!(sorted(found.keys().cloned().collect()), sorted(expected));
    for n in (2..=24).step_by(2) {
        assert_eq!(found[&entra_guid(n)].user_id, format!("p-{n}"));
    }
    assert_eq!(found[&entra_guid(0)].user_id, entra_guid(0));
}

#[tokio::test]
async fn given_imported_and_linked_users_when_their_ids_are_looked_up_then_each_entra_id_gives_the_am_id()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::CreateUser(imported_user(&entra_guid(1)))],
        )
        .await
        .unwrap();
    fresh
        .put_directory("USER#p-2", platform_user("p-2", &entra_guid(2)))
        .await;
    // A link whose item names another Entra object is stale.
    fresh
        .put_directory("USER#p-3", platform_user("p-3", &entra_guid(30)))
        .await;
    let asked: Vec<String> = [1, 2, 3, 4].into_iter().map(entra_guid).collect();
    store
        .users_by_entra_id(&fresh.tenant, &asked)
        .await
        .unwrap();
    fresh
        .put(
            &fresh.tables.integrations,
            &format!("ENTRA#LINK#USER#{}", entra_guid(3)),
            json!({"am_id": "p-3"}),
        )
        .await;

    let ids = store
        .user_ids_by_entra_id(&fresh.tenant, &asked)
        .await
        .unwrap();

    assert_eq!(
        ids,
        HashMap::from([
            (entra_guid(1), entra_guid(1)),
            (entra_guid(2), "p-2".to_owned()),
        ])
    );
}

#[tokio::test]
async fn given_links_the_export_records_after_the_copy_when_looked_up_then_they_are_found() {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    fresh
        .put_directory("USER#p-1", platform_user("p-1", &entra_guid(1)))
        .await;
    let first = store
        .users_by_entra_id(&fresh.tenant, &[entra_guid(1), entra_guid(2)])
        .await
        .unwrap();
    assert_eq!(sorted(first.keys().cloned().collect()), vec![entra_guid(1)]);
    // The platform creates p-2; the export links it to Entra user 2.
    fresh
        .put_directory(
            "USER#p-2",
            json!({"user_id": "p-2", "user_name": "p2@contoso.com", "enabled": true, "source": "local"}),
        )
        .await;
    let item = ItemKey::user(&fresh.tenant, "p-2");
    let hash = EntraHash::of_user(&attributes("p2@contoso.com"));
    store.record_link(&item, &entra_guid(2)).await.unwrap();
    store
        .record_entra_state(&item, &entra_guid(2), &hash, Some(LinkOrigin::Created))
        .await
        .unwrap();
    // A later write-back (an update) keeps how the link came about.
    store
        .record_entra_state(&item, &entra_guid(2), &hash, None)
        .await
        .unwrap();

    // A new store (another invocation) and the same one both find it.
    for store in [store, fresh.directory()] {
        let found = store
            .users_by_entra_id(&fresh.tenant, &[entra_guid(1), entra_guid(2)])
            .await
            .unwrap();
        assert_eq!(found[&entra_guid(1)].user_id, "p-1");
        assert_eq!(found[&entra_guid(2)].user_id, "p-2");
        assert_eq!(
            found[&entra_guid(2)].sync.entra_id.as_deref(),
            Some(entra_guid(2).as_str())
        );
        assert_eq!(
            found[&entra_guid(2)].sync.entra_origin,
            Some(LinkOrigin::Created)
        );
    }
}

#[tokio::test]
async fn given_a_page_of_new_users_among_linked_ones_when_looked_up_then_only_batched_reads_are_made()
 {
    let fresh = Fresh::tables().await;
    for n in 1..=30 {
        fresh
            .put_directory(
                &format!("USER#p-{n}"),
                platform_user(&format!("p-{n}"), &entra_guid(n)),
            )
            .await;
    }
    let meter = entra_sync_tests::aws_meter::AwsMeter::start(&fresh.aws.endpoint, vec![])
        .await
        .unwrap();
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
    store
        .users_by_entra_id(&fresh.tenant, &[entra_guid(1)])
        .await
        .unwrap();
    let before = meter.snapshot();
    // A page of 200: 10 linked users and 190 the directory has never seen.
    let page: Vec<String> = (21..221).map(entra_guid).collect();
    let found = store.users_by_entra_id(&fresh.tenant, &page).await.unwrap();

    assert_eq!(found.len(), 10);
    let made = entra_sync_tests::aws_meter::since(&before, &meter.snapshot());
    let names: Vec<&str> = made.keys().map(|op| op.name.as_str()).collect();
    assert_eq!(names, vec!["DynamoDB.BatchGetItem"], "{made:?}");
    // 200 item keys, 200 link keys, 10 linked items: 100 keys a request.
    let batch = &made.values().next().unwrap();
    assert_eq!((batch.requests, batch.items), (5, 410));
}

#[tokio::test]
async fn given_imported_and_linked_groups_when_looked_up_then_each_is_found_under_its_entra_id() {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let imported = imported_group(&entra_guid(1));
    store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::CreateGroup(imported.clone())],
        )
        .await
        .unwrap();
    fresh
        .put_directory(
            "GROUP#pg-2",
            json!({"group_id": "pg-2", "name": "Platform", "source": "local", "entra_id": entra_guid(2)}),
        )
        .await;
    // A user linked to the same Entra id is not a group.
    fresh
        .put_directory("USER#p-3", platform_user("p-3", &entra_guid(3)))
        .await;
    let found = store
        .groups_by_entra_id(
            &fresh.tenant,
            &[entra_guid(1), entra_guid(2), entra_guid(3)],
        )
        .await
        .unwrap();

    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[&entra_guid(1)], imported);
    assert_eq!(found[&entra_guid(2)].group_id, "pg-2");
    assert_eq!(found[&entra_guid(2)].attributes.name, "Platform");
}
