//! The portal's confirm (DESIGN 1.4, 2.12): a proven authorisation becomes
//! the config's only with the binding of the admin who asked, once,
//! within its lifetime. Anything else stores nothing.

use chrono::{DateTime, Utc};

use super::ports::{
    AuthorisationRecord, IdentityPlatform, IntegrationsStore, RecordOutcome, TokenStore,
};
use super::{AuthorisationFlow, digest};
use crate::model::{EntraTenantId, TenantId, same_digest};
use crate::ports::StoreError;

/// What the portal is told of a confirmed authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub entra_tenant_id: EntraTenantId,
    pub authorised_by: Option<String>,
    pub missing_permissions: Vec<String>,
}

/// Why a confirm stored nothing. Every case but `Store` is the caller's:
/// `409` with [`ConfirmError::code`].
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("no authorisation waits under this result: unknown, already confirmed or expired")]
    UnknownResult,
    #[error("this authorisation expired; start it again")]
    Expired,
    #[error("this result belongs to another tenant's authorisation")]
    ForeignResult,
    #[error("the session binding does not match the one the authorisation was started with")]
    BindingMismatch,
    #[error("the tenant's Entra ID config was removed")]
    ConfigRemoved,
    #[error("the config names another Entra tenant than the one signed in to")]
    TenantMismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ConfirmError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownResult => "unknown_result",
            Self::Expired => "expired",
            Self::ForeignResult => "foreign_result",
            Self::BindingMismatch => "binding_mismatch",
            Self::ConfigRemoved => "config_removed",
            Self::TenantMismatch => "tenant_mismatch",
            Self::Store(_) => "unavailable",
        }
    }
}

impl<S: IntegrationsStore, T: TokenStore, I: IdentityPlatform> AuthorisationFlow<S, T, I> {
    /// Makes the config `authorised` in application mode with the proven
    /// sign-in of `result`, if `session_binding` is the one it was started
    /// with. The result is used up whatever the answer: a guessed or
    /// stolen one cannot be tried twice.
    pub async fn confirm(
        &self,
        tenant_id: &TenantId,
        result: &str,
        session_binding: &str,
        now: DateTime<Utc>,
    ) -> Result<Confirmed, ConfirmError> {
        let proven = self
            .store
            .take_proven_authorisation(&digest(result))
            .await?
            .ok_or(ConfirmError::UnknownResult)?;
        if proven.expires_at <= now {
            return Err(ConfirmError::Expired);
        }
        if &proven.tenant_id != tenant_id {
            tracing::warn!(tenant_id = %tenant_id, "a confirm with another tenant's result refused");
            return Err(ConfirmError::ForeignResult);
        }
        let binding = digest(session_binding);
        if !same_digest(binding.as_bytes(), proven.binding_hash.as_bytes()) {
            tracing::warn!(tenant_id = %tenant_id, "a confirm with another session's binding refused; nothing is stored");
            return Err(ConfirmError::BindingMismatch);
        }
        let record = AuthorisationRecord {
            entra_tenant_id: proven.entra_tenant_id.clone(),
            cloud: proven.cloud,
            authorised_at: now,
            authorised_by: proven.authorised_by.clone(),
            authorised_by_id: proven.authorised_by_id.clone(),
            granted_permissions: proven.granted_permissions.clone(),
            missing_permissions: proven.missing_permissions.clone(),
        };
        match self.store.record_authorisation(tenant_id, &record).await? {
            RecordOutcome::Recorded => {}
            RecordOutcome::ConfigMissing => return Err(ConfirmError::ConfigRemoved),
            RecordOutcome::TenantMismatch => return Err(ConfirmError::TenantMismatch),
        }
        tracing::info!(
            tenant_id = %tenant_id,
            entra_tenant_id = %record.entra_tenant_id,
            authorised_by = record.authorised_by.as_deref().unwrap_or(""),
            "integration authorised (application mode)"
        );
        // A delegated grant from before is not needed any more (DESIGN
        // 2.12: no per-tenant secret in application mode).
        if let Err(err) = self.tokens.delete_tenant_tokens(tenant_id).await {
            tracing::error!(tenant_id = %tenant_id, error = %err, "could not delete the tenant's delegated grant; it is no longer used");
        }
        Ok(Confirmed {
            entra_tenant_id: proven.entra_tenant_id,
            authorised_by: proven.authorised_by,
            missing_permissions: proven.missing_permissions,
        })
    }
}
