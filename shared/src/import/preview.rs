//! A preview (docs/behaviour.md 2.9): what a full sync would do now, found by
//! running the import's own full round against stand-ins that read the
//! real stores and write nothing. The round's pages, checkpoints and
//! continuations are the import's; its lease, checkpoint and report are
//! the preview's own (`PreviewRuns`), so a sync in progress and the delta
//! state are never touched.
//!
//! What later pages need of the writes an earlier page would have made
//! (the user a membership names, a large group's earlier page) comes from
//! the round's seen ids, which the ledger keeps anyway: in memory as
//! 64-bit hashes, loaded again when a preview resumes.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::buckets::{Bucket, KeyRange, SeenIds, SeenKind};
use super::records::DirectoryWrite;
use super::state::{Checkpoint, Counts, NumberedRecord, PageRecord, Phase, RunResult, RunStatus};
use super::state::{GroupScope, SyncState};
use super::{
    DirectoryStore, HeldDeletions, ImportMemory, ImportState, LeaseError, ObjectKind, RoundLedger,
    RunLease,
};
use crate::model::TenantId;
use crate::model::directory::{GroupAttributes, GroupItem, MembershipKey, Source, UserItem};
use crate::ports::StoreError;
use crate::problems::{Direction, Problem, ProblemKey, ProblemStore};

/// Samples kept per kind of change.
pub const SAMPLES_PER_CHANGE: usize = 25;
/// Names of users the preview would create, remembered for the display of
/// membership samples (beyond it, a sample shows the id).
const REMEMBERED_NAMES: usize = 10_000;

/// One kind of change a sync would make (`samples[].change`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    UserCreate,
    UserUpdate,
    UserDelete,
    GroupCreate,
    GroupUpdate,
    GroupDelete,
    MemberAdd,
    MemberRemove,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreate => "user_create",
            Self::UserUpdate => "user_update",
            Self::UserDelete => "user_delete",
            Self::GroupCreate => "group_create",
            Self::GroupUpdate => "group_update",
            Self::GroupDelete => "group_delete",
            Self::MemberAdd => "member_add",
            Self::MemberRemove => "member_remove",
        }
    }
}

/// One change a sync would make: `object_id` is the Entra id (for a
/// membership `<group_id>#<user_id>`), `display` what an admin recognises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub change: Change,
    pub object_id: String,
    pub display: String,
}

/// `ENTRA#PREVIEW` (docs/contract.md 1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewReport {
    /// The request answered (`preview_requested_at` as it was read).
    pub requested_at: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    /// `Ok` or `Error`; a preview that would hold is `Ok` with `would_hold`.
    pub result: RunResult,
    pub error: Option<String>,
    /// What a full sync would do now, deletions counted as if approved.
    pub counts: Counts,
    pub would_hold: bool,
    pub samples: Vec<Sample>,
}

/// A preview in progress, as its store keeps it between invocations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewProgress {
    pub checkpoint: Option<Checkpoint>,
    pub samples: Vec<Sample>,
    /// The preview run before this one never gave its lease back.
    pub previous_run_died: bool,
}

/// The preview's own lease, checkpoint and report, apart from the sync's.
pub trait PreviewRuns: Send + Sync {
    /// Takes the tenant's preview lease (free, expired, or ours); `None`
    /// when another preview run holds it. Progress made for another
    /// request than `requested_at` is dropped: a new request starts over.
    fn begin_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
        requested_at: Option<&str>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<PreviewProgress>, StoreError>> + Send;

    /// Saves progress and renews the lease, only while we hold it.
    fn checkpoint_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
        checkpoint: &Checkpoint,
        samples: &[Sample],
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), LeaseError>> + Send;

    /// Releases the lease, keeping the checkpoint (a paused preview).
    fn pause_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Ends the preview: its checkpoint and lease gone (unless another run
    /// holds the lease), then the report written.
    fn finish_preview(
        &self,
        tenant: &TenantId,
        run_id: &str,
        report: &PreviewReport,
    ) -> impl Future<Output = Result<(), LeaseError>> + Send;
}

fn id_hash(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// What the preview would have written so far, as far as later reads need
/// it, and the samples.
#[derive(Default)]
pub struct PreviewOverlay(Mutex<Overlay>);

#[derive(Default)]
struct Overlay {
    round_id: String,
    users: HashSet<u64>,
    groups: HashSet<u64>,
    members: HashSet<u64>,
    /// Attributes of groups the preview would create, for a later page of
    /// the same group (this invocation's; a resumed one reads them as new).
    group_attributes: HashMap<u64, GroupAttributes>,
    user_names: HashMap<u64, String>,
    /// Objects the round would not create (a problem names them): present
    /// in its seen ids, absent from the directory all the same.
    skipped: HashSet<u64>,
    samples: Vec<Sample>,
}

impl Overlay {
    /// A new round (a restarted one) forgets what the old one saw; names
    /// stay names.
    fn enter_round(&mut self, round_id: &str) {
        if self.round_id != round_id {
            if !self.round_id.is_empty() {
                self.users.clear();
                self.groups.clear();
                self.members.clear();
            }
            self.round_id = round_id.to_owned();
        }
    }

    fn note_seen(&mut self, kind: SeenKind, ids: &[String]) {
        let set = match kind {
            SeenKind::Users => &mut self.users,
            SeenKind::Groups => &mut self.groups,
            SeenKind::Members => &mut self.members,
        };
        set.extend(ids.iter().map(|id| id_hash(id)));
    }

    fn wants(&self, change: Change) -> bool {
        self.samples.iter().filter(|s| s.change == change).count() < SAMPLES_PER_CHANGE
    }
}

impl PreviewOverlay {
    fn lock(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.lock().samples.clone()
    }
}

/// What kind of change a write is, its object's id, and its display when
/// the write carries it.
fn classify(write: &DirectoryWrite) -> (Change, String, Option<String>) {
    match write {
        DirectoryWrite::CreateUser(user) => (
            Change::UserCreate,
            user.user_id.clone(),
            Some(user.attributes.user_name.clone()),
        ),
        DirectoryWrite::UpdateUser {
            user_id,
            attributes,
            ..
        } => (
            Change::UserUpdate,
            user_id.clone(),
            Some(attributes.user_name.clone()),
        ),
        DirectoryWrite::DeleteUser { user_id } => (Change::UserDelete, user_id.clone(), None),
        DirectoryWrite::CreateGroup(group) => (
            Change::GroupCreate,
            group.group_id.clone(),
            Some(group.attributes.name.clone()),
        ),
        DirectoryWrite::UpdateGroup {
            group_id,
            attributes,
            ..
        } => (
            Change::GroupUpdate,
            group_id.clone(),
            Some(attributes.name.clone()),
        ),
        DirectoryWrite::DeleteGroup { group_id } => (Change::GroupDelete, group_id.clone(), None),
        DirectoryWrite::AddMembership(key) => (Change::MemberAdd, key.encode(), None),
        DirectoryWrite::RemoveMembership(key) => (Change::MemberRemove, key.encode(), None),
    }
}

/// The AM directory as a preview sees it: read as it is, plus what the
/// round would have written; writes only sampled.
pub struct PreviewDirectory<'a, D> {
    pub inner: &'a D,
    pub overlay: &'a PreviewOverlay,
}

impl<D: DirectoryStore> PreviewDirectory<'_, D> {
    /// What an admin recognises for a user or group: its name, else its id.
    async fn display(&self, tenant: &TenantId, kind: ObjectKind, id: &str) -> String {
        let remembered = self.overlay.lock().user_names.get(&id_hash(id)).cloned();
        if let Some(name) = remembered.filter(|_| kind == ObjectKind::User) {
            return name;
        }
        if kind == ObjectKind::Group
            && let Some(attributes) = self.overlay.lock().group_attributes.get(&id_hash(id))
        {
            return attributes.name.clone();
        }
        let ids = [id.to_owned()];
        let found = match kind {
            ObjectKind::User => self
                .inner
                .users_by_entra_id(tenant, &ids)
                .await
                .map(|u| u.into_values().next().map(|user| user.attributes.user_name)),
            ObjectKind::Group => self
                .inner
                .groups_by_entra_id(tenant, &ids)
                .await
                .map(|g| g.into_values().next().map(|group| group.attributes.name)),
        };
        found.ok().flatten().unwrap_or_else(|| id.to_owned())
    }

    async fn sample(&self, tenant: &TenantId, write: &DirectoryWrite) {
        let (change, object_id, display) = classify(write);
        if !self.overlay.lock().wants(change) {
            return;
        }
        let display = match (display, write) {
            (Some(display), _) => display,
            (None, DirectoryWrite::DeleteUser { user_id }) => {
                self.display(tenant, ObjectKind::User, user_id).await
            }
            (None, DirectoryWrite::DeleteGroup { group_id }) => {
                self.display(tenant, ObjectKind::Group, group_id).await
            }
            (None, DirectoryWrite::AddMembership(key) | DirectoryWrite::RemoveMembership(key)) => {
                format!(
                    "{} / {}",
                    self.display(tenant, ObjectKind::Group, &key.group_id).await,
                    self.display(tenant, ObjectKind::User, &key.user_id).await
                )
            }
            (None, _) => object_id.clone(),
        };
        let mut overlay = self.overlay.lock();
        if overlay.wants(change) {
            overlay.samples.push(Sample {
                change,
                object_id,
                display,
            });
        }
    }

    fn remember(&self, write: &DirectoryWrite) {
        let mut overlay = self.overlay.lock();
        match write {
            DirectoryWrite::CreateUser(user) if overlay.user_names.len() < REMEMBERED_NAMES => {
                let name = user.attributes.user_name.clone();
                overlay.user_names.insert(id_hash(&user.user_id), name);
            }
            DirectoryWrite::CreateGroup(group) => {
                let attributes = group.attributes.clone();
                overlay
                    .group_attributes
                    .insert(id_hash(&group.group_id), attributes);
            }
            _ => {}
        }
    }
}

impl<D: DirectoryStore> DirectoryStore for PreviewDirectory<'_, D> {
    async fn users_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, UserItem>, StoreError> {
        self.inner.users_by_entra_id(tenant, entra_ids).await
    }

    /// A user an earlier page would have created is there, under its
    /// Entra id (as the import creates it).
    async fn user_ids_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut found = self.inner.user_ids_by_entra_id(tenant, entra_ids).await?;
        let overlay = self.overlay.lock();
        for id in entra_ids {
            let hash = id_hash(id);
            if !found.contains_key(id)
                && overlay.users.contains(&hash)
                && !overlay.skipped.contains(&hash)
            {
                found.insert(id.clone(), id.clone());
            }
        }
        Ok(found)
    }

    async fn groups_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, GroupItem>, StoreError> {
        let mut found = self.inner.groups_by_entra_id(tenant, entra_ids).await?;
        let overlay = self.overlay.lock();
        for id in entra_ids {
            let hash = id_hash(id);
            if found.contains_key(id)
                || !overlay.groups.contains(&hash)
                || overlay.skipped.contains(&hash)
            {
                continue;
            }
            let attributes = overlay.group_attributes.get(&hash).cloned();
            found.insert(
                id.clone(),
                GroupItem {
                    group_id: id.clone(),
                    attributes: attributes.unwrap_or_default(),
                    source: Source::Entra,
                    entra_id: None,
                    entra_hash: None,
                    import_deleted_at: None,
                    entra_origin: None,
                },
            );
        }
        Ok(found)
    }

    async fn existing_memberships(
        &self,
        tenant: &TenantId,
        keys: &[MembershipKey],
    ) -> Result<HashSet<MembershipKey>, StoreError> {
        let mut found = self.inner.existing_memberships(tenant, keys).await?;
        let overlay = self.overlay.lock();
        found.extend(
            keys.iter()
                .filter(|key| overlay.members.contains(&id_hash(&key.encode())))
                .cloned(),
        );
        Ok(found)
    }

    async fn imported_ids_in(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        range: KeyRange,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.imported_ids_in(tenant, kind, range).await
    }

    async fn imported_memberships_in(
        &self,
        tenant: &TenantId,
        range: KeyRange,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        self.inner.imported_memberships_in(tenant, range).await
    }

    async fn platform_user_names(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<super::ports::PlatformUser>, StoreError> {
        self.inner.platform_user_names(tenant).await
    }

    async fn memberships_involving(
        &self,
        tenant: &TenantId,
        user_ids: &HashSet<String>,
        group_ids: &HashSet<String>,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        self.inner
            .memberships_involving(tenant, user_ids, group_ids)
            .await
    }

    /// Writes nothing: remembers what later pages need, and samples.
    async fn apply(
        &self,
        tenant: &TenantId,
        writes: Vec<DirectoryWrite>,
    ) -> Result<u64, StoreError> {
        for write in &writes {
            self.remember(write);
            self.sample(tenant, write).await;
        }
        Ok(0)
    }
}

/// The import's bookkeeping as a preview uses it: its own lease,
/// checkpoint and report; the round's ledger (its items are the preview
/// round's own); the sync's memory and problems read, never written.
pub struct PreviewState<'a, S, P> {
    pub inner: &'a S,
    pub runs: &'a P,
    pub overlay: &'a PreviewOverlay,
    /// The request this preview answers.
    pub requested_at: Option<String>,
    /// The scope the preview reads under (`scope::fingerprint`): progress
    /// made under another is dropped, as the engine drops the sync's.
    pub fingerprint: String,
    pub started_at: Mutex<DateTime<Utc>>,
    /// Another preview run took the lease over: this one's outcome answers
    /// nothing.
    lease_lost: std::sync::atomic::AtomicBool,
}

impl<'a, S: ImportState, P: PreviewRuns> PreviewState<'a, S, P> {
    pub fn new(
        inner: &'a S,
        runs: &'a P,
        overlay: &'a PreviewOverlay,
        requested_at: Option<String>,
        fingerprint: String,
    ) -> Self {
        Self {
            inner,
            runs,
            overlay,
            requested_at,
            fingerprint,
            started_at: Mutex::new(Utc::now()),
            lease_lost: Default::default(),
        }
    }

    /// Whether another preview run took this one's lease over.
    pub fn lease_lost(&self) -> bool {
        self.lease_lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn report(&self, status: &RunStatus) -> PreviewReport {
        let failed = status.result == RunResult::Error;
        PreviewReport {
            requested_at: self.requested_at.clone(),
            started_at: *self.started_at.lock().unwrap_or_else(|p| p.into_inner()),
            completed_at: status.completed_at.unwrap_or_else(Utc::now),
            result: if failed {
                RunResult::Error
            } else {
                RunResult::Ok
            },
            error: failed.then(|| status.error.clone()).flatten(),
            counts: status.counts,
            would_hold: status.result == RunResult::Held,
            samples: self.overlay.samples(),
        }
    }

    /// A preview that cannot run at all (the tenant is not authorised):
    /// its report says why.
    pub async fn unrunnable(
        &self,
        tenant: &TenantId,
        run_id: &str,
        why: &str,
    ) -> Result<(), StoreError> {
        let status = RunStatus {
            completed_at: Some(Utc::now()),
            result: RunResult::Error,
            error: Some(format!("the preview could not run: {why}")),
            mode: super::state::Mode::Full,
            counts: Counts::default(),
            open_problems: None,
        };
        self.abandon_run(tenant, run_id, Some(&status)).await
    }

    /// A resumed preview's overlay: the seen ids of its round so far.
    async fn reload(&self, tenant: &TenantId, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let seen = checkpoint.seen.unwrap_or_default();
        self.overlay.lock().enter_round(&checkpoint.round_id);
        for kind in [SeenKind::Users, SeenKind::Groups, SeenKind::Members] {
            let buckets = seen.of(kind).buckets;
            for bucket in Bucket::all().filter(|b| buckets.contains(*b)) {
                let pages = self
                    .inner
                    .seen_in(tenant, &checkpoint.round_id, kind, bucket)
                    .await?;
                let mut overlay = self.overlay.lock();
                for (_, ids) in pages {
                    overlay.note_seen(kind, &ids);
                }
            }
        }
        Ok(())
    }
}

impl<S: ImportState, P: PreviewRuns> RunLease for PreviewState<'_, S, P> {
    async fn begin_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SyncState>, StoreError> {
        let requested = self.requested_at.as_deref();
        let Some(progress) = self
            .runs
            .begin_preview(tenant, run_id, requested, now, lease_until)
            .await?
        else {
            return Ok(None);
        };
        // Progress under another scope starts over, samples and all.
        let checkpoint = progress
            .checkpoint
            .filter(|c| c.scope_fingerprint == self.fingerprint && c.seen.is_some());
        if let Some(checkpoint) = &checkpoint {
            self.overlay.lock().samples = progress.samples;
            *self.started_at.lock().unwrap_or_else(|p| p.into_inner()) = checkpoint.started_at;
            self.reload(tenant, checkpoint).await?;
        }
        // What a sync would do counts the deletions it holds back already.
        let holding_deletions = !self.inner.held_deletions(tenant).await?.is_empty();
        Ok(Some(SyncState {
            checkpoint,
            holding_deletions,
            // The sweep always runs: the directory may hold anything.
            ran_before: true,
            previous_run_died: progress.previous_run_died,
            ..SyncState::default()
        }))
    }

    async fn checkpoint(
        &self,
        tenant: &TenantId,
        run_id: &str,
        checkpoint: &Checkpoint,
        lease_until: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        let samples = self.overlay.samples();
        self.runs
            .checkpoint_preview(tenant, run_id, checkpoint, &samples, lease_until)
            .await
    }

    /// Writes the report; no delta link or status is kept.
    async fn finish_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        _: &SyncState,
        status: &RunStatus,
    ) -> Result<Option<DateTime<Utc>>, LeaseError> {
        self.runs
            .finish_preview(tenant, run_id, &self.report(status))
            .await?;
        Ok(None)
    }

    /// Paused (no status): the checkpoint stays. Failed: the report says why.
    async fn abandon_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        status: Option<&RunStatus>,
    ) -> Result<(), StoreError> {
        let Some(status) = status else {
            return self.runs.pause_preview(tenant, run_id).await;
        };
        match self
            .runs
            .finish_preview(tenant, run_id, &self.report(status))
            .await
        {
            Ok(()) => Ok(()),
            Err(LeaseError::Lost) => {
                self.lease_lost
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Err(LeaseError::Store(err)) => Err(err),
        }
    }
}

impl<S: ImportState, P: PreviewRuns> RoundLedger for PreviewState<'_, S, P> {
    async fn save_page_record(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
        record: &PageRecord,
        seen: &[SeenIds],
    ) -> Result<(), StoreError> {
        self.inner
            .save_page_record(tenant, round_id, phase, page, record, seen)
            .await?;
        let mut overlay = self.overlay.lock();
        overlay.enter_round(round_id);
        for part in seen {
            overlay.note_seen(part.kind, &part.ids);
        }
        Ok(())
    }

    async fn page_records(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
    ) -> Result<Vec<NumberedRecord>, StoreError> {
        self.inner.page_records(tenant, round_id, phase).await
    }

    async fn forget_page(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
    ) -> Result<(), StoreError> {
        self.inner.forget_page(tenant, round_id, phase, page).await
    }

    async fn seen_in(
        &self,
        tenant: &TenantId,
        round_id: &str,
        kind: SeenKind,
        bucket: Bucket,
    ) -> Result<Vec<(u32, Vec<String>)>, StoreError> {
        self.inner.seen_in(tenant, round_id, kind, bucket).await
    }
}

/// The sync's memory is read, never written: the group scope and held
/// deletions stay the sync's.
impl<S: ImportState, P: PreviewRuns> ImportMemory for PreviewState<'_, S, P> {
    async fn group_scope(&self, tenant: &TenantId) -> Result<Option<GroupScope>, StoreError> {
        self.inner.group_scope(tenant).await
    }

    async fn save_group_scope(&self, _: &TenantId, _: &GroupScope) -> Result<(), StoreError> {
        Ok(())
    }

    async fn held_deletions(&self, tenant: &TenantId) -> Result<HeldDeletions, StoreError> {
        self.inner.held_deletions(tenant).await
    }

    async fn save_held_deletions(&self, _: &TenantId, _: &HeldDeletions) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Problems are read (a sync re-reads open import problems), never written.
impl<S: ImportState, P: PreviewRuns> ProblemStore for PreviewState<'_, S, P> {
    /// Nothing is written; an object the sync would not create is noted,
    /// so that its memberships are not counted either.
    async fn record(&self, _: &TenantId, problem: &Problem) -> Result<Problem, StoreError> {
        if problem.operation == crate::problems::Operation::Create {
            let mut overlay = self.overlay.lock();
            overlay.skipped.insert(id_hash(&problem.key.object_id));
        }
        Ok(problem.clone())
    }

    async fn resolve(&self, _: &TenantId, _: &ProblemKey) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn open(
        &self,
        tenant: &TenantId,
        direction: Direction,
    ) -> Result<Vec<Problem>, StoreError> {
        self.inner.open(tenant, direction).await
    }

    async fn count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        self.inner.count(tenant).await
    }
}
