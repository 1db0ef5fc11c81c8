//! The export engine (docs/behaviour.md 2.3): one directory change at a time,
//! reflected in Entra ID. Loop-free by state (see `crate::model::directory`) and
//! safe to replay: creates look for what an earlier attempt made.

mod authority;
pub mod batch;
mod budget;
pub mod change;
mod deprovision;
mod events;
mod groups;
mod intent;
pub mod lanes;
mod manager;
mod mappings;
mod members;
pub mod naming;
mod outcome;
mod ownership;
pub mod ports;
mod preload;
pub mod replay;
mod restore;
mod users;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use batch::{ExportBatch, RetryRecord, TenantWriters};
pub use budget::earliest as earliest_deadline;
pub use change::{ChangeAction, ChangeError, ChangeImages, DirectoryChange, ExportPlan, Images};
pub use mappings::ExportMappings;
pub use outcome::{ExportOutcome, Exported};
pub use ports::{DeletedEntraUser, EntraWriter, ExportDirectory};
// The domain's types the ports speak, where the engine's modules find them.
pub use crate::model::entra::{
    EntraObjectKind, EntraPatch, EntraUser, ExistingEntraUser, ExportMark, NewEntraGroup,
    NewEntraUser,
};

use crate::model::directory::{EntraHash, Field, ItemKey, LinkOrigin};
use crate::model::entra::{DomainInfo, GraphError};
use crate::model::{TenantConfig, TenantId};
use crate::ports::StoreError;
use crate::problems::Code;

/// Right after our own create, Entra may answer 404 for a while (docs/graph.md 2.6).
const REPLICATION_RETRIES: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// Why a change could not be exported, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailure {
    /// Graph refused or failed `action` (e.g. "creating the user"); a
    /// `write` may have changed Entra ID, a read did not.
    #[error("{action}: {source}")]
    Graph {
        action: &'static str,
        write: bool,
        #[source]
        source: GraphError,
    },
    #[error("the AM directory: {0}")]
    Store(#[from] StoreError),
    /// The change breaks a rule of the tenant (an unverified or unlisted
    /// domain, a user without a UPN): it waits for the object to change.
    #[error("{reason}")]
    Refused { code: Code, reason: String },
    /// Something it needs is not there yet (a member not exported, a UPN
    /// not visible yet): it passes by itself.
    #[error("{0}")]
    NotYet(String),
    /// The UPN is held by an Entra user the export may not take: one
    /// entra-sync made for another AM object, or one it did not make (the
    /// tenant's own, an imported user). The holder's rename or delete (its
    /// record may come later: records of two items come in any order), or
    /// adoption allowed in the tenant's settings, frees it: it is tried
    /// again by itself, with backoff (at most hourly).
    #[error("{0}")]
    UpnHeld(String),
    /// The tenant's share of the invocation ran out before this change
    /// (docs/behaviour.md 2.11): it passes by itself.
    #[error(
        "the tenant's share of this export run ran out (Microsoft Graph was slow or throttling); it is retried by itself"
    )]
    OutOfTime,
    /// The tenant's `user_mappings` do not compile (DESIGN 2.13): no user
    /// of the tenant is written, and the change goes once they are fixed.
    #[error(
        "{0}; nothing was written: the user is exported once the mapping is fixed (it is tried again by itself)"
    )]
    MappingsUnusable(crate::mapping::MappingConfigError),
}

impl ExportFailure {
    /// Whether delivering the record again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Graph { source, .. } => source.is_retryable(),
            Self::Store(source) => source.is_retryable(),
            Self::NotYet(_) | Self::UpnHeld(_) | Self::OutOfTime | Self::MappingsUnusable(_) => {
                true
            }
            Self::Refused { .. } => false,
        }
    }

    /// Whether a write may have reached Entra ID with its answer lost: a
    /// write that ran out of retries or got an unreadable answer. Nothing
    /// was sent when time ran out first, or a read failed.
    pub fn may_have_written(&self) -> bool {
        match self {
            Self::Graph {
                write: true,
                source,
                ..
            } => matches!(
                source,
                GraphError::Exhausted { .. } | GraphError::Malformed(_)
            ),
            _ => false,
        }
    }

    /// What kind of problem it is, and whether it can pass by itself (it
    /// is then retried with backoff). `None`: a failure of AWS itself,
    /// which the stream retries (nothing could be written about it).
    pub fn problem(&self) -> Option<(Code, bool)> {
        match self {
            Self::Store(_) => None,
            Self::Refused { code, .. } => Some((*code, false)),
            Self::NotYet(_) => Some((Code::DependencyMissing, true)),
            Self::UpnHeld(_) => Some((Code::EntraObjectExists, true)),
            Self::OutOfTime => Some((Code::RetriesExhausted, true)),
            Self::MappingsUnusable(_) => Some((Code::InvalidObject, true)),
            // Parked until the tenant is authorised (and consented) again.
            Self::Graph {
                source:
                    GraphError::Token(
                        crate::model::entra::TokenError::ReauthorisationRequired(_)
                        | crate::model::entra::TokenError::AppAccessEnded(_)
                        | crate::model::entra::TokenError::NotAuthorised
                        | crate::model::entra::TokenError::CloudNotSupported(_),
                    )
                    | GraphError::PermissionsMissing(_),
                ..
            } => Some((Code::NotAuthorised, false)),
            Self::Graph { source, .. } if source.is_retryable() => {
                Some((Code::RetriesExhausted, true))
            }
            Self::Graph { .. } => Some((Code::GraphRejected, false)),
        }
    }
}

fn refused(code: Code, reason: String) -> ExportFailure {
    ExportFailure::Refused { code, reason }
}

/// A write's failure (a create, update, delete, member write, mark).
pub(crate) fn graph_failure(action: &'static str, source: GraphError) -> ExportFailure {
    ExportFailure::Graph {
        action,
        write: true,
        source,
    }
}

/// A read's failure: nothing in Entra ID changed.
pub(crate) fn read_failure(action: &'static str, source: GraphError) -> ExportFailure {
    ExportFailure::Graph {
        action,
        write: false,
        source,
    }
}

/// An update's failure. The linked object not found is most often our own
/// create not visible yet (docs/graph.md 2.6): that passes by itself.
pub(crate) fn update_failure(action: &'static str, source: GraphError) -> ExportFailure {
    if not_visible_yet(&source) {
        return ExportFailure::NotYet(format!(
            "{action}: {source}; it was created moments ago and is not visible yet, or it was deleted in Entra ID"
        ));
    }
    graph_failure(action, source)
}

/// Graph says a unique value (the UPN) is taken.
pub(crate) fn is_conflict(err: &GraphError) -> bool {
    matches!(err, GraphError::ObjectConflict { .. })
}

/// Read-after-write lag: the object we just made is not visible yet.
pub(crate) fn not_visible_yet(err: &GraphError) -> bool {
    matches!(err, GraphError::NotFound | GraphError::NotVisibleYet { .. })
}

/// The fields an update sends, with their values as the item has them
/// now: those the record changed, and those changed since the record
/// (their own records follow). `record` then stores the hash of the
/// current values, and it must not claim a value Entra ID was never sent:
/// a later record that sets a field back (A, B, A), or a replay, would
/// find them agreeing and send nothing.
fn to_send<A>(
    fields: &'static [Field<A>],
    changed: &[&str],
    seen: &A,
    now: &A,
) -> Vec<&'static Field<A>> {
    fields
        .iter()
        .filter(|f| changed.contains(&f.am) || (f.read)(seen) != (f.read)(now))
        .collect()
}

/// The time a batch or run began, on the wall clock and on the clock its
/// waits run on (paused in a simulation): `now()` is the one plus what
/// the other has passed since.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    began: DateTime<Utc>,
    since: tokio::time::Instant,
}

impl Clock {
    pub fn starting(began: DateTime<Utc>) -> Self {
        Self {
            began,
            since: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.began + chrono::TimeDelta::from_std(self.since.elapsed()).unwrap_or_default()
    }
}

pub struct ExportRun<'a, D, W> {
    pub directory: &'a D,
    pub writer: &'a W,
    pub config: &'a TenantConfig,
    /// Fetched on first need, once per run.
    pub domains: tokio::sync::OnceCell<Vec<DomainInfo>>,
    /// The run's time: a batch's, a simulation's, or its own.
    clock: Clock,
    /// Membership ends found to carry entra-sync's mark: (AM sort key,
    /// Entra id).
    owned_ends: std::sync::Mutex<std::collections::HashSet<(String, String)>>,
    /// When this run began each create, by the item's sort key.
    creates_begun: std::sync::Mutex<std::collections::HashMap<String, DateTime<Utc>>>,
    /// The tenant's export mappings, compiled on first need.
    mappings: std::sync::OnceLock<Result<ExportMappings, crate::mapping::MappingConfigError>>,
}

impl<'a, D: ExportDirectory, W: EntraWriter> ExportRun<'a, D, W> {
    pub fn new(directory: &'a D, writer: &'a W, config: &'a TenantConfig) -> Self {
        Self {
            directory,
            writer,
            config,
            domains: tokio::sync::OnceCell::new(),
            clock: Clock::starting(Utc::now()),
            owned_ends: Default::default(),
            creates_begun: Default::default(),
            mappings: Default::default(),
        }
    }

    /// The tenant's export mappings, compiled once per run; ones that do
    /// not compile stop every user write, naming the mapping.
    pub(crate) fn export_mappings(&self) -> Result<&ExportMappings, ExportFailure> {
        self.mappings
            .get_or_init(|| ExportMappings::compile(self.config))
            .as_ref()
            .map_err(|error| ExportFailure::MappingsUnusable(error.clone()))
    }

    /// The run on this clock (a batch's, a simulation's).
    pub fn on(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// The time now (a worker's replay runs for minutes, a batch for up
    /// to two: an intent to create is dated when its POST goes).
    pub(crate) fn clock(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn apply(&self, change: &DirectoryChange) -> Result<ExportOutcome, ExportFailure> {
        self.apply_plan(change.key.tenant(), &change.key, change.plan())
            .await
    }

    pub(crate) async fn apply_plan(
        &self,
        tenant: &TenantId,
        key: &ItemKey,
        plan: ExportPlan,
    ) -> Result<ExportOutcome, ExportFailure> {
        if !matches!(plan, ExportPlan::Ignore(_)) && !self.enabled_for(&plan) {
            return Ok(ExportOutcome::Ignored(
                "export of this kind is off for the tenant",
            ));
        }
        if let Some(kept) = self.keep_in_entra(key, &plan).await? {
            return Ok(ExportOutcome::Ignored(kept));
        }
        match plan {
            ExportPlan::Ignore(why) => Ok(ExportOutcome::Ignored(why)),
            ExportPlan::CreateUser { user_id, item } => {
                self.create_user(tenant, &user_id, &item).await
            }
            ExportPlan::UpdateUser {
                user_id,
                entra_id,
                before,
                item,
                ..
            } => {
                self.update_user(key, &user_id, &entra_id, (before.as_deref(), &item))
                    .await
            }
            ExportPlan::DeleteUser { entra_id } => self.delete_user(key, &entra_id).await,
            ExportPlan::CreateGroup { group_id, item } => {
                self.create_group(tenant, &group_id, &item).await
            }
            ExportPlan::UpdateGroup {
                group_id,
                entra_id,
                changed,
                before,
                item,
            } => {
                let images = (before.as_deref(), &item);
                self.update_group(key, &group_id, &entra_id, (&changed, images))
                    .await
            }
            ExportPlan::DeleteGroup { entra_id } => self.delete_group(key, &entra_id).await,
            ExportPlan::DeleteMarked(kind) => self.delete_marked(kind, key).await,
            ExportPlan::AddMember { group_id, user_id } => {
                self.add_membership(tenant, &group_id, &user_id).await
            }
            ExportPlan::RemoveMember { group_id, user_id } => {
                self.remove_membership(tenant, &group_id, &user_id).await
            }
        }
    }

    /// Users follow "Export Users", groups and memberships "Export Groups".
    pub(crate) fn enabled_for(&self, plan: &ExportPlan) -> bool {
        match plan {
            ExportPlan::CreateUser { .. }
            | ExportPlan::UpdateUser { .. }
            | ExportPlan::DeleteUser { .. }
            | ExportPlan::DeleteMarked(EntraObjectKind::User) => self.config.export_users,
            _ => self.config.export_groups,
        }
    }

    /// Records that the item now agrees with Entra ID: the hash of the
    /// item as it is now, not as the record saw it (a later platform edit
    /// already on the stream keeps its own record); `origin` for a link
    /// the export has just made.
    async fn record(
        &self,
        key: &ItemKey,
        entra_id: &str,
        origin: Option<LinkOrigin>,
    ) -> Result<(), ExportFailure> {
        self.record_with(key, entra_id, origin, true).await
    }

    /// `record`, for a user whose manager was not written
    /// (`manager_written` false): its hash then agrees with no manager.
    async fn record_with(
        &self,
        key: &ItemKey,
        entra_id: &str,
        origin: Option<LinkOrigin>,
        manager_written: bool,
    ) -> Result<(), ExportFailure> {
        let user_hash = match manager_written {
            true => EntraHash::of_user,
            false => EntraHash::of_user_manager_unwritten,
        };
        let current = match key {
            ItemKey::User { tenant, user_id } => self
                .directory
                .user(tenant, user_id)
                .await?
                .map(|u| (user_hash(&u.attributes), u.sync.entra_id)),
            ItemKey::Group { tenant, group_id } => self
                .directory
                .group(tenant, group_id)
                .await?
                .map(|g| (EntraHash::of_group(&g.attributes), g.sync.entra_id)),
            ItemKey::Membership { .. } => None,
        };
        if let Some((hash, linked_to)) = current {
            // A new link is recorded before `entra_id`, so that the import
            // never finds the one without the other; a known one is not
            // written again on every update.
            if linked_to.as_deref() != Some(entra_id) {
                self.directory.record_link(key, entra_id).await?;
            }
            self.directory
                .record_entra_state(key, entra_id, &hash, origin)
                .await?;
        }
        Ok(())
    }

    async fn domains(&self) -> Result<&Vec<DomainInfo>, ExportFailure> {
        self.domains
            .get_or_try_init(|| async {
                self.writer
                    .domains()
                    .await
                    .map_err(|e| read_failure("reading the tenant's domains", e))
            })
            .await
    }

    /// The UPN's domain must be a verified domain of the tenant and, when the
    /// tenant lists domains, one of them.
    pub(crate) async fn check_upn(
        &self,
        upn: &str,
        what: &str,
    ) -> Result<Option<DomainInfo>, ExportFailure> {
        let Some((_, domain)) = upn.rsplit_once('@') else {
            return Err(refused(
                Code::InvalidObject,
                format!("the user to be {what} has no valid user_name ({upn:?})"),
            ));
        };
        let domain = domain.to_ascii_lowercase();
        if !self.config.domains.is_empty() && !self.config.domains.contains(&domain) {
            return Err(refused(
                Code::DomainNotInScope,
                format!(
                    "the UPN's domain {domain} is not among the domains this tenant synchronises (Domains)"
                ),
            ));
        }
        match self.domains().await?.iter().find(|d| d.name == domain) {
            Some(d) if d.verified => Ok(Some(d.clone())),
            _ => Err(refused(
                Code::UnverifiedDomain,
                format!("the UPN's domain {domain} is not a verified domain of this Entra tenant"),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
