//! The admin's authorisation of the integration (docs/contract.md 1.4, 2.1): hand
//! out an authorize URL, then redeem the callback exactly once.

pub mod callback;
pub mod ports;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use url::Url;

pub use callback::{CallbackOutcome, CallbackParams, FailureReason, InvalidState};
pub use ports::{
    AuthorisationRecord, IdentityPlatform, IntegrationsStore, PendingAuthorisation, RecordOutcome,
    TenantGrant, TokenStore,
};

use crate::identity::{self, IdentityError};
use crate::model::TenantId;
use crate::ports::StoreError;

/// A state is single-use and expires after 10 minutes (docs/contract.md 1.4).
pub const STATE_LIFETIME: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeStart {
    pub authorize_url: Url,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no Entra ID integration is configured for tenant {0}")]
    UnknownTenant(TenantId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

pub struct AuthorisationFlow<S, T, I> {
    pub(crate) store: S,
    pub(crate) tokens: T,
    pub(crate) identity: I,
    pub(crate) portal_return_url: Url,
}

impl<S: IntegrationsStore, T: TokenStore, I: IdentityPlatform> AuthorisationFlow<S, T, I> {
    pub fn new(store: S, tokens: T, identity: I, portal_return_url: Url) -> Self {
        Self {
            store,
            tokens,
            identity,
            portal_return_url,
        }
    }

    /// Creates a pending authorisation and the URL that starts it. The
    /// configured Entra tenant, when there is one, is the authority, so the
    /// admin can only sign in to that organisation.
    pub async fn start(
        &self,
        tenant_id: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<AuthorizeStart, StartError> {
        let config = self
            .store
            .tenant_config(tenant_id)
            .await?
            .ok_or_else(|| StartError::UnknownTenant(tenant_id.clone()))?;
        let authority = identity::authority(config.entra_tenant_id.as_ref());
        let request = self.identity.authorization_request(&authority)?;
        let expires_at = now + STATE_LIFETIME;
        self.store
            .save_pending_authorisation(&PendingAuthorisation {
                state: request.state.clone(),
                tenant_id: tenant_id.clone(),
                authority,
                pkce_verifier: request.pkce_verifier,
                created_at: now,
                expires_at,
            })
            .await?;
        tracing::info!(tenant_id = %tenant_id, %expires_at, "authorisation started");
        Ok(AuthorizeStart {
            authorize_url: request.url,
            expires_at,
        })
    }

    /// Where the admin's browser goes after the callback.
    fn portal_redirect(&self, tenant_id: &TenantId, failure: Option<FailureReason>) -> Url {
        let mut url = self.portal_return_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("tenant_id", tenant_id.as_str());
            match failure {
                None => {
                    query.append_pair("status", "authorised");
                }
                Some(reason) => {
                    query.append_pair("status", "error");
                    query.append_pair("reason", reason.as_str());
                }
            }
        }
        url
    }

    fn check_state_unexpired(
        pending: &PendingAuthorisation,
        now: DateTime<Utc>,
    ) -> Result<(), InvalidState> {
        if pending.expires_at <= now {
            Err(InvalidState::Expired)
        } else {
            Ok(())
        }
    }

    fn state_of(params: &CallbackParams) -> Option<&str> {
        params.state.as_ref().map(|s| s.expose_secret())
    }
}

#[cfg(test)]
mod tests;
