//! The one retry policy for every Graph call (docs/graph.md 2.4, 2.5): 429, 500,
//! 503, 504, timeouts and resets, with exponential backoff and full jitter,
//! honouring `Retry-After`, bounded in attempts and by the run's deadline.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1 = first retry): the server's
    /// `Retry-After` when given (it knows when it will take us back), else
    /// full jitter, uniform in [0, backoff ceiling], so that many clients
    /// throttled together do not come back together.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let ceiling = self.backoff_ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=ceiling))
    }

    /// The longest wait before retry number `attempt`: the base delay doubled
    /// per earlier retry, capped at the maximum delay.
    fn backoff_ceiling(&self, attempt: u32) -> Duration {
        self.base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_delay)
    }

    /// Whether another attempt fits: attempts left, and the wait ends before
    /// the deadline (a Lambda deadline gives no warning).
    pub fn allows(&self, attempt: u32, delay: Duration, deadline: Option<Instant>) -> bool {
        attempt < self.max_attempts && deadline.is_none_or(|d| Instant::now() + delay < d)
    }
}

/// `Retry-After` in seconds, possibly fractional (`2.128`); HTTP dates are
/// not used by Graph and count as absent.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_fractional_seconds() {
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped_and_retry_after_wins() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(1, None) <= Duration::from_millis(500));
        assert!(policy.delay(4, None) <= Duration::from_secs(4));
        assert!(policy.delay(30, None) <= Duration::from_secs(60));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn the_backoff_ceiling_doubles_per_retry_up_to_the_maximum() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff_ceiling(1), Duration::from_millis(500));
        assert_eq!(policy.backoff_ceiling(2), Duration::from_secs(1));
        assert_eq!(policy.backoff_ceiling(4), Duration::from_secs(4));
        assert_eq!(policy.backoff_ceiling(8), Duration::from_secs(60));
        assert_eq!(policy.backoff_ceiling(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn full_jitter_spreads_the_wait_over_zero_to_the_ceiling() {
        let policy = RetryPolicy::default();
        let ceiling = policy.backoff_ceiling(4);
        let delays: Vec<Duration> = (0..500).map(|_| policy.delay(4, None)).collect();
        assert!(delays.iter().all(|d| *d <= ceiling));
        // Equal jitter would never go below half the ceiling; full jitter
        // does (all 500 draws above it has a chance of 2^-500).
        assert!(delays.iter().any(|d| *d < ceiling / 2));
        assert!(delays.iter().any(|d| *d >= ceiling / 2));
    }

    #[test]
    fn retry_after_is_honoured_exactly_but_capped_at_the_maximum_delay() {
        let policy = RetryPolicy::default();
        let after = Duration::from_millis(2128);
        assert!((0..50).all(|_| policy.delay(5, Some(after)) == after));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(600))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn attempts_and_the_deadline_bound_the_retries() {
        let policy = RetryPolicy::default();
        assert!(policy.allows(1, Duration::from_secs(1), None));
        assert!(!policy.allows(8, Duration::from_secs(1), None));
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(!policy.allows(1, Duration::from_secs(1), Some(soon)));
    }
}
