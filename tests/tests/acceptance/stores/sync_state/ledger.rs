//! The round's page records and seen ids, and the import's memory
//! (group scope, held deletions).

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use entra_sync::import::buckets::{Bucket, KeyRange, SeenKind};
use entra_sync::import::state::{DeferredMembership, GroupScope, PageRecord, Phase};
use entra_sync::import::{DirectoryStore, HeldDeletions, ImportMemory, ObjectKind, RoundLedger};
use serde_json::json;

use crate::stores::{Fresh, TENANT, entra_guid, member_sk, membership, sorted};

/// A page record of about 150 KB: eight of them span more than one Query page (1 MB).
fn big_record(page: u32) -> PageRecord {
    PageRecord {
        removed: (0..4000)
            .map(|i| format!("{page:04}-0000-4000-8000-{i:012}"))
            .collect(),
        deferred_memberships: vec![DeferredMembership {
            group_id: format!("g-{page}"),
            user_entra_id: entra_guid(page as usize),
            present: page.is_multiple_of(2),
        }],
        ..PageRecord::default()
    }
}

#[tokio::test]
async fn given_page_records_larger_than_one_query_page_when_read_then_they_come_back_in_page_order()
{
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let pages: Vec<u32> = vec![11, 2, 9, 0, 7, 10, 1, 3, 8, 5, 4, 6];
    for &page in &pages {
        store
            .save_page_record(
                &fresh.tenant,
                "round-1",
                Phase::Users,
                page,
                &big_record(page),
                &[],
            )
            .await
            .unwrap();
    }
    // Other phases and rounds stay apart.
    let other = PageRecord {
        removed: vec!["other".into()],
        ..PageRecord::default()
    };
    store
        .save_page_record(&fresh.tenant, "round-1", Phase::Groups, 0, &other, &[])
        .await
        .unwrap();
    store
        .save_page_record(&fresh.tenant, "round-2", Phase::Users, 0, &other, &[])
        .await
        .unwrap();
    store
        .save_page_record(&fresh.tenant, "round-10", Phase::Users, 0, &other, &[])
        .await
        .unwrap();

    // The records do span more than one Query page.
    let first = fresh
        .aws
        .dynamodb
        .query()
        .table_name(&fresh.tables.integrations)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .expression_attribute_values(
            ":prefix",
            AttributeValue::S("ENTRA#ROUND#round-1#users#".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(first.last_evaluated_key.is_some_and(|k| !k.is_empty()));
    assert!(first.items.unwrap_or_default().len() < pages.len());

    let records = store
        .page_records(&fresh.tenant, "round-1", Phase::Users)
        .await
        .unwrap();

    assert_eq!(
        records,
        (0..12).map(|p| (p, big_record(p))).collect::<Vec<_>>()
    );
    assert_eq!(
        store
            .page_records(&fresh.tenant, "round-1", Phase::Groups)
            .await
            .unwrap(),
        vec![(0, other.clone())]
    );
    assert_eq!(
        store
            .page_records(&fresh.tenant, "round-1", Phase::Finishing)
            .await
            .unwrap(),
        Vec::<(u32, PageRecord)>::new()
    );
    let item = fresh
        .get(
            &fresh.tables.integrations,
            "ENTRA#ROUND#round-1#users#0000000003#000",
        )
        .await
        .expect("page 3 (its first part) under its zero-padded key");
    let expires: i64 = item["expires_at_epoch"].as_n().unwrap().parse().unwrap();
    let in_days = (expires - Utc::now().timestamp()) as f64 / 86_400.0;
    assert!((7.9..=8.1).contains(&in_days), "expires in {in_days} days");
}

#[tokio::test]
async fn given_seen_ids_of_pages_when_read_by_bucket_then_each_bucket_holds_its_own_in_page_order()
{
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let record = |page: u32| PageRecord {
        // 20,000 ids of 36 characters in two buckets: 390 KB each, in parts.
        present: (0..20_000)
            .map(|i| format!("{:x}{page:03}{i:032}", [0, 10][i % 2]))
            .collect(),
        memberships: vec![format!("a{page}#u{page}"), format!("0{page}#u{page}")],
        ..PageRecord::default()
    };
    for page in [2, 0, 1] {
        let r = record(page);
        store
            .save_page_record(
                &fresh.tenant,
                "round-1",
                Phase::Groups,
                page,
                &r.without_seen(),
                &r.seen(Phase::Groups),
            )
            .await
            .unwrap();
    }

    let read = |kind, first: &'static str| {
        let store = &store;
        let tenant = &fresh.tenant;
        async move {
            store
                .seen_in(tenant, "round-1", kind, Bucket::of(first))
                .await
                .unwrap()
        }
    };
    let in_a = read(SeenKind::Groups, "a").await;
    let pages: Vec<u32> = in_a.iter().map(|(page, _)| *page).collect();
    assert!(pages.windows(2).all(|w| w[0] <= w[1]), "{pages:?}");
    assert!(in_a.len() > 3, "a page's bucket is split over items");
    let ids: Vec<String> = in_a.into_iter().flat_map(|(_, ids)| ids).collect();
    let expected: Vec<String> = (0..3)
        .flat_map(|p| record(p).present)
        .filter(|id| id.starts_with('a'))
        .collect();
    assert_eq!(ids, expected);
    assert!(read(SeenKind::Groups, "3").await.is_empty());
    assert!(read(SeenKind::Users, "a").await.is_empty());
    let members: Vec<(u32, Vec<String>)> = read(SeenKind::Members, "a").await;
    assert_eq!(
        members,
        (0..3)
            .map(|p| (p, vec![format!("a{p}#u{p}")]))
            .collect::<Vec<_>>()
    );
    // Nothing of it in the page records themselves.
    let records = store
        .page_records(&fresh.tenant, "round-1", Phase::Groups)
        .await
        .unwrap();
    assert!(records.is_empty(), "{records:?}");
}

#[tokio::test]
async fn given_a_page_forgotten_then_its_record_and_seen_ids_are_gone_and_other_pages_stay() {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let record = |page: u32| PageRecord {
        present: vec![format!("a{page}"), format!("f{page}")],
        removed: vec![format!("0{page}")],
        memberships: vec![format!("b{page}#u{page}")],
        ..PageRecord::default()
    };
    for page in [2, 3] {
        let r = record(page);
        store
            .save_page_record(
                &fresh.tenant,
                "round-1",
                Phase::Groups,
                page,
                &r.without_seen(),
                &r.seen(Phase::Groups),
            )
            .await
            .unwrap();
    }
    store
        .forget_page(&fresh.tenant, "round-1", Phase::Groups, 3)
        .await
        .unwrap();

    let pages =
        |read: Vec<(u32, Vec<String>)>| read.into_iter().map(|(p, _)| p).collect::<Vec<_>>();
    let records = store
        .page_records(&fresh.tenant, "round-1", Phase::Groups)
        .await
        .unwrap();
    assert_eq!(records.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [2]);
    for (kind, id) in [
        (SeenKind::Groups, "a"),
        (SeenKind::Groups, "f"),
        (SeenKind::Members, "b"),
    ] {
        let seen = store
            .seen_in(&fresh.tenant, "round-1", kind, Bucket::of(id))
            .await
            .unwrap();
        assert_eq!(pages(seen), [2], "{kind:?} {id}");
    }
}

#[tokio::test]
async fn given_imported_ids_on_bucket_boundaries_when_read_by_bucket_then_each_comes_back_once() {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let ids = [
        "0", "0fff", "1", "10", "9zz", "A1", "Zed", "a", "ef", "f", "f0", "g", "~x",
    ];
    for id in ids {
        fresh
            .put_directory(
                &format!("USER#{id}"),
                json!({"user_id": id, "user_name": format!("{id}@contoso.com"), "source": "entra"}),
            )
            .await;
        fresh
            .put_directory(
                &member_sk(&membership(id, "u1")),
                json!({"group_id": id, "user_id": "u1", "source": "entra"}),
            )
            .await;
    }
    fresh
        .put_directory(
            "USER#b-platform",
            json!({"user_id": "b-platform", "user_name": "p@contoso.com", "source": "platform"}),
        )
        .await;

    let expected: Vec<String> = sorted(ids.iter().map(|id| id.to_string()).collect());
    // One bucket a range, six buckets a range, one range for everything.
    for expected_size in [u64::MAX, 100_000, 0] {
        let mut seen: Vec<String> = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        for range in KeyRange::covering(expected_size) {
            let in_range = store
                .imported_ids_in(&fresh.tenant, ObjectKind::User, range)
                .await
                .unwrap();
            assert!(in_range.iter().all(|id| range.contains(id)), "{in_range:?}");
            seen.extend(in_range);
            let memberships = store
                .imported_memberships_in(&fresh.tenant, range)
                .await
                .unwrap();
            groups.extend(memberships.into_iter().map(|m| m.group_id));
        }
        assert_eq!(sorted(seen), expected, "{expected_size}");
        assert_eq!(sorted(groups), expected, "{expected_size}");
    }
}

#[tokio::test]
async fn given_a_group_scope_and_held_deletions_when_saved_then_they_read_back() {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    assert_eq!(store.group_scope(&fresh.tenant).await.unwrap(), None);
    assert_eq!(
        store.held_deletions(&fresh.tenant).await.unwrap(),
        HeldDeletions::default()
    );

    let scope = GroupScope {
        users: (1..=3).map(entra_guid).collect(),
        groups: HashSet::from([entra_guid(10)]),
    };
    let held = HeldDeletions {
        users: vec![entra_guid(5), entra_guid(4)],
        groups: vec![entra_guid(11)],
    };
    store.save_group_scope(&fresh.tenant, &scope).await.unwrap();
    store
        .save_held_deletions(&fresh.tenant, &held)
        .await
        .unwrap();
    assert_eq!(store.group_scope(&fresh.tenant).await.unwrap(), Some(scope));
    assert_eq!(store.held_deletions(&fresh.tenant).await.unwrap(), held);

    // Saved again: replaced, not merged.
    let fewer = GroupScope {
        users: HashSet::new(),
        groups: HashSet::from([entra_guid(12)]),
    };
    store.save_group_scope(&fresh.tenant, &fewer).await.unwrap();
    store
        .save_held_deletions(&fresh.tenant, &HeldDeletions::default())
        .await
        .unwrap();
    assert_eq!(store.group_scope(&fresh.tenant).await.unwrap(), Some(fewer));
    assert!(
        store
            .held_deletions(&fresh.tenant)
            .await
            .unwrap()
            .is_empty()
    );
}
