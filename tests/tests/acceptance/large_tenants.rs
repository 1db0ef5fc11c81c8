//! Large tenants against moto: the bookkeeping that grows with the tenant
//! crosses DynamoDB's 400 KB item limit, and one user's memberships are
//! found without reading the tenant's others (docs/behaviour.md 2.5).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync::import::buckets::{Bucket, SeenKind};
use entra_sync::import::records::DirectoryWrite;
use entra_sync::import::state::{DeferredMembership, GroupScope, PageRecord, Phase};
use entra_sync::import::{DirectoryStore, HeldDeletions, ImportMemory, RoundLedger};
use entra_sync::model::TenantId;
use entra_sync::model::directory::MembershipKey;
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync::store::sync_state::DynamoSyncStateStore;
use entra_sync_tests::local_aws::{LocalAws, Tables};

/// Entra-shaped ids: 36 characters, as Graph's GUIDs.
fn guid(kind: u8, n: usize) -> String {
    entra_sync_tests::organisation::object_id(kind, n)
}

struct Fresh {
    aws: LocalAws,
    tables: Tables,
    tenant: TenantId,
}

impl Fresh {
    async fn tables() -> Self {
        let aws = LocalAws::from_env().await.unwrap();
        let prefix = format!("l{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let tables = aws.create_tables(&prefix).await.unwrap();
        Self {
            aws,
            tables,
            tenant: TenantId::parse("bigcorp").unwrap(),
        }
    }

    fn sync_state(&self) -> DynamoSyncStateStore {
        DynamoSyncStateStore::new(self.aws.dynamodb.clone(), self.tables.integrations.clone())
    }

    /// The sort keys of the tenant's integrations items starting with `prefix`.
    async fn bookkeeping_keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .aws
                .dynamodb
                .query()
                .table_name(&self.tables.integrations)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S("TENANT#bigcorp".into()))
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
                .projection_expression("sk")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap();
            keys.extend(
                output
                    .items()
                    .iter()
                    .filter_map(|i| i.get("sk")?.as_s().ok().cloned()),
            );
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return keys,
            }
        }
    }
}

#[tokio::test]
async fn given_held_deletions_of_a_large_tenant_when_saved_then_they_come_back_whole_and_a_new_save_replaces_them()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    // 30,000 users: about 1.2 MB as one JSON document, three times the
    // 400 KB a DynamoDB item holds.
    let held = HeldDeletions {
        users: (0..30_000).map(|n| guid(1, n)).collect(),
        groups: (0..2_000).map(|n| guid(2, n)).collect(),
    };
    store
        .save_held_deletions(&fresh.tenant, &held)
        .await
        .unwrap();
    assert_eq!(store.held_deletions(&fresh.tenant).await.unwrap(), held);
    let first = fresh.bookkeeping_keys("ENTRA#HELD").await;
    assert!(first.len() >= 5, "a header and several chunks: {first:?}");

    let fewer = HeldDeletions {
        users: held.users[..10].to_vec(),
        groups: Vec::new(),
    };
    store
        .save_held_deletions(&fresh.tenant, &fewer)
        .await
        .unwrap();
    assert_eq!(store.held_deletions(&fresh.tenant).await.unwrap(), fewer);
    assert_eq!(
        fresh.bookkeeping_keys("ENTRA#HELD").await.len(),
        2,
        "the header and one chunk: the replaced generation's chunks are gone"
    );
}

#[tokio::test]
async fn given_the_group_scope_of_a_large_tenant_when_saved_then_it_comes_back_whole() {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let scope = GroupScope {
        users: (0..40_000).map(|n| guid(1, n)).collect(),
        groups: (0..500).map(|n| guid(2, n)).collect(),
    };
    store.save_group_scope(&fresh.tenant, &scope).await.unwrap();
    assert_eq!(store.group_scope(&fresh.tenant).await.unwrap(), Some(scope));
}

#[tokio::test]
async fn given_a_scope_saved_by_an_earlier_release_as_one_item_then_it_is_still_read() {
    let fresh = Fresh::tables().await;
    let scope = GroupScope {
        users: HashSet::from([guid(1, 1)]),
        groups: HashSet::from([guid(2, 1)]),
    };
    fresh
        .aws
        .dynamodb
        .put_item()
        .table_name(&fresh.tables.integrations)
        .item("pk", AttributeValue::S("TENANT#bigcorp".into()))
        .item("sk", AttributeValue::S("ENTRA#SCOPE".into()))
        .item(
            "value",
            AttributeValue::S(serde_json::to_string(&scope).unwrap()),
        )
        .send()
        .await
        .unwrap();
    let store = fresh.sync_state();
    assert_eq!(
        store.group_scope(&fresh.tenant).await.unwrap(),
        Some(scope.clone())
    );
    // Saving over it replaces it with the chunked layout.
    store.save_group_scope(&fresh.tenant, &scope).await.unwrap();
    assert_eq!(store.group_scope(&fresh.tenant).await.unwrap(), Some(scope));
}

#[tokio::test]
async fn given_a_page_of_large_groups_when_its_record_is_saved_then_every_membership_comes_back() {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    // 12,000 memberships of 74 characters each: about 950 KB.
    let record = PageRecord {
        present: (0..50).map(|n| guid(2, n)).collect(),
        memberships: (0..12_000)
            .map(|n| format!("{}#{}", guid(2, n % 50), guid(1, n)))
            .collect(),
        deferred_memberships: (0..100)
            .map(|n| DeferredMembership {
                group_id: guid(2, n % 50),
                user_entra_id: guid(1, 50_000 + n),
                present: n % 2 == 0,
            })
            .collect(),
        ..PageRecord::default()
    };
    let seen = record.seen(Phase::Groups);
    store
        .save_page_record(
            &fresh.tenant,
            "round-1",
            Phase::Groups,
            3,
            &record.without_seen(),
            &seen,
        )
        .await
        .unwrap();
    let read = store
        .page_records(&fresh.tenant, "round-1", Phase::Groups)
        .await
        .unwrap();
    let deferred: Vec<DeferredMembership> = read
        .iter()
        .flat_map(|(page, r)| {
            assert_eq!(*page, 3);
            r.deferred_memberships.clone()
        })
        .collect();
    assert_eq!(deferred, record.deferred_memberships);

    let (mut memberships, mut present) = (Vec::new(), Vec::new());
    let mut parts = 0;
    for bucket in Bucket::all() {
        for (kind, into) in [
            (SeenKind::Members, &mut memberships),
            (SeenKind::Groups, &mut present),
        ] {
            let read = store
                .seen_in(&fresh.tenant, "round-1", kind, bucket)
                .await
                .unwrap();
            parts += read.len();
            for (page, ids) in read {
                assert_eq!(page, 3);
                let group_of = |id: &str| id.split('#').next().unwrap_or_default().to_owned();
                assert!(
                    ids.iter().all(|id| Bucket::of(&group_of(id)) == bucket),
                    "{ids:?} read for {bucket:?}"
                );
                into.extend(ids);
            }
        }
    }
    assert!(parts >= seen.len(), "every bucket written comes back");
    assert_eq!(memberships.len(), 12_000);
    assert_eq!(
        memberships.into_iter().collect::<HashSet<_>>(),
        record.memberships.iter().cloned().collect::<HashSet<_>>()
    );
    let mut expected = record.present.clone();
    expected.sort_by_key(|id| Bucket::of(id));
    assert_eq!(
        present, expected,
        "order kept within a bucket and its parts"
    );
}

/// The items DynamoDB evaluated for the client's queries (`ScannedCount`).
#[derive(Debug, Clone, Default)]
struct ScannedItems(Arc<Mutex<i32>>);

impl Intercept for ScannedItems {
    fn name(&self) -> &'static str {
        "ScannedItems"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Ok(output)) = context.output_or_error()
            && let Some(query) = output.downcast_ref::<QueryOutput>()
        {
            *self.0.lock().unwrap() += query.scanned_count();
        }
        Ok(())
    }
}

#[tokio::test]
async fn given_a_tenant_with_thousands_of_memberships_when_one_users_are_needed_then_only_those_are_read()
 {
    let fresh = Fresh::tables().await;
    let scanned = ScannedItems::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&fresh.aws.sdk)
            .interceptor(scanned.clone())
            .build(),
    );
    let store = DynamoDirectoryStore::new(
        client,
        fresh.tables.directory.clone(),
        fresh.tables.integrations.clone(),
    );
    // 3,000 memberships: 300 users in 10 groups each.
    let memberships: Vec<MembershipKey> = (0..300)
        .flat_map(|u| {
            (0..10).map(move |g| MembershipKey {
                group_id: guid(2, g),
                user_id: guid(1, u),
            })
        })
        .collect();
    store
        .apply(
            &fresh.tenant,
            memberships
                .iter()
                .cloned()
                .map(DirectoryWrite::AddMembership)
                .collect(),
        )
        .await
        .unwrap();
    // Another tenant's memberships of the same user id are not this one's.
    let other = TenantId::parse("othercorp").unwrap();
    store
        .apply(
            &other,
            vec![DirectoryWrite::AddMembership(MembershipKey {
                group_id: guid(2, 99),
                user_id: guid(1, 7),
            })],
        )
        .await
        .unwrap();

    *scanned.0.lock().unwrap() = 0;
    let users = HashSet::from([guid(1, 7), guid(1, 8)]);
    let found = store
        .memberships_involving(&fresh.tenant, &users, &HashSet::new())
        .await
        .unwrap();

    let mut expected: Vec<MembershipKey> = memberships
        .into_iter()
        .filter(|m| users.contains(&m.user_id))
        .collect();
    expected.sort();
    assert_eq!(found, expected);
    let read = *scanned.0.lock().unwrap();
    assert!(
        read <= 21,
        "{read} items read for 2 users' 20 memberships (3,000 in the tenant)"
    );
}
