//! The one retry policy for every Graph call (GRAPH.md 2.4, 2.5): 429, 500,
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
    /// `Retry-After` when given, else full-jitter exponential backoff.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let exponential = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_delay);
        let millis = exponential.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis.max(1)))
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
        assert!(policy.delay(4, None) >= Duration::from_secs(2));
        assert!(policy.delay(30, None) <= Duration::from_secs(60));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
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
