//! A stream batch's changes exported for any tenants: each tenant's config
//! read once per batch, the authorised gate, and the tenant's domains from
//! the process-wide cache. Changes of unrelated objects go out concurrently,
//! in lanes; the changes of one object (and of memberships that join it to
//! another) stay in order in one lane. The handler only parses records and
//! reports where the stream should resume.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::stream::{self, StreamExt};

use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::preload::{Preloaded, PreloadedDirectory};
use super::{
    DirectoryChange, EntraWriter, ExportDirectory, ExportFailure, ExportOutcome, ExportRun,
};
use crate::graph::domains::TenantDomains;
use crate::model::{TenantConfig, TenantId};
use crate::ports::{StoreError, TenantConfigs};

/// Entra ID's write side for each tenant.
pub trait TenantWriters: Send + Sync {
    type Writer<'a>: EntraWriter
    where
        Self: 'a;
    fn for_tenant(&self, tenant: &TenantId) -> Self::Writer<'_>;
}

/// Why a record must be delivered again (the batch stops at it).
#[derive(Debug, thiserror::Error)]
pub enum RetryRecord {
    #[error("reading the tenant config failed: {0}")]
    Config(#[source] StoreError),
    #[error("recording the Entra link failed: {0}")]
    Link(#[source] StoreError),
    #[error(transparent)]
    Export(ExportFailure),
}

pub struct ExportBatch<'a, C, D, T> {
    configs: &'a C,
    directory: &'a D,
    writers: &'a T,
    domains: &'a TenantDomains,
    /// Configs read in this batch (`None`: no usable integration).
    tenants: Mutex<HashMap<TenantId, Option<TenantConfig>>>,
}

/// Lanes exported at once.
const LANES_IN_FLIGHT: usize = 16;

/// The changes (by index) that must go out in order: those touching the
/// same user or group, directly or through a membership, or the same UPN,
/// share a lane.
/// Each lane keeps the batch's order; lanes are in order of first change.
pub fn lanes(changes: &[DirectoryChange]) -> Vec<Vec<usize>> {
    use crate::model::directory::ItemKey;
    // Union-find over the objects the changes touch.
    let mut object: HashMap<(TenantId, char, String), usize> = HashMap::new();
    let mut parent: Vec<usize> = Vec::new();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first_object = Vec::with_capacity(changes.len());
    for change in changes {
        let tenant = change.key.tenant().clone();
        let names = change.user_names();
        let mut touched: Vec<(char, &str)> = match &change.key {
            ItemKey::User { user_id, .. } => vec![('u', user_id)],
            ItemKey::Group { group_id, .. } => vec![('g', group_id)],
            ItemKey::Membership { key, .. } => vec![('g', &key.group_id), ('u', &key.user_id)],
        };
        // A UPN one user frees and another takes: delete before create.
        touched.extend(names.iter().map(|n| ('n', n.as_str())));
        let ids: Vec<usize> = touched
            .into_iter()
            .map(|(kind, id)| {
                *object
                    .entry((tenant.clone(), kind, id.to_owned()))
                    .or_insert_with(|| {
                        parent.push(parent.len());
                        parent.len() - 1
                    })
            })
            .collect();
        for pair in ids.windows(2) {
            let (a, b) = (root(&mut parent, pair[0]), root(&mut parent, pair[1]));
            parent[a] = b;
        }
        first_object.push(ids[0]);
    }
    let mut lane_of_root: HashMap<usize, usize> = HashMap::new();
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    for (index, object) in first_object.into_iter().enumerate() {
        let r = root(&mut parent, object);
        let lane = *lane_of_root.entry(r).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[lane].push(index);
    }
    lanes
}

impl<'a, C: TenantConfigs, D: ExportDirectory, T: TenantWriters> ExportBatch<'a, C, D, T> {
    pub fn new(
        configs: &'a C,
        directory: &'a D,
        writers: &'a T,
        domains: &'a TenantDomains,
    ) -> Self {
        Self {
            configs,
            directory,
            writers,
            domains,
            tenants: Mutex::default(),
        }
    }

    /// Exports every change, lane by lane; returns the index of the
    /// earliest change that must be delivered again (its lane stopped
    /// there; later changes of other lanes are safe to see twice).
    pub async fn export_all(
        &self,
        changes: &[DirectoryChange],
        now: DateTime<Utc>,
    ) -> Option<usize> {
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
        stream::iter(lanes(changes))
            .map(|lane| async move {
                for index in lane {
                    let change = &changes[index];
                    if let Err(reason) = self.export_with(directory, change, now).await {
                        tracing::warn!(tenant_id = %change.key.tenant(), sequence_number = %change.sequence_number, reason = %reason, "this object's lane stops here; the stream retries from this record");
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
        self.export_with(self.directory, change, now).await
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
        now: DateTime<Utc>,
    ) -> Result<(), RetryRecord> {
        let span = tracing::info_span!(
            "stream_record",
            tenant_id = %change.key.tenant(),
            sequence_number = %change.sequence_number
        );
        self.export_in_span(directory, change, now)
            .instrument(span)
            .await
    }

    async fn export_in_span(
        &self,
        directory: &impl ExportDirectory,
        change: &DirectoryChange,
        now: DateTime<Utc>,
    ) -> Result<(), RetryRecord> {
        let tenant = change.key.tenant();
        // Whatever the config says: the import needs to find the link.
        if let Some(entra_id) = change.link_set() {
            match directory.record_link(&change.key, entra_id).await {
                Ok(()) => {}
                Err(err) if err.is_retryable() => return Err(RetryRecord::Link(err)),
                Err(err) => {
                    tracing::error!(error = %err, entra_id, "the Entra link cannot be recorded")
                }
            }
        }
        let Some(config) = self.config_of(tenant).await? else {
            tracing::info!("no Entra ID integration for this tenant; change not exported");
            return Ok(());
        };
        if !config.is_authorised() {
            tracing::warn!(item = ?change.key, action = ?change.action, "the tenant's integration is not authorised; this change is not exported");
            return Ok(());
        }
        let writer = self.writers.for_tenant(tenant);
        let run = ExportRun::new(directory, &writer, &config);
        if let Some(domains) = self.domains.fresh(tenant) {
            let _ = run.domains.set(domains);
        }
        let result = run.apply(change, now).await;
        if let Some(domains) = run.domains.get() {
            self.domains.remember(tenant, domains.clone());
        }
        settle(change, result)
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

/// Logs what became of the change; a failure that may pass is retried.
fn settle(
    change: &DirectoryChange,
    result: Result<ExportOutcome, ExportFailure>,
) -> Result<(), RetryRecord> {
    match result {
        Ok(ExportOutcome::Exported(what)) => {
            tracing::info!(item = ?change.key, what, "exported");
            Ok(())
        }
        Ok(ExportOutcome::Ignored(why)) => {
            tracing::debug!(why, "not exported");
            Ok(())
        }
        Err(failure) if failure.is_retryable() => Err(RetryRecord::Export(failure)),
        Err(failure) => {
            tracing::error!(item = ?change.key, reason = %failure, "this change cannot be exported; skipped");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ChangeImages;
    use serde_json::{Map, Value, json};

    fn change(tenant: &str, sk: &str) -> DirectoryChange {
        let upn = format!("{}@contoso.com", sk.to_lowercase().replace('#', "."));
        named(tenant, sk, &upn)
    }

    fn named(tenant: &str, sk: &str, upn: &str) -> DirectoryChange {
        let keys: Map<String, Value> = json!({"pk": format!("TENANT#{tenant}"), "sk": sk})
            .as_object()
            .unwrap()
            .clone();
        let (group, user) = sk
            .strip_prefix("MEMBER#")
            .and_then(|m| m.split_once('#'))
            .unwrap_or(("", ""));
        let new = json!({"user_id": sk.strip_prefix("USER#").unwrap_or(user), "group_id": sk.strip_prefix("GROUP#").unwrap_or(group), "user_name": upn, "name": "G", "source": "local"});
        DirectoryChange::parse(
            "INSERT",
            &keys,
            Map::new(),
            new.as_object().unwrap().clone(),
            "1".into(),
            None,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn unrelated_objects_get_lanes_and_a_membership_joins_its_user_and_group() {
        let changes = vec![
            change("acme", "USER#u1"),      // 0
            change("acme", "USER#u2"),      // 1
            change("acme", "GROUP#g1"),     // 2
            change("acme", "USER#u1"),      // 3: u1 again
            change("acme", "MEMBER#g1#u3"), // 4: joins g1 and u3
            change("acme", "USER#u3"),      // 5
            change("other", "USER#u2"),     // 6: another tenant's u2
            change("acme", "MEMBER#g2#u2"), // 7: joins g2 and u2
        ];
        assert_eq!(
            lanes(&changes),
            vec![vec![0, 3], vec![1, 7], vec![2, 4, 5], vec![6]]
        );
    }

    #[test]
    fn a_user_taking_the_upn_another_frees_waits_for_it() {
        let mut freed = named("acme", "USER#u1", "a@contoso.com");
        if let ChangeImages::User(images) = &mut freed.images {
            images.old = images.new.clone();
            images.new = None;
        }
        freed.action = crate::export::ChangeAction::Removed;
        let changes = vec![
            freed,                                     // 0: u1 (a@contoso.com) deleted
            named("acme", "USER#u2", "A@contoso.com"), // 1: u2 takes it
            change("acme", "USER#u3"),                 // 2: unrelated
            named("acme", "USER#u4", "a@Contoso.com"), // 3: the same UPN again
        ];
        assert_eq!(lanes(&changes), vec![vec![0, 1, 3], vec![2]]);
    }

    #[test]
    fn a_membership_that_links_two_lanes_merges_them_in_order() {
        let changes = vec![
            change("acme", "USER#u1"),      // 0
            change("acme", "GROUP#g1"),     // 1
            change("acme", "MEMBER#g1#u1"), // 2: u1's lane and g1's become one
            change("acme", "USER#u1"),      // 3
        ];
        assert_eq!(lanes(&changes), vec![vec![0, 1, 2, 3]]);
    }
}
