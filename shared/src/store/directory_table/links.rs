//! Linked objects by Entra id. A platform object exported to Entra keeps
//! its own id and gains `entra_id`; the import meets it by its Entra id.
//! `ENTRA#LINK#<USER#|GROUP#><entra_id>` items in `INTEGRATIONS_TABLE` name
//! the AM object, so the import finds links in the batched reads it makes
//! anyway. (The `by-entra-id` index answers one id per query, or a range
//! that, for random GUIDs, holds every linked object: O(links) per page.)
//! Links made before these items existed are copied from the index once
//! per tenant; a link another writer makes (an earlier release, the
//! platform) reaches the export on the stream, which records it. These are
//! items of entra-sync's own design in `INTEGRATIONS_TABLE` (docs/contract.md 1.3).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::DynamoDirectoryStore;
use crate::model::TenantId;
use crate::model::directory::{GROUP_PREFIX, ItemKey, USER_PREFIX};
use crate::ports::StoreError;
use crate::store::dynamo::{Item, batch_get, batch_write, put_request, s, text, unavailable};
use crate::store::layout::{ENTRA_ID_INDEX, LINKS_COPIED_SK, key, link_sk, tenant_pk};

/// Where links live, and the tenants known to have all theirs as items.
#[derive(Debug)]
pub(super) struct LinkIndex {
    table: String,
    copied: Mutex<HashSet<TenantId>>,
}

impl LinkIndex {
    pub(super) fn new(table: String) -> Self {
        Self {
            table,
            copied: Mutex::default(),
        }
    }

    /// The integrations table, where link items live.
    pub(super) fn table(&self) -> &str {
        &self.table
    }

    fn is_copied(&self, tenant: &TenantId) -> bool {
        self.copied
            .lock()
            .expect("link index lock")
            .contains(tenant)
    }
}

fn link_item(tenant: &TenantId, object_prefix: &str, entra_id: &str, am_id: &str) -> Item {
    let mut item = key(tenant, link_sk(object_prefix, entra_id));
    item.insert("am_id".into(), s(am_id));
    item
}

/// The sk prefix and id of a user or group item.
pub(super) fn object_of(item: &ItemKey) -> Option<(&'static str, &str)> {
    match item {
        ItemKey::User { user_id, .. } => Some((USER_PREFIX, user_id)),
        ItemKey::Group { group_id, .. } => Some((GROUP_PREFIX, group_id)),
        ItemKey::Membership { .. } => None,
    }
}

impl DynamoDirectoryStore {
    /// The AM ids of the objects linked to these Entra ids, by Entra id.
    pub(super) async fn linked_ids(
        &self,
        tenant: &TenantId,
        object_prefix: &str,
        entra_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        if entra_ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.copy_old_links(tenant).await?;
        let keys = entra_ids
            .iter()
            .map(|id| key(tenant, link_sk(object_prefix, id)))
            .collect();
        let items = batch_get(&self.client, &self.links.table, keys, "reading Entra links").await?;
        let prefix = link_sk(object_prefix, "");
        Ok(items
            .iter()
            .filter_map(|item| {
                let entra_id = text(item, "sk")?.strip_prefix(&prefix)?.to_owned();
                Some((entra_id, text(item, "am_id")?))
            })
            .collect())
    }

    /// Records a link (the export does so before it sets the item's
    /// `entra_id`). Imported objects (their id is the Entra id) need none.
    pub(super) async fn write_link(
        &self,
        item: &ItemKey,
        entra_id: &str,
    ) -> Result<(), StoreError> {
        let Some((prefix, am_id)) = object_of(item).filter(|(_, id)| *id != entra_id) else {
            return Ok(());
        };
        self.client
            .put_item()
            .table_name(&self.links.table)
            .set_item(Some(link_item(item.tenant(), prefix, entra_id, am_id)))
            .send()
            .await
            .map_err(unavailable("recording an Entra link"))?;
        Ok(())
    }

    /// Once per tenant (and process): links an earlier release made, found
    /// through the `by-entra-id` index page by page, become link items.
    async fn copy_old_links(&self, tenant: &TenantId) -> Result<(), StoreError> {
        if self.links.is_copied(tenant) {
            return Ok(());
        }
        let marker = self
            .client
            .get_item()
            .table_name(&self.links.table)
            .set_key(Some(key(tenant, LINKS_COPIED_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the Entra link marker"))?;
        if marker.item.is_none() {
            self.copy_index_pages(tenant).await?;
            self.client
                .put_item()
                .table_name(&self.links.table)
                .set_item(Some(key(tenant, LINKS_COPIED_SK)))
                .send()
                .await
                .map_err(unavailable("writing the Entra link marker"))?;
        }
        self.links
            .copied
            .lock()
            .expect("link index lock")
            .insert(tenant.clone());
        Ok(())
    }

    async fn copy_index_pages(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ENTRA_ID_INDEX)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable("listing linked directory objects"))?;
            // Two items claiming one Entra id (duplicates an earlier release
            // left) would name one link twice, which a batch refuses: the
            // first in key order wins, as the index returns them.
            let mut seen = HashSet::new();
            let links = page
                .items()
                .iter()
                .filter_map(|item| old_link(tenant, item))
                .filter(|link| seen.insert(text(link, "sk")))
                .map(put_request)
                .collect::<Result<Vec<_>, _>>()?;
            batch_write(
                &self.client,
                &self.links.table,
                links,
                "copying Entra links",
            )
            .await?;
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(()),
            }
        }
    }
}

/// The link item for an indexed directory item, if it is a linked object.
fn old_link(tenant: &TenantId, item: &Item) -> Option<Item> {
    let sk = text(item, "sk")?;
    let entra_id = text(item, "entra_id")?;
    [USER_PREFIX, GROUP_PREFIX].iter().find_map(|prefix| {
        let am_id = sk.strip_prefix(prefix)?;
        (am_id != entra_id).then(|| link_item(tenant, prefix, &entra_id, am_id))
    })
}
