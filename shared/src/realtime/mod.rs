//! Keeping a tenant's Graph subscriptions (docs/behaviour.md 2.7): one for `users`
//! and one for `groups` per Entra tenant, shared by the AM tenants synced
//! from it; created after a successful run, renewed well before they
//! expire, recreated when Graph lost them, released when realtime is
//! switched off. Free of AWS types.

mod ports;
mod reauthorization;
mod switch;
#[cfg(test)]
mod tests;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::SecretString;
use sha2::Digest;

pub use ports::{
    KeptSubscription, KeptSubscriptions, LiveSubscription, NewSubscription, RealtimeStatus,
    SubscriptionApi,
};
use reauthorization::Reauthorization;
pub use switch::DeleteAllError;

use crate::import::RunOutcome;
use crate::model::entra::GraphError;
use crate::model::{TenantConfig, TenantId};
use crate::notifications::{LifecycleEvent, SubscriptionRecord};
use crate::ports::StoreError;

/// Graph's limit for directory resources is 41,760 minutes; asking for an
/// hour less keeps a clock running ahead of Graph's within it.
pub const LIFETIME: Duration = Duration::minutes(41_760 - 60);
/// Renewed when less than this remains.
pub const RENEW_WHEN_LEFT: Duration = Duration::days(3);
/// Never reauthorize (renew) twice within this (docs/graph-notifications.md 4).
pub const REAUTHORIZE_GAP: Duration = Duration::minutes(10);
/// Graph sends no event for a directory subscription it dropped: the list
/// is checked this often (one request), so one is replaced within a day.
pub const VERIFY_EVERY: Duration = Duration::hours(24);
/// A run that died holding an Entra tenant's subscriptions blocks them
/// this long (longer than Graph calls with their retries take).
pub const LOCK_FOR: Duration = Duration::minutes(2);
pub const RESOURCES: [&str; 2] = ["users", "groups"];

#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RealtimeError {
    /// `realtime_error`: what an admin can act on.
    fn for_admin(&self, resource: &str) -> String {
        match self {
            Self::Graph(GraphError::Forbidden { code, message }) => format!(
                "Graph refused the {resource} subscription (403 {code}: {message}): the app needs {} and the tenant must be within its subscription quota",
                if resource == "users" {
                    "User.Read.All"
                } else {
                    "Group.Read.All"
                }
            ),
            // Graph refuses a subscription whose validation request failed
            // with a 400 (docs/graph-notifications.md 2).
            Self::Graph(refusal @ GraphError::Rejected { .. }) => format!(
                "{refusal} (the {resource} subscription); when its validation request failed, NOTIFICATION_URL must reach graph-notifications"
            ),
            other => format!("keeping the {resource} subscription failed: {other}"),
        }
    }
}

/// A random `clientState`: 32 bytes, 43 characters (Graph allows 128).
fn new_client_state() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .into()
}

/// A notification URL for `Debug` and logs: its query (the key) left out.
pub fn redacted_url(notification_url: &str) -> String {
    match notification_url.split_once('?') {
        Some((base, _)) => format!("{base}?[redacted]"),
        None => notification_url.to_owned(),
    }
}

/// `NOTIFICATION_URL` as a subscription's record holds it: its `key` (a
/// secret, docs/behaviour.md 2.11) replaced by the key's SHA-256, so that a new
/// key still shows as a new URL (Graph would deliver with the old one)
/// while the record never holds the key itself.
pub fn recorded_url(notification_url: &str) -> String {
    let Ok(mut url) = url::Url::parse(notification_url) else {
        // Config refuses such a URL; should one get here, record a digest.
        let digest = sha2::Sha256::digest(notification_url.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        return format!("sha256:{hex}");
    };
    if !url.query_pairs().any(|(name, _)| name == "key") {
        return notification_url.to_owned();
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| {
            let value = if name == "key" {
                let digest = sha2::Sha256::digest(value.as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                format!("sha256:{hex}")
            } else {
                value.into_owned()
            };
            (name.into_owned(), value)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.into()
}

pub struct RealtimeKeeper<'a, A, K> {
    pub api: &'a A,
    pub kept: &'a K,
    pub notification_url: &'a str,
}

/// Whether the tenant is to get notifications, and where (docs/behaviour.md 2.7).
pub fn wanted<'u>(config: &TenantConfig, notification_url: Option<&'u str>) -> Option<&'u str> {
    notification_url.filter(|_| config.sync_enabled && config.realtime_enabled)
}

impl<A: SubscriptionApi, K: KeptSubscriptions> RealtimeKeeper<'_, A, K> {
    /// After a run: a completed one keeps the subscriptions when
    /// notifications are wanted; a tenant whose sync or realtime is off
    /// releases them; one whose authorisation is lost forgets them (there is
    /// no token to delete them with; Graph stops delivering and they
    /// expire). Failures are logged and recorded in the status; the poll
    /// carries on either way.
    pub async fn settle(
        &self,
        config: &TenantConfig,
        outcome: &RunOutcome,
        wanted: bool,
        now: DateTime<Utc>,
    ) {
        let tenant = &config.tenant_id;
        if *outcome == RunOutcome::LeaseHeld {
            return; // the run that holds the tenant settles them
        }
        let Some(entra_tenant_id) = &config.entra_tenant_id else {
            // Nothing can be kept for an unknown Entra tenant.
            if let Err(err) = self.record_status(tenant, &RealtimeStatus::Inactive).await {
                tracing::warn!(tenant_id = %tenant, error = %err, "could not record the realtime status");
            }
            return;
        };
        let entra_tenant_id = entra_tenant_id.to_string();
        let authorised = config.is_authorised() && *outcome != RunOutcome::ReauthorisationRequired;
        let result = match outcome {
            _ if !authorised => self.forget_for(tenant, &entra_tenant_id, now).await,
            // Switched off: released whatever became of the run.
            _ if !wanted => self.release_for(tenant, &entra_tenant_id, now).await,
            RunOutcome::Completed(_) => self
                .keep_for(tenant, &entra_tenant_id, now)
                .await
                .map(|_| ())
                .map_err(RealtimeError::from),
            // Paused or failed: the run that completes keeps them.
            _ => Ok(()),
        };
        if let Err(err) = result {
            tracing::warn!(tenant_id = %config.tenant_id, error = %err, "the realtime subscriptions could not be settled; the next run retries");
        }
    }

    /// Makes sure both subscriptions are live and wake `tenant`; records
    /// the outcome in the tenant's status.
    pub async fn keep_for(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<RealtimeStatus, StoreError> {
        // Most runs find both in order: no lock, no write.
        if self.both_in_order(tenant, entra_tenant_id, now).await? {
            self.record_status(tenant, &RealtimeStatus::Active).await?;
            return Ok(RealtimeStatus::Active);
        }
        let Some(holder) = self.lock(entra_tenant_id, now).await? else {
            return Ok(self
                .kept
                .realtime_status(tenant)
                .await?
                .unwrap_or(RealtimeStatus::Inactive));
        };
        let mut status = RealtimeStatus::Active;
        for resource in RESOURCES {
            if let Err(err) = self.ensure(tenant, entra_tenant_id, resource, now).await {
                tracing::warn!(resource, error = %err, "a subscription could not be kept; the poll carries on");
                status = RealtimeStatus::Error(err.for_admin(resource));
                break;
            }
        }
        self.kept.unlock(entra_tenant_id, &holder).await?;
        self.record_status(tenant, &status).await?;
        Ok(status)
    }

    /// Both subscriptions exist for `tenant` with nothing due: no event, no
    /// renewal, no check, the same URL.
    async fn both_in_order(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        for resource in RESOURCES {
            let Some(kept) = self.kept.kept(entra_tenant_id, resource).await? else {
                return Ok(false);
            };
            let due = self.must_be_made_again(&kept)
                || kept.lifecycle_event.is_some()
                || !kept.record.am_tenants.contains(tenant)
                || now - kept.verified_at >= VERIFY_EVERY
                || kept.expires_at - now < RENEW_WHEN_LEFT;
            if due {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The Entra tenant's subscriptions are changed by one run at a time
    /// (AM tenants sharing it run side by side). `None` when another run
    /// holds them: it does the work, or the next run does.
    async fn lock(
        &self,
        entra_tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let holder = uuid::Uuid::new_v4().to_string();
        if self
            .kept
            .lock(entra_tenant_id, &holder, now + LOCK_FOR)
            .await?
        {
            Ok(Some(holder))
        } else {
            tracing::info!("another run is settling this Entra tenant's subscriptions");
            Ok(None)
        }
    }

    /// Writes the status only when it changed: a run that finds everything
    /// in order costs no write.
    async fn record_status(
        &self,
        tenant: &TenantId,
        status: &RealtimeStatus,
    ) -> Result<(), StoreError> {
        if self.kept.realtime_status(tenant).await?.as_ref() != Some(status) {
            self.kept.set_realtime_status(tenant, status).await?;
        }
        Ok(())
    }

    /// `tenant` no longer wants notifications: it leaves the subscriptions,
    /// and a subscription no tenant wants is deleted.
    pub async fn release_for(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RealtimeError> {
        self.leave(tenant, entra_tenant_id, true, now).await
    }

    /// `tenant` leaves the subscriptions without a Graph call.
    pub async fn forget_for(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), RealtimeError> {
        self.leave(tenant, entra_tenant_id, false, now).await
    }

    /// Takes `tenant` off both subscriptions; one left to no tenant is
    /// forgotten, and deleted in Graph first when `delete`.
    async fn leave(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &str,
        delete: bool,
        now: DateTime<Utc>,
    ) -> Result<(), RealtimeError> {
        let mut holds_any = false;
        for resource in RESOURCES {
            let kept = self.kept.kept(entra_tenant_id, resource).await?;
            holds_any |= kept.is_some_and(|k| k.record.am_tenants.contains(tenant));
        }
        if holds_any {
            let Some(holder) = self.lock(entra_tenant_id, now).await? else {
                return Ok(()); // the next run leaves them
            };
            let left = self.leave_locked(tenant, entra_tenant_id, delete).await;
            self.kept.unlock(entra_tenant_id, &holder).await?;
            left?;
        }
        self.record_status(tenant, &RealtimeStatus::Inactive)
            .await?;
        Ok(())
    }

    async fn leave_locked(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &str,
        delete: bool,
    ) -> Result<(), RealtimeError> {
        for resource in RESOURCES {
            let Some(mut kept) = self.kept.kept(entra_tenant_id, resource).await? else {
                continue;
            };
            if !kept.record.am_tenants.contains(tenant) {
                continue;
            }
            kept.record.am_tenants.retain(|t| t != tenant);
            if !kept.record.am_tenants.is_empty() {
                self.kept.keep(&kept).await?;
                continue;
            }
            if delete {
                self.api.delete(&kept.record.subscription_id).await?;
                tracing::info!(resource, "deleted the subscription no tenant wants");
            }
            self.kept.forget(&kept).await?;
        }
        Ok(())
    }

    async fn ensure(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &str,
        resource: &'static str,
        now: DateTime<Utc>,
    ) -> Result<(), RealtimeError> {
        let Some(mut kept) = self.kept.kept(entra_tenant_id, resource).await? else {
            self.create(entra_tenant_id, resource, vec![tenant.clone()], now)
                .await?;
            return Ok(());
        };
        if self.must_be_made_again(&kept) {
            return self.replace(kept, now).await;
        }
        let mut changed = false;
        if now - kept.verified_at >= VERIFY_EVERY {
            let live = self.api.list().await?;
            if !live.iter().any(|s| s.id == kept.record.subscription_id) {
                return self.replace(kept, now).await;
            }
            kept.verified_at = now;
            changed = true;
        }
        if !kept.record.am_tenants.contains(tenant) {
            kept.record.am_tenants.push(tenant.clone());
            changed = true;
        }
        let reauthorization = Reauthorization::of(&kept, now);
        if kept.expires_at - now < RENEW_WHEN_LEFT || reauthorization == Reauthorization::Due {
            // One PATCH renews and reauthorizes (never both calls).
            match self
                .api
                .renew(&kept.record.subscription_id, now + LIFETIME)
                .await
            {
                Ok(live) => kept.expires_at = live.expiration,
                Err(GraphError::NotFound) => return self.replace(kept, now).await,
                Err(err) => return Err(err.into()),
            }
            kept.renewed_at = now;
            kept.verified_at = now;
            kept.lifecycle_event = None;
            changed = true;
        } else if reauthorization == Reauthorization::Answered {
            kept.lifecycle_event = None;
            changed = true;
        }
        // `Waiting`: the event stays pending for the first run after the gap.
        if changed {
            self.kept.keep(&kept).await?;
        }
        Ok(())
    }

    /// Graph removed it (or missed changes for it), or Graph delivers it
    /// elsewhere than NOTIFICATION_URL now says (the lifecycle URL cannot
    /// be patched): a new one is made.
    fn must_be_made_again(&self, kept: &KeptSubscription) -> bool {
        let removed = matches!(
            kept.lifecycle_event,
            Some(LifecycleEvent::SubscriptionRemoved | LifecycleEvent::Missed)
        );
        let moved = kept
            .notification_url
            .as_deref()
            .is_some_and(|url| url != recorded_url(self.notification_url));
        removed || moved
    }

    /// Graph lost the subscription (or said so): a new one for the same
    /// tenants. The delta run that follows reads what was missed.
    async fn replace(
        &self,
        kept: KeptSubscription,
        now: DateTime<Utc>,
    ) -> Result<(), RealtimeError> {
        tracing::info!(resource = %kept.record.resource, "replacing a subscription Graph no longer serves");
        self.api.delete(&kept.record.subscription_id).await?;
        self.kept.forget(&kept).await?;
        let resource = if kept.record.resource == "groups" {
            "groups"
        } else {
            "users"
        };
        self.create(
            &kept.record.entra_tenant_id,
            resource,
            kept.record.am_tenants,
            now,
        )
        .await
    }

    async fn create(
        &self,
        entra_tenant_id: &str,
        resource: &'static str,
        am_tenants: Vec<TenantId>,
        now: DateTime<Utc>,
    ) -> Result<(), RealtimeError> {
        let new = NewSubscription {
            resource,
            notification_url: self.notification_url.to_owned(),
            expiration: now + LIFETIME,
            client_state: new_client_state(),
        };
        let live = match self.api.create(&new).await {
            Ok(live) => live,
            // Ours, from a record since lost: its clientState is unknown,
            // so it goes and a new one is made.
            Err(GraphError::Conflict { .. }) => {
                for old in self.api.list().await? {
                    if old.resource.trim_start_matches('/') == resource
                        && old.notification_url == new.notification_url
                    {
                        self.api.delete(&old.id).await?;
                    }
                }
                self.api.create(&new).await?
            }
            Err(err) => return Err(err.into()),
        };
        tracing::info!(resource, subscription_id = %live.id, expires_at = %live.expiration, "created a subscription");
        self.kept
            .keep(&KeptSubscription {
                record: SubscriptionRecord {
                    subscription_id: live.id,
                    entra_tenant_id: entra_tenant_id.to_owned(),
                    resource: resource.to_owned(),
                    client_state_sha256: SubscriptionRecord::hash_client_state(&new.client_state),
                    am_tenants,
                },
                expires_at: live.expiration,
                renewed_at: now,
                verified_at: now,
                lifecycle_event: None,
                lifecycle_event_at: None,
                notification_url: Some(recorded_url(&new.notification_url)),
            })
            .await?;
        Ok(())
    }
}
