//! The worker's side of the switch to application mode (docs/behaviour.md
//! 2.12): Graph subscriptions and the tenant's secret, for the engine in
//! `entra_sync::auth_switch`.

use entra_sync::auth_switch::{SwitchError, SwitchSteps};
use entra_sync::authorisation::TokenStore;
use entra_sync::graph::subscriptions::GraphSubscriptions;
use entra_sync::import::RunOutcome;
use entra_sync::model::{EntraTenantId, TenantConfig, TenantId};
use entra_sync::ports::StoreError;
use entra_sync::realtime::{self, KeptSubscriptions, RESOURCES, RealtimeKeeper};
use entra_sync::tokens::GrantStore;

use crate::job::AfterSync;

/// The engine's steps after one run with this outcome.
pub struct WorkerSwitchSteps<'a> {
    pub after: &'a AfterSync<'a>,
    pub outcome: &'a RunOutcome,
}

impl SwitchSteps for WorkerSwitchSteps<'_> {
    async fn delete_delegated_subscriptions(
        &self,
        config: &TenantConfig,
    ) -> Result<(), SwitchError> {
        let worker = self.after.worker;
        let Some(entra_tenant_id) = &config.entra_tenant_id else {
            return Ok(());
        };
        let tokens = worker.tokens.for_config(config);
        let graph = entra_sync::graph::of_cloud(&worker.graph, config.cloud);
        let api = GraphSubscriptions::new(graph, tokens, Some(self.after.deadline.at));
        let keeper = RealtimeKeeper {
            api: &api,
            kept: &worker.subscriptions,
            // Any of ours, whether or not this tenant wants notifications now.
            notification_url: worker.notification_url.as_deref().unwrap_or_default(),
        };
        Box::pin(keeper.delete_all(entra_tenant_id.as_str(), chrono::Utc::now()))
            .await
            .map_err(|err| SwitchError::Subscriptions(err.to_string()))
    }

    async fn keep_subscriptions(&self, config: &TenantConfig) {
        self.after.keep_subscriptions(config, self.outcome).await;
    }

    /// Both are kept for the tenant, or it wants none.
    async fn subscriptions_settled(&self, config: &TenantConfig) -> Result<bool, StoreError> {
        let worker = self.after.worker;
        let wanted = realtime::wanted(config, worker.notification_url.as_deref());
        let (Some(_), Some(entra_tenant_id)) = (wanted, &config.entra_tenant_id) else {
            return Ok(true);
        };
        for resource in RESOURCES {
            let kept = worker
                .subscriptions
                .kept(entra_tenant_id.as_str(), resource)
                .await?;
            if !kept.is_some_and(|k| k.record.am_tenants.contains(&config.tenant_id)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn delegated_grant_tenant(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<EntraTenantId>, StoreError> {
        let grant = self.after.worker.tenant_secrets.load_grant(tenant).await?;
        Ok(grant.map(|g| g.entra_tenant_id))
    }

    async fn delete_delegated_grant(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.after
            .worker
            .tenant_secrets
            .delete_tenant_tokens(tenant)
            .await
    }
}
