//! Graph requests counted per run (`graph_requests`, `throttled` on a run's
//! history item, docs/behaviour.md 2.14). One invocation runs several
//! tenants side by side on one client, so the client's own counters cannot
//! tell them apart: a run counts what is sent while its future is polled,
//! through a task-local tally the client adds to.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a run sent to Graph: HTTP requests (retries included) and the
/// throttling answers among them (429, 503).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphTally {
    pub requests: u64,
    pub throttled: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    throttled: AtomicU64,
}

tokio::task_local! {
    static RUN_TALLY: Arc<Counters>;
}

/// Runs `work`, counting the Graph requests sent while it is polled;
/// `tally` reads the count so far from inside it.
pub async fn counting<F: Future>(work: F) -> F::Output {
    RUN_TALLY.scope(Arc::default(), work).await
}

/// The requests counted so far by the enclosing [`counting`]; none outside one.
pub fn tally() -> GraphTally {
    RUN_TALLY
        .try_with(|c| GraphTally {
            requests: c.requests.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
        })
        .unwrap_or_default()
}

/// One HTTP request sent (the Graph client calls it).
pub(crate) fn note_request() {
    let _ = RUN_TALLY.try_with(|c| c.requests.fetch_add(1, Ordering::Relaxed));
}

/// One throttling answer received (the Graph client calls it).
pub(crate) fn note_throttled() {
    let _ = RUN_TALLY.try_with(|c| c.throttled.fetch_add(1, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_run_counts_its_own_requests_also_when_polled_side_by_side() {
        let run = |requests: u64, throttled: u64| {
            counting(async move {
                for _ in 0..requests {
                    note_request();
                    tokio::task::yield_now().await;
                }
                for _ in 0..throttled {
                    note_throttled();
                }
                tally()
            })
        };
        let (a, b) = tokio::join!(run(3, 1), run(5, 0));
        assert_eq!(
            a,
            GraphTally {
                requests: 3,
                throttled: 1
            }
        );
        assert_eq!(
            b,
            GraphTally {
                requests: 5,
                throttled: 0
            }
        );
        note_request();
        assert_eq!(
            tally(),
            GraphTally::default(),
            "outside a run nothing counts"
        );
    }
}
