//! What keeping a tenant's subscriptions needs: Graph's `/subscriptions`
//! and the records of what was created. No AWS types.

use std::future::Future;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::model::TenantId;
use crate::model::entra::GraphError;
use crate::notifications::{LifecycleEvent, SubscriptionRecord};
use crate::ports::StoreError;

/// A subscription to create (`changeType` is always `updated,deleted`).
/// Its `Debug` leaves out the URL's key.
#[derive(Clone)]
pub struct NewSubscription {
    /// `users` or `groups`.
    pub resource: &'static str,
    pub notification_url: String,
    pub expiration: DateTime<Utc>,
    pub client_state: SecretString,
}

/// A subscription as Graph answers it. Its `Debug` leaves out the URL's key.
#[derive(Clone, PartialEq, Eq)]
pub struct LiveSubscription {
    pub id: String,
    pub resource: String,
    pub notification_url: String,
    pub expiration: DateTime<Utc>,
}

impl std::fmt::Debug for NewSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSubscription")
            .field("resource", &self.resource)
            .field(
                "notification_url",
                &super::redacted_url(&self.notification_url),
            )
            .field("expiration", &self.expiration)
            .field("client_state", &"[redacted]")
            .finish()
    }
}

impl std::fmt::Debug for LiveSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSubscription")
            .field("id", &self.id)
            .field("resource", &self.resource)
            .field(
                "notification_url",
                &super::redacted_url(&self.notification_url),
            )
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Graph's `/subscriptions`, for one Entra tenant.
pub trait SubscriptionApi: Send + Sync {
    fn create(
        &self,
        subscription: &NewSubscription,
    ) -> impl Future<Output = Result<LiveSubscription, GraphError>> + Send;

    /// Renewing also reauthorizes it (docs/graph-notifications.md 4).
    fn renew(
        &self,
        id: &str,
        expiration: DateTime<Utc>,
    ) -> impl Future<Output = Result<LiveSubscription, GraphError>> + Send;

    /// Gone already counts as deleted.
    fn delete(&self, id: &str) -> impl Future<Output = Result<(), GraphError>> + Send;

    /// The app's subscriptions in the tenant.
    fn list(&self) -> impl Future<Output = Result<Vec<LiveSubscription>, GraphError>> + Send;
}

/// A subscription entra-sync keeps, with what the worker must know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptSubscription {
    pub record: SubscriptionRecord,
    pub expires_at: DateTime<Utc>,
    /// When it was last renewed (which reauthorizes it) or created.
    pub renewed_at: DateTime<Utc>,
    /// When Graph last showed it exists (it drops subscriptions silently).
    pub verified_at: DateTime<Utc>,
    /// The pending event; cleared by the worker when answered (`keep`
    /// removes it only if no newer one arrived since it was read).
    pub lifecycle_event: Option<LifecycleEvent>,
    /// When that event was recorded, as read.
    pub lifecycle_event_at: Option<DateTime<Utc>>,
    /// Where Graph delivers for it (`None`: recorded before this was kept).
    pub notification_url: Option<String>,
}

pub trait KeptSubscriptions: Send + Sync {
    /// The subscription kept for this Entra tenant and resource.
    fn kept(
        &self,
        entra_tenant_id: &str,
        resource: &str,
    ) -> impl Future<Output = Result<Option<KeptSubscription>, StoreError>> + Send;

    /// Saves it (and makes it the one kept for its tenant and resource).
    /// A lifecycle event recorded since it was read stays pending.
    fn keep(&self, kept: &KeptSubscription) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the Entra tenant's subscriptions for `holder` until `until`
    /// (free or expired); false when another holds them.
    fn lock(
        &self,
        entra_tenant_id: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn unlock(
        &self,
        entra_tenant_id: &str,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets it (a subscription Graph no longer has, or deleted).
    fn forget(
        &self,
        kept: &KeptSubscription,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `ENTRA#STATUS.realtime` and `realtime_error` of an AM tenant, as
    /// last set.
    fn realtime_status(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<RealtimeStatus>, StoreError>> + Send;

    fn set_realtime_status(
        &self,
        tenant: &TenantId,
        status: &RealtimeStatus,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What `ENTRA#STATUS.realtime` says (docs/contract.md 1.3, 2.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealtimeStatus {
    Active,
    Inactive,
    Error(String),
}

impl RealtimeStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Error(_) => "error",
        }
    }
}
