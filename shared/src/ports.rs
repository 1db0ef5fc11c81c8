//! What every engine may ask of storage: the error any store port returns,
//! and the tenant's config item; and the access tokens the Graph adapter
//! asks for (the `tokens` engine answers). The engines' own ports live
//! with them (`import::ports`, `export::ports`, `authorisation::ports`);
//! the adapters implement them and depend on this module, never the reverse.

use std::future::Future;

use secrecy::SecretString;

use crate::model::entra::{PermissionCheck, ReauthorisationReason, TokenError};
use crate::model::{ConfigItemError, TenantConfig, TenantId};

/// A failure of a store, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The service failed or could not be reached; a retry may succeed.
    #[error("{operation} failed: {detail}")]
    Unavailable {
        operation: &'static str,
        detail: String,
    },
    /// The store refused the request itself (DynamoDB's
    /// `ValidationException`, e.g. an input that cannot be a key): the
    /// same request will never succeed.
    #[error("{operation} was refused: {detail}")]
    Refused {
        operation: &'static str,
        detail: String,
    },
    /// What the store holds cannot be used as it is.
    #[error("{what} is malformed: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error(transparent)]
    Config(#[from] ConfigItemError),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// The tenant's `ENTRA#CONFIG` item: read by every function, and the few
/// fields the functions write back (docs/contract.md 1.3).
pub trait TenantConfigs: Send + Sync {
    fn tenant_config(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<TenantConfig>, StoreError>> + Send;

    /// Removes `resync_requested_at` unless it changed since `seen`.
    fn clear_resync_request(
        &self,
        tenant: &TenantId,
        seen: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes `preview_requested_at` unless it changed since `seen`.
    fn clear_preview_request(
        &self,
        tenant: &TenantId,
        seen: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn clear_deletion_approval(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The grant is dead: the config says so and syncing stops.
    fn mark_reauthorisation_required(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `mark_reauthorisation_required` with the config's
    /// `reauthorisation_reason`; a store that keeps no reason (a test
    /// fake) marks the config all the same.
    fn require_reauthorisation(
        &self,
        tenant: &TenantId,
        reason: ReauthorisationReason,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = reason;
        self.mark_reauthorisation_required(tenant)
    }
}

/// Where the Graph client gets its bearer token; `force_refresh` after a 401.
pub trait AccessTokenSource: Send + Sync {
    fn access_token(
        &self,
        force_refresh: bool,
    ) -> impl Future<Output = Result<SecretString, TokenError>> + Send;

    /// After Graph refused a request with 403 `Authorization_RequestDenied`:
    /// the application roles of a fresh token against the required set.
    /// `None` when roles do not apply (a delegated grant: its permissions
    /// are the admin's) or cannot be read.
    fn permission_check(
        &self,
    ) -> impl Future<Output = Result<Option<PermissionCheck>, TokenError>> + Send {
        async { Ok(None) }
    }
}

/// Every tenant's access tokens, as its config chooses them (delegated
/// grant or client credentials, of the tenant's cloud): what the Graph
/// adapters are given, so that they never name the token providers.
pub trait TenantTokenSources: Send + Sync {
    type Source<'a>: AccessTokenSource
    where
        Self: 'a;

    fn for_config(&self, config: &TenantConfig) -> Self::Source<'_>;
}
