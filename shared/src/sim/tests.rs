//! The simulation's seeds, and its own guarantees (a seed replays exactly).

use super::{check_seeds, fail, simulate, simulate_with};

/// Seeds below `DEFAULT_SEEDS` on which the import engine, as it is,
/// breaks an invariant of docs/behaviour.md 2.10 — open engine defects the
/// simulation found, kept here so that the test guards every other seed.
/// A seed that starts to pass after a fix must leave this list (the test
/// says so); a new failing seed fails the test. None today (seed 1698, a
/// user restored under `import_group_ids`, passes since the users round
/// reads such users' groups). Open beyond them (deep run, seeds 17659 and
/// 22588): a membership written before its user (a new user's `memberOf`)
/// stays when the user write fails and Entra deletes the user before a run
/// retries; the user is then removed without ever being held, and nothing
/// removes the membership.
const KNOWN_FAILING: &[u64] = &[];

#[test]
fn seeds() {
    check_seeds("sim::tests::seeds", KNOWN_FAILING, simulate);
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
