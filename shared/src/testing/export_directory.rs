//! The DynamoDB directory table in memory, for the export engine (its
//! `ExportDirectory` port): items kept as the table holds them, attribute
//! maps by sort key, so that tests insert what the platform writes and read
//! back the attributes the engine wrote.
//!
//! Not the import's `MemoryItemDirectory`: that one keeps typed items and an
//! eventually consistent index; the export's tests check raw attributes
//! (`entra_origin`, `entra_hash`) and items the platform wrote in part.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use crate::export::{DeletedEntraUser, ExportDirectory};
use crate::model::TenantId;
use crate::model::directory::{
    ENTRA_HASH, ENTRA_ORIGIN, EntraHash, GroupItem, ItemKey, LinkOrigin, UserItem,
};
use crate::ports::StoreError;

/// Items as the table holds them, by sort key; writing back the Entra state
/// of an item whose key is in the second list fails as AWS may; the
/// intents to create, by the item's sort key.
#[derive(Default)]
pub(crate) struct MemoryItemDirectory(
    pub(crate) Mutex<HashMap<String, Map<String, Value>>>,
    pub(crate) Mutex<Vec<String>>,
    pub(crate) Mutex<HashMap<String, chrono::DateTime<chrono::Utc>>>,
    /// The Entra users the export deleted, by the AM user's sort key.
    pub(crate) Mutex<HashMap<String, DeletedEntraUser>>,
);

impl MemoryItemDirectory {
    pub(crate) fn typed<T: serde::de::DeserializeOwned>(&self, key: ItemKey) -> Option<T> {
        let item = self.0.lock().unwrap().get(&key.sk()).cloned()?;
        Some(serde_json::from_value(Value::Object(item)).unwrap())
    }
}

impl ExportDirectory for MemoryItemDirectory {
    async fn user(&self, tenant: &TenantId, user_id: &str) -> Result<Option<UserItem>, StoreError> {
        Ok(self.typed(ItemKey::user(tenant, user_id)))
    }
    async fn group(
        &self,
        tenant: &TenantId,
        group_id: &str,
    ) -> Result<Option<GroupItem>, StoreError> {
        Ok(self.typed(ItemKey::group(tenant, group_id)))
    }
    async fn has_membership(
        &self,
        _tenant: &TenantId,
        key: &crate::model::directory::MembershipKey,
    ) -> Result<bool, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .contains_key(&format!("MEMBER#{}", key.encode())))
    }
    /// The memory directory finds linked items by their `entra_id`
    /// itself; a link needs no record of its own here.
    async fn record_link(&self, _key: &ItemKey, _entra_id: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn begin_create(
        &self,
        key: &ItemKey,
        at: chrono::DateTime<chrono::Utc>,
        unless_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let mut intents = self.2.lock().unwrap();
        if intents
            .get(&key.sk())
            .is_some_and(|began| *began > unless_after)
        {
            return Ok(false);
        }
        intents.insert(key.sk(), at);
        Ok(true)
    }
    async fn create_begun(
        &self,
        key: &ItemKey,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Ok(self.2.lock().unwrap().get(&key.sk()).copied())
    }
    async fn forget_create(
        &self,
        key: &ItemKey,
        began: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let mut intents = self.2.lock().unwrap();
        if intents.get(&key.sk()) == Some(&began) {
            intents.remove(&key.sk());
        }
        Ok(())
    }
    async fn record_deleted_user(
        &self,
        key: &ItemKey,
        deleted: &DeletedEntraUser,
    ) -> Result<(), StoreError> {
        self.3.lock().unwrap().insert(key.sk(), deleted.clone());
        Ok(())
    }
    async fn deleted_user(&self, key: &ItemKey) -> Result<Option<DeletedEntraUser>, StoreError> {
        Ok(self.3.lock().unwrap().get(&key.sk()).cloned())
    }
    async fn forget_deleted_user(&self, key: &ItemKey) -> Result<(), StoreError> {
        self.3.lock().unwrap().remove(&key.sk());
        Ok(())
    }
    async fn record_entra_state(
        &self,
        key: &ItemKey,
        entra_id: &str,
        hash: &EntraHash,
        origin: Option<LinkOrigin>,
    ) -> Result<(), StoreError> {
        if self.1.lock().unwrap().contains(&key.sk()) {
            return Err(StoreError::Unavailable {
                operation: "recording the Entra state",
                detail: "ProvisionedThroughputExceededException".into(),
            });
        }
        if let Some(item) = self.0.lock().unwrap().get_mut(&key.sk()) {
            item.insert("entra_id".into(), json!(entra_id));
            item.insert(ENTRA_HASH.into(), json!(hash.as_str()));
            if let Some(origin) = origin {
                item.insert(ENTRA_ORIGIN.into(), json!(origin.as_str()));
            }
        }
        Ok(())
    }
}
