//! The per-user attempt limit (DESIGN.md 2.11): an attempt is reserved in
//! the store before Entra ID is asked, so that however many requests
//! arrive at once, at most the limit of them reach Entra ID per window.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::TenantId;
use crate::ports::StoreError;

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
    /// A wrong credential, or an answer that never came (Entra ID may have
    /// counted it): the attempt stays counted for the rest of the window.
    Keep,
    /// Entra ID did not count the attempt against the user (a correct
    /// password, a locked or disabled account, a refused app).
    Release,
}

/// Reserved attempts per user. Each reservation is one conditional write:
/// two concurrent reservations never both take the last free place.
pub trait AttemptLedger: Send + Sync {
    /// Reserves one attempt in the user's current window (a new window of
    /// `policy.window` from `now` when the last one ended), unless the
    /// window already holds `policy.max_failures` attempts.
    fn reserve(
        &self,
        tenant: &TenantId,
        user: &str,
        policy: ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Reservation, StoreError>> + Send;

    /// Gives one attempt back to the window that ends at `window_until`;
    /// nothing when that window is gone.
    fn release(
        &self,
        tenant: &TenantId,
        user: &str,
        window_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
