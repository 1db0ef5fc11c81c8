//! The proof of a sign-in: the code redeemed, the id token checked, the
//! signer an administrator who may consent, the app's token for the tenant.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{FailureReason, same_entra_tenant};
use crate::authorisation::ports::{
    IdentityPlatform, IntegrationsStore, PendingAuthorisation, PendingLeg, ProvenAuthorisation,
    TokenStore,
};
use crate::authorisation::{AuthorisationFlow, STATE_LIFETIME};
use crate::model::identity::{AppToken, CONSENTING_ADMIN_ROLES, ClaimsError, IdTokenClaims};
use crate::model::{EntraTenantId, TenantId};

/// Right after consent the app's service principal may not have
/// replicated yet (AADSTS700016): this many more tries, this far apart.
const APP_TOKEN_RETRIES: &[Duration] = &[Duration::from_secs(2), Duration::from_secs(4)];

impl<S: IntegrationsStore, T: TokenStore, I: IdentityPlatform> AuthorisationFlow<S, T, I> {
    /// The code redeemed, the id token checked (signature, nonce, tenant),
    /// the signer an administrator who may consent, and the app's token
    /// for the tenant read for its roles.
    pub(super) async fn prove(
        &self,
        pending: &PendingAuthorisation,
        code: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<ProvenAuthorisation, FailureReason> {
        let PendingLeg::SignIn {
            entra_tenant_id,
            pkce_verifier,
            nonce,
            ..
        } = &pending.leg
        else {
            return Err(FailureReason::InvalidRequest);
        };
        let tenant_id = &pending.tenant_id;
        let config = self.config_still_present(tenant_id).await?;
        same_entra_tenant(tenant_id, &config, entra_tenant_id)?;
        let identity = self.cloud_identity(&config)?;
        let claims = self
            .signed_in_admin(
                identity,
                tenant_id,
                entra_tenant_id,
                code,
                (pkce_verifier, nonce),
            )
            .await?;
        let token = self.app_token(identity, tenant_id, entra_tenant_id).await?;
        Ok(ProvenAuthorisation {
            result_hash: String::new(),
            tenant_id: tenant_id.clone(),
            binding_hash: pending.binding_hash.clone(),
            entra_tenant_id: entra_tenant_id.clone(),
            cloud: config.cloud,
            authorised_by: claims.preferred_username,
            authorised_by_id: claims.object_id.to_string(),
            missing_permissions: token.missing_roles(),
            granted_permissions: token.roles.unwrap_or_default(),
            created_at: now,
            expires_at: now + STATE_LIFETIME,
        })
    }

    /// Who signed in, proven by the id token, if they may consent.
    async fn signed_in_admin(
        &self,
        identity: &I,
        tenant_id: &TenantId,
        entra_tenant_id: &EntraTenantId,
        code: &SecretString,
        (pkce_verifier, nonce): (&SecretString, &SecretString),
    ) -> Result<IdTokenClaims, FailureReason> {
        let grant = identity
            .exchange_code(entra_tenant_id, code, pkce_verifier)
            .await
            .map_err(|err| {
                tracing::warn!(tenant_id = %tenant_id, error = %err, "the code exchange failed");
                FailureReason::TokenExchangeFailed
            })?;
        let Some(id_token) = &grant.id_token else {
            tracing::warn!(tenant_id = %tenant_id, "the token response has no id token");
            return Err(FailureReason::InvalidIdToken);
        };
        let claims = identity
            .verify_id_token(entra_tenant_id, id_token, nonce)
            .await
            .map_err(|err| {
                tracing::warn!(tenant_id = %tenant_id, error = %err, "the id token was refused");
                match err {
                    ClaimsError::KeysUnavailable(_) => FailureReason::IdentityPlatformUnavailable,
                    _ => FailureReason::InvalidIdToken,
                }
            })?;
        let may_consent = claims
            .wids
            .iter()
            .any(|w| CONSENTING_ADMIN_ROLES.contains(&w.to_ascii_lowercase().as_str()));
        if !may_consent {
            tracing::warn!(tenant_id = %tenant_id, entra_tenant_id = %entra_tenant_id, "the signed-in user holds no active Global Administrator or Privileged Role Administrator role");
            return Err(FailureReason::NotAdmin);
        }
        Ok(claims)
    }

    /// The app's own token for the tenant: proof the consent exists (a
    /// few tries: it may not have replicated yet) and its roles.
    async fn app_token(
        &self,
        identity: &I,
        tenant_id: &TenantId,
        entra_tenant_id: &EntraTenantId,
    ) -> Result<AppToken, FailureReason> {
        let mut waits = APP_TOKEN_RETRIES.iter();
        loop {
            let err = match identity.app_token(entra_tenant_id).await {
                Ok(token) => return Ok(token),
                Err(err) => err,
            };
            if err.is_app_not_installed()
                && let Some(wait) = waits.next()
            {
                tokio::time::sleep(*wait).await;
                continue;
            }
            tracing::warn!(tenant_id = %tenant_id, error = %err, "no app token for the tenant");
            return Err(if err.is_app_not_installed() {
                FailureReason::AppNotInstalled
            } else if err.is_app_disabled() {
                FailureReason::AppDisabled
            } else if err.is_retryable() {
                FailureReason::IdentityPlatformUnavailable
            } else {
                FailureReason::TokenExchangeFailed
            });
        }
    }
}
