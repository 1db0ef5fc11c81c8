//! The sign-in leg: sent out under a new state, and its answer, whose code
//! is proven within a budget and kept for the portal's confirm.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::{CallbackParams, FailureReason, Next, refused};
use crate::authorisation::ports::{
    IdentityPlatform, IntegrationsStore, PendingAuthorisation, PendingLeg, ProvenAuthorisation,
    TokenStore,
};
use crate::authorisation::{AuthorisationFlow, STATE_LIFETIME, digest};
use crate::model::EntraTenantId;

/// The most the proof of a sign-in (code exchange, keys, app token and
/// its retries) may take: the function stops at 30 s, and an admin is
/// better told to try again than left at a gateway timeout with the state
/// spent and nothing said.
const PROOF_BUDGET: Duration = Duration::from_secs(20);

impl<S: IntegrationsStore, T: TokenStore, I: IdentityPlatform> AuthorisationFlow<S, T, I> {
    /// Sends the browser to sign in to `entra_tenant_id` under a new state
    /// bound as the first was.
    pub(super) async fn sign_in_leg(
        &self,
        identity: &I,
        pending: &PendingAuthorisation,
        entra_tenant_id: EntraTenantId,
        interactive: bool,
        now: DateTime<Utc>,
    ) -> Result<Next, FailureReason> {
        let request = identity
            .sign_in_request(&entra_tenant_id, interactive)
            .map_err(|err| {
                tracing::error!(error = %err, "could not build the sign-in request");
                FailureReason::SignInFailed
            })?;
        let next = PendingAuthorisation {
            state: request.state,
            tenant_id: pending.tenant_id.clone(),
            leg: PendingLeg::SignIn {
                entra_tenant_id,
                pkce_verifier: request.pkce_verifier,
                nonce: request.nonce,
                interactive,
            },
            binding_hash: pending.binding_hash.clone(),
            created_at: now,
            expires_at: now + STATE_LIFETIME,
        };
        self.store
            .save_pending_authorisation(&next)
            .await
            .map_err(|err| {
                tracing::error!(tenant_id = %pending.tenant_id, error = %err, "could not save the sign-in leg");
                FailureReason::StorageFailed
            })?;
        Ok(Next::Microsoft(request.url))
    }

    /// The sign-in's answer: a silent attempt that needs a person is tried
    /// once interactively; a code becomes a proven authorisation.
    pub(super) async fn after_sign_in(
        &self,
        pending: &PendingAuthorisation,
        params: &CallbackParams,
        now: DateTime<Utc>,
    ) -> Result<Next, FailureReason> {
        let PendingLeg::SignIn {
            entra_tenant_id,
            interactive,
            ..
        } = &pending.leg
        else {
            return Err(FailureReason::InvalidRequest);
        };
        if let Some(error) = &params.error {
            let needs_person = matches!(
                error.as_str(),
                "login_required" | "interaction_required" | "consent_required"
            );
            if needs_person && !interactive {
                let config = self.config_still_present(&pending.tenant_id).await?;
                let identity = self.cloud_identity(&config)?;
                return self
                    .sign_in_leg(identity, pending, entra_tenant_id.clone(), true, now)
                    .await;
            }
            let tenant_id = &pending.tenant_id;
            return Err(refused(
                tenant_id,
                "sign-in",
                error,
                params,
                FailureReason::of_sign_in_error,
            ));
        }
        let Some(code) = &params.code else {
            tracing::warn!(tenant_id = %pending.tenant_id, "the sign-in answer has neither code nor error");
            return Err(FailureReason::InvalidRequest);
        };
        self.prove_and_keep(pending, code, now).await
    }

    /// The code proven within the budget, and the proven authorisation
    /// kept under a new one-time result id for the portal's confirm.
    async fn prove_and_keep(
        &self,
        pending: &PendingAuthorisation,
        code: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<Next, FailureReason> {
        let proven = tokio::time::timeout(PROOF_BUDGET, self.prove(pending, code, now))
            .await
            .map_err(|_| {
                tracing::warn!(tenant_id = %pending.tenant_id, budget_seconds = PROOF_BUDGET.as_secs(), "the identity platform did not answer in time");
                FailureReason::IdentityPlatformUnavailable
            })??;
        let result = random_result_id();
        let proven = ProvenAuthorisation {
            result_hash: digest(&result),
            ..proven
        };
        self.store
            .save_proven_authorisation(&proven)
            .await
            .map_err(|err| {
                tracing::error!(tenant_id = %pending.tenant_id, error = %err, "could not save the proven authorisation");
                FailureReason::StorageFailed
            })?;
        tracing::info!(
            tenant_id = %pending.tenant_id,
            entra_tenant_id = %proven.entra_tenant_id,
            missing_permissions = proven.missing_permissions.len(),
            "sign-in proven; waiting for the portal's confirm"
        );
        Ok(Next::Portal(result))
    }
}

/// 32 random URL-safe characters: the one-time id the portal confirms.
fn random_result_id() -> String {
    oauth2::CsrfToken::new_random_len(24).secret().clone()
}
