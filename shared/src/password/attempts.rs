//! The per-user attempt limit (docs/behaviour.md 2.11): an attempt is reserved in
//! the store before Entra ID is asked, so that however many requests
//! arrive at once, at most the limit of them reach Entra ID within any
//! span of one window's length: a window carries the attempts of the one
//! before it while they are that recent, and the limit holds for both
//! together (a fixed window alone lets the limit through at each side of
//! its end: twice the limit in two seconds).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ports::StoreError;

/// The Entra account an attempt is against, as Entra's smart lockout
/// counts it: one account of one Entra tenant, however many AM tenants are
/// linked to that Entra tenant and however the name is typed. Its ledger
/// key is `<entra tenant id>#<user principal name>`, both lowercase (the
/// name trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptAccount {
    entra_tenant_id: String,
    user_principal_name: String,
}

impl AttemptAccount {
    pub fn new(entra_tenant_id: &str, user_principal_name: &str) -> Self {
        Self {
            entra_tenant_id: entra_tenant_id.trim().to_lowercase(),
            user_principal_name: user_principal_name.trim().to_lowercase(),
        }
    }

    pub fn ledger_key(&self) -> String {
        format!("{}#{}", self.entra_tenant_id, self.user_principal_name)
    }
}

/// Attempts allowed per user within a window before the function stops
/// asking Entra ID (Entra's smart lockout starts at 10 by default).
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// What a new window carries from the one that ended at `ended_until`
/// (holding `attempts` of its own), and when that carried count stops
/// mattering. Attempts older than one window before `now` are carried no
/// more; an unreadable count or window end counts as the limit (fail
/// closed: the alternative is asking Entra ID blind).
pub fn carried_attempts(
    ended_until: Option<DateTime<Utc>>,
    attempts: Option<u32>,
    policy: ThrottlePolicy,
    now: DateTime<Utc>,
) -> (u32, DateTime<Utc>) {
    let ended_until = ended_until.unwrap_or(now);
    let forgotten_at = ended_until + policy.window;
    if forgotten_at <= now {
        return (0, now);
    }
    (attempts.unwrap_or(policy.max_failures), forgotten_at)
}

/// The answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt counts in the window that ends at `window_until` until
    /// it is released.
    Admitted { window_until: DateTime<Utc> },
    /// The user's attempts in the window reached the limit.
    Refused { until: DateTime<Utc> },
}

/// What Entra ID's answer does to a reserved attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// A wrong credential, a locked account (probing it must not go
    /// uncounted until the lock lifts), or an answer that never came
    /// (Entra ID may have counted it): the attempt stays counted.
    Keep,
    /// Entra ID did not count the attempt against the user (a correct
    /// password, a disabled account, a refused app).
    Release,
}

/// Reserved attempts per Entra account. Each reservation is one conditional write:
/// two concurrent reservations never both take the last free place.
pub trait AttemptLedger: Send + Sync {
    /// Reserves one attempt in the account's current window (a new window of
    /// `policy.window` from `now` when the last one ended, carrying its
    /// attempts as [`carried_attempts`] says), unless the window's own
    /// and carried attempts together reach `policy.max_failures`.
    fn reserve(
        &self,
        account: &AttemptAccount,
        policy: ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Reservation, StoreError>> + Send;

    /// Gives one attempt back to the window that ends at `window_until`;
    /// nothing when that window is gone.
    fn release(
        &self,
        account: &AttemptAccount,
        window_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
