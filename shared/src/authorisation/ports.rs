//! What the authorisation flow needs from the outside world.

use std::future::Future;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;

use crate::model::cloud::Cloud;
use crate::model::identity::{
    AppToken, ClaimsError, IdTokenClaims, IdentityError, SignInRequest, TokenGrant,
};
use crate::model::{EntraTenantId, TenantId};
use crate::ports::{StoreError, TenantConfigs};

/// Which leg of the flow a state belongs to (DESIGN 2.12).
#[derive(Debug, Clone)]
pub enum PendingLeg {
    /// Sent to the admin consent endpoint; answered with the tenant that
    /// consented (unsigned: a hint of where to sign in, never a proof).
    Consent,
    /// Sent to sign in to `entra_tenant_id`, silently unless `interactive`;
    /// the code is redeemed with the PKCE verifier and the id token must
    /// carry the nonce.
    SignIn {
        entra_tenant_id: EntraTenantId,
        pkce_verifier: SecretString,
        nonce: SecretString,
        interactive: bool,
    },
}

/// A leg the admin's browser was sent on and has not come back from.
#[derive(Debug, Clone)]
pub struct PendingAuthorisation {
    pub state: SecretString,
    pub tenant_id: TenantId,
    pub leg: PendingLeg,
    /// SHA-256 (hex) of the `session_binding` the platform gave: only a
    /// confirm with the same binding completes this authorisation.
    pub binding_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A proven sign-in waiting for the portal's confirm: who consented, for
/// which tenant, and what the app may do there. Kept under the hash of its
/// one-time id; the id itself is only in the admin's redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenAuthorisation {
    pub result_hash: String,
    pub tenant_id: TenantId,
    pub binding_hash: String,
    pub entra_tenant_id: EntraTenantId,
    /// The cloud whose identity platform proved it.
    pub cloud: Cloud,
    pub authorised_by: Option<String>,
    pub authorised_by_id: String,
    pub granted_permissions: Vec<String>,
    pub missing_permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the config item records about a confirmed authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorisationRecord {
    pub entra_tenant_id: EntraTenantId,
    pub cloud: Cloud,
    pub authorised_at: DateTime<Utc>,
    pub authorised_by: Option<String>,
    pub authorised_by_id: String,
    pub granted_permissions: Vec<String>,
    pub missing_permissions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    /// The config item is gone.
    ConfigMissing,
    /// The config now names another Entra tenant.
    TenantMismatch,
}

/// Pending legs, proven sign-ins and their outcome on the config item.
pub trait IntegrationsStore: TenantConfigs {
    fn save_pending_authorisation(
        &self,
        pending: &PendingAuthorisation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes and returns the pending leg of `state`, atomically: of two
    /// concurrent calls with one state, at most one gets it.
    fn take_pending_authorisation(
        &self,
        state: &str,
    ) -> impl Future<Output = Result<Option<PendingAuthorisation>, StoreError>> + Send;

    fn save_proven_authorisation(
        &self,
        proven: &ProvenAuthorisation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes and returns the proven sign-in of this result hash,
    /// atomically (a result is confirmed once).
    fn take_proven_authorisation(
        &self,
        result_hash: &str,
    ) -> impl Future<Output = Result<Option<ProvenAuthorisation>, StoreError>> + Send;

    /// Marks the config `authorised` in application mode, filling
    /// `entra_tenant_id` when absent: one conditional write that refuses
    /// when the config is gone or names another Entra tenant (claim, then
    /// store: a refused sign-in leaves no trace).
    fn record_authorisation(
        &self,
        tenant: &TenantId,
        record: &AuthorisationRecord,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;
}

/// The per-tenant secrets of delegated grants (DESIGN 1.3): a tenant
/// authorised in application mode keeps none.
pub trait TokenStore: Send + Sync {
    /// Deletes the tenant's delegated grant, if there is one.
    fn delete_tenant_tokens(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The identity platform as the flow sees it.
pub trait IdentityPlatform: Send + Sync {
    /// The admin consent URL for `authority` and the state it carries.
    fn admin_consent_url(&self, authority: &str) -> Result<(Url, SecretString), IdentityError>;

    fn sign_in_request(
        &self,
        entra_tenant_id: &EntraTenantId,
        interactive: bool,
    ) -> Result<SignInRequest, IdentityError>;

    fn exchange_code(
        &self,
        entra_tenant_id: &EntraTenantId,
        code: &SecretString,
        pkce_verifier: &SecretString,
    ) -> impl Future<Output = Result<TokenGrant, IdentityError>> + Send;

    /// The id token's signature, audience, issuer, expiry, tenant and
    /// nonce checked; its claims.
    fn verify_id_token(
        &self,
        entra_tenant_id: &EntraTenantId,
        id_token: &SecretString,
        nonce: &SecretString,
    ) -> impl Future<Output = Result<IdTokenClaims, ClaimsError>> + Send;

    /// A client-credentials token for the tenant.
    fn app_token(
        &self,
        entra_tenant_id: &EntraTenantId,
    ) -> impl Future<Output = Result<AppToken, IdentityError>> + Send;
}
