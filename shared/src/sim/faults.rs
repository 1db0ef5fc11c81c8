//! The faults of a simulated run, and the two pieces of machinery that make
//! every await point a place where a run can be killed: a yield before each
//! port call, and a wrapper that drops the run's future after N polls.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::rng::{Rng, SharedRng};
use crate::model::entra::GraphError;
use crate::ports::StoreError;

/// How often each fault strikes (percent of calls), drawn per seed so that
/// some seeds are calm and some are storms. All zero once faults stop.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Graph 429/5xx/timeouts that outlasted the client's retries.
    pub graph_exhausted: u64,
    /// A delta link whose state Graph no longer has.
    pub delta_expired: u64,
    /// A Graph round repeating one of its items on a later page.
    pub duplicate_items: u64,
    /// AWS throttling that outlasted the adapter's retries (nothing written).
    pub store_throttled: u64,
    /// The write applied, its answer lost.
    pub lost_response: u64,
    /// Part of a batch written, the rest unprocessed past the retries.
    pub partial_batch: u64,
    /// An Entra change lands while a run reads.
    pub entra_change_mid_run: u64,
}

impl Faults {
    /// `only` = `calm`, `mid`, `graph` or `store` keeps only that class
    /// (and kills): to tell which fault a failure needs.
    pub fn draw(rng: &mut Rng, only: Option<&str>) -> Self {
        let mut level = |max: u64| rng.fault_level(max);
        let drawn = Self {
            graph_exhausted: level(8),
            delta_expired: level(15),
            duplicate_items: level(40),
            store_throttled: level(6),
            lost_response: level(6),
            partial_batch: level(6),
            entra_change_mid_run: level(10),
        };
        match only {
            Some("calm") => drawn.calm(),
            Some("mid") => Self {
                entra_change_mid_run: drawn.entra_change_mid_run,
                ..drawn.calm()
            },
            Some("graph") => Self {
                graph_exhausted: drawn.graph_exhausted,
                delta_expired: drawn.delta_expired,
                ..drawn.calm()
            },
            Some("store") => Self {
                store_throttled: drawn.store_throttled,
                lost_response: drawn.lost_response,
                partial_batch: drawn.partial_batch,
                ..drawn.calm()
            },
            _ => drawn,
        }
    }

    /// No faults; Graph still repeats items (that is not a fault).
    pub fn calm(self) -> Self {
        Self {
            duplicate_items: self.duplicate_items,
            ..Self::default()
        }
    }
}

pub fn graph_exhausted() -> GraphError {
    GraphError::Exhausted {
        attempts: 5,
        last: "429 Too Many Requests (simulated)".into(),
    }
}

pub fn store_unavailable(operation: &'static str, detail: &str) -> StoreError {
    StoreError::Unavailable {
        operation,
        detail: format!("{detail} (simulated)"),
    }
}

/// What a store call meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    None,
    Throttled,
    LostResponse,
    Partial,
}

pub fn store_fault(rng: &SharedRng, faults: &Faults, batch: bool) -> StoreFault {
    let mut rng = rng.lock().unwrap();
    if rng.chance(faults.store_throttled) {
        StoreFault::Throttled
    } else if rng.chance(faults.lost_response) {
        StoreFault::LostResponse
    } else if batch && rng.chance(faults.partial_batch) {
        StoreFault::Partial
    } else {
        StoreFault::None
    }
}

/// Returns `Pending` once: every port call is a point where the executor
/// regains control, so a kill can land there.
pub async fn yield_point() {
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
    YieldOnce(false).await
}

/// Polls `future` at most `polls` times: `None` when it was dropped
/// unfinished (a Lambda killed mid-flight).
pub fn run_until_killed<F: Future>(future: F, polls: Option<u64>) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut left = polls;
    loop {
        if left == Some(0) {
            return None;
        }
        if let Some(n) = left.as_mut() {
            *n -= 1;
        }
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
    }
}
