//! One tenant never holds up another (docs/behaviour.md 2.11): in a stream batch,
//! each tenant's lanes get a share of the invocation's time. A tenant whose
//! Graph is throttled stops there: its remaining changes are parked as
//! problems that pass by themselves, and the batch's answer (and the
//! shard's next batch) waits for no more than that share.

use std::time::Duration;

use tokio::time::Instant;

/// The part of the time left that a tenant may use: tenants run side by
/// side, so this bounds how long one slow tenant keeps the batch open.
const TENANT_SHARE: u32 = 4;
/// Kept back, as a share of the time left, to park what is left and answer.
const MARGIN_SHARE: u32 = 10;
const MIN_MARGIN: Duration = Duration::from_secs(2);

/// When a tenant's lanes must stop, for a batch starting `now` in an
/// invocation that ends at `deadline` (none: no limit).
pub fn tenant_deadline(now: Instant, deadline: Option<Instant>) -> Option<Instant> {
    let left = deadline?.saturating_duration_since(now);
    let margin = (left / MARGIN_SHARE).max(MIN_MARGIN).min(left);
    Some(now + (left - margin) / TENANT_SHARE)
}

/// The earlier of two deadlines (none: no limit).
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_a_share_of_the_time_left_after_a_margin() {
        let now = Instant::now();
        let in_120s = tenant_deadline(now, Some(now + Duration::from_secs(120))).unwrap();
        assert_eq!(in_120s - now, Duration::from_secs(27), "(120 - 12) / 4");
        let in_12s = tenant_deadline(now, Some(now + Duration::from_secs(12))).unwrap();
        assert_eq!(in_12s - now, Duration::from_millis(2500), "(12 - 2) / 4");
        let nearly_over = tenant_deadline(now, Some(now + Duration::from_secs(1))).unwrap();
        assert_eq!(nearly_over, now, "nothing left to share");
        assert_eq!(tenant_deadline(now, None), None);
    }

    #[test]
    fn the_earliest_deadline_wins() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        assert_eq!(earliest(Some(later), Some(now)), Some(now));
        assert_eq!(earliest(None, Some(later)), Some(later));
        assert_eq!(earliest(None, None), None);
    }
}
