//! The end of a round works one key range at a time: ids are split by
//! their first character into 16 buckets, and the buckets are read in
//! ranges of consecutive ones, so that the finish of a full round holds at
//! most about `RANGE_IDS` of the tenant's ids, never the tenant. A small
//! tenant is one range (one query per kind); 500,000 users are 16.
//!
//! Imported objects are keyed by their Entra object ids (GUIDs), which
//! spread evenly over the first hex digit. Any other id falls in the bucket
//! its first characters sort into, so that a bucket is always one
//! contiguous range of the directory's sort keys.

use serde::{Deserialize, Serialize};

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

/// About how many ids the finish holds at once (some 5 MB). Ranges are
/// sized by the ids the round saw: when far more were imported before (a
/// scope that shrank), the unseen ones are deletion candidates, which the
/// finish holds anyway. Unit tests use small ranges to have several.
#[cfg(not(test))]
pub const RANGE_IDS: u64 = 40_000;
#[cfg(test)]
pub const RANGE_IDS: u64 = 400;

/// Consecutive buckets, read together: one key range of the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    first: Bucket,
    last: Bucket,
}

impl KeyRange {
    pub const ALL: KeyRange = KeyRange {
        first: Bucket(0),
        last: Bucket(Bucket::COUNT - 1),
    };

    /// The ranges that cover every id, each expected to hold at most
    /// `RANGE_IDS` of `expected` ids spread evenly over the buckets.
    pub fn covering(expected: u64) -> Vec<KeyRange> {
        let per_bucket = expected.div_ceil(u64::from(Bucket::COUNT)).max(1);
        let width = (RANGE_IDS / per_bucket).clamp(1, u64::from(Bucket::COUNT)) as u8;
        (0..Bucket::COUNT)
            .step_by(usize::from(width))
            .map(|first| KeyRange {
                first: Bucket(first),
                last: Bucket((first + width - 1).min(Bucket::COUNT - 1)),
            })
            .collect()
    }

    pub fn buckets(self) -> impl Iterator<Item = Bucket> {
        (self.first.0..=self.last.0).map(Bucket)
    }

    pub fn contains(self, id: &str) -> bool {
        (self.first..=self.last).contains(&Bucket::of(id))
    }

    /// A membership is in the range of its group.
    pub fn contains_membership(self, key: &MembershipKey) -> bool {
        self.contains(&key.group_id)
    }

    /// The range's first id (inclusive) and the next range's (exclusive);
    /// `None` is unbounded.
    pub fn bounds(self) -> (Option<&'static str>, Option<&'static str>) {
        (self.first.bounds().0, self.last.bounds().1)
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

    /// The bucket an id of this kind is kept in (a membership by its group).
    pub fn bucket_of(self, id: &str) -> Bucket {
        match self {
            Self::Members => Bucket::of(id.split_once('#').map_or(id, |(group, _)| group)),
            Self::Users | Self::Groups => Bucket::of(id),
        }
    }
}

/// What a round's pages saw of one kind: the buckets they wrote (the
/// finish reads only those: a delta round of three changes reads three,
/// not 48) and how many ids (the finish sizes its ranges by it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenOfKind {
    pub buckets: BucketSet,
    pub ids: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenBuckets {
    #[serde(default)]
    pub users: SeenOfKind,
    #[serde(default)]
    pub groups: SeenOfKind,
    #[serde(default)]
    pub members: SeenOfKind,
}

impl SeenBuckets {
    pub fn of(&self, kind: SeenKind) -> SeenOfKind {
        match kind {
            SeenKind::Users => self.users,
            SeenKind::Groups => self.groups,
            SeenKind::Members => self.members,
        }
    }

    pub fn note(&mut self, seen: &[SeenIds]) {
        for part in seen {
            let of_kind = match part.kind {
                SeenKind::Users => &mut self.users,
                SeenKind::Groups => &mut self.groups,
                SeenKind::Members => &mut self.members,
            };
            of_kind.buckets.insert(part.bucket);
            of_kind.ids += part.ids.len() as u64;
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
    fn ranges_cover_every_bucket_once_and_grow_narrower_with_the_tenant() {
        for expected in [0, 1_000, 40_000, 100_000, 640_000, 10_000_000] {
            let ranges = KeyRange::covering(expected);
            let buckets: Vec<Bucket> = ranges.iter().flat_map(|r| r.buckets()).collect();
            assert_eq!(buckets, Bucket::all().collect::<Vec<_>>(), "{expected}");
        }
        // At 100 times the unit tests' range size.
        let scaled = |ids: u64| KeyRange::covering(ids * RANGE_IDS / 40_000);
        assert_eq!(scaled(30_000), vec![KeyRange::ALL]);
        assert_eq!(scaled(100_000).len(), 3);
        assert_eq!(scaled(500_000).len(), 16);
        let range = scaled(100_000)[1];
        assert_eq!(range.bounds(), (Some("6"), Some("c")));
        assert!(range.contains("6abc") && range.contains("bfff") && !range.contains("c"));
        assert_eq!(KeyRange::ALL.bounds(), (None, None));
    }
}
