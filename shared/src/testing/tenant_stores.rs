//! Several tenants' configs and problems in memory (the `TenantConfigs` and
//! `ProblemStore` ports), for tests that serve more than one tenant.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{TenantConfig, TenantId};
use crate::ports::{StoreError, TenantConfigs};
use crate::problems::{Direction, Problem, ProblemKey, ProblemStore};

/// The tenants' config items; the requests they carry are never cleared.
pub(crate) struct MemoryConfigs(pub(crate) Vec<TenantConfig>);

impl TenantConfigs for MemoryConfigs {
    async fn tenant_config(&self, tenant: &TenantId) -> Result<Option<TenantConfig>, StoreError> {
        Ok(self.0.iter().find(|c| &c.tenant_id == tenant).cloned())
    }
    async fn clear_resync_request(&self, _: &TenantId, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn clear_preview_request(&self, _: &TenantId, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn clear_deletion_approval(&self, _: &TenantId) -> Result<(), StoreError> {
        Ok(())
    }
    async fn mark_reauthorisation_required(&self, _: &TenantId) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Open problems by tenant and key.
#[derive(Default)]
pub(crate) struct MemoryProblems(pub(crate) Mutex<HashMap<(TenantId, ProblemKey), Problem>>);

impl ProblemStore for MemoryProblems {
    async fn record(&self, tenant: &TenantId, problem: &Problem) -> Result<Problem, StoreError> {
        let mut open = self.0.lock().unwrap();
        let key = (tenant.clone(), problem.key.clone());
        let previous = open.get(&key);
        let stored = Problem {
            attempts: previous.map_or(1, |p| p.attempts + 1),
            first_seen_at: problem.first_seen_at,
            ..problem.recorded_over(previous)
        };
        open.insert(key, stored.clone());
        Ok(stored)
    }
    async fn resolve(&self, tenant: &TenantId, key: &ProblemKey) -> Result<bool, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .remove(&(tenant.clone(), key.clone()))
            .is_some())
    }
    async fn open(&self, tenant: &TenantId, _: Direction) -> Result<Vec<Problem>, StoreError> {
        let open = self.0.lock().unwrap();
        Ok(open
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, p)| p.clone())
            .collect())
    }
    async fn count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        Ok(self.open(tenant, Direction::Export).await?.len() as u64)
    }
}
