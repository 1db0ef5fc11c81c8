//! When a pending `reauthorizationRequired` is answered (docs/behaviour.md 2.7,
//! 2.11 "Subscriptions keep their promise").

use chrono::{DateTime, Utc};

use super::{KeptSubscription, REAUTHORIZE_GAP};
use crate::notifications::LifecycleEvent;

/// What a pending `reauthorizationRequired` asks of a run (docs/behaviour.md 2.11
/// "Subscriptions keep their promise"). Graph sends it when the
/// subscription needs a new authorization, so one that arrived after the
/// last renewal (or creation) is never answered by it: notifications pause
/// until it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reauthorization {
    /// No such event is pending.
    NotPending,
    /// It arrived before the last renewal, which answered it.
    Answered,
    /// It arrived after the last renewal, less than `REAUTHORIZE_GAP` ago:
    /// it stays pending until the gap has passed.
    Waiting,
    /// It arrived after the last renewal, and the gap has passed.
    Due,
}

impl Reauthorization {
    pub(super) fn of(kept: &KeptSubscription, now: DateTime<Utc>) -> Self {
        if kept.lifecycle_event != Some(LifecycleEvent::ReauthorizationRequired) {
            return Self::NotPending;
        }
        // Stored to the second: an event in the renewal's own second (or
        // of unknown time) counts as after it; one renewal too many is
        // harmless, one too few pauses the notifications.
        if kept
            .lifecycle_event_at
            .is_some_and(|at| at < kept.renewed_at)
        {
            return Self::Answered;
        }
        if now - kept.renewed_at < REAUTHORIZE_GAP {
            Self::Waiting
        } else {
            Self::Due
        }
    }
}
