//! The first step of a tenant's switch to application mode (docs/behaviour.md
//! 2.12): its Entra tenant's subscriptions deleted with the delegated token
//! that made them, so that the app-only ones can be made (a second
//! subscription for the same resource gets 409, and an app-only list may
//! not show the delegated ones).

use chrono::{DateTime, Utc};

use super::{KeptSubscriptions, RESOURCES, RealtimeError, RealtimeKeeper, SubscriptionApi};

/// Why the delegated subscriptions were not all deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteAllError {
    #[error(transparent)]
    Realtime(#[from] RealtimeError),
    #[error("another run is settling the Entra tenant's subscriptions")]
    Locked,
}

impl<A: SubscriptionApi, K: KeptSubscriptions> RealtimeKeeper<'_, A, K> {
    /// Deletes the Entra tenant's subscriptions through `api` — the kept
    /// ones, and any other of ours Graph lists for `users` or `groups` —
    /// and forgets them. The AM tenants that shared them join the new ones
    /// at their next run.
    pub async fn delete_all(
        &self,
        entra_tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DeleteAllError> {
        let Some(holder) = self
            .lock(entra_tenant_id, now)
            .await
            .map_err(RealtimeError::from)?
        else {
            return Err(DeleteAllError::Locked);
        };
        let deleted = self.delete_all_locked(entra_tenant_id).await;
        self.kept
            .unlock(entra_tenant_id, &holder)
            .await
            .map_err(RealtimeError::from)?;
        Ok(deleted?)
    }

    async fn delete_all_locked(&self, entra_tenant_id: &str) -> Result<(), RealtimeError> {
        for resource in RESOURCES {
            if let Some(kept) = self.kept.kept(entra_tenant_id, resource).await? {
                self.api.delete(&kept.record.subscription_id).await?;
                self.kept.forget(&kept).await?;
                tracing::info!(resource, "deleted the delegated subscription");
            }
        }
        if self.notification_url.is_empty() {
            return Ok(()); // realtime is off: none of ours to look for
        }
        for live in self.api.list().await? {
            let resource = live.resource.trim_start_matches('/');
            if RESOURCES.contains(&resource) && live.notification_url == self.notification_url {
                self.api.delete(&live.id).await?;
                tracing::info!(resource, "deleted a delegated subscription no record kept");
            }
        }
        Ok(())
    }
}
