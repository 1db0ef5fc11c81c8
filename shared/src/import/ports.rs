//! What the import engine needs from the outside: the AM directory, its
//! own bookkeeping, and Entra ID. No AWS types cross these traits.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use chrono::{DateTime, Utc};

use super::buckets::{Bucket, KeyRange, SeenIds, SeenKind};
use super::history::RunRecord;
use super::records::DirectoryWrite;
use super::state::{
    Checkpoint, GroupScope, NumberedRecord, PageRecord, Phase, RunStatus, SyncState,
};
use crate::model::directory::{GroupItem, MembershipKey, UserItem};
use crate::model::entra::GraphError;
use crate::model::entra::{DeltaPage, DomainInfo, EntraGroup, EntraUser, GroupDelta, MemberKind};
use crate::model::{EntraObjectId, TenantId};
use crate::ports::StoreError;

pub trait DirectoryStore: Send + Sync {
    /// The AM users these Entra objects are: imported (`user_id` = the Entra
    /// id) or linked (`entra_id` = it). Keyed by Entra id.
    fn users_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, UserItem>, StoreError>> + Send;

    /// The AM user id of each of these Entra users the directory holds
    /// (imported or linked), keyed by Entra id: all a membership needs.
    fn user_ids_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, String>, StoreError>> + Send {
        async move {
            Ok(self
                .users_by_entra_id(tenant, entra_ids)
                .await?
                .into_iter()
                .map(|(entra_id, user)| (entra_id, user.user_id))
                .collect())
        }
    }

    fn groups_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, GroupItem>, StoreError>> + Send;

    /// Those of these Entra users that were a platform user's counterpart
    /// (linked by the export) whose AM user the platform has deleted since:
    /// the export kept or disabled them in Entra ID as the tenant chose
    /// (DESIGN 2.13), and the import must not bring them back as new users.
    /// A store that keeps no links has none.
    fn released_by_platform(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> impl Future<Output = Result<HashSet<String>, StoreError>> + Send {
        let _ = (tenant, entra_ids);
        async { Ok(HashSet::new()) }
    }

    /// The users whose manager (`sync_manager_entra_id`) is one of these
    /// Entra users (DESIGN 2.13).
    fn reports_of(
        &self,
        tenant: &TenantId,
        manager_entra_ids: &[String],
    ) -> impl Future<Output = Result<Vec<UserItem>, StoreError>> + Send;

    /// Which of these memberships exist.
    fn existing_memberships(
        &self,
        tenant: &TenantId,
        keys: &[MembershipKey],
    ) -> impl Future<Output = Result<HashSet<MembershipKey>, StoreError>> + Send;

    /// Ids of the users (or groups) in one key range whose `source` is
    /// `entra`: the finish reads the tenant a range at a time.
    fn imported_ids_in(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        range: KeyRange,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Memberships whose `source` is `entra`, of the groups in one range.
    fn imported_memberships_in(
        &self,
        tenant: &TenantId,
        range: KeyRange,
    ) -> impl Future<Output = Result<Vec<MembershipKey>, StoreError>> + Send;

    /// The platform's own users (`source` not `entra`), for the check
    /// that an Entra user's UPN is not already another user's name.
    fn platform_user_names(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Vec<PlatformUser>, StoreError>> + Send;

    /// Every membership (any source) of these users or groups.
    fn memberships_involving(
        &self,
        tenant: &TenantId,
        user_ids: &HashSet<String>,
        group_ids: &HashSet<String>,
    ) -> impl Future<Output = Result<Vec<MembershipKey>, StoreError>> + Send;

    /// Applies the writes; returns how many items were written or deleted.
    fn apply(
        &self,
        tenant: &TenantId,
        writes: Vec<DirectoryWrite>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// A platform user's id and login name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformUser {
    pub user_id: String,
    pub user_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    User,
    Group,
}

impl ObjectKind {
    pub fn noun(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("another run holds the tenant's lease")]
    Lost,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The tenant's run lease and the state between runs, on one item so that
/// an idle poll costs two writes (begin and finish).
pub trait RunLease: Send + Sync {
    /// Takes the tenant's lease (free, expired, or ours) and records the
    /// run's start, in one write. `None` when another run holds it.
    fn begin_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<SyncState>, StoreError>> + Send;

    /// Saves progress and renews the lease, only while we hold it.
    fn checkpoint(
        &self,
        tenant: &TenantId,
        run_id: &str,
        checkpoint: &Checkpoint,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), LeaseError>> + Send;

    /// Ends the run: the new state (delta links, no checkpoint), the status
    /// item, and the lease released, in one write. Returns when changes were
    /// last reported for the tenant (a change notification), if ever.
    fn finish_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        state: &SyncState,
        status: &RunStatus,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, LeaseError>> + Send;

    /// Releases the lease of a run that stops early, keeping its checkpoint.
    fn abandon_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        status: Option<&RunStatus>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Microsoft refused the app's token for the tenant (DESIGN 2.12):
    /// records `now` as the refusal's last sighting and, unless a refusal
    /// last seen at or after `continuous_since` is recorded already, as
    /// `reauthorisation_suspected_since`; returns the first refusal's time.
    /// A finished run (`finish_run`) removes both.
    fn suspect_reauthorisation(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        continuous_since: DateTime<Utc>,
    ) -> impl Future<Output = Result<DateTime<Utc>, StoreError>> + Send;

    /// Removes `reauthorisation_suspected_since`: the tenant was marked,
    /// and a refusal after it authorised again starts a new window.
    fn clear_reauthorisation_suspicion(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What each page of a round showed, for the end of the round (the sweep,
/// deletion checks, deferred memberships). The ids a page saw are kept by
/// bucket, so that the end of the round reads them a bucket at a time.
pub trait RoundLedger: Send + Sync {
    /// Saves a page's record (removals, deferred memberships) and the ids
    /// it saw, together.
    fn save_page_record(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
        record: &PageRecord,
        seen: &[SeenIds],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The round's records of one phase, in page order, with their page.
    fn page_records(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
    ) -> impl Future<Output = Result<Vec<NumberedRecord>, StoreError>> + Send;

    /// Removes what a page wrote: a run killed after saving a page but
    /// before its checkpoint leaves items the page read again would not
    /// all overwrite (a bucket it no longer fills).
    fn forget_page(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The ids of one kind and bucket the round's pages saw, in page order,
    /// with their page.
    fn seen_in(
        &self,
        tenant: &TenantId,
        round_id: &str,
        kind: SeenKind,
        bucket: Bucket,
    ) -> impl Future<Output = Result<Vec<(u32, Vec<String>)>, StoreError>> + Send;
}

/// What the import remembers across runs besides the delta links: the
/// group scope and the deletions held back.
pub trait ImportMemory: Send + Sync {
    /// Users and groups in scope when `import_group_ids` is set.
    fn group_scope(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<GroupScope>, StoreError>> + Send;

    fn save_group_scope(
        &self,
        tenant: &TenantId,
        scope: &GroupScope,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn held_deletions(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<HeldDeletions, StoreError>> + Send;

    fn save_held_deletions(
        &self,
        tenant: &TenantId,
        held: &HeldDeletions,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The tenant's run history (docs/behaviour.md 2.14).
pub trait RunHistory: Send + Sync {
    /// Adds one invocation's part to its run's item: the run's counts,
    /// mode and (once it ended) result replace the item's; its problems
    /// and Graph requests add to them, and `invocations` grows by one.
    fn record_run(
        &self,
        tenant: &TenantId,
        record: &RunRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes the run's change events (a page's, at most a few thousand).
    fn record_events(
        &self,
        tenant: &TenantId,
        events: &[crate::events::ChangeEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Everything the import keeps of its own, in one bound. Its problem items
/// are a port of their own (`crate::problems::ProblemStore`), shared with
/// the export.
pub trait ImportState: RunLease + RoundLedger + ImportMemory + RunHistory {}

impl<T: RunLease + RoundLedger + ImportMemory + RunHistory> ImportState for T {}

/// Deletions held back by the safety threshold (docs/behaviour.md 2.2), by Entra id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldDeletions {
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

impl HeldDeletions {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }
}

/// Where a run that stopped before its deadline asks for its own
/// continuation, so that a long first import runs back to back instead of
/// one invocation per schedule tick.
pub trait Continuations: Send + Sync {
    /// Queues the tenant's next run; `run_id` is the run that stopped (a
    /// queue that deduplicates must not take the two for one).
    fn continue_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What follows a tenant's run, whatever its outcome (the realtime
/// subscriptions): best effort, never a reason to run again.
pub trait AfterRun: Send + Sync {
    fn after_run(
        &self,
        config: &crate::model::TenantConfig,
        outcome: &super::RunOutcome,
    ) -> impl Future<Output = ()> + Send;
}

/// Nothing follows (tests of the import alone).
pub struct NothingAfter;

impl AfterRun for NothingAfter {
    async fn after_run(&self, _: &crate::model::TenantConfig, _: &super::RunOutcome) {}
}

/// Entra ID as the import reads it.
pub trait EntraDirectory: Send + Sync {
    /// A page of `/users/delta`: the initial request when `link` is `None`.
    fn users_delta(
        &self,
        link: Option<&str>,
    ) -> impl Future<Output = Result<DeltaPage<EntraUser>, GraphError>> + Send;

    fn groups_delta(
        &self,
        link: Option<&str>,
    ) -> impl Future<Output = Result<DeltaPage<GroupDelta>, GraphError>> + Send;

    fn domains(&self) -> impl Future<Output = Result<Vec<DomainInfo>, GraphError>> + Send;

    /// Every member below a group, nested groups followed.
    fn transitive_members(
        &self,
        group_id: &str,
    ) -> impl Future<Output = Result<Vec<(EntraObjectId, MemberKind)>, GraphError>> + Send;

    fn user(&self, id: &str) -> impl Future<Output = Result<Option<EntraUser>, GraphError>> + Send;

    /// Whether Entra ID holds this user among its deleted items (soft
    /// deleted, restorable), as opposed to gone for good.
    fn is_soft_deleted_user(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<bool, GraphError>> + Send;

    /// The groups a user is a direct member of (`/users/{id}/memberOf`),
    /// by id; none for a user Graph does not know.
    fn groups_of_user(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Vec<String>, GraphError>> + Send;

    fn group(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<EntraGroup>, GraphError>> + Send;
}
