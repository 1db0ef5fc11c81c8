//! Deletion safety (docs/behaviour.md 2.2) as a pure decision: which imported
//! objects of one kind a run deletes and which it holds back.

use super::ObjectKind;

/// Deletions that need no approval: at most this many per kind and run.
pub const ALWAYS_ALLOWED_DELETIONS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionPlan {
    /// Deleted now: this run's candidates (unless held) and approved holds.
    pub delete: Vec<String>,
    /// Held back until the admin approves, sorted.
    pub held: Vec<String>,
    /// Why this run's candidates were held, naming the counts.
    pub hold_reason: Option<String>,
    /// The admin's approval released earlier holds.
    pub approved: bool,
}

impl DeletionPlan {
    /// Whether `decide` needs the number of imported objects.
    pub fn needs_total(candidates: usize) -> bool {
        candidates > ALWAYS_ALLOWED_DELETIONS
    }

    /// `candidates`: what this run would delete; `total`: the imported
    /// objects of the kind (needed only when [`Self::needs_total`]);
    /// `held`: what earlier runs held back and this one did not see again.
    pub fn decide(
        kind: ObjectKind,
        mut candidates: Vec<String>,
        total: usize,
        mut held: Vec<String>,
        approve: bool,
        threshold_percent: u8,
    ) -> Self {
        let approved = approve && !held.is_empty();
        let released = if approved {
            std::mem::take(&mut held)
        } else {
            Vec::new()
        };
        if approved {
            tracing::info!(
                kind = kind.noun(),
                count = released.len(),
                "the admin approved the held deletions"
            );
        }
        let hold_reason = too_many(kind, candidates.len(), total, threshold_percent);
        if hold_reason.is_some() {
            held.append(&mut candidates);
        }
        held.sort();
        held.dedup();
        candidates.extend(released);
        Self {
            delete: candidates,
            held,
            hold_reason,
            approved,
        }
    }
}

/// More than the threshold share of the imported objects, and more than
/// ten: the reason to hold them.
fn too_many(kind: ObjectKind, candidates: usize, total: usize, threshold: u8) -> Option<String> {
    if !DeletionPlan::needs_total(candidates) {
        return None;
    }
    let threshold = u64::from(threshold);
    if (candidates as u64) * 100 <= threshold * (total as u64) {
        return None;
    }
    let percent = (candidates * 100).checked_div(total).unwrap_or(100);
    let noun = kind.noun();
    Some(format!(
        "held back {candidates} {noun} deletions: {percent}% of the {total} imported {noun}s, above the {threshold}% threshold"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("u{i:02}")).collect()
    }

    #[test]
    fn ten_deletions_always_pass_and_more_pass_below_the_threshold() {
        let plan = DeletionPlan::decide(ObjectKind::User, ids(10), 10, vec![], false, 20);
        assert_eq!((plan.delete.len(), plan.held.len()), (10, 0));
        let plan = DeletionPlan::decide(ObjectKind::User, ids(11), 100, vec![], false, 20);
        assert_eq!((plan.delete.len(), plan.hold_reason), (11, None));
    }

    #[test]
    fn too_many_are_held_with_a_reason_naming_the_counts() {
        let plan =
            DeletionPlan::decide(ObjectKind::Group, ids(30), 50, vec!["x".into()], false, 20);
        assert!(plan.delete.is_empty());
        assert_eq!(plan.held.len(), 31);
        assert_eq!(
            plan.hold_reason.as_deref(),
            Some(
                "held back 30 group deletions: 60% of the 50 imported groups, above the 20% threshold"
            )
        );
    }

    #[test]
    fn an_approval_releases_what_was_held_and_new_candidates_are_judged_afresh() {
        let plan = DeletionPlan::decide(ObjectKind::User, ids(2), 0, vec!["h1".into()], true, 20);
        assert!(plan.approved);
        assert_eq!(plan.delete, vec!["u00", "u01", "h1"]);
        assert!(plan.held.is_empty());
        let nothing_held = DeletionPlan::decide(ObjectKind::User, vec![], 0, vec![], true, 20);
        assert!(!nothing_held.approved);
    }
}
