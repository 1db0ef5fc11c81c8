//! The simulation's seeds, and its own guarantees (a seed replays exactly).

use std::time::Instant;

use super::{SeedReport, fail, seeds_from_env, simulate, simulate_with};

/// Seeds below `DEFAULT_SEEDS` on which the import engine, as it is,
/// breaks an invariant of docs/behaviour.md 2.10 — open engine defects the
/// simulation found, kept here so that the test guards every other seed.
/// A seed that starts to pass after a fix must leave this list (the test
/// says so); a new failing seed fails the test. Seed 1698: under
/// `import_group_ids`, a user restored after a soft delete stays out of
/// AM (the scope computed while it was deleted does not list it).
const KNOWN_FAILING: &[u64] = &[1698];

#[test]
fn seeds() {
    let (first, count) = seeds_from_env();
    if count == 1 {
        // A replay: the engine's own log lines, before the trace.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .without_time()
            .with_ansi(false)
            .try_init();
    }
    let started = Instant::now();
    let mut failures: Vec<(u64, SeedReport)> = Vec::new();
    for seed in first..first + count {
        let report = simulate(seed);
        if report.failure.is_some() {
            if count == 1 {
                fail(seed, &report);
            }
            failures.push((seed, report));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "simulated {count} seeds in {elapsed:.1} s ({:.0} seeds/s); {} failed",
        count as f64 / elapsed,
        failures.len()
    );
    for (seed, report) in &failures {
        let first = report.failure.as_deref().unwrap_or("");
        eprintln!("seed {seed}: {}", first.lines().next().unwrap_or(""));
    }
    let failing: Vec<u64> = failures.iter().map(|(seed, _)| *seed).collect();
    if let Some((seed, report)) = failures.iter().find(|(s, _)| !KNOWN_FAILING.contains(s)) {
        fail(*seed, report);
    }
    let fixed: Vec<u64> = KNOWN_FAILING
        .iter()
        .copied()
        .filter(|s| (first..first + count).contains(s) && !failing.contains(s))
        .collect();
    assert!(
        fixed.is_empty(),
        "these seeds pass now: remove them from KNOWN_FAILING: {fixed:?}"
    );
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 7, 42, 93, 302] {
        assert_eq!(simulate(seed).trace, simulate(seed).trace, "seed {seed}");
    }
}

/// Found by the simulation (seeds 626 and 761, kills only): a run killed
/// mid-round, its round resumed by the first run after the faults and
/// ended with nothing to write. That quiet end had been taken for a
/// settled directory, though the round's pages were fixed before the last
/// changes (the model's mistake, not the engine's: the next run reads them).
#[test]
fn a_resumed_rounds_quiet_end_is_not_taken_for_a_settled_directory() {
    for seed in [626, 761] {
        let report = simulate_with(seed, Some("calm"));
        if report.failure.is_some() {
            fail(seed, &report);
        }
    }
}

/// Found by the simulation (seeds 646, 1198, 1480 and 1509, store
/// faults): a deletion's batch written in part removed a group (or user)
/// and left its memberships; the run that retried no longer found the
/// object, so never looked for its memberships.
#[test]
fn a_deletion_written_in_part_leaves_no_membership_behind() {
    for seed in [646, 1198, 1480, 1509] {
        let report = simulate_with(seed, Some("store"));
        if report.failure.is_some() {
            fail(seed, &report);
        }
    }
}

/// Found by the simulation (seeds 974 and 1017, kills only): a full round
/// under a new scope, killed after its finish had swept what the new scope
/// left out, then the scope set back before the next run. That run found
/// the stored fingerprint equal to the config's and went on in delta mode
/// from the old links: the swept users never came back.
#[test]
fn a_round_interrupted_under_another_scope_is_followed_by_a_full_round() {
    for seed in [974, 1017] {
        let report = simulate_with(seed, Some("calm"));
        if report.failure.is_some() {
            fail(seed, &report);
        }
    }
}
