//! In-memory stand-ins for the import engine's ports: the AM directory and
//! the import's own state. Shared by the engine's unit tests and the
//! deterministic simulation (`crate::sim`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::import::buckets;
use crate::import::ports::{
    DirectoryStore, HeldDeletions, ImportMemory, LeaseError, ObjectKind, RoundLedger, RunLease,
};
use crate::import::records::DirectoryWrite;
use crate::import::state::*;
use crate::model::TenantConfig;
use crate::model::directory::{GroupItem, MembershipKey, Source, SyncedObject, UserItem};
use crate::ports::StoreError;

#[derive(Default)]
pub(crate) struct MemoryDirectory {
    pub(crate) users: Mutex<BTreeMap<String, UserItem>>,
    pub(crate) groups: Mutex<BTreeMap<String, GroupItem>>,
    pub(crate) memberships: Mutex<BTreeMap<MembershipKey, Source>>,
    pub(crate) writes: Mutex<u64>,
    /// Memberships written that the by-member index does not show yet
    /// (a GSI is eventually consistent): kept only while `index_lags`.
    pub(crate) unindexed: Mutex<HashSet<MembershipKey>>,
    pub(crate) index_lags: Mutex<bool>,
    /// Reads of a bucket of imported objects or memberships (a sweep's).
    pub(crate) bucket_reads: Mutex<u32>,
    /// The most ids one read of imported objects or memberships returned.
    pub(crate) largest_read: Mutex<usize>,
}

impl MemoryDirectory {
    pub(crate) fn note_read(&self, ids: usize) {
        *self.bucket_reads.lock().unwrap() += 1;
        let mut largest = self.largest_read.lock().unwrap();
        *largest = (*largest).max(ids);
    }
}

impl DirectoryStore for MemoryDirectory {
    async fn users_by_entra_id(
        &self,
        _: &crate::model::TenantId,
        ids: &[String],
    ) -> Result<HashMap<String, UserItem>, StoreError> {
        let users = self.users.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| {
                users
                    .values()
                    .find(|u| u.entra_object_id() == Some(id.as_str()))
                    .map(|u| (id.clone(), u.clone()))
            })
            .collect())
    }
    async fn groups_by_entra_id(
        &self,
        _: &crate::model::TenantId,
        ids: &[String],
    ) -> Result<HashMap<String, GroupItem>, StoreError> {
        let groups = self.groups.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| {
                groups
                    .values()
                    .find(|g| g.entra_object_id() == Some(id.as_str()))
                    .map(|g| (id.clone(), g.clone()))
            })
            .collect())
    }
    async fn existing_memberships(
        &self,
        _: &crate::model::TenantId,
        keys: &[MembershipKey],
    ) -> Result<HashSet<MembershipKey>, StoreError> {
        let m = self.memberships.lock().unwrap();
        Ok(keys
            .iter()
            .filter(|k| m.contains_key(*k))
            .cloned()
            .collect())
    }
    async fn imported_ids_in(
        &self,
        _: &crate::model::TenantId,
        kind: ObjectKind,
        range: buckets::KeyRange,
    ) -> Result<Vec<String>, StoreError> {
        let ids: Vec<String> = match kind {
            ObjectKind::User => self
                .users
                .lock()
                .unwrap()
                .values()
                .filter(|u| u.source == Source::Entra)
                .map(|u| u.user_id.clone())
                .collect(),
            ObjectKind::Group => self
                .groups
                .lock()
                .unwrap()
                .values()
                .filter(|g| g.source == Source::Entra)
                .map(|g| g.group_id.clone())
                .collect(),
        };
        let ids: Vec<String> = ids.into_iter().filter(|id| range.contains(id)).collect();
        self.note_read(ids.len());
        Ok(ids)
    }
    async fn imported_memberships_in(
        &self,
        _: &crate::model::TenantId,
        range: buckets::KeyRange,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        let keys: Vec<MembershipKey> = self
            .memberships
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, s)| **s == Source::Entra && range.contains_membership(k))
            .map(|(k, _)| k.clone())
            .collect();
        self.note_read(keys.len());
        Ok(keys)
    }
    async fn platform_user_names(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<Vec<crate::import::ports::PlatformUser>, StoreError> {
        Ok(self
            .users
            .lock()
            .unwrap()
            .values()
            .filter(|u| u.source == Source::Local)
            .map(|u| crate::import::ports::PlatformUser {
                user_id: u.user_id.clone(),
                user_name: u.attributes.user_name.clone(),
            })
            .collect())
    }
    async fn memberships_involving(
        &self,
        _: &crate::model::TenantId,
        users: &HashSet<String>,
        groups: &HashSet<String>,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        Ok(self
            .memberships
            .lock()
            .unwrap()
            .keys()
            .filter(|k| users.contains(&k.user_id) || groups.contains(&k.group_id))
            .filter(|k| !self.unindexed.lock().unwrap().contains(*k))
            .cloned()
            .collect())
    }
    async fn apply(
        &self,
        _: &crate::model::TenantId,
        writes: Vec<DirectoryWrite>,
    ) -> Result<u64, StoreError> {
        let n = writes.len() as u64;
        *self.writes.lock().unwrap() += n;
        for write in writes {
            match write {
                DirectoryWrite::CreateUser(u) => {
                    self.users.lock().unwrap().insert(u.user_id.clone(), u);
                }
                DirectoryWrite::UpdateUser {
                    user_id,
                    entra_link,
                    attributes,
                    password_mode,
                    hash,
                } => {
                    let mut users = self.users.lock().unwrap();
                    let u = users.get_mut(&user_id).unwrap();
                    u.attributes = attributes;
                    u.password_mode = password_mode.or(u.password_mode);
                    u.entra_id = entra_link.or(u.entra_id.take());
                    u.entra_hash = Some(hash);
                }
                DirectoryWrite::DeleteUser { user_id } => {
                    self.users.lock().unwrap().remove(&user_id);
                }
                DirectoryWrite::CreateGroup(g) => {
                    self.groups.lock().unwrap().insert(g.group_id.clone(), g);
                }
                DirectoryWrite::UpdateGroup {
                    group_id,
                    attributes,
                    hash,
                    ..
                } => {
                    let mut groups = self.groups.lock().unwrap();
                    let g = groups.get_mut(&group_id).unwrap();
                    g.attributes = attributes;
                    g.entra_hash = Some(hash);
                }
                DirectoryWrite::DeleteGroup { group_id } => {
                    self.groups.lock().unwrap().remove(&group_id);
                }
                DirectoryWrite::AddMembership(k) => {
                    if *self.index_lags.lock().unwrap() {
                        self.unindexed.lock().unwrap().insert(k.clone());
                    }
                    self.memberships.lock().unwrap().insert(k, Source::Entra);
                }
                DirectoryWrite::RemoveMembership(k) => {
                    self.memberships.lock().unwrap().remove(&k);
                }
            }
        }
        Ok(n)
    }
}

pub(crate) type SeenKey = (String, &'static str, buckets::Bucket, u32);

#[derive(Default)]
pub(crate) struct MemoryState {
    pub(crate) state: Mutex<SyncState>,
    pub(crate) lease: Mutex<Option<(String, DateTime<Utc>)>>,
    pub(crate) records: Mutex<BTreeMap<(String, &'static str, u32), PageRecord>>,
    /// Seen ids by (round, kind, bucket, page).
    pub(crate) seen: Mutex<BTreeMap<SeenKey, Vec<String>>>,
    pub(crate) held: Mutex<HeldDeletions>,
    pub(crate) scope: Mutex<Option<GroupScope>>,
    pub(crate) status: Mutex<Option<RunStatus>>,
    pub(crate) cleared: Mutex<Vec<&'static str>>,
    pub(crate) writes: Mutex<u64>,
    /// A run had begun (the Dynamo store reads `last_sync_started_at`).
    pub(crate) ran: Mutex<bool>,
    /// When a change notification last asked for a run.
    pub(crate) sync_requested_at: Mutex<Option<DateTime<Utc>>>,
    pub(crate) problems: Mutex<BTreeMap<String, crate::problems::Problem>>,
    /// Checkpoints saved before one fails (a run killed after its page).
    pub(crate) checkpoints_before_failure: Mutex<Option<u32>>,
    /// This many reads of open problems fail, then this many counts of
    /// them: a finish that fails before, or after, saving its new scope.
    pub(crate) failing_problem_reads: Mutex<u32>,
    pub(crate) failing_problem_counts: Mutex<u32>,
    /// After this many page records saved, one fails (nothing written).
    pub(crate) page_record_fails_once_after: Mutex<Option<u32>>,
    /// After this many checkpoints saved, one fails; the next ones work.
    pub(crate) checkpoint_fails_once_after: Mutex<Option<u32>>,
}

/// Takes one failure from `left`, if any.
fn fails(left: &Mutex<u32>, operation: &'static str) -> Result<(), StoreError> {
    let mut left = left.lock().unwrap();
    if *left == 0 {
        return Ok(());
    }
    *left -= 1;
    Err(StoreError::Unavailable {
        operation,
        detail: "throttled (test)".into(),
    })
}

impl RunLease for MemoryState {
    async fn begin_run(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<SyncState>, StoreError> {
        let mut lease = self.lease.lock().unwrap();
        if let Some((owner, expires)) = &*lease
            && owner != run_id
            && *expires > now
        {
            return Ok(None);
        }
        // A lease still there (expired) is one its run never gave back.
        let previous_run_died = lease.is_some();
        *lease = Some((run_id.to_owned(), until));
        *self.writes.lock().unwrap() += 1;
        let ran_before = std::mem::replace(&mut *self.ran.lock().unwrap(), true);
        Ok(Some(SyncState {
            ran_before,
            previous_run_died,
            ..self.state.lock().unwrap().clone()
        }))
    }
    async fn checkpoint(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        cp: &Checkpoint,
        until: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        let mut lease = self.lease.lock().unwrap();
        if lease.as_ref().map(|(o, _)| o.as_str()) != Some(run_id) {
            return Err(LeaseError::Lost);
        }
        {
            let mut once = self.checkpoint_fails_once_after.lock().unwrap();
            match once.as_mut() {
                Some(0) => {
                    *once = None;
                    return Err(LeaseError::Store(StoreError::Unavailable {
                        operation: "saving a checkpoint",
                        detail: "throttled (test)".into(),
                    }));
                }
                Some(left) => *left -= 1,
                None => {}
            }
        }
        if let Some(left) = self.checkpoints_before_failure.lock().unwrap().as_mut() {
            if *left == 0 {
                return Err(LeaseError::Store(StoreError::Unavailable {
                    operation: "saving a checkpoint",
                    detail: "killed".into(),
                }));
            }
            *left -= 1;
        }
        *lease = Some((run_id.to_owned(), until));
        self.state.lock().unwrap().checkpoint = Some(cp.clone());
        *self.writes.lock().unwrap() += 1;
        Ok(())
    }
    async fn finish_run(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        state: &SyncState,
        status: &RunStatus,
    ) -> Result<Option<DateTime<Utc>>, LeaseError> {
        let mut lease = self.lease.lock().unwrap();
        if lease.as_ref().map(|(o, _)| o.as_str()) != Some(run_id) {
            return Err(LeaseError::Lost);
        }
        *lease = None;
        *self.state.lock().unwrap() = state.clone();
        *self.status.lock().unwrap() = Some(status.clone());
        *self.writes.lock().unwrap() += 1;
        Ok(*self.sync_requested_at.lock().unwrap())
    }
    async fn abandon_run(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        status: Option<&RunStatus>,
    ) -> Result<(), StoreError> {
        let mut lease = self.lease.lock().unwrap();
        if lease.as_ref().map(|(o, _)| o.as_str()) == Some(run_id) {
            *lease = None;
        }
        if let Some(s) = status {
            *self.status.lock().unwrap() = Some(s.clone());
        }
        Ok(())
    }
}

impl RoundLedger for MemoryState {
    async fn save_page_record(
        &self,
        _: &crate::model::TenantId,
        round: &str,
        phase: Phase,
        page: u32,
        r: &PageRecord,
        seen: &[buckets::SeenIds],
    ) -> Result<(), StoreError> {
        {
            let mut once = self.page_record_fails_once_after.lock().unwrap();
            match once.as_mut() {
                Some(0) => {
                    *once = None;
                    return Err(StoreError::Unavailable {
                        operation: "saving a page record",
                        detail: "throttled (test)".into(),
                    });
                }
                Some(left) => *left -= 1,
                None => {}
            }
        }
        assert!(
            r.present.is_empty() && r.memberships.is_empty(),
            "seen ids are saved by bucket"
        );
        self.records
            .lock()
            .unwrap()
            .insert((round.to_owned(), phase.as_str(), page), r.clone());
        for part in seen {
            let key = (round.to_owned(), part.kind.as_str(), part.bucket, page);
            self.seen.lock().unwrap().insert(key, part.ids.clone());
        }
        *self.writes.lock().unwrap() += 1;
        Ok(())
    }
    async fn page_records(
        &self,
        _: &crate::model::TenantId,
        round: &str,
        phase: Phase,
    ) -> Result<Vec<NumberedRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|((r, p, _), _)| r == round && *p == phase.as_str())
            .map(|((_, _, page), v)| (*page, v.clone()))
            .collect())
    }
    async fn forget_page(
        &self,
        _: &crate::model::TenantId,
        round: &str,
        phase: Phase,
        page: u32,
    ) -> Result<(), StoreError> {
        let kinds: Vec<&str> = phase.seen_kinds().iter().map(|k| k.as_str()).collect();
        self.records
            .lock()
            .unwrap()
            .retain(|(r, p, n), _| !(r == round && *p == phase.as_str() && *n == page));
        self.seen
            .lock()
            .unwrap()
            .retain(|(r, k, _, n), _| !(r == round && kinds.contains(k) && *n == page));
        Ok(())
    }
    async fn seen_in(
        &self,
        _: &crate::model::TenantId,
        round: &str,
        kind: buckets::SeenKind,
        bucket: buckets::Bucket,
    ) -> Result<Vec<(u32, Vec<String>)>, StoreError> {
        Ok(self
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|((r, k, b, _), _)| r == round && *k == kind.as_str() && *b == bucket)
            .map(|((_, _, _, page), ids)| (*page, ids.clone()))
            .collect())
    }
}

impl crate::problems::ProblemStore for MemoryState {
    async fn record(
        &self,
        _: &crate::model::TenantId,
        problem: &crate::problems::Problem,
    ) -> Result<crate::problems::Problem, StoreError> {
        let mut problems = self.problems.lock().unwrap();
        let mut stored = problem.clone();
        if let Some(old) = problems.get(&crate::store::layout::problem_sk(&problem.key)) {
            stored.attempts = old.attempts + 1;
            stored.first_seen_at = old.first_seen_at;
        }
        problems.insert(
            crate::store::layout::problem_sk(&problem.key),
            stored.clone(),
        );
        Ok(stored)
    }
    async fn resolve(
        &self,
        _: &crate::model::TenantId,
        key: &crate::problems::ProblemKey,
    ) -> Result<bool, StoreError> {
        Ok(self
            .problems
            .lock()
            .unwrap()
            .remove(&crate::store::layout::problem_sk(key))
            .is_some())
    }
    async fn open(
        &self,
        _: &crate::model::TenantId,
        direction: crate::problems::Direction,
    ) -> Result<Vec<crate::problems::Problem>, StoreError> {
        fails(&self.failing_problem_reads, "reading problems")?;
        Ok(self
            .problems
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.key.direction == direction)
            .cloned()
            .collect())
    }
    async fn count(&self, _: &crate::model::TenantId) -> Result<u64, StoreError> {
        fails(&self.failing_problem_counts, "counting problems")?;
        Ok(self.problems.lock().unwrap().len() as u64)
    }
}

impl ImportMemory for MemoryState {
    async fn group_scope(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<Option<GroupScope>, StoreError> {
        Ok(self.scope.lock().unwrap().clone())
    }
    async fn save_group_scope(
        &self,
        _: &crate::model::TenantId,
        s: &GroupScope,
    ) -> Result<(), StoreError> {
        *self.scope.lock().unwrap() = Some(s.clone());
        Ok(())
    }
    async fn held_deletions(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<HeldDeletions, StoreError> {
        Ok(self.held.lock().unwrap().clone())
    }
    async fn save_held_deletions(
        &self,
        _: &crate::model::TenantId,
        h: &HeldDeletions,
    ) -> Result<(), StoreError> {
        *self.held.lock().unwrap() = h.clone();
        Ok(())
    }
}

impl crate::ports::TenantConfigs for MemoryState {
    async fn tenant_config(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<Option<TenantConfig>, StoreError> {
        Ok(None)
    }
    async fn clear_resync_request(
        &self,
        _: &crate::model::TenantId,
        _: &str,
    ) -> Result<(), StoreError> {
        self.cleared.lock().unwrap().push("resync");
        Ok(())
    }
    async fn clear_preview_request(
        &self,
        _: &crate::model::TenantId,
        _: &str,
    ) -> Result<(), StoreError> {
        self.cleared.lock().unwrap().push("preview");
        Ok(())
    }
    async fn clear_deletion_approval(&self, _: &crate::model::TenantId) -> Result<(), StoreError> {
        self.cleared.lock().unwrap().push("approval");
        Ok(())
    }
    async fn mark_reauthorisation_required(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<(), StoreError> {
        self.cleared.lock().unwrap().push("reauthorisation");
        Ok(())
    }
}
