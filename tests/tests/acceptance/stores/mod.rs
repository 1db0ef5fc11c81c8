//! The DynamoDB store adapters on their own, against moto, one file per
//! adapter as in shared/src/store/: the directory (import's
//! `DirectoryStore`, export's `ExportDirectory`), the import's bookkeeping
//! (`RunLease`, `RoundLedger`, `ImportMemory`), the tenant configs and
//! pending sign-ins (`TenantConfigs`, `IntegrationsStore`), previews
//! (`PreviewRuns`), problems (`ProblemStore`), the password attempt ledger
//! and the sync queue. Every test creates its own tables from template.yaml,
//! so they run in parallel; items are checked as the table holds them, not
//! only through the adapter that wrote them.

mod app_access;
mod directory_table;
mod integrations;
mod password_attempts;
mod preview;
mod problems;
mod queue;
mod subscriptions;
mod sync_state;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{SubsecRound, Utc};
use entra_sync::import::buckets::{KeyRange, SeenBuckets};
use entra_sync::import::state::{Checkpoint, Counts, Mode, Phase};
use entra_sync::import::{DirectoryStore, ObjectKind};
use entra_sync::model::TenantId;
use entra_sync::model::directory::{
    EntraHash, EntraSync, GroupAttributes, GroupItem, MembershipKey, PasswordMode, Source,
    UserAttributes, UserItem,
};
use entra_sync::store::DynamoIntegrationsStore;
use entra_sync::store::directory_table::DynamoDirectoryStore;
use entra_sync::store::sync_state::DynamoSyncStateStore;
use entra_sync_tests::local_aws::{LocalAws, Tables};
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

    /// A client whose writes reach moto one at a time, as DynamoDB applies
    /// one item's writes (moto's threaded server takes no lock): for the
    /// tests of what a concurrent writer sees.
    async fn serialised_client(&self) -> aws_sdk_dynamodb::Client {
        let endpoint = crate::aws_proxy::start(&self.aws.endpoint, None).await;
        aws_sdk_dynamodb::Client::from_conf(
            self.aws
                .dynamodb
                .config()
                .to_builder()
                .endpoint_url(endpoint)
                .build(),
        )
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
        attributes: Default::default(),
        manager_id: None,
    }
}

/// A user as the import creates it: its id is its Entra id.
fn imported_user(entra_id: &str) -> UserItem {
    let attributes = attributes(&format!("{entra_id}@contoso.com"));
    UserItem {
        user_id: entra_id.to_owned(),
        sync: EntraSync::imported(EntraHash::of_user(&attributes)),
        attributes,
        source: Source::Entra,
        password_mode: Some(PasswordMode::Entra),
    }
}

fn imported_group(entra_id: &str) -> GroupItem {
    let attributes = GroupAttributes {
        name: format!("Group {entra_id}"),
        description: Some("imported".into()),
    };
    GroupItem {
        group_id: entra_id.to_owned(),
        sync: EntraSync::imported(EntraHash::of_group(&attributes)),
        attributes,
        source: Source::Entra,
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
        users_read: 250,
        groups_read: 7,
        run: None,
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
