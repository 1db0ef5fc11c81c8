//! The export simulation's seeds, and its own guarantees (a seed replays
//! exactly).

use super::simulate;
use crate::sim::check_seeds;

/// Seeds below `DEFAULT_SEEDS` on which the export engine, as it is,
/// breaks an invariant: open engine defects the simulation found. A seed
/// that starts to pass after a fix must leave this list (the test says
/// so); a new failing seed fails the test. (A change to the engine moves
/// the seeds' paths: the list is made again from the test's output.) The
/// defects, of 30 seeds (413 before the export found its own objects by
/// their mark, removed a deleted imported user's memberships, and settled
/// a refused change the platform set back):
///
/// - 28 seeds, replication lag: the lookup by mark does not see an object
///   created moments ago, so a create retried within the lag (a kill or an
///   AWS failure after the POST, the record delivered again) makes a second
///   object ("created twice", 14), and an AM object deleted within it has
///   nothing found to delete ("marked for … which is gone from AM", 14).
///   The fix: record the intent to create before the POST, and while it is
///   recent keep looking (a transient problem) rather than create or give up.
/// - 2 seeds: a refusal for good whose cause another object's change
///   removes stays: a UPN an imported user held and then gave up
///   (`entra_object_exists`, 1617), or held by another object at a rename
///   (`graph_rejected`, 1517).
const KNOWN_FAILING: &[u64] = &[
    11, 31, 260, 293, 303, 577, 610, 649, 664, 669, 814, 909, 925, 956, 991, 1096, 1130, 1149,
    1157, 1400, 1447, 1517, 1549, 1610, 1617, 1710, 1752, 1783, 1891, 1915,
];

#[test]
fn seeds() {
    check_seeds("sim::export::tests::seeds", KNOWN_FAILING, simulate);
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 7, 42, 93, 302] {
        assert_eq!(simulate(seed).trace, simulate(seed).trace, "seed {seed}");
    }
}
