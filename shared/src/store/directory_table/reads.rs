//! Reading the directory: by Entra id (batched, then the `entra_id` index
//! for linked objects), memberships, and single items for the export.

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeOwned;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{CONCURRENCY, DynamoDirectoryStore, parse};
use crate::import::ObjectKind;
use crate::import::buckets::KeyRange;
use crate::import::ports::PlatformUser;
use crate::model::TenantId;
use crate::model::directory::{
    EntraHash, GROUP_PREFIX, GroupItem, ItemKey, LinkOrigin, MEMBER_PREFIX, MembershipKey,
    USER_PREFIX, UserItem,
};
use crate::ports::StoreError;
use crate::store::dynamo::{
    Item, batch_get, conditional, query_all, s, sk_prefix_query, text, unavailable,
};
use crate::store::layout::MEMBER_INDEX;
use crate::store::layout::{key, tenant_pk};

fn membership_key(item: &Item) -> Option<MembershipKey> {
    Some(MembershipKey {
        group_id: text(item, "group_id")?,
        user_id: text(item, "user_id")?,
    })
}

/// A user item's id, read without its attributes.
#[derive(serde::Deserialize)]
struct UserRef {
    user_id: String,
}

impl DynamoDirectoryStore {
    /// One user's memberships (any source), from the `by-member` index;
    /// user ids are unique within a tenant, not across tenants.
    async fn memberships_of_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(MEMBER_INDEX)
            .key_condition_expression("user_id = :user")
            .filter_expression("pk = :pk")
            .expression_attribute_values(":user", s(user_id))
            .expression_attribute_values(":pk", s(tenant_pk(tenant)));
        query_all(query, "looking up a user's memberships").await
    }

    /// The items these Entra objects are, keyed by Entra id: imported (their
    /// id is the Entra id) or linked (their `entra_id` is).
    async fn by_entra_id<T: DeserializeOwned>(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
        prefix: &str,
        what: &'static str,
        projection: Option<&str>,
    ) -> Result<HashMap<String, T>, StoreError> {
        // DynamoDB refuses a batch that names one key twice.
        let mut entra_ids = entra_ids.to_vec();
        entra_ids.sort();
        entra_ids.dedup();
        let entra_ids = entra_ids.as_slice();
        let keys = entra_ids
            .iter()
            .map(|id| key(tenant, format!("{prefix}{id}")))
            .collect();
        let mut found: HashMap<String, T> = HashMap::new();
        for item in self.batch_get_projected(keys, projection).await? {
            if let Some(id) =
                text(&item, "sk").and_then(|sk| sk.strip_prefix(prefix).map(str::to_owned))
            {
                found.insert(id, parse(item, what)?);
            }
        }
        let misses: Vec<String> = entra_ids
            .iter()
            .filter(|id| !found.contains_key(*id))
            .cloned()
            .collect();
        let linked = self.linked_ids(tenant, prefix, &misses).await?;
        // Two Entra ids may name one AM object (an old link and the current
        // one); DynamoDB refuses a batch that names a key twice.
        let am_ids: std::collections::BTreeSet<&String> = linked.values().collect();
        let am_keys = am_ids
            .into_iter()
            .map(|am_id| key(tenant, format!("{prefix}{am_id}")))
            .collect();
        let mut by_am_id: HashMap<String, Item> = HashMap::new();
        for item in self.batch_get_projected(am_keys, projection).await? {
            if let Some(sk) = text(&item, "sk") {
                by_am_id.insert(sk, item);
            }
        }
        for (entra_id, am_id) in linked {
            let Some(item) = by_am_id.remove(&format!("{prefix}{am_id}")) else {
                continue; // the object is gone: the link is stale
            };
            // A link the item no longer names is stale; an item without
            // `entra_id` yet is the moment between the two writes.
            if text(&item, "entra_id").is_none_or(|id| id == entra_id) {
                found.insert(entra_id, parse(item, what)?);
            }
        }
        Ok(found)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        item: &ItemKey,
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(item.tenant(), item.sk())))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading a directory item"))?;
        output.item.map(|item| parse(item, what)).transpose()
    }
}

impl crate::import::DirectoryStore for DynamoDirectoryStore {
    async fn users_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, UserItem>, StoreError> {
        self.by_entra_id(tenant, entra_ids, USER_PREFIX, "a user item", None)
            .await
    }

    async fn reports_of(
        &self,
        tenant: &TenantId,
        manager_entra_ids: &[String],
    ) -> Result<Vec<UserItem>, StoreError> {
        self.reports_by_manager(tenant, manager_entra_ids).await
    }

    /// Only the key and the link of each user item: in a first import a
    /// membership's user is read once per membership.
    async fn user_ids_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let found: HashMap<String, UserRef> = self
            .by_entra_id(
                tenant,
                entra_ids,
                USER_PREFIX,
                "a user item",
                Some("pk, sk, entra_id"),
            )
            .await?;
        Ok(found
            .into_iter()
            .map(|(entra_id, user)| (entra_id, user.user_id))
            .collect())
    }

    async fn released_by_platform(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let linked = self.linked_ids(tenant, USER_PREFIX, entra_ids).await?;
        if linked.is_empty() {
            return Ok(HashSet::new());
        }
        let am_ids: std::collections::BTreeSet<&String> = linked.values().collect();
        let keys = am_ids
            .into_iter()
            .map(|am_id| key(tenant, format!("{USER_PREFIX}{am_id}")))
            .collect();
        let present: HashSet<String> = self
            .batch_get_projected(keys, Some("pk, sk"))
            .await?
            .iter()
            .filter_map(|item| {
                text(item, "sk")?
                    .strip_prefix(USER_PREFIX)
                    .map(str::to_owned)
            })
            .collect();
        Ok(linked
            .into_iter()
            .filter(|(_, am_id)| !present.contains(am_id))
            .map(|(entra_id, _)| entra_id)
            .collect())
    }

    async fn groups_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, GroupItem>, StoreError> {
        self.by_entra_id(tenant, entra_ids, GROUP_PREFIX, "a group item", None)
            .await
    }

    async fn existing_memberships(
        &self,
        tenant: &TenantId,
        keys: &[MembershipKey],
    ) -> Result<HashSet<MembershipKey>, StoreError> {
        let wanted: HashMap<String, &MembershipKey> = keys
            .iter()
            .map(|k| (format!("{MEMBER_PREFIX}{}", k.encode()), k))
            .collect();
        let items = self
            .batch_get(wanted.keys().map(|sk| key(tenant, sk.clone())).collect())
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                text(item, "sk").and_then(|sk| wanted.get(&sk).map(|k| (*k).clone()))
            })
            .collect())
    }

    async fn imported_ids_in(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        range: KeyRange,
    ) -> Result<Vec<String>, StoreError> {
        let (prefix, id) = match kind {
            ObjectKind::User => (USER_PREFIX, "user_id"),
            ObjectKind::Group => (GROUP_PREFIX, "group_id"),
        };
        let items = self
            .query_range(tenant, prefix, range, &format!("{id}, #source"))
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| text(item, id))
            .filter(|id| range.contains(id))
            .collect())
    }

    async fn imported_memberships_in(
        &self,
        tenant: &TenantId,
        range: KeyRange,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        let items = self
            .query_range(tenant, MEMBER_PREFIX, range, "group_id, user_id, #source")
            .await?;
        Ok(items
            .iter()
            .filter_map(membership_key)
            .filter(|m| range.contains_membership(m))
            .collect())
    }

    /// Every user item, the keys and the name projected (the platform's
    /// `source` may be absent): a full read of the tenant's users, made
    /// once per invocation and only when a user is created or renamed.
    async fn platform_user_names(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<PlatformUser>, StoreError> {
        let query = sk_prefix_query(&self.client, &self.table, tenant_pk(tenant), USER_PREFIX)
            .filter_expression("attribute_not_exists(#source) OR #source <> :entra")
            .expression_attribute_names("#source", "source")
            .expression_attribute_values(":entra", s("entra"))
            .projection_expression("user_id, user_name");
        let items = query_all(query, "listing the platform's user names").await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                Some(PlatformUser {
                    user_id: text(item, "user_id")?,
                    user_name: text(item, "user_name")?,
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
        let by_user = stream::iter(user_ids.iter().cloned())
            .map(|user| async move { self.memberships_of_user(tenant, &user).await })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<_>>();
        let by_group = stream::iter(group_ids.iter().cloned())
            .map(|group| async move {
                let prefix = format!("{MEMBER_PREFIX}{group}#");
                self.query_prefix(tenant, &prefix, "group_id, user_id", false)
                    .await
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<_>>();
        let (by_user, by_group) = tokio::try_join!(by_user, by_group)?;
        let mut found: Vec<MembershipKey> = by_user
            .into_iter()
            .chain(by_group)
            .flatten()
            .filter_map(|item| membership_key(&item))
            .collect();
        found.sort();
        found.dedup();
        Ok(found)
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        writes: Vec<crate::import::records::DirectoryWrite>,
    ) -> Result<u64, StoreError> {
        self.apply_writes(tenant, writes).await
    }
}

impl crate::export::ExportDirectory for DynamoDirectoryStore {
    async fn has_membership(
        &self,
        tenant: &TenantId,
        key: &MembershipKey,
    ) -> Result<bool, StoreError> {
        let found = crate::import::DirectoryStore::existing_memberships(
            self,
            tenant,
            std::slice::from_ref(key),
        )
        .await?;
        Ok(found.contains(key))
    }
    async fn user(&self, tenant: &TenantId, user_id: &str) -> Result<Option<UserItem>, StoreError> {
        self.get(&ItemKey::user(tenant, user_id), "a user item")
            .await
    }

    async fn group(
        &self,
        tenant: &TenantId,
        group_id: &str,
    ) -> Result<Option<GroupItem>, StoreError> {
        self.get(&ItemKey::group(tenant, group_id), "a group item")
            .await
    }

    async fn users(
        &self,
        tenant: &TenantId,
        user_ids: &[String],
    ) -> Result<HashMap<String, UserItem>, StoreError> {
        let keys = user_ids
            .iter()
            .map(|id| key(tenant, ItemKey::user(tenant, id).sk()))
            .collect();
        let items = batch_get(&self.client, &self.table, keys, "reading the batch's users").await?;
        items
            .into_iter()
            .map(|item| parse::<UserItem>(item, "a user item").map(|u| (u.user_id.clone(), u)))
            .collect()
    }

    async fn groups(
        &self,
        tenant: &TenantId,
        group_ids: &[String],
    ) -> Result<HashMap<String, GroupItem>, StoreError> {
        let keys = group_ids
            .iter()
            .map(|id| key(tenant, ItemKey::group(tenant, id).sk()))
            .collect();
        let items = batch_get(
            &self.client,
            &self.table,
            keys,
            "reading the batch's groups",
        )
        .await?;
        items
            .into_iter()
            .map(|item| parse::<GroupItem>(item, "a group item").map(|g| (g.group_id.clone(), g)))
            .collect()
    }

    async fn record_link(&self, item: &ItemKey, entra_id: &str) -> Result<(), StoreError> {
        self.write_link(item, entra_id).await
    }

    async fn begin_create(
        &self,
        item: &ItemKey,
        at: chrono::DateTime<chrono::Utc>,
        unless_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        self.write_create_intent(item, at, unless_after).await
    }

    async fn create_begun(
        &self,
        item: &ItemKey,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.read_create_intent(item).await
    }

    async fn forget_create(
        &self,
        item: &ItemKey,
        began: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.delete_create_intent(item, began).await
    }

    async fn record_deleted_user(
        &self,
        item: &ItemKey,
        deleted: &crate::export::DeletedEntraUser,
    ) -> Result<(), StoreError> {
        self.write_deleted_user(item, deleted).await
    }

    async fn deleted_user(
        &self,
        item: &ItemKey,
    ) -> Result<Option<crate::export::DeletedEntraUser>, StoreError> {
        self.read_deleted_user(item).await
    }

    async fn deleted_users(
        &self,
        tenant: &TenantId,
        user_ids: &[String],
    ) -> Result<HashMap<String, crate::export::DeletedEntraUser>, StoreError> {
        self.read_deleted_users(tenant, user_ids).await
    }

    async fn forget_deleted_user(&self, item: &ItemKey) -> Result<(), StoreError> {
        self.delete_deleted_user(item).await
    }

    async fn record_entra_state(
        &self,
        item: &ItemKey,
        entra_id: &str,
        hash: &EntraHash,
        origin: Option<LinkOrigin>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(item.tenant(), item.sk())))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#hash", crate::model::directory::ENTRA_HASH)
            .expression_attribute_values(":entra_id", s(entra_id))
            .expression_attribute_values(":hash", s(hash.as_str()));
        // The origin goes with the link in one write: a delete never sees
        // the one without the other.
        let expression = match origin {
            Some(origin) => {
                request = request
                    .expression_attribute_names("#origin", crate::model::directory::ENTRA_ORIGIN)
                    .expression_attribute_values(":origin", s(origin.as_str()));
                "SET entra_id = :entra_id, #hash = :hash, #origin = :origin"
            }
            None => "SET entra_id = :entra_id, #hash = :hash",
        };
        let result = request.update_expression(expression).send().await;
        if conditional(result, "recording the Entra link")? {
            self.count_writes(1);
        }
        Ok(())
    }
}
