//! Password verification against Entra ID (DESIGN.md 2.4), for users of
//! managed domains only, through the resource-owner password grant, with a
//! per-user failure throttle so nobody can drive a user into Entra's smart
//! lockout through this function. The password stays wrapped throughout.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::graph::GraphError;
use crate::graph::model::DomainInfo;
use crate::identity::IdentityError;
use crate::model::{TenantConfig, TenantId};
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyResult {
    Valid,
    Invalid,
    Locked,
    Expired,
    Disabled,
    NotFound,
    NotSupported,
    Unavailable,
}

impl VerifyResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Locked => "locked",
            Self::Expired => "expired",
            Self::Disabled => "disabled",
            Self::NotFound => "not_found",
            Self::NotSupported => "not_supported",
            Self::Unavailable => "unavailable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub result: VerifyResult,
    pub message: String,
}

fn answer(result: VerifyResult, message: impl Into<String>) -> Verification {
    Verification {
        result,
        message: message.into(),
    }
}

/// Failed attempts allowed per user within a window before the function
/// stops asking Entra ID (Entra's smart lockout starts at 10 by default).
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Recent failed attempts of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureWindow {
    pub failures: u32,
    pub until: DateTime<Utc>,
}

pub trait FailureCounter: Send + Sync {
    fn current(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> impl Future<Output = Result<Option<FailureWindow>, StoreError>> + Send;
    /// Counts one failure, opening a new window when the last one ended.
    fn record_failure(
        &self,
        tenant: &TenantId,
        user: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn clear(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Entra ID as password verification needs it.
pub trait PasswordAuthority: Send + Sync {
    fn domains(&self) -> impl Future<Output = Result<Vec<DomainInfo>, GraphError>> + Send;
    fn check_password(
        &self,
        entra_tenant_id: &str,
        user_name: &str,
        password: &SecretString,
    ) -> impl Future<Output = Result<(), IdentityError>> + Send;
}

/// What Entra's answer to the password grant means (GRAPH.md 5.5).
fn interpret(result: Result<(), IdentityError>) -> (Verification, bool) {
    let body = match result {
        Ok(()) => {
            return (
                answer(VerifyResult::Valid, "the password is correct"),
                false,
            );
        }
        Err(IdentityError::Rejected(body)) => body,
        Err(err) => {
            return (
                answer(
                    VerifyResult::Unavailable,
                    format!("Entra ID could not be asked: {err}"),
                ),
                false,
            );
        }
    };
    let code = body.error_codes.first().copied().unwrap_or(0);
    let (result, message, failure) = match (body.error.as_str(), code) {
        // A second factor or policy demanded after a correct password.
        (_, 50076 | 50079 | 50158 | 53003) => (
            VerifyResult::Valid,
            "the password is correct (Entra ID asked for a further check, which the platform does itself)",
            false,
        ),
        (_, 50126) => (
            VerifyResult::Invalid,
            "the user name or password is incorrect",
            true,
        ),
        (_, 50034) => (VerifyResult::NotFound, "Entra ID has no such user", true),
        (_, 50053) => (
            VerifyResult::Locked,
            "the account is locked in Entra ID",
            false,
        ),
        (_, 50055) => (
            VerifyResult::Expired,
            "the password has expired and must be changed",
            false,
        ),
        (_, 50056) => (
            VerifyResult::NotSupported,
            "the user has no password in Entra ID",
            false,
        ),
        (_, 50057) => (
            VerifyResult::Disabled,
            "the account is disabled in Entra ID",
            false,
        ),
        ("invalid_client" | "unauthorized_client", _) => (
            VerifyResult::Unavailable,
            "the application is not set up for password verification in this tenant",
            false,
        ),
        ("temporarily_unavailable" | "server_error", _) => (
            VerifyResult::Unavailable,
            "Entra ID is temporarily unavailable",
            false,
        ),
        ("invalid_grant", _) => (
            VerifyResult::Invalid,
            "Entra ID refused the credentials",
            true,
        ),
        _ => (
            VerifyResult::Unavailable,
            "Entra ID refused the request",
            false,
        ),
    };
    let message = if code == 0 {
        message.to_owned()
    } else {
        format!("{message} (AADSTS{code})")
    };
    (answer(result, message), failure)
}

pub struct PasswordVerifier<'a, C, A> {
    pub failures: &'a C,
    pub authority: &'a A,
    pub policy: ThrottlePolicy,
}

impl<C: FailureCounter, A: PasswordAuthority> PasswordVerifier<'_, C, A> {
    pub async fn verify(
        &self,
        config: Option<&TenantConfig>,
        user_name: &str,
        password: &SecretString,
        now: DateTime<Utc>,
    ) -> Verification {
        let Some(config) = config else {
            return answer(
                VerifyResult::Unavailable,
                "no Entra ID integration is configured for this tenant",
            );
        };
        if !config.is_authorised() {
            return answer(
                VerifyResult::Unavailable,
                "the tenant's Entra ID integration is not authorised",
            );
        }
        let Some(entra_tenant_id) = &config.entra_tenant_id else {
            return answer(
                VerifyResult::Unavailable,
                "the tenant's Entra ID tenant id is not known yet",
            );
        };
        let user = user_name.trim().to_ascii_lowercase();
        let Some((_, domain)) = user
            .rsplit_once('@')
            .filter(|(local, d)| !local.is_empty() && d.contains('.'))
        else {
            return answer(
                VerifyResult::NotFound,
                "user_name is not a user principal name (name@domain)",
            );
        };
        if password.expose_secret().is_empty() {
            return answer(VerifyResult::Invalid, "the password is empty");
        }
        let tenant = &config.tenant_id;
        match self.failures.current(tenant, &user).await {
            Ok(Some(window))
                if window.failures >= self.policy.max_failures && window.until > now =>
            {
                return answer(
                    VerifyResult::Unavailable,
                    format!(
                        "too many failed attempts for this user; try again after {}",
                        window
                            .until
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                );
            }
            Ok(_) => {}
            Err(err) => {
                tracing::error!(tenant_id = %tenant, error = %err, "the failure counter cannot be read; not asking Entra ID");
                return answer(
                    VerifyResult::Unavailable,
                    "password verification is unavailable right now",
                );
            }
        }
        let domains = match self.authority.domains().await {
            Ok(domains) => domains,
            Err(err) => {
                tracing::warn!(tenant_id = %tenant, error = %err, "the tenant's domains cannot be read");
                return answer(
                    VerifyResult::Unavailable,
                    "Entra ID could not be asked for the user's domain",
                );
            }
        };
        match domains.iter().find(|d| d.name == domain) {
            None => {
                return answer(
                    VerifyResult::NotFound,
                    format!("{domain} is not a domain of the Entra tenant"),
                );
            }
            Some(d) if d.federated => {
                return answer(
                    VerifyResult::NotSupported,
                    format!(
                        "{domain} is a federated domain: its passwords are checked by its own identity provider"
                    ),
                );
            }
            Some(_) => {}
        }
        let (verification, failed) = interpret(
            self.authority
                .check_password(entra_tenant_id.as_str(), &user, password)
                .await,
        );
        if failed {
            if let Err(err) = self
                .failures
                .record_failure(tenant, &user, now, self.policy.window)
                .await
            {
                tracing::error!(tenant_id = %tenant, error = %err, "could not count a failed attempt");
            }
        } else if verification.result == VerifyResult::Valid
            && let Err(err) = self.failures.clear(tenant, &user).await
        {
            tracing::warn!(tenant_id = %tenant, error = %err, "could not reset the failure count");
        }
        tracing::info!(tenant_id = %tenant, result = verification.result.as_str(), "password verified");
        verification
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::TokenErrorBody;

    fn rejected(error: &str, code: u32) -> Result<(), IdentityError> {
        Err(IdentityError::Rejected(TokenErrorBody {
            error: error.into(),
            error_description: None,
            error_codes: vec![code],
            suberror: None,
        }))
    }

    #[test]
    fn entra_answers_map_to_results_and_only_wrong_credentials_count_as_failures() {
        let cases = [
            (Ok(()), VerifyResult::Valid, false),
            (
                rejected("invalid_grant", 50126),
                VerifyResult::Invalid,
                true,
            ),
            (
                rejected("invalid_grant", 50034),
                VerifyResult::NotFound,
                true,
            ),
            (
                rejected("invalid_grant", 50053),
                VerifyResult::Locked,
                false,
            ),
            (
                rejected("invalid_grant", 50055),
                VerifyResult::Expired,
                false,
            ),
            (
                rejected("invalid_grant", 50056),
                VerifyResult::NotSupported,
                false,
            ),
            (
                rejected("invalid_grant", 50057),
                VerifyResult::Disabled,
                false,
            ),
            (rejected("invalid_grant", 50076), VerifyResult::Valid, false),
            (
                rejected("interaction_required", 50079),
                VerifyResult::Valid,
                false,
            ),
            (rejected("invalid_grant", 53003), VerifyResult::Valid, false),
            (
                rejected("invalid_client", 7000215),
                VerifyResult::Unavailable,
                false,
            ),
            (
                Err(IdentityError::Transport("timed out".into())),
                VerifyResult::Unavailable,
                false,
            ),
        ];
        for (input, expected, counted) in cases {
            let (verification, failure) = interpret(input);
            assert_eq!(verification.result, expected, "{}", verification.message);
            assert_eq!(failure, counted, "{}", verification.message);
        }
    }
}
