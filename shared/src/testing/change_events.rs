//! Change events in memory (the `ChangeEvents` port), with a switch for a
//! failing write.

use std::sync::Mutex;

use crate::events::{ChangeEvent, ChangeEvents};
use crate::model::TenantId;
use crate::ports::StoreError;

#[derive(Default)]
pub(crate) struct MemoryChangeEvents {
    pub(crate) events: Mutex<Vec<(TenantId, ChangeEvent)>>,
    /// Calls that wrote (one per `record_all`).
    pub(crate) writes: Mutex<u32>,
}

impl ChangeEvents for MemoryChangeEvents {
    async fn record(&self, tenant: &TenantId, event: &ChangeEvent) -> Result<(), StoreError> {
        self.record_all(tenant, std::slice::from_ref(event)).await
    }

    async fn record_all(
        &self,
        tenant: &TenantId,
        events: &[ChangeEvent],
    ) -> Result<(), StoreError> {
        *self.writes.lock().unwrap() += 1;
        let mut stored = self.events.lock().unwrap();
        stored.extend(events.iter().map(|e| (tenant.clone(), e.clone())));
        Ok(())
    }
}
