//! The import's own bookkeeping: delta links, the checkpoint of a round in
//! progress, what each page showed, and the status the admin reads.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::buckets::{SeenBuckets, SeenIds, SeenKind};
use super::history::RunRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Everything in scope, then a sweep of what was not seen.
    Full,
    /// Only the changes since the stored delta links.
    Delta,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Delta => "delta",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Users,
    Groups,
    /// Both rounds read: scope changes, deletions, the new state.
    Finishing,
}

impl Phase {
    /// The kinds of ids a phase's pages see.
    pub fn seen_kinds(self) -> &'static [SeenKind] {
        match self {
            Phase::Users => &[SeenKind::Users],
            Phase::Groups | Phase::Finishing => &[SeenKind::Groups, SeenKind::Members],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Groups => "groups",
            Self::Finishing => "finishing",
        }
    }
}

/// `last_sync_counts` (docs/contract.md 1.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub users_created: u64,
    pub users_updated: u64,
    pub users_deleted: u64,
    pub groups_created: u64,
    pub groups_updated: u64,
    pub groups_deleted: u64,
    pub members_added: u64,
    pub members_removed: u64,
}

impl Counts {
    pub fn as_pairs(&self) -> [(&'static str, u64); 8] {
        [
            ("users_created", self.users_created),
            ("users_updated", self.users_updated),
            ("users_deleted", self.users_deleted),
            ("groups_created", self.groups_created),
            ("groups_updated", self.groups_updated),
            ("groups_deleted", self.groups_deleted),
            ("members_added", self.members_added),
            ("members_removed", self.members_removed),
        ]
    }
}

/// A round in progress, saved after every page: a run killed at any instant
/// is resumed from here by the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub round_id: String,
    /// The scope settings the round reads under (see `scope::fingerprint`).
    pub scope_fingerprint: String,
    pub mode: Mode,
    pub phase: Phase,
    /// The next page of the current phase; `None` = the phase's first request.
    pub next_link: Option<String>,
    /// Pages of the current phase done.
    pub page: u32,
    /// Page records written in this round (none: nothing to sweep or delete).
    pub recorded_pages: u32,
    /// Delta links of the phases already completed in this round.
    pub users_delta_link: Option<String>,
    pub groups_delta_link: Option<String>,
    /// Membership changes touched the groups that define the scope.
    pub scope_changed: bool,
    /// The finish began to apply a new group scope: a finish resumed after
    /// it may find that scope saved, and users imported under it.
    #[serde(default)]
    pub scope_applying: bool,
    /// The directory may hold objects imported before this round (a run
    /// had begun before it). A first import's finish has nothing to sweep:
    /// everything imported was imported, and seen, by this round.
    #[serde(default = "earlier_imports_possible")]
    pub earlier_imports: bool,
    /// The buckets the round's pages wrote seen ids into. `None`: a round
    /// begun before seen ids were bucketed, which starts over.
    #[serde(default)]
    pub seen: Option<SeenBuckets>,
    pub counts: Counts,
    pub started_at: DateTime<Utc>,
    /// Objects the round's pages held so far (`progress` on the status item,
    /// DESIGN 2.14): a first import of many pages shows itself advancing.
    #[serde(default)]
    pub users_read: u64,
    #[serde(default)]
    pub groups_read: u64,
    /// The run the round belongs to (its history item); `None` in a
    /// checkpoint saved before runs were recorded.
    #[serde(default)]
    pub run: Option<RunRef>,
}

impl Checkpoint {
    /// A page of `items` of the current phase was applied.
    pub fn count_read(&mut self, items: usize) {
        let items = items as u64;
        match self.phase {
            Phase::Users => self.users_read += items,
            Phase::Groups => self.groups_read += items,
            Phase::Finishing => {}
        }
    }
}

/// Checkpoints saved before `earlier_imports` existed assume the worst.
fn earlier_imports_possible() -> bool {
    true
}

/// What the store keeps between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    pub users_delta_link: Option<String>,
    pub groups_delta_link: Option<String>,
    /// The scope settings the delta links were built under.
    pub scope_fingerprint: Option<String>,
    pub checkpoint: Option<Checkpoint>,
    /// Deletions are held back, waiting for the admin's approval.
    pub holding_deletions: bool,
    /// A run of this tenant had begun before this one.
    pub ran_before: bool,
    /// The run before this one never gave its lease back (it was killed).
    pub previous_run_died: bool,
    /// The run before this one paused its round for a continuation (it is
    /// still `running`): resuming the round goes on with that run, while a
    /// round a failed run left is resumed by a run of its own.
    pub round_paused: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupScope {
    pub users: HashSet<String>,
    pub groups: HashSet<String>,
}

/// What one page showed, by Entra id (memberships by AM ids, full rounds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRecord {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub present: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// Of `removed`, the users soft-deleted (`@removed` `changed`) and
    /// those that left the scope: their deprovisioning choice differs
    /// from a purge's (DESIGN 2.13).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub soft_deleted: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memberships: Vec<String>,
    /// Membership changes of users the directory did not hold yet: a scope
    /// change later in the run may bring them in (applied in `finish`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred_memberships: Vec<DeferredMembership>,
    /// Managers (Entra ids) of the page's users the directory did not
    /// hold yet: the finish links their reports once they are imported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manager_waits: Vec<String>,
}

impl PageRecord {
    /// Records that together say what this one says, each at most `limit`
    /// bytes of JSON (a page of large groups can list many memberships).
    /// Within a page an id appears once, so the parts may be read in any
    /// order that keeps pages in order.
    pub fn split_to_fit(&self, limit: usize) -> Vec<PageRecord> {
        let size = serde_json::to_string(self).map(|j| j.len()).unwrap_or(0);
        let entries = self.present.len()
            + self.removed.len()
            + self.soft_deleted.len()
            + self.left_scope.len()
            + self.memberships.len()
            + self.deferred_memberships.len()
            + self.manager_waits.len();
        if size <= limit || entries <= 1 {
            return vec![self.clone()];
        }
        let (first, second) = self.halves();
        let mut parts = first.split_to_fit(limit);
        parts.extend(second.split_to_fit(limit));
        parts
    }

    fn halves(&self) -> (PageRecord, PageRecord) {
        fn halve<T: Clone>(items: &[T]) -> (Vec<T>, Vec<T>) {
            let (a, b) = items.split_at(items.len() / 2);
            (a.to_vec(), b.to_vec())
        }
        let (present_a, present_b) = halve(&self.present);
        let (removed_a, removed_b) = halve(&self.removed);
        let (soft_a, soft_b) = halve(&self.soft_deleted);
        let (left_a, left_b) = halve(&self.left_scope);
        let (members_a, members_b) = halve(&self.memberships);
        let (deferred_a, deferred_b) = halve(&self.deferred_memberships);
        let (waits_a, waits_b) = halve(&self.manager_waits);
        (
            PageRecord {
                present: present_a,
                removed: removed_a,
                soft_deleted: soft_a,
                left_scope: left_a,
                memberships: members_a,
                deferred_memberships: deferred_a,
                manager_waits: waits_a,
            },
            PageRecord {
                present: present_b,
                removed: removed_b,
                soft_deleted: soft_b,
                left_scope: left_b,
                memberships: members_b,
                deferred_memberships: deferred_b,
                manager_waits: waits_b,
            },
        )
    }

    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
            && self.removed.is_empty()
            && self.memberships.is_empty()
            && self.deferred_memberships.is_empty()
            && self.manager_waits.is_empty()
    }
}

impl PageRecord {
    /// The ids the page saw (its `present` ids and memberships), by kind
    /// and bucket, in the record's order.
    pub fn seen(&self, phase: Phase) -> Vec<SeenIds> {
        let present_kind = match phase {
            Phase::Users => SeenKind::Users,
            Phase::Groups | Phase::Finishing => SeenKind::Groups,
        };
        let mut seen: Vec<SeenIds> = Vec::new();
        let all = [
            (present_kind, &self.present),
            (SeenKind::Members, &self.memberships),
        ];
        for (kind, ids) in all {
            for id in ids {
                let bucket = kind.bucket_of(id);
                match seen
                    .iter_mut()
                    .find(|s| s.kind == kind && s.bucket == bucket)
                {
                    Some(part) => part.ids.push(id.clone()),
                    None => seen.push(SeenIds {
                        kind,
                        bucket,
                        ids: vec![id.clone()],
                    }),
                }
            }
        }
        seen
    }

    /// What the page record itself keeps once its seen ids are bucketed:
    /// removals and deferred memberships.
    pub fn without_seen(&self) -> PageRecord {
        PageRecord {
            present: Vec::new(),
            memberships: Vec::new(),
            ..self.clone()
        }
    }
}

/// A page record with the number of its page in the phase.
pub type NumberedRecord = (u32, PageRecord);

/// A membership change whose user was not in the AM directory when its
/// page was applied: by AM group id and Entra user id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredMembership {
    #[serde(rename = "g")]
    pub group_id: String,
    #[serde(rename = "u")]
    pub user_entra_id: String,
    #[serde(rename = "p")]
    pub present: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    Ok,
    Error,
    Held,
}

impl RunResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Held => "held",
        }
    }
}

/// The `ENTRA#STATUS` fields a run writes at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStatus {
    pub completed_at: Option<DateTime<Utc>>,
    pub result: RunResult,
    pub error: Option<String>,
    pub mode: Mode,
    pub counts: Counts,
    /// The tenant's problem items when the run completed (`open_problems`).
    pub open_problems: Option<u64>,
}

impl RunStatus {
    /// A run that stopped with an error, keeping what it had applied.
    pub fn failed(error: String, checkpoint: &Checkpoint) -> Self {
        Self {
            completed_at: None,
            result: RunResult::Error,
            error: Some(error),
            mode: checkpoint.mode,
            counts: checkpoint.counts,
            open_problems: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::buckets::Bucket;

    #[test]
    fn the_objects_read_are_counted_by_the_phase_that_read_them() {
        let mut checkpoint: Checkpoint = serde_json::from_value(serde_json::json!({
            "round_id": "r", "scope_fingerprint": "f", "mode": "full", "phase": "users",
            "next_link": null, "page": 0, "recorded_pages": 0, "users_delta_link": null,
            "groups_delta_link": null, "scope_changed": false, "counts": Counts::default(),
            "started_at": "2026-12-07T10:00:00Z"
        }))
        .expect("a checkpoint saved before the counters still reads");
        assert_eq!((checkpoint.users_read, checkpoint.groups_read), (0, 0));
        checkpoint.count_read(999);
        checkpoint.count_read(1);
        checkpoint.phase = Phase::Groups;
        checkpoint.count_read(12);
        checkpoint.phase = Phase::Finishing;
        checkpoint.count_read(5);
        assert_eq!((checkpoint.users_read, checkpoint.groups_read), (1_000, 12));
    }

    #[test]
    fn a_page_record_splits_into_its_buckets_and_keeps_its_removals() {
        let record = PageRecord {
            present: vec!["a1".into(), "02".into(), "a3".into()],
            removed: vec!["f9".into()],
            memberships: vec!["a1#u1".into(), "b2#u2".into()],
            ..PageRecord::default()
        };
        let seen = record.seen(Phase::Groups);
        let ids = |kind, bucket: &str| {
            seen.iter()
                .find(|s| s.kind == kind && s.bucket == Bucket::of(bucket))
                .map(|s| s.ids.clone())
        };
        assert_eq!(
            ids(SeenKind::Groups, "a"),
            Some(vec!["a1".into(), "a3".into()])
        );
        assert_eq!(ids(SeenKind::Groups, "0"), Some(vec!["02".into()]));
        assert_eq!(ids(SeenKind::Members, "b"), Some(vec!["b2#u2".into()]));
        assert_eq!(seen.len(), 4);
        let rest = record.without_seen();
        assert_eq!(rest.removed, vec!["f9".to_owned()]);
        assert!(rest.present.is_empty() && rest.memberships.is_empty());

        let mut buckets = SeenBuckets::default();
        buckets.note(&seen);
        assert!(buckets.groups.buckets.contains(Bucket::of("a")));
        assert!(!buckets.users.buckets.contains(Bucket::of("a")));
        assert!(buckets.members.buckets.contains(Bucket::of("a")));
        assert!(!buckets.members.buckets.contains(Bucket::of("0")));
        assert_eq!((buckets.groups.ids, buckets.members.ids), (3, 2));
    }
}
