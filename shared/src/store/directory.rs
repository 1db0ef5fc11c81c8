//! `DIRECTORY_TABLE` on DynamoDB as the import engine's `DirectoryStore`:
//! batched reads, batched puts and deletes, and updates that touch only the
//! attributes the import owns.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::dynamo::{
    Item, conditional, key as item_key, malformed, s, tenant_pk, text, unavailable,
};
use crate::import::ObjectKind;
use crate::import::records::{
    DirectoryWrite, GroupAttributes, GroupRecord, MembershipKey, PasswordMode, Source,
    UserAttributes, UserRecord,
};
use crate::model::TenantId;
use crate::ports::StoreError;

pub const ENTRA_ID_INDEX: &str = "by-entra-id";
/// Per-id index look-ups up to this many misses; beyond, one range query.
const POINT_LOOKUP_LIMIT: usize = 8;
const CONCURRENCY: usize = 16;

fn user_sk(id: &str) -> String {
    format!("USER#{id}")
}

fn group_sk(id: &str) -> String {
    format!("GROUP#{id}")
}

fn member_sk(key: &MembershipKey) -> String {
    format!("MEMBER#{}#{}", key.group_id, key.user_id)
}

fn source_of(item: &Item) -> Source {
    match text(item, "source").as_deref() {
        Some("entra") => Source::Entra,
        _ => Source::Local,
    }
}

/// Whether the platform changed the item since it last agreed with Entra.
fn pending_export(json: &serde_json::Map<String, serde_json::Value>, attributes: &[&str]) -> bool {
    json.get(crate::directory::ENTRA_HASH)
        .and_then(|v| v.as_str())
        .is_some_and(|stored| crate::directory::entra_hash(json, attributes) != stored)
}

/// The hash of the values a write sets (see `crate::directory`).
fn hash_of(
    values: &[(&'static str, Option<AttributeValue>)],
    attributes: &[&str],
) -> AttributeValue {
    let json: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .filter_map(|(name, value)| {
            let value = match value.as_ref()? {
                AttributeValue::S(s) => serde_json::Value::String(s.clone()),
                AttributeValue::Bool(b) => serde_json::Value::Bool(*b),
                _ => return None,
            };
            Some(((*name).to_owned(), value))
        })
        .collect();
    s(crate::directory::entra_hash(&json, attributes))
}

fn parse_user(item: &Item) -> Result<UserRecord, StoreError> {
    let user_id = text(item, "user_id").ok_or_else(|| malformed("a user item", "no user_id"))?;
    // One conversion per item serves the hash check and the Entra id.
    let json: serde_json::Map<String, serde_json::Value> =
        serde_dynamo::from_item(item.clone()).unwrap_or_default();
    Ok(UserRecord {
        pending_export: pending_export(&json, crate::directory::USER_ATTRIBUTES),
        source: source_of(item),
        entra_id: crate::directory::entra_id_of(&json, &user_id).map(str::to_owned),
        attributes: UserAttributes {
            user_name: text(item, "user_name").unwrap_or_default(),
            display_name: text(item, "display_name"),
            given_name: text(item, "given_name"),
            surname: text(item, "surname"),
            email: text(item, "email"),
            mobile_phone: text(item, "mobile_phone"),
            job_title: text(item, "job_title"),
            department: text(item, "department"),
            enabled: item
                .get("enabled")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(true),
            password_mode: match text(item, "password_mode").as_deref() {
                Some("entra") => PasswordMode::Entra,
                _ => PasswordMode::Temporary,
            },
        },
        user_id,
    })
}

fn parse_group(item: &Item) -> Result<GroupRecord, StoreError> {
    let group_id =
        text(item, "group_id").ok_or_else(|| malformed("a group item", "no group_id"))?;
    let json: serde_json::Map<String, serde_json::Value> =
        serde_dynamo::from_item(item.clone()).unwrap_or_default();
    Ok(GroupRecord {
        pending_export: pending_export(&json, crate::directory::GROUP_ATTRIBUTES),
        source: source_of(item),
        entra_id: crate::directory::entra_id_of(&json, &group_id).map(str::to_owned),
        attributes: GroupAttributes {
            name: text(item, "name").unwrap_or_default(),
            description: text(item, "description"),
        },
        group_id,
    })
}

/// The user attributes the import owns, as (name, value); `None` = remove.
fn user_attribute_values(a: &UserAttributes) -> Vec<(&'static str, Option<AttributeValue>)> {
    let opt = |v: &Option<String>| v.clone().map(AttributeValue::S);
    vec![
        ("user_name", Some(s(&a.user_name))),
        ("display_name", opt(&a.display_name)),
        ("given_name", opt(&a.given_name)),
        ("surname", opt(&a.surname)),
        ("email", opt(&a.email)),
        ("mobile_phone", opt(&a.mobile_phone)),
        ("job_title", opt(&a.job_title)),
        ("department", opt(&a.department)),
        ("enabled", Some(AttributeValue::Bool(a.enabled))),
        ("password_mode", Some(s(a.password_mode.as_str()))),
    ]
}

fn group_attribute_values(a: &GroupAttributes) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        ("name", Some(s(&a.name))),
        ("description", a.description.clone().map(AttributeValue::S)),
    ]
}

#[derive(Debug)]
pub struct DynamoDirectoryStore {
    client: Client,
    table: String,
    writes: AtomicU64,
}

/// A new user or group item with the import's attributes and their hash.
fn new_item(
    sk: String,
    (id_name, id): (&str, &str),
    source: Source,
    entra_id: Option<&str>,
    values: Vec<(&'static str, Option<AttributeValue>)>,
    synchronised: &[&str],
) -> Item {
    let mut item: Item = HashMap::from([
        (
            crate::directory::ENTRA_HASH.to_owned(),
            hash_of(&values, synchronised),
        ),
        ("sk".to_owned(), s(sk)),
        (id_name.to_owned(), s(id)),
        ("source".to_owned(), s(source.as_str())),
    ]);
    item.extend(
        values
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    // Imported objects are their Entra object: no entra_id, which keeps
    // the by-entra-id index to linked objects.
    if let Some(entra_id) = entra_id.filter(|e| *e != id) {
        item.insert("entra_id".to_owned(), s(entra_id));
    }
    item
}

/// An update of the attributes the import owns.
struct AttributeUpdate {
    sk: String,
    /// Set only on linked objects, whose id is not their Entra id.
    entra_link: Option<String>,
    values: Vec<(&'static str, Option<AttributeValue>)>,
    /// The synchronised attribute names (for the hash).
    synchronised: &'static [&'static str],
}

impl DynamoDirectoryStore {
    pub fn new(client: Client, table: String) -> Self {
        Self {
            client,
            table,
            writes: AtomicU64::new(0),
        }
    }

    /// Items written or deleted so far (for the benchmark).
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// BatchGetItem in chunks of 100, retrying unprocessed keys.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let chunks: Vec<Vec<Item>> = keys.chunks(100).map(<[Item]>::to_vec).collect();
        let results: Vec<Vec<Item>> = stream::iter(chunks)
            .map(|chunk| async move {
                let mut found = Vec::new();
                let mut pending = Some(
                    KeysAndAttributes::builder()
                        .set_keys(Some(chunk))
                        .consistent_read(true)
                        .build()
                        .map_err(|e| malformed("a key set", e.to_string()))?,
                );
                let mut attempt = 0u32;
                while let Some(request) = pending.take() {
                    let output = self
                        .client
                        .batch_get_item()
                        .request_items(&self.table, request)
                        .send()
                        .await
                        .map_err(unavailable("reading directory items"))?;
                    found.extend(
                        output
                            .responses
                            .and_then(|mut r| r.remove(&self.table))
                            .unwrap_or_default(),
                    );
                    pending = output
                        .unprocessed_keys
                        .and_then(|mut u| u.remove(&self.table))
                        .filter(|k| !k.keys.is_empty());
                    if pending.is_some() {
                        attempt += 1;
                        if attempt > 8 {
                            return Err(StoreError::Unavailable {
                                operation: "reading directory items",
                                detail: "keys stayed unprocessed".into(),
                            });
                        }
                        tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
                    }
                }
                Ok::<_, StoreError>(found)
            })
            .buffer_unordered(4)
            .try_collect()
            .await?;
        Ok(results.into_iter().flatten().collect())
    }

    /// BatchWriteItem in chunks of 25, retrying unprocessed items.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let chunks: Vec<Vec<WriteRequest>> =
            requests.chunks(25).map(<[WriteRequest]>::to_vec).collect();
        stream::iter(chunks)
            .map(|chunk| async move {
                let count = chunk.len() as u64;
                let mut pending = chunk;
                let mut attempt = 0u32;
                while !pending.is_empty() {
                    let output = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, pending)
                        .send()
                        .await
                        .map_err(unavailable("writing directory items"))?;
                    pending = output
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                    if !pending.is_empty() {
                        attempt += 1;
                        if attempt > 8 {
                            return Err(StoreError::Unavailable {
                                operation: "writing directory items",
                                detail: "items stayed unprocessed".into(),
                            });
                        }
                        tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
                    }
                }
                self.writes.fetch_add(count, Ordering::Relaxed);
                Ok::<_, StoreError>(())
            })
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn update(&self, tenant: &TenantId, update: AttributeUpdate) -> Result<(), StoreError> {
        let AttributeUpdate {
            sk,
            entra_link,
            values,
            synchronised,
        } = update;
        let mut set = vec![format!("{} = :hash", crate::directory::ENTRA_HASH)];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(tenant, sk)))
            .expression_attribute_values(":hash", hash_of(&values, synchronised))
            // Only an existing item is updated; a vanished one is not recreated half-empty.
            .condition_expression("attribute_exists(pk)");
        // Names through placeholders: `name` and others are reserved words.
        if let Some(entra_id) = entra_link {
            set.push("entra_id = :entra_id".to_owned());
            request = request.expression_attribute_values(":entra_id", s(entra_id));
        }
        for (i, (name, value)) in values.into_iter().enumerate() {
            request = request.expression_attribute_names(format!("#a{i}"), name);
            match value {
                Some(value) => {
                    set.push(format!("#a{i} = :a{i}"));
                    request = request.expression_attribute_values(format!(":a{i}"), value);
                }
                None => remove.push(format!("#a{i}")),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        if conditional(
            request.update_expression(expression).send().await,
            "updating a directory item",
        )? {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn mark_import_deletion(&self, tenant: &TenantId, sk: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(tenant, sk.to_owned())))
            .update_expression("SET #deleted = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#deleted", crate::directory::IMPORT_DELETED)
            .expression_attribute_values(
                ":now",
                s(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            )
            .send()
            .await;
        if conditional(result, "marking an import deletion")? {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Items of the tenant whose sk starts with `prefix`, projected.
    async fn query_prefix(
        &self,
        tenant: &TenantId,
        prefix: &str,
        projection: &str,
        only_imported: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                .expression_attribute_values(":prefix", s(prefix))
                .projection_expression(projection)
                .set_exclusive_start_key(start.take());
            if only_imported {
                query = query
                    .filter_expression("#source = :entra")
                    .expression_attribute_names("#source", "source")
                    .expression_attribute_values(":entra", s("entra"));
            }
            let output = query
                .send()
                .await
                .map_err(unavailable("listing directory items"))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Objects found through the `entra_id` index (linked local objects).
    async fn linked(
        &self,
        tenant: &TenantId,
        prefix: &str,
        entra_ids: &[String],
    ) -> Result<Vec<Item>, StoreError> {
        if entra_ids.is_empty() {
            return Ok(Vec::new());
        }
        let pk = tenant_pk(tenant);
        let wanted: HashSet<&String> = entra_ids.iter().collect();
        let queries: Vec<(String, String)> = if entra_ids.len() <= POINT_LOOKUP_LIMIT {
            entra_ids
                .iter()
                .map(|id| (id.clone(), id.clone()))
                .collect()
        } else {
            let lo = entra_ids.iter().min().cloned().unwrap_or_default();
            let hi = entra_ids.iter().max().cloned().unwrap_or_default();
            vec![(lo, hi)]
        };
        let found: Vec<Vec<Item>> = stream::iter(queries)
            .map(|(lo, hi)| {
                let pk = pk.clone();
                async move {
                    let mut items = Vec::new();
                    let mut start: Option<Item> = None;
                    loop {
                        let output = self
                            .client
                            .query()
                            .table_name(&self.table)
                            .index_name(ENTRA_ID_INDEX)
                            .key_condition_expression("pk = :pk AND entra_id BETWEEN :lo AND :hi")
                            .expression_attribute_values(":pk", s(&pk))
                            .expression_attribute_values(":lo", s(lo.clone()))
                            .expression_attribute_values(":hi", s(hi.clone()))
                            .set_exclusive_start_key(start.take())
                            .send()
                            .await
                            .map_err(unavailable("looking up linked directory objects"))?;
                        items.extend(output.items.unwrap_or_default());
                        match output.last_evaluated_key {
                            Some(key) if !key.is_empty() => start = Some(key),
                            _ => return Ok::<_, StoreError>(items),
                        }
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .flatten()
            .filter(|item| text(item, "sk").is_some_and(|sk| sk.starts_with(prefix)))
            .filter(|item| text(item, "entra_id").is_some_and(|id| wanted.contains(&id)))
            .collect())
    }

    async fn by_entra_id<R>(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
        prefix: &str,
        parse: fn(&Item) -> Result<R, StoreError>,
    ) -> Result<HashMap<String, R>, StoreError> {
        let keys = entra_ids
            .iter()
            .map(|id| item_key(tenant, format!("{prefix}{id}")))
            .collect();
        let mut found: HashMap<String, R> = HashMap::new();
        for item in self.batch_get(keys).await? {
            if let Some(id) =
                text(&item, "sk").and_then(|sk| sk.strip_prefix(prefix).map(str::to_owned))
            {
                found.insert(id, parse(&item)?);
            }
        }
        let misses: Vec<String> = entra_ids
            .iter()
            .filter(|id| !found.contains_key(*id))
            .cloned()
            .collect();
        for item in self.linked(tenant, prefix, &misses).await? {
            if let Some(entra_id) = text(&item, "entra_id") {
                found.insert(entra_id, parse(&item)?);
            }
        }
        Ok(found)
    }
}

impl crate::import::DirectoryStore for DynamoDirectoryStore {
    async fn users_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, UserRecord>, StoreError> {
        self.by_entra_id(tenant, entra_ids, "USER#", parse_user)
            .await
    }

    async fn groups_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, GroupRecord>, StoreError> {
        self.by_entra_id(tenant, entra_ids, "GROUP#", parse_group)
            .await
    }

    async fn existing_memberships(
        &self,
        tenant: &TenantId,
        keys: &[MembershipKey],
    ) -> Result<HashSet<MembershipKey>, StoreError> {
        let wanted: HashMap<String, &MembershipKey> =
            keys.iter().map(|k| (member_sk(k), k)).collect();
        let items = self
            .batch_get(
                wanted
                    .keys()
                    .map(|sk| item_key(tenant, sk.clone()))
                    .collect(),
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                text(item, "sk").and_then(|sk| wanted.get(&sk).map(|k| (*k).clone()))
            })
            .collect())
    }

    async fn imported_ids(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
    ) -> Result<Vec<String>, StoreError> {
        let (prefix, id) = match kind {
            ObjectKind::User => ("USER#", "user_id"),
            ObjectKind::Group => ("GROUP#", "group_id"),
        };
        let items = self
            .query_prefix(tenant, prefix, &format!("{id}, #source"), true)
            .await?;
        Ok(items.iter().filter_map(|item| text(item, id)).collect())
    }

    async fn imported_memberships(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        let items = self
            .query_prefix(tenant, "MEMBER#", "group_id, user_id, #source", true)
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                Some(MembershipKey {
                    group_id: text(i, "group_id")?,
                    user_id: text(i, "user_id")?,
                })
            })
            .collect())
    }

    async fn memberships_involving(
        &self,
        tenant: &TenantId,
        user_ids: &HashSet<String>,
        group_ids: &HashSet<String>,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        let mut items = Vec::new();
        if user_ids.is_empty() {
            for group in group_ids {
                items.extend(
                    self.query_prefix(
                        tenant,
                        &format!("MEMBER#{group}#"),
                        "group_id, user_id",
                        false,
                    )
                    .await?,
                );
            }
        } else {
            // A user's memberships span groups: one pass over all of them.
            items = self
                .query_prefix(tenant, "MEMBER#", "group_id, user_id", false)
                .await?;
        }
        Ok(items
            .iter()
            .filter_map(|i| {
                Some(MembershipKey {
                    group_id: text(i, "group_id")?,
                    user_id: text(i, "user_id")?,
                })
            })
            .filter(|k| user_ids.contains(&k.user_id) || group_ids.contains(&k.group_id))
            .collect())
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        writes: Vec<DirectoryWrite>,
    ) -> Result<u64, StoreError> {
        let before = self.write_count();
        let pk = tenant_pk(tenant);
        let mut batch: Vec<WriteRequest> = Vec::new();
        let mut updates: Vec<AttributeUpdate> = Vec::new();
        let mut deletions: Vec<String> = Vec::new();
        let put = |mut item: Item| {
            item.insert("pk".into(), s(&pk));
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("an item is set"),
                )
                .build()
        };
        let delete = |sk: String| {
            WriteRequest::builder()
                .delete_request(
                    DeleteRequest::builder()
                        .set_key(Some(item_key(tenant, sk)))
                        .build()
                        .expect("a key is set"),
                )
                .build()
        };
        for write in writes {
            match write {
                DirectoryWrite::CreateUser(user) => batch.push(put(new_item(
                    user_sk(&user.user_id),
                    ("user_id", &user.user_id),
                    user.source,
                    user.entra_id.as_deref(),
                    user_attribute_values(&user.attributes),
                    crate::directory::USER_ATTRIBUTES,
                ))),
                DirectoryWrite::UpdateUser {
                    user_id,
                    entra_id,
                    attributes,
                } => {
                    let link = (entra_id != user_id).then_some(entra_id);
                    let mut values = user_attribute_values(&attributes);
                    if link.is_some() {
                        // A linked platform user: password_mode is the platform's.
                        values.retain(|(name, _)| *name != "password_mode");
                    }
                    updates.push(AttributeUpdate {
                        sk: user_sk(&user_id),
                        entra_link: link,
                        values,
                        synchronised: crate::directory::USER_ATTRIBUTES,
                    });
                }
                DirectoryWrite::DeleteUser { user_id } => deletions.push(user_sk(&user_id)),
                DirectoryWrite::CreateGroup(group) => batch.push(put(new_item(
                    group_sk(&group.group_id),
                    ("group_id", &group.group_id),
                    group.source,
                    group.entra_id.as_deref(),
                    group_attribute_values(&group.attributes),
                    crate::directory::GROUP_ATTRIBUTES,
                ))),
                DirectoryWrite::UpdateGroup {
                    group_id,
                    entra_id,
                    attributes,
                } => {
                    let link = (entra_id != group_id).then_some(entra_id);
                    updates.push(AttributeUpdate {
                        sk: group_sk(&group_id),
                        entra_link: link,
                        values: group_attribute_values(&attributes),
                        synchronised: crate::directory::GROUP_ATTRIBUTES,
                    });
                }
                DirectoryWrite::DeleteGroup { group_id } => deletions.push(group_sk(&group_id)),
                DirectoryWrite::AddMembership(key) => batch.push(put(HashMap::from([
                    ("sk".to_owned(), s(member_sk(&key))),
                    ("group_id".to_owned(), s(&key.group_id)),
                    ("user_id".to_owned(), s(&key.user_id)),
                    ("source".to_owned(), s("entra")),
                ]))),
                DirectoryWrite::RemoveMembership(key) => deletions.push(member_sk(&key)),
            }
        }
        // Deletions are marked first: the stream's REMOVE record then shows
        // the import deleted the item, and the export leaves Entra alone.
        let (batched, updated, marked) = tokio::join!(
            self.batch_write(batch),
            stream::iter(updates)
                .map(|update| self.update(tenant, update))
                .buffer_unordered(CONCURRENCY)
                .try_collect::<Vec<()>>(),
            stream::iter(deletions.clone())
                .map(|sk| async move { self.mark_import_deletion(tenant, &sk).await })
                .buffer_unordered(CONCURRENCY)
                .try_collect::<Vec<()>>()
        );
        batched?;
        updated?;
        marked?;
        self.batch_write(deletions.into_iter().map(delete).collect())
            .await?;
        Ok(self.write_count() - before)
    }
}

impl crate::export::ExportDirectory for DynamoDirectoryStore {
    async fn item(
        &self,
        key: &crate::directory::ItemKey,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(key.tenant(), sort_key(key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading a directory item"))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| malformed("a directory item", e.to_string()))
            })
            .transpose()
    }

    async fn record_entra_state(
        &self,
        key: &crate::directory::ItemKey,
        entra_id: &str,
        hash: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(key.tenant(), sort_key(key))))
            .update_expression("SET entra_id = :entra_id, #hash = :hash")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#hash", crate::directory::ENTRA_HASH)
            .expression_attribute_values(":entra_id", s(entra_id))
            .expression_attribute_values(":hash", s(hash))
            .send()
            .await;
        if conditional(result, "recording the Entra link")? {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn sort_key(key: &crate::directory::ItemKey) -> String {
    use crate::directory::ItemKey;
    match key {
        ItemKey::User { user_id, .. } => user_sk(user_id),
        ItemKey::Group { group_id, .. } => group_sk(group_id),
        ItemKey::Membership {
            group_id, user_id, ..
        } => member_sk(&MembershipKey {
            group_id: group_id.clone(),
            user_id: user_id.clone(),
        }),
    }
}
