//! Redeeming the callback (DESIGN 2.12): each state once; the consent leg
//! leads to the sign-in leg, whose signed answer becomes a proven
//! authorisation that waits for the portal's confirm.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;

use super::ports::{
    IdentityPlatform, IntegrationsStore, PendingAuthorisation, PendingLeg, ProvenAuthorisation,
    TokenStore,
};
use super::{AuthorisationFlow, STATE_LIFETIME, digest};
use crate::model::identity::{AppToken, CONSENTING_ADMIN_ROLES, ClaimsError, IdTokenClaims};
use crate::model::{EntraTenantId, Guid, TenantConfig, TenantId};

/// Right after consent the app's service principal may not have
/// replicated yet (AADSTS700016): this many more tries, this far apart.
const APP_TOKEN_RETRIES: &[Duration] = &[Duration::from_secs(2), Duration::from_secs(4)];

/// The most the proof of a sign-in (code exchange, keys, app token and
/// its retries) may take: the function stops at 30 s, and an admin is
/// better told to try again than left at a gateway timeout with the state
/// spent and nothing said.
const PROOF_BUDGET: Duration = Duration::from_secs(20);

/// The callback's query, parsed at the edge. Values stay wrapped: the code
/// is a credential and the state a single-use key.
#[derive(Debug, Default)]
pub struct CallbackParams {
    pub state: Option<SecretString>,
    pub code: Option<SecretString>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// `admin_consent=True`: the answer of the consent endpoint.
    pub admin_consent: bool,
    /// The tenant the consent endpoint names: unsigned, a hint only.
    pub tenant: Option<String>,
}

impl CallbackParams {
    /// Reads the parameters of a raw query string; empty values count as absent.
    pub fn from_query(query: &str) -> Self {
        let mut params = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if value.is_empty() {
                continue;
            }
            match key.as_ref() {
                "state" => params.state = Some(SecretString::from(value.into_owned())),
                "code" => params.code = Some(SecretString::from(value.into_owned())),
                "error" => params.error = Some(value.into_owned()),
                "error_description" => params.error_description = Some(value.into_owned()),
                "admin_consent" => params.admin_consent = value.eq_ignore_ascii_case("true"),
                "tenant" => params.tenant = Some(value.into_owned()),
                _ => {}
            }
        }
        params
    }
}

/// Why a callback's state was refused. Nothing is stored in these cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidState {
    Missing,
    UnknownOrUsed,
    Expired,
}

/// The `reason` the portal receives (DESIGN 1.4). A closed set: nothing
/// from the request is reflected into the redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    AccessDenied,
    ConsentDeclined,
    NotAdmin,
    TenantMismatch,
    TokenExchangeFailed,
    SignInFailed,
    AppDisabled,
    AppNotInstalled,
    InvalidRequest,
    InvalidIdToken,
    IdentityPlatformUnavailable,
    ConfigRemoved,
    StorageFailed,
    CloudNotSupported,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::ConsentDeclined => "consent_declined",
            Self::NotAdmin => "not_admin",
            Self::TenantMismatch => "tenant_mismatch",
            Self::TokenExchangeFailed => "token_exchange_failed",
            Self::SignInFailed => "sign_in_failed",
            Self::AppDisabled => "app_disabled",
            Self::AppNotInstalled => "app_not_installed",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidIdToken => "invalid_id_token",
            Self::IdentityPlatformUnavailable => "temporarily_unavailable",
            Self::ConfigRemoved => "config_removed",
            Self::StorageFailed => "storage_failed",
            Self::CloudNotSupported => "cloud_not_supported",
        }
    }

    /// The consent endpoint's `error` (research/APP-ONLY-AUTH.md 1(b):
    /// declining answers `consent_required` with AADSTS65004).
    fn of_consent_error(error: &str) -> Self {
        match error {
            "consent_required" | "access_denied" | "permission_denied" => Self::ConsentDeclined,
            other => Self::of_sign_in_error(other),
        }
    }

    /// The authorize endpoint's `error` (docs/graph.md 5.2).
    fn of_sign_in_error(error: &str) -> Self {
        match error {
            "access_denied" => Self::AccessDenied,
            "invalid_request" | "unsupported_response_type" | "invalid_resource" => {
                Self::InvalidRequest
            }
            "server_error" | "temporarily_unavailable" => Self::IdentityPlatformUnavailable,
            _ => Self::SignInFailed,
        }
    }
}

#[derive(Debug)]
pub enum CallbackOutcome {
    /// On to Microsoft for the next leg.
    Continue { tenant_id: TenantId, redirect: Url },
    /// Proven: the portal confirms the `result` its redirect carries.
    Pending { tenant_id: TenantId, redirect: Url },
    Failed {
        tenant_id: TenantId,
        reason: FailureReason,
        redirect: Url,
    },
    /// The state cannot be used: answer 400 and do nothing else.
    InvalidState(InvalidState),
    /// The store could not be asked about the state; the admin may retry.
    Unavailable,
}

/// Where a leg sends the browser next.
enum Next {
    Microsoft(Url),
    /// The one-time result id of a proven authorisation.
    Portal(String),
}

impl<S: IntegrationsStore, T: TokenStore, I: IdentityPlatform> AuthorisationFlow<S, T, I> {
    pub async fn complete(&self, params: CallbackParams, now: DateTime<Utc>) -> CallbackOutcome {
        let Some(state) = Self::state_of(&params) else {
            tracing::warn!("callback without a state refused");
            return CallbackOutcome::InvalidState(InvalidState::Missing);
        };
        if !Self::is_state_shaped(state) {
            tracing::warn!("callback with a state we never issue refused");
            return CallbackOutcome::InvalidState(InvalidState::UnknownOrUsed);
        }
        let pending = match self.store.take_pending_authorisation(state).await {
            Ok(Some(pending)) => pending,
            Ok(None) => {
                tracing::warn!("callback with an unknown or already used state refused");
                return CallbackOutcome::InvalidState(InvalidState::UnknownOrUsed);
            }
            Err(err) => {
                tracing::error!(error = %err, "could not read the pending authorisation");
                return CallbackOutcome::Unavailable;
            }
        };
        let tenant_id = pending.tenant_id.clone();
        if let Err(invalid) = Self::check_state_unexpired(&pending, now) {
            tracing::warn!(tenant_id = %tenant_id, created_at = %pending.created_at, "callback with an expired state refused");
            return CallbackOutcome::InvalidState(invalid);
        }
        let next = match &pending.leg {
            PendingLeg::Consent => self.after_consent(&pending, &params, now).await,
            PendingLeg::SignIn { .. } => self.after_sign_in(&pending, &params, now).await,
        };
        match next {
            Ok(Next::Microsoft(redirect)) => CallbackOutcome::Continue {
                tenant_id,
                redirect,
            },
            Ok(Next::Portal(result)) => CallbackOutcome::Pending {
                redirect: self.portal_redirect(&tenant_id, Ok(&result)),
                tenant_id,
            },
            Err(reason) => CallbackOutcome::Failed {
                redirect: self.portal_redirect(&tenant_id, Err(reason)),
                tenant_id,
                reason,
            },
        }
    }

    /// The consent endpoint's answer: on to a signed sign-in at the tenant
    /// it names (a hint: the id token proves it or not).
    async fn after_consent(
        &self,
        pending: &PendingAuthorisation,
        params: &CallbackParams,
        now: DateTime<Utc>,
    ) -> Result<Next, FailureReason> {
        let tenant_id = &pending.tenant_id;
        // `admin_consent=True` comes with errors too: the error first.
        if let Some(error) = &params.error {
            return Err(refused(
                tenant_id,
                "consent",
                error,
                params,
                FailureReason::of_consent_error,
            ));
        }
        let named = params.tenant.as_deref().map(Guid::parse);
        let (true, Some(Ok(entra_tenant_id))) = (params.admin_consent, named) else {
            tracing::warn!(tenant_id = %tenant_id, "the consent answer names no tenant id");
            return Err(FailureReason::InvalidRequest);
        };
        let config = self.config_still_present(tenant_id).await?;
        same_entra_tenant(tenant_id, &config, &entra_tenant_id)?;
        let identity = self.cloud_identity(&config)?;
        self.sign_in_leg(identity, pending, entra_tenant_id, false, now)
            .await
    }

    /// Sends the browser to sign in to `entra_tenant_id` under a new state
    /// bound as the first was.
    async fn sign_in_leg(
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
    async fn after_sign_in(
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
        let proven = self.prove_in_time(pending, code, now).await?;
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

    /// [`Self::prove`] within [`PROOF_BUDGET`].
    async fn prove_in_time(
        &self,
        pending: &PendingAuthorisation,
        code: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<ProvenAuthorisation, FailureReason> {
        tokio::time::timeout(PROOF_BUDGET, self.prove(pending, code, now))
            .await
            .map_err(|_| {
                tracing::warn!(tenant_id = %pending.tenant_id, budget_seconds = PROOF_BUDGET.as_secs(), "the identity platform did not answer in time");
                FailureReason::IdentityPlatformUnavailable
            })?
    }

    /// The code redeemed, the id token checked (signature, nonce, tenant),
    /// the signer an administrator who may consent, and the app's token
    /// for the tenant read for its roles.
    async fn prove(
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

    /// The identity platform of the config's cloud: a cloud the
    /// deployment stopped serving mid-flow ends it.
    fn cloud_identity(&self, config: &TenantConfig) -> Result<&I, FailureReason> {
        self.identity_of(config)
            .ok_or(FailureReason::CloudNotSupported)
    }

    /// The tenant's config, which the admin may have removed while signing in.
    pub(super) async fn config_still_present(
        &self,
        tenant_id: &TenantId,
    ) -> Result<TenantConfig, FailureReason> {
        match self.store.tenant_config(tenant_id).await {
            Ok(Some(config)) => Ok(config),
            Ok(None) => {
                tracing::warn!(tenant_id = %tenant_id, "the tenant config was removed during the sign-in");
                Err(FailureReason::ConfigRemoved)
            }
            Err(err) => {
                tracing::error!(tenant_id = %tenant_id, error = %err, "could not read the tenant config");
                Err(FailureReason::StorageFailed)
            }
        }
    }
}

/// Logs Microsoft's error (its own text: an AADSTS code and message) and
/// names the reason.
fn refused(
    tenant_id: &TenantId,
    leg: &'static str,
    error: &str,
    params: &CallbackParams,
    reason_of: fn(&str) -> FailureReason,
) -> FailureReason {
    let reason = reason_of(error);
    // Microsoft's error code and AADSTS number only: the query is anyone's
    // to write, and Microsoft's own text can name another organisation's
    // user.
    let known = error.len() <= 40 && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let aadsts = params.error_description.as_deref().and_then(aadsts_code);
    tracing::warn!(
        tenant_id = %tenant_id,
        leg,
        error = if known { error } else { "(not an OAuth error code)" },
        aadsts = aadsts.unwrap_or(""),
        reason = reason.as_str(),
        "the admin's {leg} ended with an error"
    );
    reason
}

/// `AADSTS<digits>` at the start of Microsoft's error description.
fn aadsts_code(description: &str) -> Option<&str> {
    let digits = description
        .strip_prefix("AADSTS")?
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    (1..=9)
        .contains(&digits)
        .then(|| &description[..6 + digits])
}

/// A config that names an Entra tenant accepts only that one.
fn same_entra_tenant(
    tenant_id: &TenantId,
    config: &TenantConfig,
    entra_tenant_id: &EntraTenantId,
) -> Result<(), FailureReason> {
    match &config.entra_tenant_id {
        Some(configured) if configured != entra_tenant_id => {
            tracing::warn!(tenant_id = %tenant_id, configured = %configured, named = %entra_tenant_id, "the organisation is not the configured Entra tenant; nothing is stored");
            Err(FailureReason::TenantMismatch)
        }
        _ => Ok(()),
    }
}

/// 32 random URL-safe characters: the one-time id the portal confirms.
fn random_result_id() -> String {
    oauth2::CsrfToken::new_random_len(24).secret().clone()
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_consent_answer_is_read_with_its_unsigned_tenant() {
        let params = CallbackParams::from_query(
            "admin_consent=True&tenant=6a2d4e1f-0000-4000-8000-00000000abcd&scope=x&state=s1",
        );
        assert!(params.admin_consent);
        assert_eq!(
            params.tenant.as_deref(),
            Some("6a2d4e1f-0000-4000-8000-00000000abcd")
        );
        assert_eq!(params.state.unwrap().expose_secret(), "s1");
    }

    #[test]
    fn only_the_aadsts_number_of_a_description_is_kept() {
        let text = "AADSTS50020: User account 'eve@fabrikam.com' from identity provider";
        assert_eq!(aadsts_code(text), Some("AADSTS50020"));
        assert_eq!(aadsts_code("eve@fabrikam.com"), None);
        assert_eq!(aadsts_code("AADSTS"), None);
    }

    #[test]
    fn declining_consent_and_failing_a_sign_in_have_their_own_reasons() {
        assert_eq!(
            FailureReason::of_consent_error("consent_required"),
            FailureReason::ConsentDeclined
        );
        assert_eq!(
            FailureReason::of_sign_in_error("access_denied"),
            FailureReason::AccessDenied
        );
        assert_eq!(
            FailureReason::of_sign_in_error("whatever"),
            FailureReason::SignInFailed
        );
        assert_eq!(
            FailureReason::of_consent_error("temporarily_unavailable"),
            FailureReason::IdentityPlatformUnavailable
        );
    }
}
