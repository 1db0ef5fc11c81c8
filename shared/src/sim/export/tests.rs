//! The export simulation's seeds, and its own guarantees (a seed replays
//! exactly).

use super::simulate;
use crate::sim::check_seeds;

/// Seeds below `DEFAULT_SEEDS` on which the export engine, as it is,
/// breaks an invariant: open engine defects the simulation found. A seed
/// that starts to pass after a fix must leave this list (the test says
/// so); a new failing seed fails the test. (A change to the engine moves
/// the seeds' paths: the list is made again from the test's output.) The
/// defects, of 29 seeds (413 before the export found its own objects by
/// their mark, removed a deleted imported user's memberships, and settled
/// a refused change the platform set back; the list was made again when
/// updates began to read the mark):
///
/// - 27 seeds, replication lag: the lookup by mark does not see an object
///   created moments ago, so a create retried within the lag (a kill or an
///   AWS failure after the POST, the record delivered again) makes a second
///   object ("created twice"), and an AM object deleted within it has
///   nothing found to delete ("marked for … which is gone from AM").
///   The fix: record the intent to create before the POST, and while it is
///   recent keep looking (a transient problem) rather than create or give up.
/// - 1 seed (1517): a refusal for good whose cause another object's change
///   removes stays: a UPN held by another object at a rename
///   (`graph_rejected`).
/// - 1 seed (659; also 15038 before the change, so not of its making): a
///   record delivered again links the user by its mark and its update's
///   answer is lost (parked); the platform's later changes wait behind the
///   problem, and its replay finds the link agreeing with the stored hash
///   and settles without sending them: Entra keeps old values, no problem.
const KNOWN_FAILING: &[u64] = &[
    11, 31, 260, 303, 610, 649, 658, 659, 664, 669, 814, 925, 956, 991, 1096, 1130, 1149, 1157,
    1400, 1447, 1517, 1549, 1610, 1710, 1752, 1783, 1841, 1891, 1915,
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
