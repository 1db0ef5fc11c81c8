//! The realtime keeper's world in memory: Graph's `/subscriptions` and the
//! kept subscriptions, with the helpers the tests read through.

use std::collections::HashMap;
use std::sync::Mutex;

use super::super::*;
use super::{ENTRA, URL};

/// Graph's `/subscriptions`: live subscriptions, and the calls made.
#[derive(Default)]
pub(super) struct MemoryApi {
    pub(super) live: Mutex<HashMap<String, LiveSubscription>>,
    pub(super) calls: Mutex<Vec<String>>,
    /// The next create answers with this status (403, 400, 409).
    pub(super) refuse_next_create: Mutex<Option<u16>>,
}

/// Graph's refusal with this status, as the adapter names it.
pub(super) fn rejected(status: u16) -> GraphError {
    let (code, message) = ("ExtensionError".into(), "refused".into());
    match status {
        403 => GraphError::Forbidden { code, message },
        409 => GraphError::Conflict { code, message },
        _ => GraphError::Rejected {
            status,
            code,
            message,
        },
    }
}

impl SubscriptionApi for MemoryApi {
    async fn create(&self, s: &NewSubscription) -> Result<LiveSubscription, GraphError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("create {}", s.resource));
        if let Some(status) = self.refuse_next_create.lock().unwrap().take() {
            return Err(rejected(status));
        }
        let live = LiveSubscription {
            id: uuid::Uuid::new_v4().to_string(),
            resource: s.resource.into(),
            notification_url: s.notification_url.clone(),
            expiration: s.expiration,
        };
        self.live
            .lock()
            .unwrap()
            .insert(live.id.clone(), live.clone());
        Ok(live)
    }
    async fn renew(
        &self,
        id: &str,
        expiration: DateTime<Utc>,
    ) -> Result<LiveSubscription, GraphError> {
        self.calls.lock().unwrap().push(format!("renew {id}"));
        let mut live = self.live.lock().unwrap();
        let s = live.get_mut(id).ok_or(GraphError::NotFound)?;
        s.expiration = expiration;
        Ok(s.clone())
    }
    async fn delete(&self, id: &str) -> Result<(), GraphError> {
        self.calls.lock().unwrap().push(format!("delete {id}"));
        self.live.lock().unwrap().remove(id);
        Ok(())
    }
    async fn list(&self) -> Result<Vec<LiveSubscription>, GraphError> {
        self.calls.lock().unwrap().push("list".into());
        Ok(self.live.lock().unwrap().values().cloned().collect())
    }
}

#[derive(Default)]
pub(super) struct MemoryKept {
    pub(super) kept: Mutex<HashMap<(String, String), KeptSubscription>>,
    pub(super) status: Mutex<HashMap<TenantId, RealtimeStatus>>,
    pub(super) status_writes: Mutex<usize>,
    pub(super) locks: Mutex<HashMap<String, String>>,
    pub(super) locks_taken: Mutex<usize>,
}

impl KeptSubscriptions for MemoryKept {
    async fn kept(
        &self,
        entra: &str,
        resource: &str,
    ) -> Result<Option<KeptSubscription>, StoreError> {
        Ok(self
            .kept
            .lock()
            .unwrap()
            .get(&(entra.into(), resource.into()))
            .cloned())
    }
    async fn keep(&self, k: &KeptSubscription) -> Result<(), StoreError> {
        let key = (k.record.entra_tenant_id.clone(), k.record.resource.clone());
        self.kept.lock().unwrap().insert(key, k.clone());
        Ok(())
    }
    async fn forget(&self, k: &KeptSubscription) -> Result<(), StoreError> {
        let key = (k.record.entra_tenant_id.clone(), k.record.resource.clone());
        self.kept.lock().unwrap().remove(&key);
        Ok(())
    }
    async fn lock(&self, entra: &str, holder: &str, _: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut locks = self.locks.lock().unwrap();
        if locks.contains_key(entra) {
            return Ok(false);
        }
        locks.insert(entra.into(), holder.into());
        *self.locks_taken.lock().unwrap() += 1;
        Ok(true)
    }
    async fn unlock(&self, entra: &str, holder: &str) -> Result<(), StoreError> {
        let mut locks = self.locks.lock().unwrap();
        if locks.get(entra).map(String::as_str) == Some(holder) {
            locks.remove(entra);
        }
        Ok(())
    }
    async fn realtime_status(&self, t: &TenantId) -> Result<Option<RealtimeStatus>, StoreError> {
        Ok(self.status.lock().unwrap().get(t).cloned())
    }
    async fn set_realtime_status(
        &self,
        t: &TenantId,
        s: &RealtimeStatus,
    ) -> Result<(), StoreError> {
        *self.status_writes.lock().unwrap() += 1;
        self.status.lock().unwrap().insert(t.clone(), s.clone());
        Ok(())
    }
}

pub(super) struct World {
    pub(super) api: MemoryApi,
    pub(super) kept: MemoryKept,
}

impl World {
    pub(super) fn new() -> Self {
        Self {
            api: MemoryApi::default(),
            kept: MemoryKept::default(),
        }
    }
    pub(super) fn keeper(&self) -> RealtimeKeeper<'_, MemoryApi, MemoryKept> {
        RealtimeKeeper {
            api: &self.api,
            kept: &self.kept,
            notification_url: URL,
        }
    }
    /// `tenant` keeps its subscriptions on `ENTRA` at `at`.
    pub(super) async fn keep(&self, tenant_id: &str, at: DateTime<Utc>) -> RealtimeStatus {
        self.keeper()
            .keep_for(&tenant(tenant_id), ENTRA, at)
            .await
            .unwrap()
    }
    /// `tenant` gives up its subscriptions on `ENTRA` at `at`.
    pub(super) async fn release(&self, tenant_id: &str, at: DateTime<Utc>) {
        self.keeper()
            .release_for(&tenant(tenant_id), ENTRA, at)
            .await
            .unwrap();
    }
    pub(super) fn kept(&self, resource: &str) -> KeptSubscription {
        self.kept.kept.lock().unwrap()[&(ENTRA.to_owned(), resource.to_owned())].clone()
    }
    pub(super) fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.api.calls.lock().unwrap())
    }
    pub(super) fn edit(&self, resource: &str, edit: impl FnOnce(&mut KeptSubscription)) {
        let mut k = self.kept(resource);
        edit(&mut k);
        self.kept
            .kept
            .lock()
            .unwrap()
            .insert((ENTRA.to_owned(), resource.to_owned()), k);
    }
}

pub(super) fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}
