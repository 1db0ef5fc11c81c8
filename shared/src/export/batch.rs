//! A stream batch's changes exported one by one, for any tenants: each
//! tenant's config read once per batch, the authorised gate, and the
//! tenant's domains from the process-wide cache. The handler only parses
//! records and reports where the stream should resume.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tracing::Instrument;

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
    #[error(transparent)]
    Export(ExportFailure),
}

pub struct ExportBatch<'a, C, D, T> {
    configs: &'a C,
    directory: &'a D,
    writers: &'a T,
    domains: &'a TenantDomains,
    /// Configs read in this batch (`None`: no usable integration).
    tenants: HashMap<TenantId, Option<TenantConfig>>,
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
            tenants: HashMap::new(),
        }
    }

    /// Exports one change, its log lines in a span naming the tenant and
    /// the record; `Err` when the record should be delivered again.
    pub async fn export(
        &mut self,
        change: &DirectoryChange,
        now: DateTime<Utc>,
    ) -> Result<(), RetryRecord> {
        let span = tracing::info_span!(
            "stream_record",
            tenant_id = %change.key.tenant(),
            sequence_number = %change.sequence_number
        );
        self.export_in_span(change, now).instrument(span).await
    }

    async fn export_in_span(
        &mut self,
        change: &DirectoryChange,
        now: DateTime<Utc>,
    ) -> Result<(), RetryRecord> {
        let tenant = change.key.tenant();
        let Some(config) = self.config_of(tenant).await? else {
            tracing::info!("no Entra ID integration for this tenant; change not exported");
            return Ok(());
        };
        if !config.is_authorised() {
            tracing::warn!(item = ?change.key, action = ?change.action, "the tenant's integration is not authorised; this change is not exported");
            return Ok(());
        }
        let writer = self.writers.for_tenant(tenant);
        let run = ExportRun::new(self.directory, &writer, &config);
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
    async fn config_of(&mut self, tenant: &TenantId) -> Result<Option<TenantConfig>, RetryRecord> {
        if let Some(known) = self.tenants.get(tenant) {
            return Ok(known.clone());
        }
        let config = match self.configs.tenant_config(tenant).await {
            Ok(config) => config,
            Err(err) if err.is_retryable() => return Err(RetryRecord::Config(err)),
            Err(err) => {
                tracing::error!(error = %err, "the tenant config is unusable; its changes are not exported");
                None
            }
        };
        self.tenants.insert(tenant.clone(), config.clone());
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
