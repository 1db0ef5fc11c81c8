//! Graph change notifications (docs/behaviour.md 2.7): which deliveries are genuine,
//! and which tenants they wake. A notification carries no attributes, only
//! that something changed: the tenant's next delta run reads the change.
//! Free of AWS types; the stores are behind the ports below.

mod delivery;
mod key;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

pub use delivery::{
    Delivery, DeliveryError, MAX_DELIVERY_BYTES, Notification, TenantClaim, parse_delivery,
};
pub use key::NotificationKey;

use crate::model::TenantId;
use crate::ports::StoreError;

/// What entra-sync keeps of a subscription it created: never the
/// `clientState` itself, only its SHA-256 (it is random, so the hash is as
/// good as the secret for checking and useless for forging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub subscription_id: String,
    pub entra_tenant_id: String,
    /// `users` or `groups`.
    pub resource: String,
    pub client_state_sha256: [u8; 32],
    /// The AM tenants synced from this Entra tenant (they share its
    /// subscriptions).
    pub am_tenants: Vec<TenantId>,
}

impl SubscriptionRecord {
    pub fn hash_client_state(client_state: &SecretString) -> [u8; 32] {
        Sha256::digest(client_state.expose_secret().as_bytes()).into()
    }

    /// Compares (the hashes) in constant time: how much of a guess matched
    /// must not show in how long the answer took.
    fn client_state_matches(&self, offered_sha256: &[u8; 32]) -> bool {
        same_digest(offered_sha256, &self.client_state_sha256)
    }

    fn names_tenant(&self, claim: TenantClaim) -> bool {
        match claim {
            TenantClaim::Absent => true,
            TenantClaim::Named(id) => uuid::Uuid::try_parse(&self.entra_tenant_id) == Ok(id),
            TenantClaim::Malformed => false,
        }
    }
}

pub(crate) use crate::model::same_digest;

/// A lifecycle event the worker must act on for a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LifecycleEvent {
    ReauthorizationRequired,
    SubscriptionRemoved,
    Missed,
}

impl LifecycleEvent {
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        match raw {
            "reauthorizationRequired" => Some(Self::ReauthorizationRequired),
            "subscriptionRemoved" => Some(Self::SubscriptionRemoved),
            "missed" => Some(Self::Missed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReauthorizationRequired => "reauthorizationRequired",
            Self::SubscriptionRemoved => "subscriptionRemoved",
            Self::Missed => "missed",
        }
    }
}

pub trait SubscriptionRecords: Send + Sync {
    /// The records of these subscriptions that exist, by id, read together
    /// (the store reads up to 100 per request): what a delivery costs grows
    /// with its distinct subscriptions a hundredth as fast.
    fn subscriptions(
        &self,
        subscription_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, SubscriptionRecord>, StoreError>> + Send;

    /// Notes the event on the subscription for the tenant's next run.
    fn record_lifecycle_event(
        &self,
        subscription_id: &str,
        event: LifecycleEvent,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Whether a sync request queued a job or joined one already pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRequest {
    Queued,
    AlreadyPending,
}

pub trait SyncRequests: Send + Sync {
    /// Records that the tenant has changes to read (and when a notification
    /// for it was last accepted), and queues a sync job unless one is
    /// already pending. Many calls, one job.
    fn request_sync(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<SyncRequest, StoreError>> + Send;
}

/// Why a notification was not acted on (it still gets `202`: a forger
/// learns nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ignored {
    UnknownSubscription,
    ClientStateMismatch,
    TenantMismatch,
}

/// What one delivery did, for its one log line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IntakeReport {
    pub accepted: usize,
    pub ignored: BTreeMap<Ignored, usize>,
    /// Subscription records asked for (each distinct subscription checked).
    pub subscriptions_read: usize,
    pub lifecycle_events: usize,
    pub jobs_queued: usize,
    pub already_pending: usize,
}

/// How many stores a delivery talks to at once (it must answer in 3 s).
const CONCURRENCY: usize = 8;

pub struct NotificationIntake<R, Q> {
    pub records: R,
    pub requests: Q,
}

impl<R: SubscriptionRecords, Q: SyncRequests> NotificationIntake<R, Q> {
    /// Checks each distinct notification against its subscription (the
    /// distinct subscriptions read together) and wakes each tenant a genuine one names,
    /// once per delivery. Nothing is logged per notification: the caller
    /// logs the report.
    pub async fn accept(
        &self,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<IntakeReport, StoreError> {
        let wanted = delivery.subscriptions_to_check();
        let ids: Vec<String> = wanted
            .iter()
            .map(|id| id.hyphenated().to_string())
            .collect();
        let found = self.records.subscriptions(&ids).await?;
        let records: BTreeMap<uuid::Uuid, Option<&SubscriptionRecord>> = wanted
            .into_iter()
            .map(|id| (id, found.get(&id.hyphenated().to_string())))
            .collect();
        let mut report = IntakeReport {
            subscriptions_read: records.len(),
            ..IntakeReport::default()
        };
        let mut wake: BTreeSet<TenantId> = BTreeSet::new();
        let mut events: BTreeSet<(&str, LifecycleEvent)> = BTreeSet::new();
        for (notification, count) in &delivery.notifications {
            let record = records
                .get(&notification.subscription_id)
                .copied()
                .flatten();
            match check(notification, record) {
                Ok(record) => {
                    report.accepted += count;
                    wake.extend(record.am_tenants.iter().cloned());
                    if let Some(event) = notification.lifecycle_event {
                        events.insert((record.subscription_id.as_str(), event));
                    }
                }
                Err(why) => *report.ignored.entry(why).or_default() += count,
            }
        }
        report.lifecycle_events = events.len();
        for (subscription_id, event) in events {
            tracing::info!(subscription_id, event = event.as_str(), "a lifecycle event");
            self.records
                .record_lifecycle_event(subscription_id, event, now)
                .await?;
        }
        let outcomes: Vec<SyncRequest> = stream::iter(wake)
            .map(|tenant| async move { self.requests.request_sync(&tenant, now).await })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        report.jobs_queued = outcomes
            .iter()
            .filter(|o| **o == SyncRequest::Queued)
            .count();
        report.already_pending = outcomes.len() - report.jobs_queued;
        Ok(report)
    }
}

/// The subscription a notification genuinely comes from.
fn check<'r>(
    notification: &Notification,
    record: Option<&'r SubscriptionRecord>,
) -> Result<&'r SubscriptionRecord, Ignored> {
    let record = record.ok_or(Ignored::UnknownSubscription)?;
    let offered = notification
        .client_state_sha256
        .as_ref()
        .ok_or(Ignored::ClientStateMismatch)?;
    if !record.client_state_matches(offered) {
        return Err(Ignored::ClientStateMismatch);
    }
    if !record.names_tenant(notification.tenant) {
        return Err(Ignored::TenantMismatch);
    }
    Ok(record)
}
