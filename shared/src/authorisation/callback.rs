//! Redeeming the callback: the state once, the code once, then the tokens.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;

use super::AuthorisationFlow;
use super::ports::{
    AuthorisationRecord, IdentityPlatform, IntegrationsStore, RecordOutcome, TenantTokens,
    TokenStore,
};
use crate::model::TenantId;

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

    /// Maps the `error` of an authorize redirect (GRAPH.md 5.2).
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

    async fn redeem(
        &self,
        pending: &super::PendingAuthorisation,
        params: &CallbackParams,
        now: DateTime<Utc>,
    ) -> Result<(), FailureReason> {
        let tenant_id = &pending.tenant_id;
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
        let Some(code) = &params.code else {
            tracing::warn!(tenant_id = %tenant_id, "callback has a valid state but neither code nor error");
            return Err(FailureReason::InvalidRequest);
        };

        let config = match self.store.tenant_config(tenant_id).await {
            Ok(Some(config)) => config,
            Ok(None) => {
                tracing::warn!(tenant_id = %tenant_id, "the tenant config was removed during the sign-in");
                return Err(FailureReason::ConfigRemoved);
            }
            Err(err) => {
                tracing::error!(tenant_id = %tenant_id, error = %err, "could not read the tenant config");
                return Err(FailureReason::StorageFailed);
            }
        };

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
        if let Some(configured) = &config.entra_tenant_id
            && configured != &claims.tenant_id
        {
            tracing::warn!(
                tenant_id = %tenant_id,
                configured_entra_tenant = %configured,
                signed_in_entra_tenant = %claims.tenant_id,
                "the admin signed in to another Entra tenant; nothing stored"
            );
            return Err(FailureReason::TenantMismatch);
        }
        let Some(refresh_token) = grant.refresh_token else {
            tracing::warn!(tenant_id = %tenant_id, "no refresh token was granted (offline_access refused?)");
            return Err(FailureReason::NoRefreshToken);
        };

        let record = AuthorisationRecord {
            entra_tenant_id: claims.tenant_id.clone(),
            authorised_at: now,
            authorised_by: claims.preferred_username.clone(),
        };
        self.tokens
            .save_tenant_tokens(
                tenant_id,
                &TenantTokens {
                    entra_tenant_id: claims.tenant_id.clone(),
                    refresh_token,
                    scope: grant.scope.clone(),
                    authorised_at: now,
                    authorised_by: claims.preferred_username.clone(),
                },
            )
            .await
            .map_err(|err| {
                tracing::error!(tenant_id = %tenant_id, error = %err, "could not store the tenant's tokens");
                FailureReason::StorageFailed
            })?;
        match self.store.record_authorisation(tenant_id, &record).await {
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
