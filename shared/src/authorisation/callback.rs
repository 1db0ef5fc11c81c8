//! Redeeming the callback: the state once, the code once, then the tokens.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;

use super::AuthorisationFlow;
use super::ports::{
    AuthorisationRecord, IdentityPlatform, IntegrationsStore, RecordOutcome, TenantGrant,
    TokenStore,
};
use crate::identity::{IdTokenClaims, TokenGrant};
use crate::model::{EntraTenantId, TenantConfig, TenantId};

/// The callback's query, parsed at the edge. Values stay wrapped: the code
/// is a credential and the state a single-use key.
#[derive(Debug, Default)]
pub struct CallbackParams {
    pub state: Option<SecretString>,
    pub code: Option<SecretString>,
    pub error: Option<String>,
    pub error_description: Option<String>,
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

/// The `reason` the portal receives. A closed set: nothing from the request
/// is reflected into the redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    AccessDenied,
    ConsentRequired,
    InteractionRequired,
    LoginRequired,
    InvalidRequest,
    IdentityPlatformUnavailable,
    AuthorizationFailed,
    TenantMismatch,
    TokenExchangeFailed,
    InvalidIdToken,
    NoRefreshToken,
    ConfigRemoved,
    StorageFailed,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "access_denied",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::LoginRequired => "login_required",
            Self::InvalidRequest => "invalid_request",
            Self::IdentityPlatformUnavailable => "temporarily_unavailable",
            Self::AuthorizationFailed => "authorization_failed",
            Self::TenantMismatch => "tenant_mismatch",
            Self::TokenExchangeFailed => "token_exchange_failed",
            Self::InvalidIdToken => "invalid_id_token",
            Self::NoRefreshToken => "no_refresh_token",
            Self::ConfigRemoved => "config_removed",
            Self::StorageFailed => "storage_failed",
        }
    }

    /// Maps the `error` of an authorize redirect (docs/graph.md 5.2).
    fn from_authorize_error(error: &str) -> Self {
        match error {
            "access_denied" => Self::AccessDenied,
            "consent_required" => Self::ConsentRequired,
            "interaction_required" => Self::InteractionRequired,
            "login_required" => Self::LoginRequired,
            "invalid_request" | "unsupported_response_type" | "invalid_resource" => {
                Self::InvalidRequest
            }
            "server_error" | "temporarily_unavailable" => Self::IdentityPlatformUnavailable,
            _ => Self::AuthorizationFailed,
        }
    }
}

#[derive(Debug)]
pub enum CallbackOutcome {
    Authorised {
        tenant_id: TenantId,
        redirect: Url,
    },
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

impl<S: IntegrationsStore, T: TokenStore, I: IdentityPlatform> AuthorisationFlow<S, T, I> {
    pub async fn complete(&self, params: CallbackParams, now: DateTime<Utc>) -> CallbackOutcome {
        let Some(state) = Self::state_of(&params) else {
            tracing::warn!("callback without a state refused");
            return CallbackOutcome::InvalidState(InvalidState::Missing);
        };
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

        match self.redeem(&pending, &params, now).await {
            Ok(()) => CallbackOutcome::Authorised {
                redirect: self.portal_redirect(&tenant_id, None),
                tenant_id,
            },
            Err(reason) => CallbackOutcome::Failed {
                redirect: self.portal_redirect(&tenant_id, Some(reason)),
                tenant_id,
                reason,
            },
        }
    }

    /// Turns a callback with a valid state into a stored grant: the code
    /// redeemed, the signed-in Entra tenant checked, the tokens saved, the
    /// config marked authorised.
    async fn redeem(
        &self,
        pending: &super::PendingAuthorisation,
        params: &CallbackParams,
        now: DateTime<Utc>,
    ) -> Result<(), FailureReason> {
        let tenant_id = &pending.tenant_id;
        let code = authorization_code(tenant_id, params)?;
        let config = self.config_still_present(tenant_id).await?;
        let (grant, claims) = self.redeem_code(pending, code, now).await?;
        ensure_same_entra_tenant(tenant_id, config.entra_tenant_id.as_ref(), &claims)?;
        let Some(refresh_token) = grant.refresh_token else {
            tracing::warn!(tenant_id = %tenant_id, "no refresh token was granted (offline_access refused?)");
            return Err(FailureReason::NoRefreshToken);
        };
        // Claim, then store: a sign-in to another organisation that raced
        // this one leaves no trace (the read above may be stale).
        self.claim(tenant_id, &claims.tenant_id).await?;
        let tokens = TenantGrant {
            entra_tenant_id: claims.tenant_id.clone(),
            refresh_token,
            scope: grant.scope.clone(),
            authorised_at: now,
            authorised_by: claims.preferred_username.clone(),
        };
        // Tokens first: a config marked authorised must have a grant to use.
        self.save_tokens(tenant_id, &tokens).await?;
        self.mark_authorised(
            tenant_id,
            &AuthorisationRecord {
                entra_tenant_id: claims.tenant_id,
                authorised_at: now,
                authorised_by: claims.preferred_username,
            },
        )
        .await
    }

    /// The tenant's config, which the admin may have removed while signing in.
    async fn config_still_present(
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

    /// Exchanges the code for tokens and validates the id token that says
    /// who signed in, to which Entra tenant.
    async fn redeem_code(
        &self,
        pending: &super::PendingAuthorisation,
        code: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<(TokenGrant, IdTokenClaims), FailureReason> {
        let tenant_id = &pending.tenant_id;
        let grant = self
            .identity
            .exchange_code(&pending.authority, code, &pending.pkce_verifier)
            .await
            .map_err(|err| {
                tracing::warn!(tenant_id = %tenant_id, error = %err, "the code exchange failed");
                FailureReason::TokenExchangeFailed
            })?;
        let Some(id_token) = &grant.id_token else {
            tracing::warn!(tenant_id = %tenant_id, "the token response has no id token");
            return Err(FailureReason::InvalidIdToken);
        };
        let claims = self
            .identity
            .id_token_claims(id_token, now)
            .map_err(|err| {
                tracing::warn!(tenant_id = %tenant_id, error = %err, "the id token was refused");
                FailureReason::InvalidIdToken
            })?;
        Ok((grant, claims))
    }

    async fn save_tokens(
        &self,
        tenant_id: &TenantId,
        tokens: &TenantGrant,
    ) -> Result<(), FailureReason> {
        self.tokens
            .save_tenant_tokens(tenant_id, tokens)
            .await
            .map_err(|err| {
                tracing::error!(tenant_id = %tenant_id, error = %err, "could not store the tenant's tokens");
                FailureReason::StorageFailed
            })
    }

    /// Settles, by one conditional write, that the config is for this
    /// Entra tenant, before anything of the sign-in is stored.
    async fn claim(
        &self,
        tenant_id: &TenantId,
        entra_tenant_id: &crate::model::EntraTenantId,
    ) -> Result<(), FailureReason> {
        match self
            .store
            .claim_entra_tenant(tenant_id, entra_tenant_id)
            .await
        {
            Ok(RecordOutcome::Recorded) => Ok(()),
            Ok(RecordOutcome::ConfigMissing) => Err(FailureReason::ConfigRemoved),
            Ok(RecordOutcome::TenantMismatch) => {
                tracing::warn!(tenant_id = %tenant_id, signed_in_entra_tenant = %entra_tenant_id, "the config was claimed by another Entra tenant during the sign-in; nothing is stored");
                Err(FailureReason::TenantMismatch)
            }
            Err(err) => {
                tracing::error!(tenant_id = %tenant_id, error = %err, "could not claim the config for the Entra tenant");
                Err(FailureReason::StorageFailed)
            }
        }
    }

    /// Marks the config authorised; the store refuses when the config went
    /// away or now names another Entra tenant.
    async fn mark_authorised(
        &self,
        tenant_id: &TenantId,
        record: &AuthorisationRecord,
    ) -> Result<(), FailureReason> {
        match self.store.record_authorisation(tenant_id, record).await {
            Ok(RecordOutcome::Recorded) => {
                tracing::info!(
                    tenant_id = %tenant_id,
                    entra_tenant_id = %record.entra_tenant_id,
                    authorised_by = record.authorised_by.as_deref().unwrap_or(""),
                    "integration authorised"
                );
                Ok(())
            }
            Ok(RecordOutcome::ConfigMissing) => Err(FailureReason::ConfigRemoved),
            Ok(RecordOutcome::TenantMismatch) => Err(FailureReason::TenantMismatch),
            Err(err) => {
                tracing::error!(tenant_id = %tenant_id, error = %err, "could not mark the config authorised");
                Err(FailureReason::StorageFailed)
            }
        }
    }
}

/// The code of a callback with a valid state, or why the sign-in produced
/// none: Entra's `error`, or neither code nor error.
fn authorization_code<'p>(
    tenant_id: &TenantId,
    params: &'p CallbackParams,
) -> Result<&'p SecretString, FailureReason> {
    if let Some(error) = &params.error {
        let reason = FailureReason::from_authorize_error(error);
        // Entra's description is its own text (AADSTS code and message).
        tracing::warn!(
            tenant_id = %tenant_id,
            error = %error,
            description = params.error_description.as_deref().unwrap_or(""),
            reason = reason.as_str(),
            "the admin's sign-in ended with an error"
        );
        return Err(reason);
    }
    params.code.as_ref().ok_or_else(|| {
        tracing::warn!(tenant_id = %tenant_id, "callback has a valid state but neither code nor error");
        FailureReason::InvalidRequest
    })
}

/// A config that already names an Entra tenant accepts only a sign-in to
/// that tenant: nothing of another organisation is stored.
fn ensure_same_entra_tenant(
    tenant_id: &TenantId,
    configured: Option<&EntraTenantId>,
    claims: &IdTokenClaims,
) -> Result<(), FailureReason> {
    match configured {
        Some(configured) if configured != &claims.tenant_id => {
            tracing::warn!(
                tenant_id = %tenant_id,
                configured_entra_tenant = %configured,
                signed_in_entra_tenant = %claims.tenant_id,
                "the admin signed in to another Entra tenant; nothing stored"
            );
            Err(FailureReason::TenantMismatch)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Guid;
    use secrecy::ExposeSecret;

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn given_an_authorize_error_then_its_reason_and_no_code() {
        let params = CallbackParams::from_query("state=s&error=consent_required&code=c");
        assert_eq!(
            authorization_code(&tenant(), &params).unwrap_err(),
            FailureReason::ConsentRequired
        );
    }

    #[test]
    fn given_neither_code_nor_error_then_an_invalid_request() {
        let params = CallbackParams::from_query("state=s&code=");
        assert_eq!(
            authorization_code(&tenant(), &params).unwrap_err(),
            FailureReason::InvalidRequest
        );
        let params = CallbackParams::from_query("state=s&code=c");
        assert_eq!(
            authorization_code(&tenant(), &params)
                .unwrap()
                .expose_secret(),
            "c"
        );
    }

    #[test]
    fn given_a_configured_entra_tenant_then_only_a_sign_in_to_it_is_accepted() {
        let contoso = EntraTenantId::parse("3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13").unwrap();
        let fabrikam = EntraTenantId::parse("9b1c7e2a-0d4f-4e6b-a8c3-5f7d9e1b2c40").unwrap();
        let claims = IdTokenClaims {
            tenant_id: contoso.clone(),
            object_id: Guid::parse("a1b2c3d4-0000-4000-8000-000000000001").unwrap(),
            preferred_username: None,
            audience: String::new(),
            issuer: String::new(),
            expires_at: 0,
        };
        assert!(ensure_same_entra_tenant(&tenant(), None, &claims).is_ok());
        assert!(ensure_same_entra_tenant(&tenant(), Some(&contoso), &claims).is_ok());
        assert_eq!(
            ensure_same_entra_tenant(&tenant(), Some(&fabrikam), &claims).unwrap_err(),
            FailureReason::TenantMismatch
        );
    }
}
