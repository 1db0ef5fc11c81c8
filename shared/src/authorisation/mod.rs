//! The admin's authorisation of the integration (docs/contract.md 1.4, 2.1): hand
//! out an authorize URL, then redeem the callback exactly once.

pub mod callback;
pub mod confirm;
pub mod ports;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use url::Url;

pub use callback::{CallbackOutcome, CallbackParams, FailureReason, InvalidState};
pub use confirm::{ConfirmError, Confirmed};
pub use ports::{
    AuthorisationRecord, IdentityPlatform, IntegrationsStore, PendingAuthorisation, PendingLeg,
    ProvenAuthorisation, RecordOutcome, TokenStore,
};

use crate::model::identity::{self, IdentityError};
use crate::model::{ByCloud, Cloud, TenantConfig, TenantId};
use crate::ports::StoreError;

/// A state, and a proven sign-in awaiting its confirm, expire after 10
/// minutes (DESIGN 1.4, 2.12).
pub const STATE_LIFETIME: Duration = Duration::from_secs(600);

/// The shortest `session_binding` accepted: 32 characters (DESIGN 2.12).
pub const MIN_BINDING_LENGTH: usize = 32;
/// The longest: a binding is an opaque token, not a document.
pub const MAX_BINDING_LENGTH: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeStart {
    pub authorize_url: Url,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no Entra ID integration is configured for tenant {0}")]
    UnknownTenant(TenantId),
    #[error(
        "session_binding must be {MIN_BINDING_LENGTH} to {MAX_BINDING_LENGTH} characters, found {0}"
    )]
    InvalidBinding(usize),
    /// The config's `cloud` is not in ENTRA_CLOUDS.
    #[error("the tenant's cloud `{0}` is not served by this deployment")]
    CloudNotSupported(Cloud),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// The hex SHA-256 of a binding or result id: what is stored in their
/// place, so a read of the table yields nothing usable.
pub(crate) fn digest(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct AuthorisationFlow<S, T, I> {
    pub(crate) store: S,
    pub(crate) tokens: T,
    /// The identity platform of each cloud served, with its app.
    pub(crate) identities: ByCloud<I>,
    pub(crate) portal_return_url: Url,
}

impl<S: IntegrationsStore, T: TokenStore, I: IdentityPlatform> AuthorisationFlow<S, T, I> {
    pub fn new(store: S, tokens: T, identities: ByCloud<I>, portal_return_url: Url) -> Self {
        Self {
            store,
            tokens,
            identities,
            portal_return_url,
        }
    }

    /// The identity platform of the config's cloud; `None` when the
    /// deployment does not serve it (reason `cloud_not_supported`).
    fn identity_of(&self, config: &TenantConfig) -> Option<&I> {
        let identity = self.identities.get(config.cloud);
        if identity.is_none() {
            tracing::warn!(tenant_id = %config.tenant_id, cloud = %config.cloud, "the tenant's cloud is not served (ENTRA_CLOUDS)");
        }
        identity
    }

    /// Creates the consent leg and the URL that starts it, bound to the
    /// portal session of the admin who asked (`session_binding`). The
    /// configured Entra tenant, when there is one, is the authority, so
    /// the admin can only consent for that organisation.
    pub async fn start(
        &self,
        tenant_id: &TenantId,
        session_binding: &str,
        now: DateTime<Utc>,
    ) -> Result<AuthorizeStart, StartError> {
        let length = session_binding.chars().count();
        if !(MIN_BINDING_LENGTH..=MAX_BINDING_LENGTH).contains(&length) {
            return Err(StartError::InvalidBinding(length));
        }
        let config = self
            .store
            .tenant_config(tenant_id)
            .await?
            .ok_or_else(|| StartError::UnknownTenant(tenant_id.clone()))?;
        // The earliest point that knows the cloud: nothing is stored and
        // no cloud is asked (DESIGN 2.12 `cloud_not_supported`).
        let platform = self
            .identity_of(&config)
            .ok_or(StartError::CloudNotSupported(config.cloud))?;
        let authority = identity::authority(config.entra_tenant_id.as_ref());
        let (authorize_url, state) = platform.admin_consent_url(&authority)?;
        let expires_at = now + STATE_LIFETIME;
        self.store
            .save_pending_authorisation(&PendingAuthorisation {
                state,
                tenant_id: tenant_id.clone(),
                leg: PendingLeg::Consent,
                binding_hash: digest(session_binding),
                created_at: now,
                expires_at,
            })
            .await?;
        tracing::info!(tenant_id = %tenant_id, %expires_at, "authorisation started");
        Ok(AuthorizeStart {
            authorize_url,
            expires_at,
        })
    }

    /// Where the admin's browser goes after the callback: `pending` with
    /// the one-time result the portal confirms, or `error` with a reason.
    fn portal_redirect(&self, tenant_id: &TenantId, outcome: Result<&str, FailureReason>) -> Url {
        let mut url = self.portal_return_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("tenant_id", tenant_id.as_str());
            match outcome {
                Ok(result) => {
                    query.append_pair("status", "pending");
                    query.append_pair("result", result);
                }
                Err(reason) => {
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

    /// The state, when it has the shape of one we issue (URL-safe, of a
    /// sane length): anything else is unknown without asking the store.
    fn state_of(params: &CallbackParams) -> Option<&str> {
        params.state.as_ref().map(|s| s.expose_secret())
    }

    fn is_state_shaped(state: &str) -> bool {
        (16..=128).contains(&state.len())
            && state
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

#[cfg(test)]
mod tests;
