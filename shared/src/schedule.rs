//! The scheduler's work (docs/behaviour.md 2.2): every tick, one sync job for each
//! tenant whose config is `sync_enabled` and `authorised`, for each
//! authorised tenant with a preview requested (2.9, even with sync off),
//! and for each tenant still holding Graph subscriptions (the worker
//! releases them).

use std::future::Future;

use crate::model::TenantId;
use crate::ports::StoreError;

/// What the scheduler reads of each tenant config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSummary {
    pub tenant_id: TenantId,
    pub sync_enabled: bool,
    pub authorised: bool,
    /// `preview_requested_at` is set.
    pub preview_requested: bool,
    /// The tenant has Graph subscriptions (`ENTRA#REALTIME`): enqueued even
    /// when not syncing, until the worker has released them.
    pub holds_subscriptions: bool,
}

/// A config item the scheduler cannot read: which one, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{item}: {problem}")]
pub struct UnreadableConfig {
    /// The item's `pk`.
    pub item: String,
    pub problem: String,
}

pub trait ConfigIndex: Send + Sync {
    /// Every tenant config; entries that cannot be read are reported, not dropped.
    fn config_summaries(
        &self,
    ) -> impl Future<Output = Result<Vec<Result<ConfigSummary, UnreadableConfig>>, StoreError>> + Send;
}

pub trait SyncQueue: Send + Sync {
    /// Enqueues one job per tenant; returns the tenants that failed, with why.
    fn enqueue(
        &self,
        tenants: &[TenantId],
    ) -> impl Future<Output = Result<Vec<(TenantId, String)>, StoreError>> + Send;
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScheduleReport {
    pub enqueued: usize,
    pub skipped: usize,
    pub unreadable: usize,
    pub failed: Vec<(TenantId, String)>,
}

pub async fn schedule(
    index: &impl ConfigIndex,
    queue: &impl SyncQueue,
) -> Result<ScheduleReport, StoreError> {
    let mut report = ScheduleReport::default();
    let mut due = Vec::new();
    for summary in index.config_summaries().await? {
        match summary {
            Ok(s)
                if (s.authorised && (s.sync_enabled || s.preview_requested))
                    || s.holds_subscriptions =>
            {
                due.push(s.tenant_id)
            }
            Ok(_) => report.skipped += 1,
            Err(reason) => {
                tracing::warn!(reason = %reason, "a tenant config could not be read; not scheduled");
                report.unreadable += 1;
            }
        }
    }
    if !due.is_empty() {
        report.failed = queue.enqueue(&due).await?;
    }
    report.enqueued = due.len() - report.failed.len();
    for (tenant, reason) in &report.failed {
        tracing::error!(tenant_id = %tenant, reason = %reason, "could not enqueue the tenant's sync");
    }
    Ok(report)
}

/// The body of a sync job message: `{"tenant_id": "..."}`.
pub fn job_body(tenant: &TenantId) -> String {
    serde_json::json!({ "tenant_id": tenant.as_str() }).to_string()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error("the message body is not JSON")]
    NotJson,
    #[error("the message has no string `tenant_id`")]
    NoTenantId,
    #[error("the message's tenant_id is invalid: {0}")]
    BadTenantId(String),
}

/// Parses a sync job message body.
pub fn parse_job(body: &str) -> Result<TenantId, JobError> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|_| JobError::NotJson)?;
    let raw = value
        .get("tenant_id")
        .and_then(|v| v.as_str())
        .ok_or(JobError::NoTenantId)?;
    TenantId::parse(raw).map_err(|e| JobError::BadTenantId(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Configs(Vec<Result<ConfigSummary, UnreadableConfig>>);
    impl ConfigIndex for Configs {
        async fn config_summaries(
            &self,
        ) -> Result<Vec<Result<ConfigSummary, UnreadableConfig>>, StoreError> {
            Ok(self.0.clone())
        }
    }
    #[derive(Default)]
    struct Queue(Mutex<Vec<TenantId>>);

    impl Queue {
        fn ids(&self) -> Vec<String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|t| t.to_string())
                .collect()
        }
    }
    impl SyncQueue for Queue {
        async fn enqueue(
            &self,
            tenants: &[TenantId],
        ) -> Result<Vec<(TenantId, String)>, StoreError> {
            self.0.lock().unwrap().extend(tenants.iter().cloned());
            Ok(Vec::new())
        }
    }

    fn summary(
        id: &str,
        enabled: bool,
        authorised: bool,
    ) -> Result<ConfigSummary, UnreadableConfig> {
        Ok(ConfigSummary {
            tenant_id: TenantId::parse(id).unwrap(),
            sync_enabled: enabled,
            authorised,
            preview_requested: false,
            holds_subscriptions: false,
        })
    }

    #[tokio::test]
    async fn only_enabled_and_authorised_tenants_are_enqueued() {
        let configs = Configs(vec![
            summary("a", true, true),
            summary("b", false, true),
            summary("c", true, false),
            Err(UnreadableConfig {
                item: "TENANT#d".into(),
                problem: "tenant_id missing".into(),
            }),
            summary("e", true, true),
        ]);
        let queue = Queue::default();
        let report = schedule(&configs, &queue).await.unwrap();
        assert_eq!(
            report,
            ScheduleReport {
                enqueued: 2,
                skipped: 2,
                unreadable: 1,
                failed: vec![]
            }
        );
        let ids: Vec<_> = queue
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(ids, ["a", "e"]);
    }

    #[tokio::test]
    async fn tenants_holding_subscriptions_are_enqueued_until_released() {
        let holding = |id: &str, enabled: bool, authorised: bool| {
            summary(id, enabled, authorised).map(|s| ConfigSummary {
                holds_subscriptions: true,
                ..s
            })
        };
        let configs = Configs(vec![
            holding("off", false, true),
            holding("lost", true, false),
            summary("idle", false, true),
        ]);
        let queue = Queue::default();
        let report = schedule(&configs, &queue).await.unwrap();
        assert_eq!((report.enqueued, report.skipped), (2, 1));
        let ids = queue.ids();
        assert_eq!(ids, ["off", "lost"]);
    }

    #[tokio::test]
    async fn authorised_tenants_asking_for_a_preview_are_enqueued_even_with_sync_off() {
        let previewing = |id: &str, enabled: bool, authorised: bool| {
            summary(id, enabled, authorised).map(|s| ConfigSummary {
                preview_requested: true,
                ..s
            })
        };
        let configs = Configs(vec![
            previewing("off", false, true),
            previewing("on", true, true),
            previewing("unauthorised", false, false),
            summary("idle", false, true),
        ]);
        let queue = Queue::default();
        let report = schedule(&configs, &queue).await.unwrap();
        assert_eq!((report.enqueued, report.skipped), (2, 2));
        let ids = queue.ids();
        // One message per tenant, also when it both syncs and previews.
        assert_eq!(ids, ["off", "on"]);
    }

    #[test]
    fn job_messages_round_trip_and_bad_ones_say_why() {
        let tenant = TenantId::parse("acme").unwrap();
        assert_eq!(parse_job(&job_body(&tenant)).unwrap(), tenant);
        assert_eq!(parse_job("not json"), Err(JobError::NotJson));
        assert_eq!(parse_job(r#"{"tenant":"acme"}"#), Err(JobError::NoTenantId));
        assert!(matches!(
            parse_job(r#"{"tenant_id":"a/b"}"#),
            Err(JobError::BadTenantId(_))
        ));
    }
}
