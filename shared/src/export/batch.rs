//! A stream batch's changes exported for any tenants: each tenant's config
//! read once per batch, the authorised gate, and the tenant's domains from
//! the process-wide cache. Changes of unrelated objects go out concurrently,
//! in lanes; the changes of one object (and of memberships that join it to
//! another) stay in order in one lane. Each tenant's lanes run apart from
//! the others', within a time budget (`budget`), and an AWS failure of one
//! tenant asks for that tenant's records again, not the others'. The
//! handler only parses records and reports the records to deliver again.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::stream::{self, StreamExt};

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::Instrument;

use super::Exported;
use super::budget;
use super::lanes::{by_tenant, lanes};
use super::preload::{Preloaded, PreloadedDirectory};
use super::replay;
use super::{
    ChangeAction, ChangeImages, Clock, DirectoryChange, EntraWriter, ExportDirectory,
    ExportFailure, ExportOutcome, ExportPlan, ExportRun,
};
use crate::events::{ChangeEvent, ChangeEvents};
use crate::model::entra::TenantDomains;
use crate::model::{TenantConfig, TenantId};
use crate::ports::{StoreError, TenantConfigs};
use crate::problems::{Direction, Problem, ProblemKey, ProblemStore};

/// Entra ID's write side for each tenant.
pub trait TenantWriters: Send + Sync {
    type Writer<'a>: EntraWriter
    where
        Self: 'a;
    /// The tenant's writer, with the credentials its config chooses, its
    /// retries ending by `deadline` (none: the writers' own).
    fn for_tenant(&self, config: &TenantConfig, deadline: Option<Instant>) -> Self::Writer<'_>;
}

/// Why a record must be delivered again (the batch stops at it): AWS
/// itself failed. Everything else becomes a problem item.
#[derive(Debug, thiserror::Error)]
pub enum RetryRecord {
    #[error("reading the tenant config failed: {0}")]
    Config(#[source] StoreError),
    #[error("recording the Entra link failed: {0}")]
    Link(#[source] StoreError),
    #[error("reading or writing a problem item failed: {0}")]
    Problem(#[source] StoreError),
    #[error(transparent)]
    Export(ExportFailure),
}

pub struct ExportBatch<'a, C, D, T, P> {
    configs: &'a C,
    directory: &'a D,
    writers: &'a T,
    domains: &'a TenantDomains,
    problems: &'a P,
    /// Configs read in this batch (`None`: no usable integration).
    tenants: Mutex<HashMap<TenantId, Option<TenantConfig>>>,
    /// The open export problems of the batch's tenants, read once each:
    /// a change of an object with one exports the object's current state.
    open: Mutex<HashMap<TenantId, HashMap<ProblemKey, Problem>>>,
    tally: Mutex<BatchTally>,
    /// The change events of what the batch exported, by tenant.
    events: Mutex<HashMap<TenantId, Vec<ChangeEvent>>>,
}

/// What the batch did (the operators' metrics, docs/behaviour.md 2.14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchTally {
    /// Changes Entra ID now reflects.
    pub exported: u64,
    /// Changes parked as problems.
    pub problems: u64,
}

/// Lanes of one tenant exported at once.
const LANES_IN_FLIGHT: usize = 16;

impl<'a, C: TenantConfigs, D: ExportDirectory, T: TenantWriters, P: ProblemStore>
    ExportBatch<'a, C, D, T, P>
{
    pub fn new(
        configs: &'a C,
        directory: &'a D,
        writers: &'a T,
        domains: &'a TenantDomains,
        problems: &'a P,
    ) -> Self {
        Self {
            configs,
            directory,
            writers,
            domains,
            problems,
            tenants: Mutex::default(),
            open: Mutex::default(),
            tally: Mutex::default(),
            events: Mutex::default(),
        }
    }

    /// Writes the change events of what the batch exported, a tenant's
    /// together; returns how many. Best effort: the records are exported,
    /// and delivering them again would find nothing to do.
    pub async fn write_events(&self, store: &impl ChangeEvents) -> u64 {
        let events = std::mem::take(&mut *self.events.lock().expect("events"));
        let mut written = 0;
        for (tenant, events) in events {
            match store.record_all(&tenant, &events).await {
                Ok(()) => written += events.len() as u64,
                Err(err) => {
                    tracing::warn!(tenant_id = %tenant, error = %err, events = events.len(), "could not write the batch's change events")
                }
            }
        }
        written
    }

    /// What the batch exported and parked so far.
    pub fn tally(&self) -> BatchTally {
        *self.tally.lock().expect("tally")
    }

    /// Exports every change, lane by lane, each tenant's lanes apart and
    /// within its share of the time until `deadline` (the invocation's).
    /// Returns the changes (by index, in order) to deliver again: for each
    /// tenant whose lane met an AWS failure, its changes from the first
    /// failed one on (later changes of its other lanes are safe to see
    /// twice); never another tenant's.
    pub async fn export_all(
        &self,
        changes: &[DirectoryChange],
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<usize> {
        self.read_configs(changes).await;
        // One batched read for the batch's items; should it fail, each
        // change reads its own.
        let preloaded = Preloaded::read(self.directory, changes)
            .await
            .inspect_err(|err| tracing::warn!(error = %err, "could not read the batch's items at once; reading them one by one"))
            .unwrap_or_default();
        let directory = &PreloadedDirectory {
            inner: self.directory,
            preloaded: &preloaded,
        };
        let until = budget::tenant_deadline(Instant::now(), deadline);
        let clock = Clock::starting(now);
        let tenants = by_tenant(changes, lanes(changes));
        let failed = futures::future::join_all(
            tenants
                .into_iter()
                .map(|lanes| self.export_tenant(directory, changes, lanes, clock, until)),
        )
        .await;
        let mut retried: Vec<usize> = failed
            .into_iter()
            .flatten()
            .flat_map(|first| {
                let tenant = changes[first].key.tenant();
                (first..changes.len()).filter(move |i| changes[*i].key.tenant() == tenant)
            })
            .collect();
        retried.sort_unstable();
        retried
    }

    /// One tenant's lanes, side by side; the index of its earliest change
    /// that must be delivered again.
    async fn export_tenant(
        &self,
        directory: &impl ExportDirectory,
        changes: &[DirectoryChange],
        lanes: Vec<Vec<usize>>,
        clock: Clock,
        until: Option<Instant>,
    ) -> Option<usize> {
        stream::iter(lanes)
            .map(|lane| async move {
                for index in lane {
                    let change = &changes[index];
                    if let Err(reason) = self.export_with(directory, change, clock, until).await {
                        tracing::warn!(tenant_id = %change.key.tenant(), sequence_number = %change.sequence_number, reason = %reason, "this object's lane stops here; the stream delivers the tenant's records again from this one");
                        return Some(index);
                    }
                }
                None
            })
            .buffer_unordered(LANES_IN_FLIGHT)
            .filter_map(|failed| async move { failed })
            .fold(None, |earliest: Option<usize>, failed| async move {
                Some(earliest.map_or(failed, |e| e.min(failed)))
            })
            .await
    }

    /// Exports one change, its log lines in a span naming the tenant and
    /// the record; `Err` when the record should be delivered again.
    pub async fn export(
        &self,
        change: &DirectoryChange,
        now: DateTime<Utc>,
    ) -> Result<(), RetryRecord> {
        self.export_with(self.directory, change, Clock::starting(now), None)
            .await
    }

    /// The tenants' configs, each read once before the lanes start (lanes
    /// of one tenant would otherwise read it side by side). A failed read
    /// is left for the lanes, which retry it.
    async fn read_configs(&self, changes: &[DirectoryChange]) {
        let mut tenants: Vec<&TenantId> = changes.iter().map(|c| c.key.tenant()).collect();
        tenants.sort();
        tenants.dedup();
        for tenant in tenants {
            let _ = self.config_of(tenant).await;
        }
    }

    async fn export_with(
        &self,
        directory: &impl ExportDirectory,
        change: &DirectoryChange,
        clock: Clock,
        until: Option<Instant>,
    ) -> Result<(), RetryRecord> {
        let span = tracing::info_span!(
            "stream_record",
            tenant_id = %change.key.tenant(),
            sequence_number = %change.sequence_number
        );
        self.export_in_span(directory, change, clock, until)
            .instrument(span)
            .await
    }

    async fn export_in_span(
        &self,
        directory: &impl ExportDirectory,
        change: &DirectoryChange,
        clock: Clock,
        until: Option<Instant>,
    ) -> Result<(), RetryRecord> {
        let tenant = change.key.tenant();
        record_link(directory, change).await?;
        let Some(config) = self.config_of(tenant).await? else {
            tracing::info!("no Entra ID integration for this tenant; change not exported");
            return Ok(());
        };
        let writer = self.writers.for_tenant(&config, until);
        let run = ExportRun::new(directory, &writer, &config).on(clock);
        let key = replay::problem_key(&change.key);
        let plan = change.plan();
        let wanted = !matches!(plan, ExportPlan::Ignore(_)) && run.enabled_for(&plan);
        // A removal with nothing to export may still settle a parked change
        // (a user never exported, deleted). Anything else with nothing to
        // export (the import's own writes, a first import's stream above
        // all) reads no problem.
        let settles = change.action == ChangeAction::Removed
            || plan == ExportPlan::Ignore(super::change::SET_BACK);
        if !wanted && !settles {
            return Ok(());
        }
        let open = self.open_problem(tenant, &key).await?;
        if !wanted && open.is_none() {
            return Ok(());
        }
        if !config.is_authorised() {
            if !wanted {
                return Ok(());
            }
            tracing::warn!(item = ?change.key, "the tenant's integration is not authorised; the change is parked until it is");
            let problem = replay::not_authorised(key, &plan);
            return self.park(directory, change, problem).await;
        }
        if let Some(domains) = self.domains.fresh(tenant) {
            let _ = run.domains.set(domains);
        }
        let result = attempt(&run, change, open.as_ref(), &plan, until).await;
        if let Some(domains) = run.domains.get() {
            self.domains.remember(tenant, domains.clone());
        }
        self.settle(directory, change, (key, open), result, clock.now())
            .await
    }

    /// Logs what became of the change: a failure is parked as a problem
    /// (the stream retries only what AWS failed); a success clears the
    /// object's problem.
    async fn settle(
        &self,
        directory: &impl ExportDirectory,
        change: &DirectoryChange,
        (key, open): (ProblemKey, Option<Problem>),
        result: Result<ExportOutcome, ExportFailure>,
        now: DateTime<Utc>,
    ) -> Result<(), RetryRecord> {
        let failure = match result {
            Ok(outcome) => {
                match outcome {
                    ExportOutcome::Exported(exported) => {
                        self.tally.lock().expect("tally").exported += 1;
                        tracing::info!(item = ?change.key, what = exported.what, "exported");
                        self.note_event(change, exported, now);
                    }
                    ExportOutcome::Ignored(why) => tracing::debug!(why, "not exported"),
                }
                if open.is_some() {
                    self.resolve(change.key.tenant(), &key).await?;
                }
                return Ok(());
            }
            Err(failure) => failure,
        };
        let attempts = open.map_or(0, |p| p.attempts);
        match replay::parked(key, &change.plan(), &failure, attempts, now) {
            Some(problem) => {
                tracing::warn!(item = ?change.key, code = problem.code.as_str(), reason = %failure, "this change cannot be exported now; parked as a problem");
                self.tally.lock().expect("tally").problems += 1;
                self.park(directory, change, problem).await
            }
            None => Err(RetryRecord::Export(failure)),
        }
    }

    fn note_event(&self, change: &DirectoryChange, exported: Exported, now: DateTime<Utc>) {
        if let Some(event) = super::events::exported_event(change, exported, now) {
            let mut events = self.events.lock().expect("events");
            let tenant = change.key.tenant().clone();
            events.entry(tenant).or_default().push(event);
        }
    }

    /// The object's open export problem, if it has one.
    async fn open_problem(
        &self,
        tenant: &TenantId,
        key: &ProblemKey,
    ) -> Result<Option<Problem>, RetryRecord> {
        if let Some(open) = self.open.lock().expect("problem cache").get(tenant) {
            return Ok(open.get(key).cloned());
        }
        let open: HashMap<ProblemKey, Problem> = self
            .problems
            .open(tenant, Direction::Export)
            .await
            .map_err(RetryRecord::Problem)?
            .into_iter()
            .map(|p| (p.key.clone(), p))
            .collect();
        let found = open.get(key).cloned();
        self.open
            .lock()
            .expect("problem cache")
            .insert(tenant.clone(), open);
        Ok(found)
    }

    async fn park(
        &self,
        directory: &impl ExportDirectory,
        change: &DirectoryChange,
        problem: Problem,
    ) -> Result<(), RetryRecord> {
        let tenant = change.key.tenant();
        let problem = problem.displayed_as(display_of(directory, change).await);
        let stored = self
            .problems
            .record(tenant, &problem)
            .await
            .map_err(RetryRecord::Problem)?;
        if let Some(open) = self.open.lock().expect("problem cache").get_mut(tenant) {
            open.insert(stored.key.clone(), stored);
        }
        Ok(())
    }

    async fn resolve(&self, tenant: &TenantId, key: &ProblemKey) -> Result<(), RetryRecord> {
        self.problems
            .resolve(tenant, key)
            .await
            .map_err(RetryRecord::Problem)?;
        if let Some(open) = self.open.lock().expect("problem cache").get_mut(tenant) {
            open.remove(key);
        }
        tracing::info!(item = ?key, "an export problem is fixed");
        Ok(())
    }

    /// The tenant's config, read once per batch; an unusable one is logged
    /// and treated as no integration.
    async fn config_of(&self, tenant: &TenantId) -> Result<Option<TenantConfig>, RetryRecord> {
        if let Some(known) = self.tenants.lock().expect("config cache").get(tenant) {
            return Ok(known.clone());
        }
        // Lanes of one tenant may read it at once; the reads agree.
        let config = match self.configs.tenant_config(tenant).await {
            Ok(config) => config,
            Err(err) if err.is_retryable() => return Err(RetryRecord::Config(err)),
            Err(err) => {
                tracing::error!(error = %err, "the tenant config is unusable; its changes are not exported");
                None
            }
        };
        self.tenants
            .lock()
            .expect("config cache")
            .insert(tenant.clone(), config.clone());
        Ok(config)
    }
}

/// Exports the change within the tenant's budget: past it, the change is
/// parked to pass by itself, without a call to Graph.
async fn attempt<D: ExportDirectory, W: EntraWriter>(
    run: &ExportRun<'_, D, W>,
    change: &DirectoryChange,
    open: Option<&Problem>,
    plan: &ExportPlan,
    until: Option<Instant>,
) -> Result<ExportOutcome, ExportFailure> {
    if until.is_some_and(|until| Instant::now() >= until) {
        return Err(ExportFailure::OutOfTime);
    }
    match (open, plan) {
        // A delete supersedes whatever was parked.
        (
            Some(_),
            ExportPlan::DeleteUser { .. }
            | ExportPlan::DeleteGroup { .. }
            | ExportPlan::DeleteMarked(_),
        )
        | (None, _) => run.apply(change).await,
        // Otherwise the object exports its current state: this change and
        // the parked one together, in order.
        (Some(problem), _) => run
            .replay(change.key.tenant(), problem)
            .await
            .map(|(_, outcome)| outcome),
    }
}

/// What an admin recognises the change's object by: the UPN, the group
/// name, `group name / UPN` for a membership.
async fn display_of(directory: &impl ExportDirectory, change: &DirectoryChange) -> String {
    let tenant = change.key.tenant();
    match &change.images {
        ChangeImages::User(images) => [&images.new, &images.old]
            .into_iter()
            .flatten()
            .map(|u| u.attributes.user_name.clone())
            .find(|n| !n.is_empty())
            .unwrap_or_default(),
        ChangeImages::Group(images) => [&images.new, &images.old]
            .into_iter()
            .flatten()
            .map(|g| g.attributes.name.clone())
            .find(|n| !n.is_empty())
            .unwrap_or_default(),
        ChangeImages::Membership(images) => {
            let Some(m) = images.new.as_ref().or(images.old.as_ref()) else {
                return String::new();
            };
            let group = directory.group(tenant, &m.group_id).await.ok().flatten();
            let user = directory.user(tenant, &m.user_id).await.ok().flatten();
            format!(
                "{} / {}",
                group.map_or(m.group_id.clone(), |g| g.attributes.name),
                user.map_or(m.user_id.clone(), |u| u.attributes.user_name)
            )
        }
    }
}

/// Records the Entra link a change sets, whatever the config says: the
/// import needs to find it.
async fn record_link(
    directory: &impl ExportDirectory,
    change: &DirectoryChange,
) -> Result<(), RetryRecord> {
    let Some(entra_id) = change.link_set() else {
        return Ok(());
    };
    match directory.record_link(&change.key, entra_id).await {
        Ok(()) => Ok(()),
        Err(err) if err.is_retryable() => Err(RetryRecord::Link(err)),
        Err(err) => {
            tracing::error!(error = %err, entra_id, "the Entra link cannot be recorded");
            Ok(())
        }
    }
}
