//! Writing the import's changes: new items and memberships in batches,
//! updates that touch only the attributes the import owns, and deletions
//! marked first so that the stream's REMOVE record says who deleted them.

use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::{CONCURRENCY, DynamoDirectoryStore};
use crate::import::records::{DirectoryWrite, ManagerWrite};
use crate::model::TenantId;
use crate::model::directory::{
    ENTRA_HASH, EntraHash, FieldValue, GROUP_FIELDS, IMPORT_DELETED, ItemKey, MembershipItem,
    MembershipKey, Source, USER_FIELDS, UserItem,
};
use crate::ports::StoreError;
use crate::store::dynamo::{
    Item, conditional, delete_request, malformed, put_request, s, timestamp,
};
use crate::store::layout::key;

/// An update of the attributes the import owns; `None` removes one.
struct AttributeUpdate {
    key: ItemKey,
    /// Set only on linked objects, whose id is not their Entra id.
    entra_link: Option<String>,
    values: Vec<(&'static str, Option<AttributeValue>)>,
    hash: EntraHash,
}

/// The writes of one `apply`, by the DynamoDB request that makes them.
#[derive(Default)]
struct TableWrites {
    puts: Vec<WriteRequest>,
    updates: Vec<AttributeUpdate>,
    deletions: Vec<ItemKey>,
}

fn stored(value: FieldValue) -> Option<AttributeValue> {
    match value {
        FieldValue::Text(text) => text.map(AttributeValue::S),
        FieldValue::Flag(flag) => Some(AttributeValue::Bool(flag)),
    }
}

/// Every mapped attribute's value, as the table stores it.
fn stored_values<A>(
    fields: &[crate::model::directory::Field<A>],
    attributes: &A,
) -> Vec<(&'static str, Option<AttributeValue>)> {
    fields
        .iter()
        .map(|f| (f.am, stored((f.read)(attributes))))
        .collect()
}

/// The mapped attributes as a map of texts, moved; none when empty
/// (removed). Built here rather than through `serde_dynamo`, which would
/// copy every name and value twice (its own value type, then the SDK's):
/// a tenant with twenty mappings pays that for every user it imports.
fn mapped_attributes(
    attributes: std::collections::BTreeMap<String, String>,
) -> Option<AttributeValue> {
    (!attributes.is_empty()).then(|| {
        AttributeValue::M(
            attributes
                .into_iter()
                .map(|(name, value)| (name, AttributeValue::S(value)))
                .collect(),
        )
    })
}

/// A put of a new user: its mapped attributes moved in (above).
fn put_user(tenant: &TenantId, mut user: UserItem) -> Result<WriteRequest, StoreError> {
    let mapped = std::mem::take(&mut user.attributes.attributes);
    let mut item = item_of(&ItemKey::user(tenant, &user.user_id), &user)?;
    if let Some(mapped) = mapped_attributes(mapped) {
        item.insert("attributes".into(), mapped);
    }
    put_request(item)
}

/// A whole new item under `key`.
fn item_of(key: &ItemKey, item: &impl Serialize) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(item)
        .map_err(|e| malformed("a new directory item", e.to_string()))?;
    item.insert("pk".into(), s(key.pk()));
    item.insert("sk".into(), s(key.sk()));
    Ok(item)
}

/// A put of a whole new item under `key`.
fn put(key: &ItemKey, item: &impl Serialize) -> Result<WriteRequest, StoreError> {
    put_request(item_of(key, item)?)
}

fn delete(key: &ItemKey) -> Result<WriteRequest, StoreError> {
    delete_request(crate::store::layout::key(key.tenant(), key.sk()))
}

impl TableWrites {
    fn plan(tenant: &TenantId, writes: Vec<DirectoryWrite>) -> Result<Self, StoreError> {
        let mut plan = Self::default();
        for write in writes {
            plan.add(tenant, write)?;
        }
        Ok(plan)
    }

    fn add(&mut self, tenant: &TenantId, write: DirectoryWrite) -> Result<(), StoreError> {
        match write {
            DirectoryWrite::CreateUser(user) => self.puts.push(put_user(tenant, user)?),
            update @ DirectoryWrite::UpdateUser { .. } => {
                self.updates.extend(user_update(tenant, update))
            }
            DirectoryWrite::DeleteUser { user_id } => {
                self.deletions.push(ItemKey::user(tenant, &user_id))
            }
            DirectoryWrite::CreateGroup(group) => self
                .puts
                .push(put(&ItemKey::group(tenant, &group.group_id), &group)?),
            DirectoryWrite::UpdateGroup {
                group_id,
                entra_link,
                attributes,
                hash,
            } => self.updates.push(AttributeUpdate {
                key: ItemKey::group(tenant, &group_id),
                entra_link,
                values: stored_values(GROUP_FIELDS, &attributes),
                hash,
            }),
            DirectoryWrite::DeleteGroup { group_id } => {
                self.deletions.push(ItemKey::group(tenant, &group_id))
            }
            DirectoryWrite::AddMembership(membership) => self.puts.push(put(
                &ItemKey::Membership {
                    tenant: tenant.clone(),
                    key: membership.clone(),
                },
                &imported_membership(membership),
            )?),
            DirectoryWrite::RemoveMembership(membership) => {
                self.deletions.push(ItemKey::Membership {
                    tenant: tenant.clone(),
                    key: membership,
                })
            }
        }
        Ok(())
    }
}

/// The update of a user's import-owned attributes (`None` for any other write).
fn user_update(tenant: &TenantId, write: DirectoryWrite) -> Option<AttributeUpdate> {
    let DirectoryWrite::UpdateUser {
        user_id,
        entra_link,
        attributes,
        password_mode,
        hash,
        deprovision,
        manager,
    } = write
    else {
        return None;
    };
    let mut values = stored_values(USER_FIELDS, &attributes);
    if let Some(mode) = password_mode {
        values.push(("password_mode", Some(s(mode.as_str()))));
    }
    // Mapped attributes are the import's on its own users only: a linked
    // platform user's `attributes` stay the platform's.
    if entra_link.is_none() {
        values.push(("attributes", mapped_attributes(attributes.attributes)));
    }
    let mark = deprovision.attribute_values().into_iter();
    values.extend(mark.map(|(name, value)| (name, value.map(AttributeValue::S))));
    if let ManagerWrite::Set { entra_id } = manager {
        values.push(("manager_id", attributes.manager_id.as_deref().map(s)));
        values.push(("sync_manager_entra_id", entra_id.as_deref().map(s)));
    }
    Some(AttributeUpdate {
        key: ItemKey::user(tenant, &user_id),
        entra_link,
        values,
        hash,
    })
}

fn imported_membership(key: MembershipKey) -> MembershipItem {
    MembershipItem {
        group_id: key.group_id,
        user_id: key.user_id,
        source: Source::Entra,
        import_deleted_at: None,
    }
}

impl DynamoDirectoryStore {
    /// Applies the writes; returns how many items were written or deleted.
    pub(super) async fn apply_writes(
        &self,
        tenant: &TenantId,
        writes: Vec<DirectoryWrite>,
    ) -> Result<u64, StoreError> {
        let before = self.write_count();
        let TableWrites {
            puts,
            updates,
            deletions,
        } = TableWrites::plan(tenant, writes)?;
        // Deletions are marked first: the stream's REMOVE record then shows
        // the import deleted the item, and the export leaves Entra alone.
        let (batched, updated, marked) = tokio::join!(
            self.batch_write(puts),
            stream::iter(updates)
                .map(|update| self.update(update))
                .buffer_unordered(CONCURRENCY)
                .try_collect::<Vec<()>>(),
            stream::iter(deletions.iter().cloned())
                .map(|key| async move { self.mark_import_deletion(&key).await })
                .buffer_unordered(CONCURRENCY)
                .try_collect::<Vec<()>>()
        );
        batched?;
        updated?;
        marked?;
        let deletes = deletions.iter().map(delete).collect::<Result<_, _>>()?;
        self.batch_write(deletes).await?;
        Ok(self.write_count() - before)
    }

    async fn update(&self, update: AttributeUpdate) -> Result<(), StoreError> {
        let mut set = vec![format!("{ENTRA_HASH} = :hash")];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(update.key.tenant(), update.key.sk())))
            .expression_attribute_values(":hash", s(update.hash.as_str()))
            // Only an existing item is updated; a vanished one is not recreated half-empty.
            .condition_expression("attribute_exists(pk)");
        if let Some(entra_id) = update.entra_link {
            set.push("entra_id = :entra_id".to_owned());
            request = request.expression_attribute_values(":entra_id", s(entra_id));
        }
        // Names through placeholders: `name` and others are reserved words.
        for (i, (name, value)) in update.values.into_iter().enumerate() {
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
        let result = request.update_expression(expression).send().await;
        if conditional(result, "updating a directory item")? {
            self.count_writes(1);
        }
        Ok(())
    }

    async fn mark_import_deletion(&self, item: &ItemKey) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(item.tenant(), item.sk())))
            .update_expression("SET #deleted = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#deleted", IMPORT_DELETED)
            .expression_attribute_values(":now", timestamp(chrono::Utc::now()))
            .send()
            .await;
        if conditional(result, "marking an import deletion")? {
            self.count_writes(1);
        }
        Ok(())
    }
}
