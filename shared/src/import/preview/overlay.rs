//! What the preview would have written so far, as far as later reads need
//! it: ids as 64-bit hashes (a tenant's round in little memory), the
//! attributes and names of what it would create, and the samples.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use super::{Change, SAMPLES_PER_CHANGE, Sample};
use crate::import::buckets::SeenKind;
use crate::model::directory::GroupAttributes;

pub(super) fn id_hash(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// What the preview would have written so far, as far as later reads need
/// it, and the samples.
#[derive(Default)]
pub struct PreviewOverlay(Mutex<Overlay>);

#[derive(Default)]
pub(super) struct Overlay {
    pub(super) round_id: String,
    pub(super) users: HashSet<u64>,
    pub(super) groups: HashSet<u64>,
    pub(super) members: HashSet<u64>,
    /// Attributes of groups the preview would create, for a later page of
    /// the same group (this invocation's; a resumed one reads them as new).
    pub(super) group_attributes: HashMap<u64, GroupAttributes>,
    pub(super) user_names: HashMap<u64, String>,
    /// Objects the round would not create (a problem names them): present
    /// in its seen ids, absent from the directory all the same.
    pub(super) skipped: HashSet<u64>,
    pub(super) samples: Vec<Sample>,
}

impl Overlay {
    /// A new round (a restarted one) forgets what the old one saw; names
    /// stay names.
    pub(super) fn enter_round(&mut self, round_id: &str) {
        if self.round_id != round_id {
            if !self.round_id.is_empty() {
                self.users.clear();
                self.groups.clear();
                self.members.clear();
            }
            self.round_id = round_id.to_owned();
        }
    }

    pub(super) fn note_seen(&mut self, kind: SeenKind, ids: &[String]) {
        let set = match kind {
            SeenKind::Users => &mut self.users,
            SeenKind::Groups => &mut self.groups,
            SeenKind::Members => &mut self.members,
        };
        set.extend(ids.iter().map(|id| id_hash(id)));
    }

    pub(super) fn wants(&self, change: Change) -> bool {
        self.samples.iter().filter(|s| s.change == change).count() < SAMPLES_PER_CHANGE
    }
}

impl PreviewOverlay {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.lock().samples.clone()
    }
}
