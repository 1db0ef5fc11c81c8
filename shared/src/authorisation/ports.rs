//! What the authorisation flow needs from the outside world.

use std::future::Future;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::identity::{AuthorizationRequest, IdTokenClaims, IdentityError, TokenGrant};
use crate::model::{EntraTenantId, TenantId};
use crate::ports::{StoreError, TenantConfigs};

/// An authorization the admin has started but not finished: the state sent
/// to Microsoft and the PKCE verifier that redeems its code.
#[derive(Debug, Clone)]
pub struct PendingAuthorisation {
    pub state: SecretString,
    pub tenant_id: TenantId,
    /// The `{tenant}` the authorize URL used; the code is redeemed there.
    pub authority: String,
    pub pkce_verifier: SecretString,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the config item records about a successful sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorisationRecord {
    pub entra_tenant_id: EntraTenantId,
    pub authorised_at: DateTime<Utc>,
    pub authorised_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    /// The config item is gone.
    ConfigMissing,
    /// The config now names another Entra tenant.
    TenantMismatch,
}

/// The tenant's grant as kept in Secrets Manager (docs/contract.md 1.3).
#[derive(Debug, Clone)]
pub struct TenantGrant {
    pub entra_tenant_id: EntraTenantId,
    pub refresh_token: SecretString,
    pub scope: String,
    pub authorised_at: DateTime<Utc>,
    pub authorised_by: Option<String>,
}

/// Pending sign-ins and their outcome on the tenant's config item.
pub trait IntegrationsStore: TenantConfigs {
    fn save_pending_authorisation(
        &self,
        pending: &PendingAuthorisation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes and returns the pending authorisation of `state`, atomically:
    /// of two concurrent calls with one state, at most one gets it.
    fn take_pending_authorisation(
        &self,
        state: &str,
    ) -> impl Future<Output = Result<Option<PendingAuthorisation>, StoreError>> + Send;

    /// Settles which Entra tenant the config is for, before anything of a
    /// sign-in is stored: fills `entra_tenant_id` when absent; refuses when
    /// the config is gone or names another Entra tenant. One conditional
    /// write, so of two sign-ins to different organisations at once, one
    /// wins and the other stores nothing.
    fn claim_entra_tenant(
        &self,
        tenant: &TenantId,
        entra_tenant_id: &EntraTenantId,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;

    /// Marks the config `authorised`, filling `entra_tenant_id` when absent;
    /// refuses when the config is gone or names another Entra tenant.
    fn record_authorisation(
        &self,
        tenant: &TenantId,
        record: &AuthorisationRecord,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;
}

pub trait TokenStore: Send + Sync {
    fn save_tenant_tokens(
        &self,
        tenant: &TenantId,
        tokens: &TenantGrant,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The identity platform as the flow sees it.
pub trait IdentityPlatform: Send + Sync {
    fn authorization_request(&self, authority: &str)
    -> Result<AuthorizationRequest, IdentityError>;

    fn exchange_code(
        &self,
        authority: &str,
        code: &SecretString,
        pkce_verifier: &SecretString,
    ) -> impl Future<Output = Result<TokenGrant, IdentityError>> + Send;

    /// Decodes and validates an id token issued to this app.
    fn id_token_claims(
        &self,
        id_token: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<IdTokenClaims, crate::identity::ClaimsError>;
}
