//! A deterministic simulation of the import engine (docs/behaviour.md 2.10, the
//! method of FoundationDB's simulator and TigerBeetle's VOPR): one seeded
//! RNG drives random Entra, platform and config changes, interleaved with
//! the faults the engine must survive (Graph throttling and expired delta
//! state, repeated items, AWS throttling, lost answers, partial batches, a
//! kill at any await point). Then the faults stop, runs go on until one
//! has nothing left to do, and the invariants are checked.
//!
//! `ENTRA_SYNC_SIM_SEEDS=<n>` runs n seeds (a deep run: nextest ends a
//! test after 2 minutes, so `ENTRA_SYNC_SIM_SEEDS=100000 cargo test -p
//! entra-sync-shared --lib sim::tests::seeds -- --nocapture`);
//! `ENTRA_SYNC_SIM_SEED=<n>` replays one, exactly, with its trace;
//! `ENTRA_SYNC_SIM_FAULTS=calm|mid|graph|store` keeps one class of faults;
//! `ENTRA_SYNC_SIM_STATES=1` adds the AM directory after each run to the trace.

mod entra;
mod export;
mod faults;
mod graph;
mod invariants;
mod rng;
mod stores;
mod world;

#[cfg(test)]
mod tests;

use crate::import::state::RunStatus;
use crate::import::{ImportError, ImportRun, RunOutcome};
use crate::model::{TenantConfig, TenantId};
use crate::ports::{StoreError, TenantConfigs};
use faults::run_until_killed;
use graph::SimGraph;
use stores::{SimDirectory, SimState};
use world::World;

/// Steps with faults; a step is some changes, then a run.
const FAULTY_STEPS: u64 = 8;
/// Runs without faults before the directory must have settled.
const SETTLE_RUNS: usize = 6;
/// A run longer than this is stuck, not slow.
const POLL_LIMIT: u64 = 1_000_000;

/// The config item as the run sees it; the run's requests clear in it.
struct SimConfigs<'w> {
    world: &'w World,
}

impl TenantConfigs for SimConfigs<'_> {
    async fn tenant_config(&self, _: &TenantId) -> Result<Option<TenantConfig>, StoreError> {
        Ok(Some(self.world.settings.lock().unwrap().config()))
    }
    async fn clear_resync_request(&self, _: &TenantId, _: &str) -> Result<(), StoreError> {
        self.world.settings.lock().unwrap().resync_requested = None;
        Ok(())
    }
    async fn clear_preview_request(&self, _: &TenantId, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn clear_deletion_approval(&self, _: &TenantId) -> Result<(), StoreError> {
        Ok(())
    }
    async fn mark_reauthorisation_required(&self, _: &TenantId) -> Result<(), StoreError> {
        Ok(())
    }
}

/// What one run did, for the seed's trace.
#[derive(Debug)]
enum RunEnd {
    Killed,
    Ended(Result<RunOutcome, ImportError>),
}

/// One invocation of the import against the world; killed after `polls`.
fn run_once(world: &World, number: u64, polls: Option<u64>) -> RunEnd {
    let config = world.settings.lock().unwrap().config();
    let directory = SimDirectory { world };
    let state = SimState { world };
    let configs = SimConfigs { world };
    let entra = SimGraph { world };
    let run = ImportRun::new(&directory, &state, &state, &configs, &entra, &config, None)
        .with_run_id(format!("run-{number:04}-0000"));
    match run_until_killed(run.run(), Some(polls.unwrap_or(POLL_LIMIT))) {
        Some(result) => RunEnd::Ended(result.map(without_wall_clock)),
        None if polls.is_some() => RunEnd::Killed,
        None => RunEnd::Ended(Ok(RunOutcome::Skipped("stuck: the run never finished"))),
    }
}

/// The engine stamps completions with the wall clock: not part of a
/// replay.
fn without_wall_clock(outcome: RunOutcome) -> RunOutcome {
    match outcome {
        RunOutcome::Completed(status) => RunOutcome::Completed(RunStatus {
            completed_at: None,
            ..status
        }),
        other => other,
    }
}

/// The outcome of one seed: its trace (for the replay check) or why it
/// failed.
pub struct SeedReport {
    pub trace: Vec<String>,
    pub failure: Option<String>,
}

pub fn simulate(seed: u64) -> SeedReport {
    let only = std::env::var("ENTRA_SYNC_SIM_FAULTS").ok();
    simulate_with(seed, only.as_deref())
}

/// One seed with only one class of faults (`None`: all of them).
pub fn simulate_with(seed: u64, only_faults: Option<&str>) -> SeedReport {
    let world = World::new(seed, only_faults);
    let mut trace = vec![format!("faults {:?}", *world.faults.lock().unwrap())];
    world.seed_entra();
    trace.extend(world.take_notes());
    let mut number = 0;
    for _ in 0..FAULTY_STEPS {
        number += 1;
        faulty_step(&world, number, &mut trace);
    }
    let calm = world.faults.lock().unwrap().calm();
    *world.faults.lock().unwrap() = calm;
    // The last killed run's lease expires.
    world.advance(LEASE_SECONDS);
    for _ in 0..SETTLE_RUNS {
        number += 1;
        world.advance(60);
        // A resumed round's pages were fixed when it started: its quiet
        // end says nothing of the changes since.
        let resumes = world.state.state.lock().unwrap().checkpoint.is_some();
        let end = run_once(&world, number, None);
        trace.push(format!("settle {number}: {end:?}"));
        trace_state(&world, &mut trace);
        match end {
            RunEnd::Ended(Ok(RunOutcome::Completed(status)))
                if status.counts == Default::default() && !resumes =>
            {
                let differences = invariants::check(&world);
                let failure = (!differences.is_empty()).then(|| differences.join("\n  "));
                trace.push(format!("final {:?}", invariants::actual(&world)));
                return SeedReport { trace, failure };
            }
            RunEnd::Ended(Ok(RunOutcome::Completed(_))) => {}
            other => {
                return SeedReport {
                    trace,
                    failure: Some(format!("a run without faults did not complete: {other:?}")),
                };
            }
        }
    }
    SeedReport {
        trace,
        failure: Some(format!(
            "still writing after {SETTLE_RUNS} runs without faults"
        )),
    }
}

/// With `ENTRA_SYNC_SIM_STATES=1`, what the AM directory holds after each
/// run, in the trace: where a wrong item first appeared.
fn trace_state(world: &World, trace: &mut Vec<String>) {
    if std::env::var_os("ENTRA_SYNC_SIM_STATES").is_some() {
        trace.push(format!("  AM now {:?}", invariants::actual(world)));
    }
}

const LEASE_SECONDS: i64 = crate::import::LEASE_DURATION.as_secs() as i64 + 1;

/// Changes on every side, then a run that may be killed at any await.
fn faulty_step(world: &World, number: u64, trace: &mut Vec<String>) {
    let changes = world.roll(4);
    world.entra_changes(changes);
    if world.chance(25) {
        world.platform_change();
    }
    if world.chance(15) {
        world.config_change();
    }
    trace.extend(world.take_notes());
    // A killed run's lease expires, or the next run finds it held.
    world.advance(if world.chance(70) { LEASE_SECONDS } else { 30 });
    let polls = world.chance(35).then(|| 1 + world.roll(120));
    let end = run_once(world, number, polls);
    trace.push(format!(
        "step {number} ({changes} changes, kill after {polls:?}): {end:?}"
    ));
    trace_state(world, trace);
    let during = world.take_notes();
    if !during.is_empty() {
        trace.push("  (while it ran:)".into());
        trace.extend(during);
    }
}

/// The seeds of this test run: one to replay, or how many from 0.
pub fn seeds_from_env() -> (u64, u64) {
    if let Ok(seed) = std::env::var("ENTRA_SYNC_SIM_SEED") {
        let seed = seed.parse().expect("ENTRA_SYNC_SIM_SEED is a number");
        return (seed, 1);
    }
    let count = std::env::var("ENTRA_SYNC_SIM_SEEDS")
        .ok()
        .map(|n| n.parse().expect("ENTRA_SYNC_SIM_SEEDS is a number"))
        .unwrap_or(DEFAULT_SEEDS);
    (0, count)
}

pub const DEFAULT_SEEDS: u64 = 2_000;

/// Panics, naming the seed and how to replay it.
pub fn fail(seed: u64, report: &SeedReport) -> ! {
    fail_in(IMPORT_SEEDS_TEST, seed, report)
}

const IMPORT_SEEDS_TEST: &str = "sim::tests::seeds";

/// Panics, naming the seed and the test (`sim::tests::seeds`, ...) that
/// replays it.
pub fn fail_in(test: &str, seed: u64, report: &SeedReport) -> ! {
    panic!(
        "{test}: seed {seed} failed:\n  {}\nreplay: ENTRA_SYNC_SIM_SEED={seed} cargo nextest run -p entra-sync-shared {test} --no-capture\ntrace:\n{}",
        report.failure.as_deref().unwrap_or(""),
        report.trace.join("\n")
    )
}

/// Runs the seeds of this test run (`seeds_from_env`) through one engine's
/// simulation: fails on a seed that is not a known failure, and on a known
/// failure that passes now (the list only shrinks).
pub fn check_seeds(test: &str, known_failing: &[u64], simulate: impl Fn(u64) -> SeedReport) {
    let (first, count) = seeds_from_env();
    if count == 1 && std::env::var_os("ENTRA_SYNC_SIM_LOG").is_some() {
        // One seed replayed: the engine's own log lines beside its trace.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    let started = std::time::Instant::now();
    let mut failures: Vec<(u64, SeedReport)> = Vec::new();
    for seed in first..first + count {
        let report = simulate(seed);
        if report.failure.is_some() {
            if count == 1 {
                fail_in(test, seed, &report);
            }
            failures.push((seed, report));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "{test}: simulated {count} seeds in {elapsed:.1} s ({:.0} seeds/s); {} failed",
        count as f64 / elapsed,
        failures.len()
    );
    for (seed, report) in &failures {
        let first = report.failure.as_deref().unwrap_or("");
        eprintln!("seed {seed}: {}", first.lines().next().unwrap_or(""));
    }
    if let Some((seed, report)) = failures.iter().find(|(s, _)| !known_failing.contains(s)) {
        fail_in(test, *seed, report);
    }
    let fixed: Vec<u64> = known_failing
        .iter()
        .copied()
        .filter(|s| (first..first + count).contains(s))
        .filter(|s| !failures.iter().any(|(seed, _)| seed == s))
        .collect();
    assert!(
        fixed.is_empty(),
        "these seeds pass now: remove them from KNOWN_FAILING: {fixed:?}"
    );
}
