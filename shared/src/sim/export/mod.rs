//! A deterministic simulation of the export engine (docs/behaviour.md 2.10,
//! 2.11): one seeded RNG drives the platform's writes to the AM directory,
//! whose stream records reach `ExportBatch` as DynamoDB Streams and Lambda
//! deliver them (in order per item only, a batch again after it was
//! processed, from the first failed record on, the whole batch after a
//! kill), interleaved with Graph's faults (exhausted retries, a write
//! applied whose answer was lost, replication lag), AWS's (throttling, lost
//! answers, partial batch reads), a kill at any await point, and the sync
//! worker's replay of export problems. Then the faults stop, the stream
//! and the replays settle, and the invariants are checked.
//!
//! `ENTRA_SYNC_SIM_SEEDS=<n>` runs n seeds (`cargo test -p
//! entra-sync-shared --lib sim::export::tests::seeds -- --nocapture` for a
//! deep run: nextest ends a test after 2 minutes);
//! `ENTRA_SYNC_SIM_SEED=<n>` replays one, exactly, with its trace (and
//! with `ENTRA_SYNC_SIM_LOG=1`, the engine's log lines);
//! `ENTRA_SYNC_SIM_FAULTS=calm|graph|store|stream` keeps one class of faults.

mod entra;
mod graph;
mod invariants;
mod stores;
mod world;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::json;

use crate::export::replay::replay_due;
use crate::export::{Clock, DirectoryChange, ExportBatch, ExportRun};
use crate::sim::SeedReport;
use graph::{SimEntra, SimWriters};
use stores::{SimConfigs, SimDirectory, SimProblems};
use world::World;

/// Steps with faults; a step is some platform writes, then a batch (or a
/// replay of the problems).
const FAULTY_STEPS: u64 = 10;
/// Rounds of (the stream drained, the problems replayed) once faults stop.
const SETTLE_ROUNDS: usize = 3;
/// Batches that drain the stream, at most, in one round.
const DRAIN_LIMIT: usize = 200;
/// A batch longer than this is stuck, not slow.
const POLL_LIMIT: u64 = 1_000_000;

/// Polls the future at most `polls` times: `None` when it was dropped
/// unfinished (a Lambda killed mid-flight).
struct Killable<F> {
    future: Pin<Box<F>>,
    left: u64,
}

impl<F: Future> Future for Killable<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        self.future.as_mut().poll(cx).map(Some)
    }
}

/// Runs on a runtime whose clock is simulated: the engine's sleeps (the
/// replication retries) pass at once, in order.
fn run_killable<F: Future>(
    runtime: &tokio::runtime::Runtime,
    future: F,
    polls: Option<u64>,
) -> Option<F::Output> {
    runtime.block_on(Killable {
        future: Box::pin(future),
        left: polls.unwrap_or(POLL_LIMIT),
    })
}

/// One Lambda invocation on the stream's next records: what it did.
fn deliver(world: &World, runtime: &tokio::runtime::Runtime, polls: Option<u64>) -> Option<String> {
    let size = 1 + world.roll(6) as usize;
    let records = world.next_records(size);
    if records.is_empty() {
        return None;
    }
    let changes: Vec<DirectoryChange> = records.iter().map(change_of).collect();
    let (configs, directory, problems) = (
        SimConfigs { world },
        SimDirectory { world },
        SimProblems { world },
    );
    let writers = SimWriters { world };
    let batch = ExportBatch::new(&configs, &directory, &writers, &world.domains, &problems);
    let end = run_killable(
        runtime,
        batch.export_all(&changes, world.now(), None),
        polls,
    );
    // Lambda goes on from the first record reported, or delivers the
    // batch again after a kill (or, at least once, after all).
    let done = match &end {
        None => 0,
        Some(retried) => retried.first().copied().unwrap_or(records.len()),
    };
    let again = world.chance(world.faults().redelivered);
    if !again {
        world.delivered(&records[..done]);
    }
    let shown: Vec<String> = records.iter().map(shown).collect();
    let end = match end {
        None => "killed".to_owned(),
        Some(retried) if again => format!("retry {retried:?}, delivered again"),
        Some(retried) => format!("retry {retried:?}"),
    };
    Some(format!("batch {shown:?} (kill after {polls:?}): {end}"))
}

/// The change a stream record is, as the handler parses it.
fn change_of(record: &world::StreamRecord) -> DirectoryChange {
    let keys = json!({"pk": "TENANT#acme", "sk": record.sk});
    DirectoryChange::parse(
        record.event,
        keys.as_object().unwrap(),
        record.old.clone(),
        record.new.clone(),
        record.sequence.to_string(),
        None,
    )
    .expect("a record the platform wrote")
    .expect("a directory item")
}

/// A record as the trace shows it: what changed, and the name around it.
fn shown(record: &world::StreamRecord) -> String {
    let name = |m: &serde_json::Map<String, serde_json::Value>| {
        m.get("user_name").or(m.get("name")).cloned()
    };
    let (old, new) = (name(&record.old), name(&record.new));
    format!(
        "{} {} {} {old:?}->{new:?}",
        record.sequence, record.event, record.sk
    )
}

/// The sync worker's replay of the tenant's due export problems.
fn replay(world: &World, runtime: &tokio::runtime::Runtime, polls: Option<u64>) -> String {
    let (directory, writer, problems) = (
        SimDirectory { world },
        SimEntra { world },
        SimProblems { world },
    );
    let run = ExportRun::new(&directory, &writer, &world.config).on(Clock::starting(world.now()));
    if let Some(domains) = world.domains.fresh(&world.config.tenant_id) {
        let _ = run.domains.set(domains);
    }
    let end = run_killable(
        runtime,
        replay_due(&run, &problems, world.now(), None),
        polls,
    );
    format!("replay (kill after {polls:?}): {end:?}")
}

pub fn simulate(seed: u64) -> SeedReport {
    let only = std::env::var("ENTRA_SYNC_SIM_FAULTS").ok();
    simulate_with(seed, only.as_deref())
}

pub fn simulate_with(seed: u64, only_faults: Option<&str>) -> SeedReport {
    let world = World::new(seed, only_faults);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let mut trace = vec![format!(
        "faults {:?}; adopt {}, export group {:?}; Entra {:?}",
        world.faults(),
        world.config.export_adopt_existing,
        world.config.export_group_id,
        world.entra.lock().unwrap().users
    )];
    for step in 1..=FAULTY_STEPS {
        let writes = 1 + world.roll(4);
        for _ in 0..writes {
            world.platform_change();
        }
        world.advance(30);
        let polls = world.chance(30).then(|| 1 + world.roll(150));
        let what = if world.chance(20) {
            replay(&world, &runtime, polls)
        } else {
            deliver(&world, &runtime, polls).unwrap_or_else(|| "nothing to deliver".into())
        };
        trace.push(format!("step {step} ({writes} writes): {what}"));
    }
    if let Some(failure) = settle(&world, &runtime, &mut trace) {
        return SeedReport {
            trace,
            failure: Some(failure),
        };
    }
    let differences = invariants::check(&world);
    trace.push(format!("final {}", invariants::actual(&world)));
    let failure = (!differences.is_empty()).then(|| differences.join("\n  "));
    SeedReport { trace, failure }
}

/// No more faults: the stream is drained and the problems replayed, a
/// few times over (a replay may need the stream's next records).
fn settle(
    world: &World,
    runtime: &tokio::runtime::Runtime,
    trace: &mut Vec<String>,
) -> Option<String> {
    *world.faults.lock().unwrap() = Default::default();
    world.entra.lock().unwrap().catch_up();
    for round in 0..=SETTLE_ROUNDS {
        world.advance(3600);
        let mut batches = 0;
        while let Some(what) = deliver(world, runtime, None) {
            trace.push(format!("settle {round}: {what}"));
            batches += 1;
            if batches > DRAIN_LIMIT {
                return Some(format!(
                    "the stream never drained without faults ({DRAIN_LIMIT} batches)"
                ));
            }
        }
        if round < SETTLE_ROUNDS {
            trace.push(format!("settle {round}: {}", replay(world, runtime, None)));
        }
    }
    None
}
