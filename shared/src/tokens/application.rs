//! Access tokens of tenants in application mode (DESIGN 2.12): client
//! credentials for the config's Entra tenant, no per-tenant secret, cached
//! in memory across warm invocations until shortly before expiry: one
//! token request per token lifetime per tenant; a refusal, for a minute.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::EXPIRY_MARGIN;
use crate::model::entra::{PermissionCheck, ReauthorisationReason, TokenError};
use crate::model::identity::{AppToken, IdentityError, REQUIRED_APP_ROLES};
use crate::model::{EntraTenantId, TenantId};
use crate::ports::{AccessTokenSource, StoreError};

/// After a 403, a fresh token re-reads the app's roles at most this often
/// per tenant: a run of refusals costs one token request, not one each,
/// and a renewed consent is seen within this long.
pub const PERMISSION_RECHECK_INTERVAL: Duration = Duration::from_secs(300);

/// A refused client-credentials request (700016, 7000112, `invalid_client`
/// after the secret was read again, a 5xx) is answered from memory for
/// this long: a burst of jobs in one process then makes one token request,
/// not one each, and a fix is still seen within a minute.
pub const REFUSAL_MEMORY: Duration = Duration::from_secs(60);

/// The token endpoint's client-credentials grant (`identity::EntraApp` in
/// Lambda).
pub trait AppCredentials: Send + Sync {
    /// The app registration the tokens are issued to (one per cloud): a
    /// token cached for one is never handed out for another.
    fn client_id(&self) -> &str;

    fn client_credentials(
        &self,
        entra_tenant_id: &str,
    ) -> impl Future<Output = Result<AppToken, IdentityError>> + Send;
}

/// Where a permission check is kept: the config's `granted_permissions`,
/// `missing_permissions` and `permissions_checked_at` (DESIGN 1.3).
pub trait PermissionRecords: Send + Sync {
    fn record_permission_check(
        &self,
        tenant: &TenantId,
        check: &PermissionCheck,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Clone)]
struct CachedAppToken {
    /// The config's tenant it was issued for: a changed config asks anew.
    entra_tenant_id: EntraTenantId,
    /// The app (so the cloud) it was issued to: likewise.
    client_id: String,
    access_token: SecretString,
    expires_at: Instant,
    roles: Option<Vec<String>>,
    /// When a permission check asked for it.
    checked_at: Option<Instant>,
}

/// The token endpoint's last refusal for a tenant (`REFUSAL_MEMORY`).
struct RememberedRefusal {
    entra_tenant_id: EntraTenantId,
    client_id: String,
    error: TokenError,
    until: Instant,
}

/// Whether the token endpoint itself answered with the refusal: a request
/// that never reached it (the network, the app's secret unreadable) is
/// asked again by the next caller.
fn is_token_endpoint_answer(err: &IdentityError) -> bool {
    matches!(
        err,
        IdentityError::Rejected(_) | IdentityError::UnreadableResponse
    )
}

impl CachedAppToken {
    fn is_fresh(&self, now: Instant) -> bool {
        self.expires_at > now + EXPIRY_MARGIN
    }

    fn checked_recently(&self, now: Instant) -> bool {
        self.checked_at
            .is_some_and(|at| now < at + PERMISSION_RECHECK_INTERVAL)
    }
}

/// The required roles against those a token carries; `None` when the
/// token's roles cannot be read.
fn permission_check(roles: Option<&Vec<String>>) -> Option<PermissionCheck> {
    let granted = roles?.clone();
    let missing = REQUIRED_APP_ROLES
        .iter()
        .filter(|role| !granted.iter().any(|g| g == *role))
        .map(|role| (*role).to_owned())
        .collect();
    Some(PermissionCheck { granted, missing })
}

/// Process-wide: built once in `main`, shared by every invocation.
pub struct AppTokenProvider<R> {
    records: R,
    cache: Mutex<HashMap<TenantId, CachedAppToken>>,
    refusals: Mutex<HashMap<TenantId, RememberedRefusal>>,
    /// One token request at a time per tenant: concurrent callers that all
    /// find the token stale take the first one's.
    fetching: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
}

impl<R: PermissionRecords> AppTokenProvider<R> {
    pub fn new(records: R) -> Self {
        Self {
            records,
            cache: Mutex::default(),
            refusals: Mutex::default(),
            fetching: Mutex::default(),
        }
    }

    /// Forgets a tenant's cached token (its access ended).
    pub fn forget(&self, tenant: &TenantId) {
        self.cache.lock().expect("app token cache").remove(tenant);
    }

    fn cached(
        &self,
        app: &impl AppCredentials,
        tenant: &TenantId,
        entra: &EntraTenantId,
    ) -> Option<CachedAppToken> {
        let cache = self.cache.lock().expect("app token cache");
        cache
            .get(tenant)
            .filter(|cached| {
                &cached.entra_tenant_id == entra && cached.client_id == app.client_id()
            })
            .cloned()
    }

    fn fetch_lock(&self, tenant: &TenantId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.fetching.lock().expect("app token locks");
        locks.entry(tenant.clone()).or_default().clone()
    }

    /// The tenant's access token: the cached one while fresh; a new one
    /// when none is, or after a 401 (`force_refresh`) unless another
    /// caller got a new one meanwhile.
    pub async fn access_token(
        &self,
        app: &impl AppCredentials,
        tenant: &TenantId,
        entra: &EntraTenantId,
        force_refresh: bool,
    ) -> Result<SecretString, TokenError> {
        let seen = self.cached(app, tenant, entra);
        if let Some(cached) = &seen
            && !force_refresh
            && cached.is_fresh(Instant::now())
        {
            return Ok(cached.access_token.clone());
        }
        let lock = self.fetch_lock(tenant);
        let _fetching = lock.lock().await;
        if let Some(latest) = self.cached(app, tenant, entra)
            && latest.is_fresh(Instant::now())
            && (!force_refresh
                || seen.as_ref().is_none_or(|s| {
                    s.access_token.expose_secret() != latest.access_token.expose_secret()
                }))
        {
            return Ok(latest.access_token);
        }
        Ok(self.fetch(app, tenant, entra, None).await?.access_token)
    }

    /// Asks the token endpoint and caches the answer, a refusal for
    /// `REFUSAL_MEMORY`. A refusal that only the organisation's
    /// administrator can lift forgets the tenant's token.
    async fn fetch(
        &self,
        app: &impl AppCredentials,
        tenant: &TenantId,
        entra: &EntraTenantId,
        checked_at: Option<Instant>,
    ) -> Result<CachedAppToken, TokenError> {
        if let Some(refused) = self.remembered_refusal(app, tenant, entra) {
            return Err(refused);
        }
        let token = match app.client_credentials(entra.as_str()).await {
            Ok(token) => token,
            Err(err) => {
                let remember = is_token_endpoint_answer(&err);
                let refused = self.refused(tenant, err);
                if remember {
                    self.remember_refusal(app, tenant, entra, &refused);
                }
                return Err(refused);
            }
        };
        self.refusals
            .lock()
            .expect("app token refusals")
            .remove(tenant);
        let cached = CachedAppToken {
            entra_tenant_id: entra.clone(),
            client_id: app.client_id().to_owned(),
            expires_at: Instant::now() + token.expires_in,
            access_token: token.access_token,
            roles: token.roles,
            checked_at,
        };
        let mut cache = self.cache.lock().expect("app token cache");
        cache.insert(tenant.clone(), cached.clone());
        Ok(cached)
    }

    fn remembered_refusal(
        &self,
        app: &impl AppCredentials,
        tenant: &TenantId,
        entra: &EntraTenantId,
    ) -> Option<TokenError> {
        let refusals = self.refusals.lock().expect("app token refusals");
        refusals
            .get(tenant)
            .filter(|r| {
                &r.entra_tenant_id == entra
                    && r.client_id == app.client_id()
                    && Instant::now() < r.until
            })
            .map(|r| r.error.clone())
    }

    fn remember_refusal(
        &self,
        app: &impl AppCredentials,
        tenant: &TenantId,
        entra: &EntraTenantId,
        error: &TokenError,
    ) {
        let refusal = RememberedRefusal {
            entra_tenant_id: entra.clone(),
            client_id: app.client_id().to_owned(),
            error: error.clone(),
            until: Instant::now() + REFUSAL_MEMORY,
        };
        let mut refusals = self.refusals.lock().expect("app token refusals");
        refusals.insert(tenant.clone(), refusal);
    }

    fn refused(&self, tenant: &TenantId, err: IdentityError) -> TokenError {
        let reason = if err.is_app_not_installed() {
            ReauthorisationReason::ConsentRevoked
        } else if err.is_app_disabled() {
            ReauthorisationReason::AppDisabled
        } else {
            // A 5xx, the network, a refused client secret: not the tenant's doing.
            return TokenError::Unavailable(err.to_string());
        };
        tracing::warn!(tenant_id = %tenant, error = %err, "the tenant no longer admits the app");
        self.forget(tenant);
        TokenError::AppAccessEnded(reason)
    }

    /// After a 403: the roles of a token asked for now (bypassing the
    /// cache), recorded on the config; within `PERMISSION_RECHECK_INTERVAL`
    /// of the last check, that check's token answers.
    pub async fn permission_check(
        &self,
        app: &impl AppCredentials,
        tenant: &TenantId,
        entra: &EntraTenantId,
    ) -> Result<Option<PermissionCheck>, TokenError> {
        let lock = self.fetch_lock(tenant);
        let _fetching = lock.lock().await;
        let now = Instant::now();
        if let Some(recent) = self.cached(app, tenant, entra)
            && recent.checked_recently(now)
            && recent.is_fresh(now)
        {
            return Ok(permission_check(recent.roles.as_ref()));
        }
        let fresh = self.fetch(app, tenant, entra, Some(now)).await?;
        let check = permission_check(fresh.roles.as_ref());
        if let Some(check) = &check {
            if !check.missing.is_empty() {
                tracing::warn!(tenant_id = %tenant, missing = %check.missing.join(", "), "the app lacks required application permissions");
            }
            if let Err(err) = self
                .records
                .record_permission_check(tenant, check, Utc::now())
                .await
            {
                tracing::warn!(tenant_id = %tenant, error = %err, "could not record the permission check");
            }
        }
        Ok(check)
    }
}

/// One application-mode tenant's view of the provider: what the Graph
/// client asks. `entra_tenant_id` is the config's; none = not authorised.
pub struct AppTenantTokenSource<'a, A, R> {
    pub(super) app: &'a A,
    pub(super) provider: &'a AppTokenProvider<R>,
    pub(super) tenant: TenantId,
    pub(super) entra_tenant_id: Option<EntraTenantId>,
}

impl<A: AppCredentials, R: PermissionRecords> AccessTokenSource for AppTenantTokenSource<'_, A, R> {
    async fn access_token(&self, force_refresh: bool) -> Result<SecretString, TokenError> {
        let entra = self
            .entra_tenant_id
            .as_ref()
            .ok_or(TokenError::NotAuthorised)?;
        self.provider
            .access_token(self.app, &self.tenant, entra, force_refresh)
            .await
    }

    async fn permission_check(&self) -> Result<Option<PermissionCheck>, TokenError> {
        let entra = self
            .entra_tenant_id
            .as_ref()
            .ok_or(TokenError::NotAuthorised)?;
        self.provider
            .permission_check(self.app, &self.tenant, entra)
            .await
    }
}

#[cfg(test)]
mod tests;
