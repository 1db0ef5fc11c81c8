//! The DynamoDB store adapters on their own, against moto: the directory
//! (import's `DirectoryStore`, export's `ExportDirectory`), the import's
//! bookkeeping (`RunLease`, `RoundLedger`, `ImportMemory`) and the tenant
//! configs and pending sign-ins (`TenantConfigs`, `IntegrationsStore`).
//! Every test creates its own tables from template.yaml, so they run in
//! parallel; items are checked as the table holds them, not only through
//! the adapter that wrote them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput;
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, OperationType};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use entra_sync::authorisation::{
    AuthorisationRecord, IntegrationsStore, PendingAuthorisation, RecordOutcome,
};
use entra_sync::export::ExportDirectory;
use entra_sync::import::buckets::{Bucket, KeyRange, SeenBuckets, SeenKind};
use entra_sync::import::records::DirectoryWrite;
use entra_sync::import::state::{
    Checkpoint, Counts, DeferredMembership, GroupScope, Mode, PageRecord, Phase, RunResult,
    RunStatus, SyncState,
};
use entra_sync::import::{
    DirectoryStore, HeldDeletions, ImportMemory, LeaseError, ObjectKind, RoundLedger, RunLease,
};
use entra_sync::model::directory::{
    EntraHash, GroupAttributes, GroupItem, ItemKey, LinkOrigin, MembershipKey, PasswordMode,
    Source, UserAttributes, UserItem,
};
use entra_sync::model::{Authorisation, EntraTenantId, TenantId};
use entra_sync::ports::{StoreError, TenantConfigs};
use entra_sync::store::DynamoIntegrationsStore;
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync::store::sync_state::DynamoSyncStateStore;
use entra_sync_tests::local_aws::{LocalAws, Tables};
use entra_sync_tests::stack::{CONTOSO, FABRIKAM};
use entra_sync_tests::sync::StreamCursor;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

type Item = HashMap<String, AttributeValue>;

/// Every imported id of a kind, read bucket by bucket as the import does.
async fn imported_ids(
    store: &DynamoDirectoryStore,
    tenant: &TenantId,
    kind: ObjectKind,
) -> Vec<String> {
    let mut ids = Vec::new();
    for range in KeyRange::covering(u64::MAX) {
        ids.extend(store.imported_ids_in(tenant, kind, range).await.unwrap());
    }
    ids
}

async fn imported_memberships(
    store: &DynamoDirectoryStore,
    tenant: &TenantId,
) -> Vec<MembershipKey> {
    let mut keys = Vec::new();
    for range in KeyRange::covering(u64::MAX) {
        keys.extend(store.imported_memberships_in(tenant, range).await.unwrap());
    }
    keys
}

const TENANT: &str = "acme";

/// Fresh tables in moto, and the adapters on them.
struct Fresh {
    aws: LocalAws,
    tables: Tables,
    tenant: TenantId,
}

impl Fresh {
    async fn tables() -> Self {
        let aws = LocalAws::from_env().await.unwrap();
        let prefix = format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let tables = aws.create_tables(&prefix).await.unwrap();
        Self {
            aws,
            tables,
            tenant: TenantId::parse(TENANT).unwrap(),
        }
    }

    fn directory(&self) -> DynamoDirectoryStore {
        DynamoDirectoryStore::new(
            self.aws.dynamodb.clone(),
            self.tables.directory.clone(),
            self.tables.integrations.clone(),
        )
    }

    fn sync_state(&self) -> DynamoSyncStateStore {
        DynamoSyncStateStore::new(self.aws.dynamodb.clone(), self.tables.integrations.clone())
    }

    fn integrations(&self) -> DynamoIntegrationsStore {
        DynamoIntegrationsStore::new(self.aws.dynamodb.clone(), self.tables.integrations.clone())
    }

    /// Writes an item of the tenant as another writer would (JSON: strings,
    /// booleans, numbers, lists, maps).
    async fn put(&self, table: &str, sk: &str, attributes: Value) {
        let mut item: Item = serde_dynamo::to_item(attributes).unwrap();
        item.insert("pk".into(), AttributeValue::S(format!("TENANT#{TENANT}")));
        item.insert("sk".into(), AttributeValue::S(sk.into()));
        self.aws
            .dynamodb
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }

    async fn put_directory(&self, sk: &str, attributes: Value) {
        self.put(&self.tables.directory, sk, attributes).await;
    }

    /// The item as the table holds it.
    async fn get(&self, table: &str, sk: &str) -> Option<Item> {
        self.aws
            .dynamodb
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    async fn directory_item(&self, sk: &str) -> Option<Item> {
        self.get(&self.tables.directory, sk).await
    }

    async fn status_item(&self) -> Item {
        self.get(&self.tables.integrations, "ENTRA#STATUS")
            .await
            .expect("the status item exists")
    }

    async fn config_item(&self) -> Option<Item> {
        self.get(&self.tables.integrations, "ENTRA#CONFIG").await
    }

    /// The platform's config item with these attributes over a minimal one.
    async fn put_config(&self, extra: Value) {
        let mut config = json!({"tenant_id": TENANT, "label": "Contoso", "sync_enabled": true});
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        self.put(&self.tables.integrations, "ENTRA#CONFIG", config)
            .await;
    }
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn entra_guid(n: usize) -> String {
    format!("e0000000-0000-4000-8000-{n:012}")
}

fn attributes(upn: &str) -> UserAttributes {
    UserAttributes {
        user_name: upn.to_owned(),
        display_name: Some(format!("Display {upn}")),
        given_name: Some("Ann".into()),
        surname: Some("Lee".into()),
        email: Some(upn.to_owned()),
        mobile_phone: Some("+44 7700 900000".into()),
        job_title: Some("Engineer".into()),
        department: Some("R&D".into()),
        enabled: true,
    }
}

/// A user as the import creates it: its id is its Entra id.
fn imported_user(entra_id: &str) -> UserItem {
    let attributes = attributes(&format!("{entra_id}@contoso.com"));
    UserItem {
        user_id: entra_id.to_owned(),
        entra_hash: Some(EntraHash::of_user(&attributes)),
        attributes,
        source: Source::Entra,
        entra_id: None,
        password_mode: Some(PasswordMode::Entra),
        import_deleted_at: None,
        entra_origin: None,
    }
}

fn imported_group(entra_id: &str) -> GroupItem {
    let attributes = GroupAttributes {
        name: format!("Group {entra_id}"),
        description: Some("imported".into()),
    };
    GroupItem {
        group_id: entra_id.to_owned(),
        entra_hash: Some(EntraHash::of_group(&attributes)),
        attributes,
        source: Source::Entra,
        entra_id: None,
        import_deleted_at: None,
        entra_origin: None,
    }
}

/// A platform user linked to an Entra user by an earlier export.
fn platform_user(user_id: &str, entra_id: &str) -> Value {
    json!({
        "user_id": user_id,
        "user_name": format!("{user_id}@contoso.com"),
        "enabled": true,
        "source": "local",
        "entra_id": entra_id,
        "role": "admin",
    })
}

fn membership(group_id: &str, user_id: &str) -> MembershipKey {
    MembershipKey {
        group_id: group_id.to_owned(),
        user_id: user_id.to_owned(),
    }
}

fn member_sk(key: &MembershipKey) -> String {
    format!("MEMBER#{}", key.encode())
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

// ---------------------------------------------------------------- directory

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
        assert_eq!(user.entra_id.as_deref(), Some(entra_guid(n).as_str()));
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
            found[&entra_guid(2)].entra_id.as_deref(),
            Some(entra_guid(2).as_str())
        );
        assert_eq!(
            found[&entra_guid(2)].entra_origin,
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

#[tokio::test]
async fn given_a_created_user_when_updated_with_values_removed_then_only_the_import_attributes_change()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let id = entra_guid(1);
    let created = imported_user(&id);
    store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::CreateUser(created.clone())],
        )
        .await
        .unwrap();
    let sk = format!("USER#{id}");
    let item = fresh.directory_item(&sk).await.unwrap();
    assert_eq!(
        text(&item, "sync_entra_hash"),
        Some(created.entra_hash.as_ref().unwrap().as_str())
    );
    assert_eq!(item.get("enabled"), Some(&AttributeValue::Bool(true)));
    assert_eq!(text(&item, "source"), Some("entra"));
    // The platform adds attributes of its own.
    fresh
        .aws
        .dynamodb
        .update_item()
        .table_name(&fresh.tables.directory)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S(sk.clone()))
        .update_expression("SET #role = :role, sync_other = :other")
        .expression_attribute_names("#role", "role")
        .expression_attribute_values(":role", AttributeValue::S("admin".into()))
        .expression_attribute_values(":other", AttributeValue::N("7".into()))
        .send()
        .await
        .unwrap();

    let mut changed = created.attributes.clone();
    changed.department = None;
    changed.mobile_phone = None;
    changed.job_title = Some("Director".into());
    changed.enabled = false;
    let hash = EntraHash::of_user(&changed);
    let written = store
        .apply(
            &fresh.tenant,
            vec![DirectoryWrite::UpdateUser {
                user_id: id.clone(),
                entra_link: None,
                attributes: changed.clone(),
                password_mode: None,
                hash: hash.clone(),
            }],
        )
        .await
        .unwrap();

    assert_eq!(written, 1);
    let item = fresh.directory_item(&sk).await.unwrap();
    assert!(!item.contains_key("department"), "{item:?}");
    assert!(!item.contains_key("mobile_phone"), "{item:?}");
    assert!(
        !item.contains_key("entra_id"),
        "an imported user gets no link"
    );
    assert_eq!(text(&item, "job_title"), Some("Director"));
    assert_eq!(item.get("enabled"), Some(&AttributeValue::Bool(false)));
    assert_eq!(text(&item, "sync_entra_hash"), Some(hash.as_str()));
    assert_eq!(text(&item, "role"), Some("admin"));
    assert_eq!(item.get("sync_other"), Some(&AttributeValue::N("7".into())));
    assert_eq!(text(&item, "source"), Some("entra"));
    assert_eq!(
        text(&item, "password_mode"),
        Some("entra"),
        "None leaves it"
    );
    let read = store
        .users_by_entra_id(&fresh.tenant, std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(read[&id].attributes, changed);
    assert_eq!(read[&id].entra_hash.as_ref(), Some(&hash));
}

#[tokio::test]
async fn given_a_linked_platform_user_and_group_when_updated_then_the_link_and_values_are_set_and_the_rest_stays()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let mut platform = platform_user("p-1", &entra_guid(1));
    platform["password_mode"] = json!("temporary");
    platform["department"] = json!("Sales");
    fresh.put_directory("USER#p-1", platform).await;
    fresh
        .put_directory(
            "GROUP#pg-1",
            json!({"group_id": "pg-1", "name": "Old", "description": "keep?", "source": "local", "owner": "p-1"}),
        )
        .await;
    let attributes = attributes("p-1@contoso.com");
    let group_attributes = GroupAttributes {
        name: "New".into(),
        description: None,
    };
    store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::UpdateUser {
                    user_id: "p-1".into(),
                    entra_link: Some(entra_guid(1)),
                    attributes: attributes.clone(),
                    password_mode: Some(PasswordMode::Entra),
                    hash: EntraHash::of_user(&attributes),
                },
                DirectoryWrite::UpdateGroup {
                    group_id: "pg-1".into(),
                    entra_link: Some(entra_guid(2)),
                    attributes: group_attributes.clone(),
                    hash: EntraHash::of_group(&group_attributes),
                },
            ],
        )
        .await
        .unwrap();

    let user = fresh.directory_item("USER#p-1").await.unwrap();
    assert_eq!(text(&user, "entra_id"), Some(entra_guid(1).as_str()));
    assert_eq!(text(&user, "department"), Some("R&D"));
    assert_eq!(text(&user, "password_mode"), Some("entra"));
    assert_eq!(text(&user, "source"), Some("local"));
    assert_eq!(text(&user, "role"), Some("admin"));
    assert_eq!(
        text(&user, "sync_entra_hash"),
        Some(EntraHash::of_user(&attributes).as_str())
    );
    let group = fresh.directory_item("GROUP#pg-1").await.unwrap();
    assert_eq!(text(&group, "name"), Some("New"));
    assert!(!group.contains_key("description"), "{group:?}");
    assert_eq!(text(&group, "entra_id"), Some(entra_guid(2).as_str()));
    assert_eq!(text(&group, "owner"), Some("p-1"));
    assert_eq!(
        text(&group, "sync_entra_hash"),
        Some(EntraHash::of_group(&group_attributes).as_str())
    );
}

/// The stream's records of one item, in order: (event, new image, old image).
type Change = (
    OperationType,
    Option<HashMap<String, StreamValue>>,
    Option<HashMap<String, StreamValue>>,
);

fn changes_of(records: &[aws_sdk_dynamodbstreams::types::Record], sk: &str) -> Vec<Change> {
    records
        .iter()
        .filter_map(|r| {
            let change = r.dynamodb.as_ref()?;
            let key = change.keys.as_ref()?.get("sk")?.as_s().ok()?;
            if key != sk {
                return None;
            }
            Some((
                r.event_name.clone()?,
                change.new_image.clone(),
                change.old_image.clone(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn given_a_user_group_and_membership_when_deleted_then_each_is_marked_by_the_import_before_its_removal()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let user = entra_guid(1);
    let group = entra_guid(2);
    let member = membership(&group, &user);
    store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::CreateUser(imported_user(&user)),
                DirectoryWrite::CreateGroup(imported_group(&group)),
                DirectoryWrite::AddMembership(member.clone()),
            ],
        )
        .await
        .unwrap();
    let mut cursor = StreamCursor::on_table(&fresh.aws, &fresh.tables.directory)
        .await
        .unwrap();

    store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::DeleteUser {
                    user_id: user.clone(),
                },
                DirectoryWrite::DeleteGroup {
                    group_id: group.clone(),
                },
                DirectoryWrite::RemoveMembership(member.clone()),
            ],
        )
        .await
        .unwrap();

    let records = cursor.read().await.unwrap();
    for sk in [
        format!("USER#{user}"),
        format!("GROUP#{group}"),
        member_sk(&member),
    ] {
        assert!(fresh.directory_item(&sk).await.is_none(), "{sk} remains");
        let changes = changes_of(&records, &sk);
        let events: Vec<&OperationType> = changes.iter().map(|c| &c.0).collect();
        assert_eq!(
            events,
            [&OperationType::Modify, &OperationType::Remove],
            "{sk}: {changes:?}"
        );
        let marked = changes[0].1.as_ref().unwrap();
        let stamp = marked["sync_import_deleted_at"].as_s().unwrap();
        assert!(DateTime::parse_from_rfc3339(stamp).is_ok(), "{stamp}");
        let removed = changes[1].2.as_ref().unwrap();
        assert_eq!(
            removed["sync_import_deleted_at"].as_s().unwrap(),
            stamp,
            "the REMOVE record's old image says the import deleted {sk}"
        );
    }
}

#[tokio::test]
async fn given_vanished_items_when_written_then_none_is_recreated() {
    let fresh = Fresh::tables().await;
    let store = fresh.directory();
    let attributes = attributes("gone@contoso.com");
    let group_attributes = GroupAttributes {
        name: "Gone".into(),
        description: None,
    };
    let written = store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::UpdateUser {
                    user_id: "u-gone".into(),
                    entra_link: Some(entra_guid(1)),
                    attributes: attributes.clone(),
                    password_mode: Some(PasswordMode::Entra),
                    hash: EntraHash::of_user(&attributes),
                },
                DirectoryWrite::UpdateGroup {
                    group_id: "g-gone".into(),
                    entra_link: None,
                    attributes: group_attributes.clone(),
                    hash: EntraHash::of_group(&group_attributes),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(written, 0, "an update of a vanished item writes nothing");
    store
        .apply(
            &fresh.tenant,
            vec![
                DirectoryWrite::DeleteUser {
                    user_id: "u-deleted".into(),
                },
                DirectoryWrite::RemoveMembership(membership("g-gone", "u-gone")),
            ],
        )
        .await
        .unwrap();
    store
        .record_entra_state(
            &ItemKey::user(&fresh.tenant, "u-exported"),
            &entra_guid(2),
            &EntraHash::of_user(&attributes),
            None,
        )
        .await
        .unwrap();

    let items = fresh
        .aws
        .dynamodb
        .scan()
        .table_name(&fresh.tables.directory)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert!(items.is_empty(), "recreated: {items:?}");
}

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
    assert_eq!(user.entra_id, None);
    assert_eq!(user.entra_hash, None);
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
    assert_eq!(user.entra_id.as_deref(), Some(entra_guid(1).as_str()));
    assert_eq!(user.entra_hash.as_ref(), Some(&user_hash));
    let group = store.group(&fresh.tenant, "pg-1").await.unwrap().unwrap();
    assert_eq!(group.entra_id.as_deref(), Some(entra_guid(2).as_str()));
    assert_eq!(group.entra_hash.as_ref(), Some(&group_hash));
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

// --------------------------------------------------------------- sync state

fn checkpoint(round: &str, page: u32) -> Checkpoint {
    Checkpoint {
        round_id: round.to_owned(),
        scope_fingerprint: "fp-1".into(),
        mode: Mode::Full,
        phase: Phase::Groups,
        next_link: Some("https://graph.microsoft.com/v1.0/groups/delta?$skiptoken=abc".into()),
        page,
        recorded_pages: page,
        users_delta_link: Some("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=u".into()),
        groups_delta_link: None,
        scope_changed: true,
        scope_applying: true,
        earlier_imports: false,
        seen: Some(SeenBuckets::default()),
        counts: Counts {
            users_created: 3,
            members_added: 2,
            ..Counts::default()
        },
        started_at: Utc::now().trunc_subsecs(0),
    }
}

fn counts() -> Counts {
    Counts {
        users_created: 1,
        users_updated: 2,
        users_deleted: 3,
        groups_created: 4,
        groups_updated: 5,
        groups_deleted: 6,
        members_added: 7,
        members_removed: 8,
    }
}

fn status(result: RunResult, error: Option<&str>) -> RunStatus {
    RunStatus {
        completed_at: Some(Utc::now()),
        result,
        error: error.map(str::to_owned),
        mode: Mode::Delta,
        counts: counts(),
        open_problems: Some(0),
    }
}

#[tokio::test]
async fn given_the_lease_when_runs_begin_then_a_free_expired_or_own_lease_is_taken_and_a_held_one_refused()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let now = Utc::now();
    let lease = Duration::seconds(90);

    let first = store
        .begin_run(&fresh.tenant, "run-a", now, now + lease)
        .await
        .unwrap();
    assert_eq!(first, Some(SyncState::default()), "a free lease");
    let item = fresh.status_item().await;
    assert_eq!(text(&item, "lease_owner"), Some("run-a"));
    assert_eq!(
        text(&item, "last_sync_started_at"),
        Some(
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str()
        )
    );

    let refused = store
        .begin_run(
            &fresh.tenant,
            "run-b",
            now + Duration::seconds(30),
            now + Duration::seconds(120),
        )
        .await
        .unwrap();
    assert_eq!(refused, None, "held by run-a");
    assert_eq!(
        text(&fresh.status_item().await, "lease_owner"),
        Some("run-a")
    );

    let again = store
        .begin_run(
            &fresh.tenant,
            "run-a",
            now + Duration::seconds(40),
            now + Duration::seconds(130),
        )
        .await
        .unwrap();
    assert!(again.is_some(), "its own lease");
    assert!(
        again.unwrap().ran_before,
        "a run had begun before: the directory may hold its imports"
    );

    let later = now + Duration::seconds(131);
    let taken = store
        .begin_run(&fresh.tenant, "run-b", later, later + lease)
        .await
        .unwrap();
    assert!(taken.is_some(), "an expired lease");
    assert_eq!(
        text(&fresh.status_item().await, "lease_owner"),
        Some("run-b")
    );
    assert_eq!(
        store
            .begin_run(&fresh.tenant, "run-a", later, later + lease)
            .await
            .unwrap(),
        None,
        "run-a lost it"
    );
}

#[tokio::test]
async fn given_a_run_without_the_lease_when_it_checkpoints_or_finishes_then_the_lease_is_lost() {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let now = Utc::now();
    let cp = checkpoint("round-1", 1);
    let state = SyncState::default();
    let ok = status(RunResult::Ok, None);

    // No status item at all.
    assert!(matches!(
        store
            .checkpoint(&fresh.tenant, "run-b", &cp, now + Duration::seconds(90))
            .await,
        Err(LeaseError::Lost)
    ));
    assert!(matches!(
        store.finish_run(&fresh.tenant, "run-b", &state, &ok).await,
        Err(LeaseError::Lost)
    ));

    store
        .begin_run(&fresh.tenant, "run-a", now, now + Duration::seconds(90))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        store
            .checkpoint(&fresh.tenant, "run-b", &cp, now + Duration::seconds(900))
            .await,
        Err(LeaseError::Lost)
    ));
    assert!(matches!(
        store.finish_run(&fresh.tenant, "run-b", &state, &ok).await,
        Err(LeaseError::Lost)
    ));
    let item = fresh.status_item().await;
    assert_eq!(text(&item, "lease_owner"), Some("run-a"));
    assert!(!item.contains_key("checkpoint"), "{item:?}");
    assert!(!item.contains_key("last_sync_result"), "{item:?}");
    assert_eq!(
        item.get("lease_until_ms"),
        Some(&AttributeValue::N(
            (now + Duration::seconds(90)).timestamp_millis().to_string()
        )),
        "run-b renewed nothing"
    );
    // The holder still can.
    store
        .checkpoint(&fresh.tenant, "run-a", &cp, now + Duration::seconds(100))
        .await
        .unwrap();
}

#[tokio::test]
async fn given_a_checkpointed_run_when_abandoned_then_the_lease_is_free_and_the_next_run_resumes_the_checkpoint()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let now = Utc::now();
    let cp = checkpoint("round-7", 4);
    store
        .begin_run(&fresh.tenant, "run-a", now, now + Duration::seconds(90))
        .await
        .unwrap()
        .unwrap();
    store
        .checkpoint(&fresh.tenant, "run-a", &cp, now + Duration::seconds(90))
        .await
        .unwrap();

    // Someone else's abandon changes nothing.
    store
        .abandon_run(&fresh.tenant, "run-x", None)
        .await
        .unwrap();
    assert_eq!(
        text(&fresh.status_item().await, "lease_owner"),
        Some("run-a")
    );

    let failed = RunStatus::failed("Graph answered 503".into(), &cp);
    store
        .abandon_run(&fresh.tenant, "run-a", Some(&failed))
        .await
        .unwrap();

    let item = fresh.status_item().await;
    assert!(!item.contains_key("lease_owner"), "{item:?}");
    assert!(!item.contains_key("lease_until_ms"), "{item:?}");
    assert_eq!(text(&item, "last_sync_result"), Some("error"));
    assert_eq!(text(&item, "last_sync_error"), Some("Graph answered 503"));
    assert_eq!(text(&item, "last_sync_mode"), Some("full"));
    let resumed = store
        .begin_run(
            &fresh.tenant,
            "run-b",
            now + Duration::seconds(1),
            now + Duration::seconds(91),
        )
        .await
        .unwrap()
        .expect("the lease is free at once");
    assert_eq!(resumed.checkpoint, Some(cp));
}

fn count_map(item: &Item) -> HashMap<String, String> {
    item["last_sync_counts"]
        .as_m()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_n().unwrap().clone()))
        .collect()
}

#[tokio::test]
async fn given_runs_that_finish_then_the_delta_links_and_status_are_stored_and_the_lease_released()
{
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let now = Utc::now();
    let lease = Duration::seconds(90);
    store
        .begin_run(&fresh.tenant, "run-a", now, now + lease)
        .await
        .unwrap()
        .unwrap();
    store
        .checkpoint(&fresh.tenant, "run-a", &checkpoint("r", 1), now + lease)
        .await
        .unwrap();
    let state = SyncState {
        users_delta_link: Some("https://graph/users/delta?$deltatoken=U1".into()),
        groups_delta_link: Some("https://graph/groups/delta?$deltatoken=G1".into()),
        scope_fingerprint: Some("fp-9".into()),
        checkpoint: None,
        holding_deletions: true,
        // What begin_run reports afterwards: run-a had begun.
        ran_before: true,
        previous_run_died: false,
    };
    let held = status(RunResult::Held, Some("12 users would be deleted"));
    store
        .finish_run(&fresh.tenant, "run-a", &state, &held)
        .await
        .unwrap();

    let item = fresh.status_item().await;
    for gone in ["lease_owner", "lease_until_ms", "checkpoint"] {
        assert!(!item.contains_key(gone), "{gone}: {item:?}");
    }
    assert_eq!(text(&item, "last_sync_result"), Some("held"));
    assert_eq!(
        text(&item, "last_sync_error"),
        Some("12 users would be deleted")
    );
    assert_eq!(text(&item, "last_sync_mode"), Some("delta"));
    assert_eq!(
        text(&item, "last_sync_completed_at"),
        Some(
            held.completed_at
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str()
        )
    );
    let expected_counts: HashMap<String, String> = counts()
        .as_pairs()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(count_map(&item), expected_counts);
    assert_eq!(expected_counts.len(), 8);

    let next = store
        .begin_run(&fresh.tenant, "run-b", now, now + lease)
        .await
        .unwrap()
        .expect("released");
    assert_eq!(next, state);

    // An ok run without a groups link: the error and that link are removed.
    let state = SyncState {
        groups_delta_link: None,
        holding_deletions: false,
        ..state
    };
    let ok = RunStatus {
        counts: Counts::default(),
        mode: Mode::Full,
        ..status(RunResult::Ok, None)
    };
    store
        .finish_run(&fresh.tenant, "run-b", &state, &ok)
        .await
        .unwrap();
    let item = fresh.status_item().await;
    assert_eq!(text(&item, "last_sync_result"), Some("ok"));
    assert_eq!(text(&item, "last_sync_mode"), Some("full"));
    assert!(!item.contains_key("last_sync_error"), "{item:?}");
    assert!(!item.contains_key("groups_delta_link"), "{item:?}");
    assert!(count_map(&item).values().all(|v| v == "0"));
    let next = store
        .begin_run(&fresh.tenant, "run-c", now, now + lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, state);
}

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

// ------------------------------------------------------------- integrations

#[tokio::test]
async fn given_config_items_when_read_then_they_parse_and_a_malformed_attribute_is_named() {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    assert!(store.tenant_config(&fresh.tenant).await.unwrap().is_none());
    fresh
        .put_config(json!({
            "entra_tenant_id": CONTOSO,
            "import_users": true,
            "export_groups": true,
            "domains": ["Contoso.com", "fabrikam.com"],
            "import_group_ids": [entra_guid(1)],
            "resync_requested_at": "2024-05-01T10:00:00Z",
            "deletion_threshold_percent": 35,
            "approve_held_deletions": true,
            "authorisation": "authorised",
            "authorised_by": "admin@contoso.com",
        }))
        .await;

    let config = store.tenant_config(&fresh.tenant).await.unwrap().unwrap();

    assert_eq!(config.tenant_id, fresh.tenant);
    assert_eq!(config.label.as_deref(), Some("Contoso"));
    assert_eq!(
        config.entra_tenant_id,
        Some(EntraTenantId::parse(CONTOSO).unwrap())
    );
    assert!(config.sync_enabled && config.import_users && config.export_groups);
    assert!(!config.import_groups && !config.export_users);
    assert_eq!(config.domains, vec!["contoso.com", "fabrikam.com"]);
    assert_eq!(config.import_group_ids.len(), 1);
    assert_eq!(
        config.resync_requested_raw.as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
    assert_eq!(config.deletion_threshold_percent, 35);
    assert!(config.approve_held_deletions);
    assert_eq!(config.authorisation, Authorisation::Authorised);
    assert_eq!(config.authorised_by.as_deref(), Some("admin@contoso.com"));

    fresh.put_config(json!({"import_users": "yes"})).await;
    match store.tenant_config(&fresh.tenant).await {
        Err(StoreError::Config(e)) => {
            assert_eq!(e.attribute, "import_users");
            assert!(e.to_string().contains("import_users"), "{e}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    fresh
        .put_config(json!({"deletion_threshold_percent": 250}))
        .await;
    match store.tenant_config(&fresh.tenant).await {
        Err(StoreError::Config(e)) => assert_eq!(e.attribute, "deletion_threshold_percent"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test]
async fn given_a_resync_request_when_cleared_then_it_is_removed_only_if_unchanged() {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    // No config: nothing to clear, and nothing created.
    store
        .clear_resync_request(&fresh.tenant, "2024-05-01T10:00:00Z")
        .await
        .unwrap();
    assert!(fresh.config_item().await.is_none());

    fresh
        .put_config(json!({"resync_requested_at": "2024-05-01T11:00:00Z"}))
        .await;
    store
        .clear_resync_request(&fresh.tenant, "2024-05-01T10:00:00Z")
        .await
        .unwrap();
    let item = fresh.config_item().await.unwrap();
    assert_eq!(
        text(&item, "resync_requested_at"),
        Some("2024-05-01T11:00:00Z"),
        "requested again since: kept"
    );

    store
        .clear_resync_request(&fresh.tenant, "2024-05-01T11:00:00Z")
        .await
        .unwrap();
    let item = fresh.config_item().await.unwrap();
    assert!(!item.contains_key("resync_requested_at"), "{item:?}");
    assert_eq!(text(&item, "label"), Some("Contoso"));
    assert_eq!(item.get("sync_enabled"), Some(&AttributeValue::Bool(true)));
}

#[tokio::test]
async fn given_an_approval_when_cleared_then_it_is_false_and_no_config_is_created_for_an_unknown_tenant()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    store.clear_deletion_approval(&fresh.tenant).await.unwrap();
    assert!(fresh.config_item().await.is_none());

    fresh
        .put_config(json!({"approve_held_deletions": true}))
        .await;
    store.clear_deletion_approval(&fresh.tenant).await.unwrap();

    let item = fresh.config_item().await.unwrap();
    assert_eq!(
        item.get("approve_held_deletions"),
        Some(&AttributeValue::Bool(false))
    );
    assert_eq!(text(&item, "label"), Some("Contoso"));
    assert!(
        !store
            .tenant_config(&fresh.tenant)
            .await
            .unwrap()
            .unwrap()
            .approve_held_deletions
    );
}

#[tokio::test]
async fn given_a_dead_grant_when_marked_then_the_config_requires_reauthorisation_and_an_unknown_tenant_gets_none()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    store
        .mark_reauthorisation_required(&fresh.tenant)
        .await
        .unwrap();
    assert!(fresh.config_item().await.is_none());
    assert!(
        fresh
            .aws
            .dynamodb
            .scan()
            .table_name(&fresh.tables.integrations)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
            .is_empty()
    );

    fresh
        .put_config(json!({"authorisation": "authorised", "authorised_by": "admin@contoso.com"}))
        .await;
    store
        .mark_reauthorisation_required(&fresh.tenant)
        .await
        .unwrap();

    let config = store.tenant_config(&fresh.tenant).await.unwrap().unwrap();
    assert_eq!(config.authorisation, Authorisation::ReauthorisationRequired);
    assert_eq!(config.authorised_by.as_deref(), Some("admin@contoso.com"));
    assert!(!config.is_authorised());
}

fn pending(state: &str) -> PendingAuthorisation {
    let now = Utc::now().trunc_subsecs(0);
    PendingAuthorisation {
        state: SecretString::from(state.to_owned()),
        tenant_id: TenantId::parse(TENANT).unwrap(),
        authority: "organizations".into(),
        pkce_verifier: SecretString::from(format!("verifier-{state}")),
        created_at: now,
        expires_at: now + Duration::minutes(10),
    }
}

#[tokio::test]
async fn given_pending_authorisations_when_taken_twice_at_once_then_exactly_one_caller_gets_each() {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    let states: Vec<String> = (0..10)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    for state in &states {
        store
            .save_pending_authorisation(&pending(state))
            .await
            .unwrap();
    }
    assert!(
        store
            .save_pending_authorisation(&pending(&states[0]))
            .await
            .is_err(),
        "a state is saved once"
    );

    for state in &states {
        let (a, b) = tokio::join!(
            store.take_pending_authorisation(state),
            store.take_pending_authorisation(state)
        );
        let taken: Vec<PendingAuthorisation> =
            [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(taken.len(), 1, "state {state}");
        let expected = pending(state);
        let got = &taken[0];
        assert_eq!(got.state.expose_secret(), state);
        assert_eq!(got.tenant_id, expected.tenant_id);
        assert_eq!(got.authority, "organizations");
        assert_eq!(
            got.pkce_verifier.expose_secret(),
            expected.pkce_verifier.expose_secret()
        );
        assert_eq!(got.expires_at - got.created_at, Duration::minutes(10));
        assert!(
            store
                .take_pending_authorisation(state)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        store
            .take_pending_authorisation("never-issued")
            .await
            .unwrap()
            .is_none()
    );
}

fn record(entra_tenant: &str, by: Option<&str>) -> AuthorisationRecord {
    AuthorisationRecord {
        entra_tenant_id: EntraTenantId::parse(entra_tenant).unwrap(),
        authorised_at: Utc::now().trunc_subsecs(0),
        authorised_by: by.map(str::to_owned),
    }
}

#[tokio::test]
async fn given_sign_ins_when_recorded_then_the_outcome_is_recorded_config_missing_or_tenant_mismatch()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    assert_eq!(
        store
            .record_authorisation(&fresh.tenant, &record(CONTOSO, Some("admin@contoso.com")))
            .await
            .unwrap(),
        RecordOutcome::ConfigMissing
    );
    assert!(fresh.config_item().await.is_none(), "no config created");

    // The config has no Entra tenant yet: the sign-in fills it.
    fresh.put_config(json!({})).await;
    let first = record(CONTOSO, Some("admin@contoso.com"));
    assert_eq!(
        store
            .record_authorisation(&fresh.tenant, &first)
            .await
            .unwrap(),
        RecordOutcome::Recorded
    );
    let config = store.tenant_config(&fresh.tenant).await.unwrap().unwrap();
    assert_eq!(config.authorisation, Authorisation::Authorised);
    assert_eq!(
        config.entra_tenant_id,
        Some(EntraTenantId::parse(CONTOSO).unwrap())
    );
    assert_eq!(config.authorised_at, Some(first.authorised_at));
    assert_eq!(config.authorised_by.as_deref(), Some("admin@contoso.com"));
    assert_eq!(
        text(&fresh.config_item().await.unwrap(), "label"),
        Some("Contoso")
    );

    // The same organisation again, without a UPN: recorded, the old UPN gone.
    assert_eq!(
        store
            .record_authorisation(&fresh.tenant, &record(CONTOSO, None))
            .await
            .unwrap(),
        RecordOutcome::Recorded
    );
    assert!(
        !fresh
            .config_item()
            .await
            .unwrap()
            .contains_key("authorised_by")
    );

    // Another organisation: refused, the config untouched.
    fresh
        .put_config(
            json!({"entra_tenant_id": CONTOSO, "authorisation": "reauthorisation_required"}),
        )
        .await;
    assert_eq!(
        store
            .record_authorisation(&fresh.tenant, &record(FABRIKAM, Some("admin@fabrikam.com")))
            .await
            .unwrap(),
        RecordOutcome::TenantMismatch
    );
    let item = fresh.config_item().await.unwrap();
    assert_eq!(text(&item, "entra_tenant_id"), Some(CONTOSO));
    assert_eq!(
        text(&item, "authorisation"),
        Some("reauthorisation_required")
    );
    assert!(!item.contains_key("authorised_by"));
}
