//! Access tokens per tenant for the Graph client. A delegated grant (here):
//! the stored grant from Secrets Manager, refreshed at the identity
//! platform, cached in memory across warm invocations until shortly before
//! expiry. Application mode: `application`. The config chooses: `by_mode`.

mod application;
mod by_mode;

pub use application::{
    AppCredentials, AppTenantTokenSource, AppTokenProvider, PERMISSION_RECHECK_INTERVAL,
    PermissionRecords,
};
pub use by_mode::{TenantTokenSourceByMode, TenantTokens};

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::model::entra::TokenError;
use crate::model::identity::{IdentityError, TokenGrant};
use crate::model::{EntraTenantId, TenantId};
use crate::ports::{AccessTokenSource, StoreError};

/// A rotated refresh token is written back at most this often: often enough
/// that the stored one never ages out (90 days), rarely enough that a run
/// does not write the secret.
pub const ROTATION_WRITE_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// An access token is renewed this long before it expires.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// The tenant's grant as stored (the secret's JSON).
#[derive(Debug, Clone)]
pub struct StoredGrant {
    pub entra_tenant_id: EntraTenantId,
    pub refresh_token: SecretString,
    pub scope: String,
    /// When the stored refresh token was written.
    pub stored_at: DateTime<Utc>,
    /// Which sign-in the grant came from (its `authorised_at`): a later
    /// authorisation replaces the whole grant.
    pub authorisation: Option<String>,
}

/// What became of a rotated refresh token's write-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationWrite {
    Written,
    /// The secret now holds a newer authorisation's grant: left alone.
    Superseded,
}

pub trait GrantStore: Send + Sync {
    fn load_grant(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<StoredGrant>, StoreError>> + Send;

    /// Writes a newer refresh token, keeping the rest of the secret, when
    /// the secret still holds the grant of `authorisation` (`None`: any).
    fn store_rotated_refresh_token(
        &self,
        tenant: &TenantId,
        refresh_token: &SecretString,
        at: DateTime<Utc>,
        authorisation: Option<&str>,
    ) -> impl Future<Output = Result<RotationWrite, StoreError>> + Send;
}

/// The identity platform's refresh-token grant, with the app's own
/// credential (`identity::EntraApp` in Lambda).
pub trait RefreshTokenGrant: Send + Sync {
    fn refresh(
        &self,
        entra_tenant_id: &str,
        refresh_token: &SecretString,
    ) -> impl Future<Output = Result<TokenGrant, IdentityError>> + Send;
}

#[derive(Clone)]
struct Cached {
    access_token: SecretString,
    expires_at: Instant,
    /// The newest refresh token and when the stored one was written.
    refresh_token: SecretString,
    stored_at: DateTime<Utc>,
    entra_tenant_id: EntraTenantId,
    authorisation: Option<String>,
}

impl Cached {
    /// Usable without a refresh: not within the margin of its expiry.
    fn is_fresh(&self, now: Instant) -> bool {
        self.expires_at > now + EXPIRY_MARGIN
    }
}

/// The refresh token a tenant's next access token comes from, from the
/// cache or, on a cold start, the stored grant.
struct CurrentGrant {
    refresh_token: SecretString,
    /// When the stored refresh token was written.
    stored_at: DateTime<Utc>,
    entra_tenant_id: EntraTenantId,
    authorisation: Option<String>,
}

impl From<Cached> for CurrentGrant {
    fn from(cached: Cached) -> Self {
        Self {
            refresh_token: cached.refresh_token,
            stored_at: cached.stored_at,
            entra_tenant_id: cached.entra_tenant_id,
            authorisation: cached.authorisation,
        }
    }
}

/// The grant with its newest refresh token.
fn current_with(
    refresh_token: SecretString,
    stored_at: DateTime<Utc>,
    current: CurrentGrant,
) -> CurrentGrant {
    CurrentGrant {
        refresh_token,
        stored_at,
        ..current
    }
}

/// Whether a rotated refresh token is due to replace the stored one.
fn rotation_write_due(stored_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - stored_at >= ROTATION_WRITE_INTERVAL
}

/// Process-wide: built once in `main`, shared by every invocation.
pub struct TokenProvider<A, G> {
    app: A,
    grants: G,
    cache: Mutex<HashMap<TenantId, Cached>>,
    /// One redemption at a time per tenant: concurrent exports that all
    /// find the token stale take the first one's new token instead of each
    /// redeeming (and rotating) the same refresh token.
    redeeming: Mutex<HashMap<TenantId, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl<A, G> TokenProvider<A, G> {
    pub fn new(app: A, grants: G) -> Self {
        Self {
            app,
            grants,
            cache: Mutex::new(HashMap::new()),
            redeeming: Mutex::default(),
        }
    }

    /// The token source for one tenant.
    pub fn for_tenant(&self, tenant: &TenantId) -> TenantTokenSource<'_, A, G> {
        TenantTokenSource {
            provider: self,
            tenant: tenant.clone(),
        }
    }

    /// The app whose credentials refresh the tenants' tokens (one client
    /// secret per process also serves the password grant).
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Forgets a tenant's cached tokens (after its grant was refused).
    pub fn forget(&self, tenant: &TenantId) {
        self.cache.lock().expect("token cache").remove(tenant);
    }
}

impl<A: RefreshTokenGrant, G: GrantStore> TokenProvider<A, G> {
    async fn access_token(
        &self,
        tenant: &TenantId,
        force_refresh: bool,
    ) -> Result<SecretString, TokenError> {
        let seen = self.cached(tenant);
        if let Some(cached) = &seen
            && !force_refresh
            && cached.is_fresh(Instant::now())
        {
            return Ok(cached.access_token.clone());
        }
        let lock = self
            .redeeming
            .lock()
            .expect("redemption locks")
            .entry(tenant.clone())
            .or_default()
            .clone();
        let _redeeming = lock.lock().await;
        let cached = self.cached(tenant);
        // Another caller redeemed while this one waited: its token is new
        // (a forced refresh wants a token other than the one it saw).
        if let Some(latest) = &cached
            && latest.is_fresh(Instant::now())
            && (!force_refresh
                || seen.as_ref().is_none_or(|s| {
                    s.access_token.expose_secret() != latest.access_token.expose_secret()
                }))
        {
            return Ok(latest.access_token.clone());
        }
        let (grant, current) = match cached {
            Some(cached) => {
                self.redeem_cached(tenant, CurrentGrant::from(cached))
                    .await?
            }
            None => {
                let stored = self.stored_grant(tenant).await?;
                (self.redeem_refresh_token(tenant, &stored).await?, stored)
            }
        };
        let kept = self
            .keep_newest_refresh_token(tenant, grant.refresh_token, current)
            .await;
        let access_token = grant.access_token.clone();
        if let Some(current) = kept {
            self.remember(tenant, grant.access_token, grant.expires_in, current);
        }
        Ok(access_token)
    }

    fn cached(&self, tenant: &TenantId) -> Option<Cached> {
        self.cache.lock().expect("token cache").get(tenant).cloned()
    }

    /// Redeems the cached refresh token. When it is refused, a new sign-in
    /// may have replaced the grant meanwhile: the stored one is tried once.
    async fn redeem_cached(
        &self,
        tenant: &TenantId,
        cached: CurrentGrant,
    ) -> Result<(TokenGrant, CurrentGrant), TokenError> {
        match self.redeem_refresh_token(tenant, &cached).await {
            Ok(grant) => Ok((grant, cached)),
            Err(TokenError::ReauthorisationRequired(reason)) => {
                let stored = self.stored_grant(tenant).await?;
                if stored.refresh_token.expose_secret() == cached.refresh_token.expose_secret() {
                    return Err(TokenError::ReauthorisationRequired(reason));
                }
                tracing::info!(tenant_id = %tenant, "the cached grant was refused; using the tenant's newer authorisation");
                Ok((self.redeem_refresh_token(tenant, &stored).await?, stored))
            }
            Err(err) => Err(err),
        }
    }

    /// The tenant's grant from the store; none stored means not authorised.
    async fn stored_grant(&self, tenant: &TenantId) -> Result<CurrentGrant, TokenError> {
        let grant = self
            .grants
            .load_grant(tenant)
            .await
            .map_err(|e| TokenError::Unavailable(e.to_string()))?
            .ok_or(TokenError::NotAuthorised)?;
        Ok(CurrentGrant {
            refresh_token: grant.refresh_token,
            stored_at: grant.stored_at,
            entra_tenant_id: grant.entra_tenant_id,
            authorisation: grant.authorisation,
        })
    }

    /// Asks the identity platform for a new access token. A refused grant
    /// is forgotten: only a new authorisation can replace it.
    async fn redeem_refresh_token(
        &self,
        tenant: &TenantId,
        current: &CurrentGrant,
    ) -> Result<TokenGrant, TokenError> {
        match self
            .app
            .refresh(current.entra_tenant_id.as_str(), &current.refresh_token)
            .await
        {
            Ok(grant) => Ok(grant),
            Err(err) if err.is_invalid_grant() => {
                self.forget(tenant);
                Err(TokenError::ReauthorisationRequired(err.to_string()))
            }
            Err(err) => Err(TokenError::Unavailable(err.to_string())),
        }
    }

    /// Uses a rotated refresh token from now on, and writes it back when
    /// the stored one is old enough (ROTATION_WRITE_INTERVAL).
    async fn keep_newest_refresh_token(
        &self,
        tenant: &TenantId,
        rotated: Option<SecretString>,
        current: CurrentGrant,
    ) -> Option<CurrentGrant> {
        let Some(rotated) = rotated else {
            return Some(current);
        };
        let now = Utc::now();
        let mut stored_at = current.stored_at;
        if rotation_write_due(stored_at, now) {
            match self
                .grants
                .store_rotated_refresh_token(
                    tenant,
                    &rotated,
                    now,
                    current.authorisation.as_deref(),
                )
                .await
            {
                Ok(RotationWrite::Written) => stored_at = now,
                // A new sign-in replaced the grant: this token is not written
                // over it, nor kept; the next call starts from the new grant.
                Ok(RotationWrite::Superseded) => {
                    self.forget(tenant);
                    return None;
                }
                // The stored token still works; try again next time.
                Err(err) => {
                    tracing::warn!(tenant_id = %tenant, error = %err, "could not store the rotated refresh token");
                }
            }
        }
        Some(current_with(rotated, stored_at, current))
    }

    fn remember(
        &self,
        tenant: &TenantId,
        access_token: SecretString,
        expires_in: Duration,
        current: CurrentGrant,
    ) {
        self.cache.lock().expect("token cache").insert(
            tenant.clone(),
            Cached {
                access_token,
                expires_at: Instant::now() + expires_in,
                refresh_token: current.refresh_token,
                stored_at: current.stored_at,
                entra_tenant_id: current.entra_tenant_id,
                authorisation: current.authorisation,
            },
        );
    }
}

/// One tenant's view of the provider: what the Graph client asks.
pub struct TenantTokenSource<'a, A, G> {
    provider: &'a TokenProvider<A, G>,
    tenant: TenantId,
}

impl<A: RefreshTokenGrant, G: GrantStore> AccessTokenSource for TenantTokenSource<'_, A, G> {
    async fn access_token(&self, force_refresh: bool) -> Result<SecretString, TokenError> {
        self.provider
            .access_token(&self.tenant, force_refresh)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached_until(expires_at: Instant) -> Cached {
        Cached {
            access_token: SecretString::from("at"),
            expires_at,
            refresh_token: SecretString::from("rt"),
            stored_at: Utc::now(),
            entra_tenant_id: EntraTenantId::parse("3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13").unwrap(),
            authorisation: None,
        }
    }

    #[test]
    fn an_access_token_is_renewed_within_the_margin_of_its_expiry() {
        let now = Instant::now();
        assert!(cached_until(now + EXPIRY_MARGIN + Duration::from_secs(1)).is_fresh(now));
        assert!(!cached_until(now + EXPIRY_MARGIN).is_fresh(now));
        assert!(!cached_until(now).is_fresh(now));
    }

    #[test]
    fn a_rotated_refresh_token_is_written_back_once_the_stored_one_is_a_day_old() {
        let now = Utc::now();
        assert!(!rotation_write_due(now - chrono::TimeDelta::hours(23), now));
        assert!(rotation_write_due(now - ROTATION_WRITE_INTERVAL, now));
        assert!(rotation_write_due(now - chrono::TimeDelta::days(30), now));
    }
}
