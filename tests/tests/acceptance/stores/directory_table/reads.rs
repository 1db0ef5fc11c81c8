//! What the import and export read: memberships and imported ids by
//! source, batched requests within DynamoDB's limits, the export's state,
//! and values of another type read as no value.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync::export::ExportDirectory;
use entra_sync::import::records::DirectoryWrite;
use entra_sync::import::{DirectoryStore, ObjectKind};
use entra_sync::model::directory::{
    EntraHash, ItemKey, MembershipKey, PasswordMode, Source, UserAttributes,
};
use entra_sync::store::directory_table::DynamoDirectoryStore;
use serde_json::json;

use crate::stores::{
    Fresh, entra_guid, imported_group, imported_ids, imported_memberships, imported_user,
    member_sk, membership, platform_user, sorted, text,
};

#[tokio::test]
async fn given_memberships_of_both_sources_when_listed_then_each_query_returns_its_own() {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let imported = [
        membership("g1", "u1"),
        membership("g1", "u2"),
        membership("g2", "u1"),
    ];
    store
        .apply(
            &fresh.tenant,
            imported
                .iter()
                .cloned()
                .map(DirectoryWrite::AddMembership)
                .collect(),
        )
        .await
        .unwrap();
    let local = [membership("g2", "u3"), membership("g3", "u1")];
    for key in &local {
        fresh
            .put_directory(
                &member_sk(key),
                json!({"group_id": key.group_id, "user_id": key.user_id, "source": "local"}),
            )
            .await;
    }
    // Absent source is the platform's too; and a user item is no membership.
    fresh
        .put_directory("MEMBER#g1#u9", json!({"group_id": "g1", "user_id": "u9"}))
        .await;
    fresh
        .put_directory("USER#u1", platform_user("u1", &entra_guid(1)))
        .await;
    let item = fresh
        .directory_item(&member_sk(&imported[0]))
        .await
        .unwrap();
    assert_eq!(text(&item, "source"), Some("entra"));
    assert_eq!(text(&item, "group_id"), Some("g1"));
    assert_eq!(text(&item, "user_id"), Some("u1"));

    let asked = [
        membership("g1", "u1"),
        membership("g2", "u3"),
        membership("g1", "u3"),
        membership("g9", "u9"),
    ];
    let existing = store
        .existing_memberships(&fresh.tenant, &asked)
        .await
        .unwrap();
    assert_eq!(
        existing,
        HashSet::from([membership("g1", "u1"), membership("g2", "u3")])
    );

    let mut all_imported = imported_memberships(&store, &fresh.tenant).await;
    all_imported.sort();
    assert_eq!(all_imported, imported.to_vec());

    let of_u1 = store
        .memberships_involving(
            &fresh.tenant,
            &HashSet::from(["u1".to_owned()]),
            &HashSet::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        sorted(of_u1),
        vec![
            membership("g1", "u1"),
            membership("g2", "u1"),
            membership("g3", "u1")
        ]
    );
    let of_g1 = store
        .memberships_involving(
            &fresh.tenant,
            &HashSet::new(),
            &HashSet::from(["g1".to_owned()]),
        )
        .await
        .unwrap();
    assert_eq!(
        sorted(of_g1),
        vec![
            membership("g1", "u1"),
            membership("g1", "u2"),
            membership("g1", "u9")
        ]
    );
    let either = store
        .memberships_involving(
            &fresh.tenant,
            &HashSet::from(["u3".to_owned()]),
            &HashSet::from(["g3".to_owned()]),
        )
        .await
        .unwrap();
    assert_eq!(
        sorted(either),
        vec![membership("g2", "u3"), membership("g3", "u1")]
    );
}

#[tokio::test]
async fn given_users_and_groups_of_both_sources_when_listing_imported_ids_then_only_source_entra_is_returned()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::CreateUser(imported_user(&entra_guid(1))),
                DirectoryWrite::CreateUser(imported_user(&entra_guid(2))),
                DirectoryWrite::CreateGroup(imported_group(&entra_guid(3))),
            ],
        )
        .await
        .unwrap();
    fresh
        .put_directory("USER#p-1", platform_user("p-1", &entra_guid(4)))
        .await;
    fresh
        .put_directory(
            "USER#p-2",
            json!({"user_id": "p-2", "user_name": "p2@contoso.com"}),
        )
        .await;
    fresh
        .put_directory(
            "GROUP#pg-1",
            json!({"group_id": "pg-1", "name": "Local", "source": "local"}),
        )
        .await;
    fresh
        .put_directory(
            &member_sk(&membership(&entra_guid(3), &entra_guid(1))),
            json!({"group_id": entra_guid(3), "user_id": entra_guid(1), "source": "entra"}),
        )
        .await;

    let users = imported_ids(&store, &fresh.tenant, ObjectKind::User).await;
    let groups = imported_ids(&store, &fresh.tenant, ObjectKind::Group).await;

    assert_eq!(sorted(users), vec![entra_guid(1), entra_guid(2)]);
    assert_eq!(groups, vec![entra_guid(3)]);
}

/// The size of every batch request a client sends: moto takes a
/// BatchWriteItem of any size, so the 25-item limit is checked here.
#[derive(Debug, Clone, Default)]
struct BatchSizes {
    writes: Arc<Mutex<Vec<usize>>>,
    reads: Arc<Mutex<Vec<usize>>>,
}

impl Intercept for BatchSizes {
    fn name(&self) -> &'static str {
        "BatchSizes"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        if let Some(write) = input.downcast_ref::<BatchWriteItemInput>() {
            let items = write
                .request_items()
                .into_iter()
                .flat_map(HashMap::values)
                .map(Vec::len)
                .sum();
            self.writes.lock().unwrap().push(items);
        }
        if let Some(read) = input.downcast_ref::<BatchGetItemInput>() {
            let keys = read
                .request_items()
                .into_iter()
                .flat_map(HashMap::values)
                .map(|k| k.keys().len())
                .sum();
            self.reads.lock().unwrap().push(keys);
        }
        Ok(())
    }
}

impl BatchSizes {
    fn take(&self) -> (Vec<usize>, Vec<usize>) {
        (
            std::mem::take(&mut self.writes.lock().unwrap()),
            std::mem::take(&mut self.reads.lock().unwrap()),
        )
    }
}

#[tokio::test]
async fn given_more_writes_and_keys_than_one_request_takes_when_applied_and_read_then_all_are_done()
{
    let fresh = Fresh::tables().await;
    let sizes = BatchSizes::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&fresh.aws.sdk)
            .interceptor(sizes.clone())
            .build(),
    );
    let store = DynamoDirectoryStore::new(
        client,
        fresh.tables.directory.clone(),
        fresh.tables.integrations.clone(),
    );
    let users: Vec<String> = (1..=60).map(entra_guid).collect();
    let group = entra_guid(1000);
    let mut writes: Vec<DirectoryWrite> = users
        .iter()
        .map(|id| DirectoryWrite::CreateUser(imported_user(id)))
        .collect();
    writes.push(DirectoryWrite::CreateGroup(imported_group(&group)));
    writes.extend(
        users
            .iter()
            .take(40)
            .map(|u| DirectoryWrite::AddMembership(membership(&group, u))),
    );

    let written = store.apply(&fresh.tenant, writes).await.unwrap();

    assert_eq!(written, 101);
    let (writes, _) = sizes.take();
    assert_eq!(writes.iter().sum::<usize>(), 101);
    assert!(writes.iter().all(|&n| n <= 25), "{writes:?}");
    assert_eq!(
        sorted(imported_ids(&store, &fresh.tenant, ObjectKind::User).await),
        users
    );
    assert_eq!(imported_memberships(&store, &fresh.tenant).await.len(), 40);
    // 150 ids: two BatchGetItem requests (100 keys at most each), then
    // one for the links of those not found.
    let asked: Vec<String> = (1..=150).map(entra_guid).collect();
    let found = store
        .users_by_entra_id(&fresh.tenant, &asked)
        .await
        .unwrap();
    assert_eq!(sorted(found.into_keys().collect()), users);
    let keys: Vec<MembershipKey> = users.iter().map(|u| membership(&group, u)).collect();
    let more_keys: Vec<MembershipKey> = keys
        .iter()
        .cloned()
        .chain((61..=130).map(|n| membership(&group, &entra_guid(n))))
        .collect();
    assert_eq!(more_keys.len(), 130);
    let existing = store
        .existing_memberships(&fresh.tenant, &more_keys)
        .await
        .unwrap();
    assert_eq!(existing, keys[..40].iter().cloned().collect::<HashSet<_>>());
    let (_, reads) = sizes.take();
    assert_eq!(
        sorted(reads),
        vec![30, 50, 90, 100, 100],
        "150 ids, the links of the 90 not found, then 130 keys, in requests of at most 100"
    );

    // And as many deletions.
    let deletions: Vec<DirectoryWrite> = users
        .iter()
        .map(|id| DirectoryWrite::DeleteUser {
            user_id: id.clone(),
        })
        .chain(
            keys[..40]
                .iter()
                .cloned()
                .map(DirectoryWrite::RemoveMembership),
        )
        .collect();
    store.apply(&fresh.tenant, deletions).await.unwrap();
    let (writes, _) = sizes.take();
    assert_eq!(writes.iter().sum::<usize>(), 100);
    assert!(writes.iter().all(|&n| n <= 25), "{writes:?}");
    assert!(
        imported_ids(&store, &fresh.tenant, ObjectKind::User)
            .await
            .is_empty()
    );
    assert!(imported_memberships(&store, &fresh.tenant).await.is_empty());
}

#[tokio::test]
async fn given_items_when_the_export_reads_and_records_its_state_then_the_link_and_hash_are_set_and_the_rest_stays()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    fresh
        .put_directory(
            "USER#p-1",
            json!({"user_id": "p-1", "user_name": "p1@contoso.com", "enabled": false, "source": "local", "role": "admin", "password_mode": "temporary"}),
        )
        .await;
    fresh
        .put_directory(
            "GROUP#pg-1",
            json!({"group_id": "pg-1", "name": "Sales", "description": "", "source": "local"}),
        )
        .await;

    let user = store.user(&fresh.tenant, "p-1").await.unwrap().unwrap();
    let group = store.group(&fresh.tenant, "pg-1").await.unwrap().unwrap();
    assert!(store.user(&fresh.tenant, "nobody").await.unwrap().is_none());
    assert!(store.group(&fresh.tenant, "p-1").await.unwrap().is_none());

    assert_eq!(user.user_id, "p-1");
    assert_eq!(user.attributes.user_name, "p1@contoso.com");
    assert!(!user.attributes.enabled);
    assert_eq!(user.source, Source::Local);
    assert_eq!(user.password_mode, Some(PasswordMode::Temporary));
    assert_eq!(user.sync.entra_id, None);
    assert_eq!(user.sync.entra_hash, None);
    assert_eq!(group.attributes.name, "Sales");
    assert_eq!(
        group.attributes.description, None,
        "an empty string is no value"
    );

    let user_hash = EntraHash::of_user(&user.attributes);
    let group_hash = EntraHash::of_group(&group.attributes);
    store
        .record_entra_state(
            &ItemKey::user(&fresh.tenant, "p-1"),
            &entra_guid(1),
            &user_hash,
            None,
        )
        .await
        .unwrap();
    store
        .record_entra_state(
            &ItemKey::group(&fresh.tenant, "pg-1"),
            &entra_guid(2),
            &group_hash,
            None,
        )
        .await
        .unwrap();

    let item = fresh.directory_item("USER#p-1").await.unwrap();
    assert_eq!(text(&item, "entra_id"), Some(entra_guid(1).as_str()));
    assert_eq!(text(&item, "sync_entra_hash"), Some(user_hash.as_str()));
    assert_eq!(text(&item, "role"), Some("admin"));
    assert_eq!(item.get("enabled"), Some(&AttributeValue::Bool(false)));
    let user = store.user(&fresh.tenant, "p-1").await.unwrap().unwrap();
    assert_eq!(user.sync.entra_id.as_deref(), Some(entra_guid(1).as_str()));
    assert_eq!(user.sync.entra_hash.as_ref(), Some(&user_hash));
    let group = store.group(&fresh.tenant, "pg-1").await.unwrap().unwrap();
    assert_eq!(group.sync.entra_id.as_deref(), Some(entra_guid(2).as_str()));
    assert_eq!(group.sync.entra_hash.as_ref(), Some(&group_hash));
}

#[tokio::test]
async fn given_a_deleted_item_when_the_export_records_its_state_then_it_stays_deleted() {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let id = entra_guid(1);
    store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::CreateUser(imported_user(&id))],
        )
        .await
        .unwrap();
    store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::DeleteUser {
                user_id: id.clone(),
            }],
        )
        .await
        .unwrap();

    store
        .record_entra_state(
            &ItemKey::user(&fresh.tenant, &id),
            &id,
            &EntraHash::of_user(&UserAttributes::default()),
            None,
        )
        .await
        .unwrap();

    assert!(fresh.directory_item(&format!("USER#{id}")).await.is_none());
    assert!(store.user(&fresh.tenant, &id).await.unwrap().is_none());
}

#[tokio::test]
async fn given_an_id_asked_twice_when_looked_up_then_the_user_is_found_once() {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let id = entra_guid(1);
    store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::CreateUser(imported_user(&id))],
        )
        .await
        .unwrap();

    let found = store
        .users_by_entra_id(&fresh.tenant, &[id.clone(), id.clone()])
        .await;

    let found = found.expect("a repeated id is no error");
    assert_eq!(found.len(), 1);
    assert_eq!(found[&id].user_id, id);
}

#[tokio::test]
async fn given_items_with_values_of_another_type_when_read_then_they_read_as_no_value_not_as_an_error()
 {
    // Other writers share the table (docs/contract.md 1.3): one odd item must not
    // stop a tenant's import, so what cannot be read is no value.
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let id = entra_guid(1);
    fresh
        .put_directory(
            &format!("USER#{id}"),
            json!({"user_name": "x@contoso.com", "source": "entra", "enabled": "yes", "display_name": 42}),
        )
        .await;
    fresh
        .put_directory(
            "USER#p-1",
            json!({"user_id": "p-1", "user_name": "p@contoso.com", "source": "local", "entra_id": entra_guid(2), "enabled": false}),
        )
        .await;

    let imported = store
        .users_by_entra_id(&fresh.tenant, std::slice::from_ref(&id))
        .await
        .unwrap();
    let user = &imported[&id];
    assert_eq!(user.user_id, id, "the id comes from the key");
    assert!(user.attributes.enabled, "anything but false is enabled");
    assert_eq!(user.attributes.display_name, None);
    let linked = store
        .users_by_entra_id(&fresh.tenant, &[entra_guid(2)])
        .await
        .unwrap();
    assert!(!linked[&entra_guid(2)].attributes.enabled);
    assert_eq!(
        store.user(&fresh.tenant, &id).await.unwrap().as_ref(),
        Some(user)
    );
}
