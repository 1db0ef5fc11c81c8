//! Access tokens per tenant for the Graph client: the stored grant from
//! Secrets Manager, refreshed at the identity platform, cached in memory
//! across warm invocations until shortly before expiry.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio::time::Instant;

use crate::graph::{AccessTokenSource, TokenError};
use crate::identity::IdentityClient;
use crate::model::{EntraTenantId, TenantId};
use crate::store::{AppClientSecret, StoreError};

/// A rotated refresh token is written back at most this often: often enough
/// that the stored one never ages out (90 days), rarely enough that a run
/// does not write the secret.
pub const ROTATION_WRITE_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// An access token is renewed this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// The tenant's grant as stored (the secret's JSON).
#[derive(Debug, Clone)]
pub struct StoredGrant {
    pub entra_tenant_id: EntraTenantId,
    pub refresh_token: SecretString,
    pub scope: String,
    /// When the stored refresh token was written.
    pub stored_at: DateTime<Utc>,
}

pub trait GrantStore: Send + Sync {
    fn load_grant(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<StoredGrant>, StoreError>> + Send;

    /// Writes a newer refresh token, keeping the rest of the secret.
    fn store_rotated_refresh_token(
        &self,
        tenant: &TenantId,
        refresh_token: &SecretString,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

struct Cached {
    access_token: SecretString,
    expires_at: Instant,
    /// The newest refresh token and when the stored one was written.
    refresh_token: SecretString,
    stored_at: DateTime<Utc>,
    entra_tenant_id: EntraTenantId,
}

/// Process-wide: built once in `main`, shared by every invocation.
pub struct TokenProvider<G> {
    identity: IdentityClient,
    client_secret: AppClientSecret,
    grants: G,
    cache: Mutex<HashMap<TenantId, Cached>>,
}

impl<G: GrantStore> TokenProvider<G> {
    pub fn new(identity: IdentityClient, client_secret: AppClientSecret, grants: G) -> Self {
        Self {
            identity,
            client_secret,
            grants,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The token source for one tenant.
    pub fn for_tenant(&self, tenant: &TenantId) -> TenantTokens<'_, G> {
        TenantTokens {
            provider: self,
            tenant: tenant.clone(),
        }
    }

    /// The password grant with this provider's app credentials (one client
    /// secret, fetched once per process, serves refreshes and this).
    pub async fn password_grant(
        &self,
        entra_tenant_id: &str,
        user_name: &str,
        password: &SecretString,
    ) -> Result<crate::identity::TokenGrant, crate::identity::IdentityError> {
        let secret = self
            .client_secret
            .get()
            .await
            .map_err(|e| crate::identity::IdentityError::Configuration(e.to_string()))?;
        self.identity
            .password_grant(entra_tenant_id, secret, user_name, password)
            .await
    }

    /// Forgets a tenant's cached tokens (after its grant was refused).
    pub fn forget(&self, tenant: &TenantId) {
        self.cache.lock().expect("token cache").remove(tenant);
    }

    async fn access_token(
        &self,
        tenant: &TenantId,
        force_refresh: bool,
    ) -> Result<SecretString, TokenError> {
        let cached = {
            let cache = self.cache.lock().expect("token cache");
            cache.get(tenant).map(|c| {
                (
                    c.access_token.clone(),
                    c.expires_at,
                    c.refresh_token.clone(),
                    c.stored_at,
                    c.entra_tenant_id.clone(),
                )
            })
        };
        if let Some((token, expires_at, ..)) = &cached
            && !force_refresh
            && *expires_at > Instant::now() + EXPIRY_MARGIN
        {
            return Ok(token.clone());
        }
        let (refresh_token, stored_at, entra_tenant_id) = match cached {
            Some((_, _, refresh_token, stored_at, entra_tenant_id)) => {
                (refresh_token, stored_at, entra_tenant_id)
            }
            None => {
                let grant = self
                    .grants
                    .load_grant(tenant)
                    .await
                    .map_err(|e| TokenError::Unavailable(e.to_string()))?
                    .ok_or(TokenError::NotAuthorised)?;
                (grant.refresh_token, grant.stored_at, grant.entra_tenant_id)
            }
        };
        let client_secret = self
            .client_secret
            .get()
            .await
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        let grant = match self
            .identity
            .refresh(entra_tenant_id.as_str(), client_secret, &refresh_token)
            .await
        {
            Ok(grant) => grant,
            Err(err) if err.is_invalid_grant() => {
                self.forget(tenant);
                return Err(TokenError::ReauthorisationRequired(err.to_string()));
            }
            Err(err) => return Err(TokenError::Unavailable(err.to_string())),
        };
        let now = Utc::now();
        let (newest, stored_at) = match grant.refresh_token {
            Some(rotated) if now - stored_at >= ROTATION_WRITE_INTERVAL => {
                match self
                    .grants
                    .store_rotated_refresh_token(tenant, &rotated, now)
                    .await
                {
                    Ok(()) => (rotated, now),
                    Err(err) => {
                        // The stored token still works; try again next time.
                        tracing::warn!(tenant_id = %tenant, error = %err, "could not store the rotated refresh token");
                        (rotated, stored_at)
                    }
                }
            }
            Some(rotated) => (rotated, stored_at),
            None => (refresh_token, stored_at),
        };
        let access_token = grant.access_token.clone();
        self.cache.lock().expect("token cache").insert(
            tenant.clone(),
            Cached {
                access_token: grant.access_token,
                expires_at: Instant::now() + grant.expires_in,
                refresh_token: newest,
                stored_at,
                entra_tenant_id,
            },
        );
        Ok(access_token)
    }
}

/// One tenant's view of the provider: what the Graph client asks.
pub struct TenantTokens<'a, G> {
    provider: &'a TokenProvider<G>,
    tenant: TenantId,
}

impl<G: GrantStore> AccessTokenSource for TenantTokens<'_, G> {
    async fn access_token(&self, force_refresh: bool) -> Result<SecretString, TokenError> {
        self.provider
            .access_token(&self.tenant, force_refresh)
            .await
    }
}

impl TokenProvider<crate::store::SecretsManagerTokenStore> {
    /// The provider each Graph-calling function builds once in `main`: the
    /// tenants' grants and the app's secret from Secrets Manager.
    pub fn from_config(
        sdk: &aws_config::SdkConfig,
        common: &crate::config::CommonConfig,
        app: &crate::config::EntraAppConfig,
    ) -> Self {
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        Self::new(
            IdentityClient::new(
                crate::identity::http_client(),
                common.login_base_url.clone(),
                app.client_id.clone(),
                None,
            ),
            AppClientSecret::new(secrets.clone(), app.client_secret_arn.clone()),
            crate::store::SecretsManagerTokenStore::new(secrets, common.secret_prefix.clone()),
        )
    }
}

/// The Lambda invocation's deadline as a tokio instant.
pub fn deadline_instant(deadline: std::time::SystemTime) -> Instant {
    Instant::now()
        + deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
}
