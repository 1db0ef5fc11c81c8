//! Tenants authorised before DESIGN 2.12 (a delegated grant) switched to
//! application mode without a sign-in, once client credentials for their
//! Entra tenant carry every required role (docs/behaviour.md 2.12). The
//! tenant binding was proven by that earlier sign-in's id token.
//!
//! After each completed run of a delegated tenant whose last check is a day
//! old: the check (one token request); with every role, the switch, in an
//! order that can stop anywhere and be resumed by the next run:
//! 1. a marker item says a switch is under way (its secret is to go);
//! 2. the Entra tenant's subscriptions are deleted with the delegated token
//!    (a second one for the same resource would get 409, and an app-only
//!    list may not show the delegated ones);
//! 3. the config becomes `application` by a conditional write (only if still
//!    delegated, authorised, for the same Entra tenant);
//! 4. the subscriptions are kept as always, now with app tokens;
//! 5. once they are, the delegated grant's secret and the marker go.
//!
//! The delta links are not touched: what changed while no subscription
//! listened arrives with the next delta poll. Free of AWS and HTTP types.

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::entra::PermissionCheck;
use crate::model::identity::REQUIRED_APP_ROLES;
use crate::model::{AuthMode, EntraTenantId, TenantConfig, TenantId};
use crate::ports::StoreError;
use crate::tokens::{AppCredentials, PermissionRecords};

/// A delegated tenant's roles are checked at most this often.
pub const CHECK_EVERY: TimeDelta = TimeDelta::hours(24);
/// A switch that stopped on an error is tried again this much later (not
/// at every run: a step that keeps failing would otherwise ask a token
/// and churn the subscriptions every three minutes).
pub const RETRY_FAILED_SWITCH_AFTER: TimeDelta = TimeDelta::hours(1);

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Deleting the delegated subscriptions failed: nothing was switched.
    #[error("the delegated subscriptions could not be deleted: {0}")]
    Subscriptions(String),
}

/// Whether a delegated tenant's roles are due to be checked: authorised,
/// with a known Entra tenant (delegated grants are global ones), last
/// checked a day ago or never.
pub fn check_due(config: &TenantConfig, now: DateTime<Utc>) -> bool {
    config.auth_mode == AuthMode::Delegated
        && config.cloud == crate::model::Cloud::Global
        && config.is_authorised()
        && config.entra_tenant_id.is_some()
        && config
            .permissions_checked_at
            .is_none_or(|at| now - at >= CHECK_EVERY)
}

/// The config's check attributes and the switch's own marker item.
pub trait SwitchRecords: PermissionRecords {
    /// Only `permissions_checked_at`: a check that learned nothing.
    fn record_check_attempt(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The marker: the tenant's delegated grant is to be deleted.
    fn begin_switch(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &EntraTenantId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn switch_pending(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// `auth_mode = application` with the check's roles, only while the
    /// config is delegated and authorised for `entra_tenant_id`; false when
    /// it no longer is.
    fn switch_to_application(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &EntraTenantId,
        check: &PermissionCheck,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes the marker.
    fn finish_switch(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What the switch does beside its records: the worker's Graph
/// subscriptions and the tenant's secret.
pub trait SwitchSteps: Send + Sync {
    /// Deletes the Entra tenant's subscriptions with the delegated token
    /// of `config` (gone counts as deleted).
    fn delete_delegated_subscriptions(
        &self,
        config: &TenantConfig,
    ) -> impl Future<Output = Result<(), SwitchError>> + Send;

    /// Keeps the subscriptions as after any run, with `config`'s tokens.
    fn keep_subscriptions(&self, config: &TenantConfig) -> impl Future<Output = ()> + Send;

    /// The subscriptions are in place (or not wanted) after a completed run.
    fn subscriptions_settled(
        &self,
        config: &TenantConfig,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The Entra tenant the delegated grant was issued for (its sign-in's
    /// id token proved it); `None` without a grant.
    fn delegated_grant_tenant(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<EntraTenantId>, StoreError>> + Send;

    /// Deletes the tenant's delegated grant (none counts as deleted).
    fn delete_delegated_grant(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Process-wide: application tenants known to have no switch to finish
/// (a marker is only written while a tenant is delegated), so the marker is
/// read once per tenant per warm process.
#[derive(Debug, Default)]
pub struct SwitchesSettled(Mutex<HashSet<TenantId>>);

impl SwitchesSettled {
    fn contains(&self, tenant: &TenantId) -> bool {
        self.0.lock().expect("settled switches").contains(tenant)
    }

    fn insert(&self, tenant: &TenantId) {
        self.0
            .lock()
            .expect("settled switches")
            .insert(tenant.clone());
    }
}

/// What became of the tenant's auth mode after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchOutcome {
    /// Nothing was due.
    Unchanged,
    /// Checked: roles are missing (recorded); it stays delegated.
    KeptDelegated { missing: Vec<String> },
    /// Checked without an answer (recorded); it stays delegated.
    CheckFailed,
    /// The config changed meanwhile (re-authorised, another Entra tenant).
    Superseded,
    /// Application mode; the old secret goes once the subscriptions are kept.
    SwitchedSecretPending,
    /// Application mode and the delegated grant is gone.
    Switched,
}

impl SwitchOutcome {
    /// The config as the run's last steps should use it: in application
    /// mode once switched.
    pub fn config_after<'c>(&self, config: &'c TenantConfig) -> std::borrow::Cow<'c, TenantConfig> {
        match self {
            Self::SwitchedSecretPending | Self::Switched => {
                std::borrow::Cow::Owned(switched(config))
            }
            _ => std::borrow::Cow::Borrowed(config),
        }
    }
}

fn switched(config: &TenantConfig) -> TenantConfig {
    TenantConfig {
        auth_mode: AuthMode::Application,
        authorised_entra_tenant_id: config.entra_tenant_id.clone(),
        authorised_cloud: Some(crate::model::Cloud::Global),
        ..config.clone()
    }
}

pub struct AuthSwitch<'a, A, R, S> {
    pub app: &'a A,
    pub records: &'a R,
    pub steps: &'a S,
    pub settled: &'a SwitchesSettled,
}

impl<A: AppCredentials, R: SwitchRecords, S: SwitchSteps> AuthSwitch<'_, A, R, S> {
    /// After a run: the check and switch when due (completed runs only),
    /// the subscriptions kept with the tokens of the config as it is then,
    /// and a switch's last step once they are.
    pub async fn after_run(
        &self,
        config: &TenantConfig,
        completed: bool,
        now: DateTime<Utc>,
    ) -> SwitchOutcome {
        let mut outcome = SwitchOutcome::Unchanged;
        let mut current = std::borrow::Cow::Borrowed(config);
        if completed && check_due(config, now) {
            outcome = match self.check_and_switch(config, now).await {
                Ok(outcome) => outcome,
                Err(err) => {
                    tracing::warn!(tenant_id = %config.tenant_id, error = %err, "the switch to application mode stopped; it is tried again in an hour");
                    self.back_off(config, now).await;
                    SwitchOutcome::Unchanged
                }
            };
            if outcome == SwitchOutcome::SwitchedSecretPending {
                current = std::borrow::Cow::Owned(switched(config));
            }
        }
        self.steps.keep_subscriptions(&current).await;
        if completed && current.auth_mode == AuthMode::Application {
            match self.finish_pending(&current).await {
                Ok(true) => outcome = SwitchOutcome::Switched,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(tenant_id = %config.tenant_id, error = %err, "the delegated grant could not be deleted yet; the next run tries again");
                }
            }
        }
        outcome
    }

    /// Makes the check due again `RETRY_FAILED_SWITCH_AFTER` from now.
    async fn back_off(&self, config: &TenantConfig, now: DateTime<Utc>) {
        let as_if_checked = now - (CHECK_EVERY - RETRY_FAILED_SWITCH_AFTER);
        if let Err(err) = self
            .records
            .record_check_attempt(&config.tenant_id, as_if_checked)
            .await
        {
            tracing::warn!(tenant_id = %config.tenant_id, error = %err, "could not note the failed switch; the next run tries again");
        }
    }

    /// The check; with every role, steps 1–3 of the switch.
    pub async fn check_and_switch(
        &self,
        config: &TenantConfig,
        now: DateTime<Utc>,
    ) -> Result<SwitchOutcome, SwitchError> {
        let (tenant, Some(entra)) = (&config.tenant_id, &config.entra_tenant_id) else {
            return Ok(SwitchOutcome::Unchanged);
        };
        // Only the organisation the delegated sign-in proved: the app's
        // token works in every organisation that consented to the app, and
        // the platform may have written another Tenant ID since.
        let proven = self.steps.delegated_grant_tenant(tenant).await?;
        if proven.as_ref() != Some(entra) {
            tracing::warn!(tenant_id = %tenant, "the Tenant ID is not the organisation of the delegated grant; no switch");
            return Ok(SwitchOutcome::Unchanged);
        }
        let check = match self.check(tenant, entra, now).await? {
            Ok(check) => check,
            Err(outcome) => return Ok(outcome),
        };
        self.records.begin_switch(tenant, entra, now).await?;
        self.steps.delete_delegated_subscriptions(config).await?;
        if !self
            .records
            .switch_to_application(tenant, entra, &check, now)
            .await?
        {
            tracing::info!(tenant_id = %tenant, "the config changed before the switch; left as it is");
            // No switch is under way any more: its marker goes.
            self.records.finish_switch(tenant).await?;
            return Ok(SwitchOutcome::Superseded);
        }
        tracing::info!(tenant_id = %tenant, "switched to application mode");
        Ok(SwitchOutcome::SwitchedSecretPending)
    }

    /// Client credentials for the tenant: `Ok` with every required role
    /// granted; otherwise what is missing (or only the time) is recorded
    /// and the outcome says so.
    async fn check(
        &self,
        tenant: &TenantId,
        entra: &EntraTenantId,
        now: DateTime<Utc>,
    ) -> Result<Result<PermissionCheck, SwitchOutcome>, SwitchError> {
        let check = match self.app.client_credentials(entra.as_str()).await {
            Ok(token) => token.roles.clone().map(|granted| PermissionCheck {
                granted,
                missing: token.missing_roles(),
            }),
            // Never consented app-only (700016) or disabled: the delegated
            // grant is untouched; nothing is granted yet.
            Err(err) if err.is_app_not_installed() || err.is_app_disabled() => {
                Some(PermissionCheck {
                    granted: Vec::new(),
                    missing: REQUIRED_APP_ROLES.iter().map(|r| (*r).to_owned()).collect(),
                })
            }
            Err(err) => {
                tracing::warn!(tenant_id = %tenant, error = %err, "the app's roles could not be checked; tomorrow's run checks again");
                None
            }
        };
        match check {
            Some(check) if check.missing.is_empty() => Ok(Ok(check)),
            Some(check) => {
                tracing::info!(tenant_id = %tenant, missing = %check.missing.join(", "), "staying delegated: the app lacks application permissions");
                self.records
                    .record_permission_check(tenant, &check, now)
                    .await?;
                Ok(Err(SwitchOutcome::KeptDelegated {
                    missing: check.missing,
                }))
            }
            // No answer, or a token whose roles cannot be read.
            None => {
                self.records.record_check_attempt(tenant, now).await?;
                Ok(Err(SwitchOutcome::CheckFailed))
            }
        }
    }

    /// Step 5 for an application tenant with a marker, once its
    /// subscriptions are in place; true when it was done now.
    async fn finish_pending(&self, config: &TenantConfig) -> Result<bool, SwitchError> {
        let tenant = &config.tenant_id;
        if self.settled.contains(tenant) {
            return Ok(false);
        }
        if !self.records.switch_pending(tenant).await? {
            self.settled.insert(tenant);
            return Ok(false);
        }
        if !self.steps.subscriptions_settled(config).await? {
            return Ok(false);
        }
        self.steps.delete_delegated_grant(tenant).await?;
        self.records.finish_switch(tenant).await?;
        self.settled.insert(tenant);
        tracing::info!(tenant_id = %tenant, "the delegated grant of the switched tenant was deleted");
        Ok(true)
    }
}
