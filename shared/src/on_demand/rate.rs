//! The on-demand sync's rate limit (DESIGN 2.14): 5 requests per 10 s per
//! tenant, across Lambda instances. A sliding window kept as the times of
//! the last 5 admitted requests (one item, one slot each): a request is
//! admitted when the oldest of them is more than 10 s old, and takes its
//! slot with a write conditional on the slot being unchanged, so two
//! instances never both take it.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::TenantId;
use crate::ports::StoreError;

pub const REQUESTS_PER_WINDOW: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(10);

/// What to do with a request, given the slots (epoch milliseconds of the
/// admitted requests, `None` = never used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Take slot `slot`, which holds `replaces`.
    Admit { slot: usize, replaces: Option<i64> },
    /// Over the limit: the oldest slot frees in this long.
    Refuse { retry_after: Duration },
}

pub fn admission(slots: &[Option<i64>; REQUESTS_PER_WINDOW], now_ms: i64) -> Admission {
    let (slot, oldest) = slots
        .iter()
        .enumerate()
        .min_by_key(|(_, at)| at.unwrap_or(i64::MIN))
        .map(|(slot, at)| (slot, *at))
        .unwrap_or((0, None));
    let window_ms = WINDOW.as_millis() as i64;
    match oldest {
        Some(at) if now_ms - at < window_ms => Admission::Refuse {
            retry_after: Duration::from_millis((at + window_ms - now_ms).max(1) as u64),
        },
        replaces => Admission::Admit { slot, replaces },
    }
}

/// Where the slots live.
pub trait RateLimiter: Send + Sync {
    /// `Ok(None)`: admitted; `Ok(Some(d))`: refused, retry after `d`.
    fn admit(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Duration>, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_requests_in_ten_seconds_pass_and_the_sixth_waits_for_the_oldest() {
        let mut slots = [None; REQUESTS_PER_WINDOW];
        for i in 0..5 {
            let Admission::Admit { slot, replaces } = admission(&slots, 1_000 + i * 100) else {
                panic!("request {i} refused");
            };
            assert_eq!(replaces, None);
            slots[slot] = Some(1_000 + i * 100);
        }
        assert_eq!(
            admission(&slots, 1_900),
            Admission::Refuse {
                retry_after: Duration::from_millis(9_100)
            }
        );
        assert_eq!(
            admission(&slots, 11_000),
            Admission::Admit {
                slot: 0,
                replaces: Some(1_000)
            },
            "ten seconds after the oldest, its slot is free again"
        );
    }
}
