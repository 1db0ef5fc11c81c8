//! Redeeming the callback (DESIGN 2.12): each state once; the consent leg
//! leads to the sign-in leg, whose signed answer becomes a proven
//! authorisation that waits for the portal's confirm.

mod consent;
mod proof;
mod sign_in;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use url::Url;

use super::AuthorisationFlow;
use super::ports::{IdentityPlatform, IntegrationsStore, PendingLeg, TokenStore};
use crate::model::{EntraTenantId, TenantConfig, TenantId};

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
