//! The end of a round works one key range at a time: ids are split by
//! their first character into 16 buckets, so that the finish of a full
//! round holds one bucket of the tenant's ids, never the tenant.
//!
//! Imported objects are keyed by their Entra object ids (GUIDs), which
//! spread evenly over the first hex digit. Any other id falls in the bucket
//! its first characters sort into, so that a bucket is always one
//! contiguous range of the directory's sort keys.

use serde::{Deserialize, Serialize};

use super::state::{PageRecord, Phase};
use crate::model::directory::MembershipKey;

/// Where each bucket after the first begins, in sort order.
const STARTS: [&str; 15] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bucket(u8);

impl Bucket {
    pub const COUNT: u8 = STARTS.len() as u8 + 1;

    pub fn all() -> impl Iterator<Item = Bucket> {
        (0..Self::COUNT).map(Bucket)
    }

    pub fn of(id: &str) -> Self {
        Bucket(STARTS.iter().take_while(|start| **start <= id).count() as u8)
    }

    /// A membership's bucket is its group's: its key begins with the group.
    pub fn of_membership(key: &MembershipKey) -> Self {
        Self::of(&key.group_id)
    }

    pub fn contains(self, id: &str) -> bool {
        Self::of(id) == self
    }

    /// The range's first id (inclusive) and the next range's (exclusive);
    /// `None` is unbounded.
    pub fn bounds(self) -> (Option<&'static str>, Option<&'static str>) {
        let i = usize::from(self.0);
        (i.checked_sub(1).map(|j| STARTS[j]), STARTS.get(i).copied())
    }

    pub fn index(self) -> u8 {
        self.0
    }
}

/// A set of buckets, as a bit mask (in the checkpoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BucketSet(u32);

impl BucketSet {
    pub fn insert(&mut self, bucket: Bucket) {
        self.0 |= 1 << bucket.0;
    }

    pub fn contains(self, bucket: Bucket) -> bool {
        self.0 & (1 << bucket.0) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What a round's pages saw, kept apart from the page records by bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeenKind {
    Users,
    Groups,
    /// Memberships, encoded (`group#user`), by their group's bucket.
    Members,
}

impl SeenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Groups => "groups",
            Self::Members => "members",
        }
    }

    fn bucket_of(self, id: &str) -> Bucket {
        match self {
            Self::Members => Bucket::of(id.split_once('#').map_or(id, |(group, _)| group)),
            Self::Users | Self::Groups => Bucket::of(id),
        }
    }
}

/// The buckets a round wrote seen ids into, per kind: the finish reads
/// only those (a delta round of three changes reads three, not 48).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenBuckets {
    #[serde(default)]
    pub users: BucketSet,
    #[serde(default)]
    pub groups: BucketSet,
    #[serde(default)]
    pub members: BucketSet,
}

impl SeenBuckets {
    pub fn of(&self, kind: SeenKind) -> BucketSet {
        match kind {
            SeenKind::Users => self.users,
            SeenKind::Groups => self.groups,
            SeenKind::Members => self.members,
        }
    }

    pub fn note(&mut self, seen: &[SeenIds]) {
        for part in seen {
            match part.kind {
                SeenKind::Users => self.users.insert(part.bucket),
                SeenKind::Groups => self.groups.insert(part.bucket),
                SeenKind::Members => self.members.insert(part.bucket),
            }
        }
    }
}

/// One bucket of what a page saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenIds {
    pub kind: SeenKind,
    pub bucket: Bucket,
    pub ids: Vec<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_falls_in_the_one_range_whose_bounds_hold_it() {
        let ids = [
            "", "0", "0fff", "1", "10", "9zz", "A1", "Zed", "a", "a0", "ef", "f", "f0", "g", "~",
            "é",
        ];
        for id in ids {
            let bucket = Bucket::of(id);
            let (from, to) = bucket.bounds();
            assert!(from.is_none_or(|f| f <= id), "{id} below {from:?}");
            assert!(to.is_none_or(|t| id < t), "{id} not below {to:?}");
            assert_eq!(Bucket::all().filter(|b| b.contains(id)).count(), 1);
        }
        assert_eq!(Bucket::of("0a1b").index(), 0);
        assert_eq!(Bucket::of("f81d4fae-7dec").index(), 15);
        assert_eq!(Bucket::all().count(), 16);
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
        assert!(buckets.groups.contains(Bucket::of("a")));
        assert!(!buckets.users.contains(Bucket::of("a")));
        assert!(buckets.members.contains(Bucket::of("a")));
        assert!(!buckets.members.contains(Bucket::of("0")));
    }
}
