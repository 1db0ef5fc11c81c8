//! The export simulation's seeds, and its own guarantees (a seed replays
//! exactly).

use super::simulate;
use crate::sim::check_seeds;

/// Seeds below `DEFAULT_SEEDS` on which the export engine, as it is,
/// breaks an invariant: open engine defects the simulation found. A seed
/// that starts to pass after a fix must leave this list (the test says
/// so); a new failing seed fails the test. (A change to the engine moves
/// the seeds' paths: the list is made again from the test's output.)
/// Empty since the intent to create is recorded before the POST (413
/// seeds before creates found their own objects by their mark, 29 before
/// the intent; the defects each fix closed are pinned in
/// `export/tests/found_by_simulation.rs`).
const KNOWN_FAILING: &[u64] = &[];

#[test]
fn seeds() {
    if std::env::var("SIM_DEBUG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    check_seeds("sim::export::tests::seeds", KNOWN_FAILING, simulate);
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 7, 42, 93, 302] {
        assert_eq!(simulate(seed).trace, simulate(seed).trace, "seed {seed}");
    }
}
