//! Password verification against Entra ID (DESIGN.md 2.4), for users of
//! managed domains only, through the resource-owner password grant, with a
//! per-user failure throttle so nobody can drive a user into Entra's smart
//! lockout through this function. The password stays wrapped throughout.

pub mod entra;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::graph::GraphError;
use crate::graph::model::DomainInfo;
use crate::identity::{IdentityError, TokenErrorBody};
use crate::model::{TenantConfig, TenantId};
use crate::ports::StoreError;

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

/// What Entra's answer to the password grant means (GRAPH.md 5.5), and
/// whether it counts as a failed attempt for the throttle.
fn interpret(result: Result<(), IdentityError>) -> (Verification, bool) {
    match result {
        Ok(()) => (
            answer(VerifyResult::Valid, "the password is correct"),
            false,
        ),
        Err(IdentityError::Rejected(body)) => interpret_refusal(&body),
        Err(err) => (
            answer(
                VerifyResult::Unavailable,
                format!("Entra ID could not be asked: {err}"),
            ),
            false,
        ),
    }
}

/// A refused password grant: the AADSTS code says most, the OAuth error
/// the rest. The code, when there is one, is appended for support.
fn interpret_refusal(body: &TokenErrorBody) -> (Verification, bool) {
    let code = body.error_codes.first().copied().unwrap_or(0);
    let (result, message, failure) =
        aadsts_meaning(code).unwrap_or_else(|| oauth_error_meaning(&body.error));
    let message = if code == 0 {
        message.to_owned()
    } else {
        format!("{message} (AADSTS{code})")
    };
    (answer(result, message), failure)
}

/// What an answer means: the result, its message, and whether it counts
/// as a failed attempt.
type Meaning = (VerifyResult, &'static str, bool);

/// What an AADSTS code means whatever OAuth error comes with it; `None`
/// for codes with no meaning of their own.
fn aadsts_meaning(code: u32) -> Option<Meaning> {
    Some(match code {
        // A second factor or policy demanded after a correct password.
        50076 | 50079 | 50158 | 53003 => (
            VerifyResult::Valid,
            "the password is correct (Entra ID asked for a further check, which the platform does itself)",
            false,
        ),
        50126 => (
            VerifyResult::Invalid,
            "the user name or password is incorrect",
            true,
        ),
        50034 => (VerifyResult::NotFound, "Entra ID has no such user", true),
        50053 => (
            VerifyResult::Locked,
            "the account is locked in Entra ID",
            false,
        ),
        50055 => (
            VerifyResult::Expired,
            "the password has expired and must be changed",
            false,
        ),
        50056 => (
            VerifyResult::NotSupported,
            "the user has no password in Entra ID",
            false,
        ),
        50057 => (
            VerifyResult::Disabled,
            "the account is disabled in Entra ID",
            false,
        ),
        _ => return None,
    })
}

/// What the OAuth `error` means when the AADSTS code says nothing known.
fn oauth_error_meaning(error: &str) -> Meaning {
    match error {
        "invalid_client" | "unauthorized_client" => (
            VerifyResult::Unavailable,
            "the application is not set up for password verification in this tenant",
            false,
        ),
        "temporarily_unavailable" | "server_error" => (
            VerifyResult::Unavailable,
            "Entra ID is temporarily unavailable",
            false,
        ),
        "invalid_grant" => (
            VerifyResult::Invalid,
            "Entra ID refused the credentials",
            true,
        ),
        _ => (
            VerifyResult::Unavailable,
            "Entra ID refused the request",
            false,
        ),
    }
}

/// A verification that passed every check needing no I/O.
struct PasswordAttempt<'a> {
    tenant: &'a TenantId,
    entra_tenant_id: &'a str,
    /// The user principal name, trimmed and lowercased.
    user: String,
    domain: String,
}

impl<'a> PasswordAttempt<'a> {
    fn check(
        config: Option<&'a TenantConfig>,
        user_name: &str,
        password: &SecretString,
    ) -> Result<Self, Verification> {
        let (tenant, entra_tenant_id) = usable_integration(config)?;
        let (user, domain) = user_principal_name(user_name)?;
        if password.expose_secret().is_empty() {
            return Err(answer(VerifyResult::Invalid, "the password is empty"));
        }
        Ok(Self {
            tenant,
            entra_tenant_id,
            user,
            domain,
        })
    }
}

/// The tenant and its Entra tenant id, when the integration can be used.
fn usable_integration(config: Option<&TenantConfig>) -> Result<(&TenantId, &str), Verification> {
    let Some(config) = config else {
        return Err(answer(
            VerifyResult::Unavailable,
            "no Entra ID integration is configured for this tenant",
        ));
    };
    if !config.is_authorised() {
        return Err(answer(
            VerifyResult::Unavailable,
            "the tenant's Entra ID integration is not authorised",
        ));
    }
    let Some(entra_tenant_id) = &config.entra_tenant_id else {
        return Err(answer(
            VerifyResult::Unavailable,
            "the tenant's Entra ID tenant id is not known yet",
        ));
    };
    Ok((&config.tenant_id, entra_tenant_id.as_str()))
}

/// The user name, trimmed and lowercased, and its domain, when it has the
/// `name@domain` shape of a user principal name.
fn user_principal_name(user_name: &str) -> Result<(String, String), Verification> {
    let user = user_name.trim().to_ascii_lowercase();
    let Some((_, domain)) = user
        .rsplit_once('@')
        .filter(|(local, d)| !local.is_empty() && d.contains('.'))
    else {
        return Err(answer(
            VerifyResult::NotFound,
            "user_name is not a user principal name (name@domain)",
        ));
    };
    let domain = domain.to_owned();
    Ok((user, domain))
}

/// Only managed domains of the tenant have passwords Entra ID checks.
fn check_managed_domain(domains: &[DomainInfo], domain: &str) -> Result<(), Verification> {
    match domains.iter().find(|d| d.name == domain) {
        None => Err(answer(
            VerifyResult::NotFound,
            format!("{domain} is not a domain of the Entra tenant"),
        )),
        Some(d) if d.federated => Err(answer(
            VerifyResult::NotSupported,
            format!(
                "{domain} is a federated domain: its passwords are checked by its own identity provider"
            ),
        )),
        Some(_) => Ok(()),
    }
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
        let attempt = match PasswordAttempt::check(config, user_name, password) {
            Ok(attempt) => attempt,
            Err(refused) => return refused,
        };
        if let Err(refused) = self.ensure_not_throttled(&attempt, now).await {
            return refused;
        }
        if let Err(refused) = self.ensure_managed_domain(&attempt).await {
            return refused;
        }
        let (verification, failed) = interpret(
            self.authority
                .check_password(attempt.entra_tenant_id, &attempt.user, password)
                .await,
        );
        self.count_attempt(&attempt, &verification, failed, now)
            .await;
        tracing::info!(tenant_id = %attempt.tenant, result = verification.result.as_str(), "password verified");
        verification
    }

    /// Refuses to ask Entra ID once the user has too many recent failures,
    /// or when the counter cannot tell (asking blind risks a lockout).
    async fn ensure_not_throttled(
        &self,
        attempt: &PasswordAttempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), Verification> {
        let tenant = attempt.tenant;
        match self.failures.current(tenant, &attempt.user).await {
            Ok(Some(window))
                if window.failures >= self.policy.max_failures && window.until > now =>
            {
                Err(answer(
                    VerifyResult::Unavailable,
                    format!(
                        "too many failed attempts for this user; try again after {}",
                        window
                            .until
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ))
            }
            Ok(_) => Ok(()),
            Err(err) => {
                tracing::error!(tenant_id = %tenant, error = %err, "the failure counter cannot be read; not asking Entra ID");
                Err(answer(
                    VerifyResult::Unavailable,
                    "password verification is unavailable right now",
                ))
            }
        }
    }

    async fn ensure_managed_domain(
        &self,
        attempt: &PasswordAttempt<'_>,
    ) -> Result<(), Verification> {
        let domains = match self.authority.domains().await {
            Ok(domains) => domains,
            Err(err) => {
                tracing::warn!(tenant_id = %attempt.tenant, error = %err, "the tenant's domains cannot be read");
                return Err(answer(
                    VerifyResult::Unavailable,
                    "Entra ID could not be asked for the user's domain",
                ));
            }
        };
        check_managed_domain(&domains, &attempt.domain)
    }

    /// Counts a wrong credential against the throttle; a correct password
    /// clears the count. Failing to write either is logged, not answered.
    async fn count_attempt(
        &self,
        attempt: &PasswordAttempt<'_>,
        verification: &Verification,
        failed: bool,
        now: DateTime<Utc>,
    ) {
        let (tenant, user) = (attempt.tenant, &attempt.user);
        if failed {
            if let Err(err) = self
                .failures
                .record_failure(tenant, user, now, self.policy.window)
                .await
            {
                tracing::error!(tenant_id = %tenant, error = %err, "could not count a failed attempt");
            }
        } else if verification.result == VerifyResult::Valid
            && let Err(err) = self.failures.clear(tenant, user).await
        {
            tracing::warn!(tenant_id = %tenant, error = %err, "could not reset the failure count");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_refusal_names_its_aadsts_code_when_entra_gives_one() {
        let (verification, _) = interpret(rejected("invalid_grant", 50126));
        assert_eq!(
            verification.message,
            "the user name or password is incorrect (AADSTS50126)"
        );
        let (verification, failure) = interpret(Err(IdentityError::Rejected(TokenErrorBody {
            error: "invalid_grant".into(),
            error_description: None,
            error_codes: vec![],
            suberror: None,
        })));
        assert_eq!(verification.message, "Entra ID refused the credentials");
        assert_eq!(
            (verification.result, failure),
            (VerifyResult::Invalid, true)
        );
    }

    #[test]
    fn user_names_are_trimmed_lowercased_and_must_be_principal_names() {
        assert_eq!(
            user_principal_name("  Megan@Contoso.COM ").unwrap(),
            ("megan@contoso.com".to_owned(), "contoso.com".to_owned())
        );
        for bad in ["megan", "@contoso.com", "megan@localhost", ""] {
            let refused = user_principal_name(bad).unwrap_err();
            assert_eq!(refused.result, VerifyResult::NotFound, "{bad:?}");
        }
    }

    fn config(item: serde_json::Value) -> TenantConfig {
        TenantConfig::from_attributes(item.as_object().unwrap()).unwrap()
    }

    #[test]
    fn only_an_authorised_integration_with_a_known_entra_tenant_is_usable() {
        assert!(usable_integration(None).is_err());
        let unauthorised = config(serde_json::json!({"tenant_id": "acme"}));
        assert!(usable_integration(Some(&unauthorised)).is_err());
        let unknown_tenant = config(serde_json::json!({
            "tenant_id": "acme", "authorisation": "authorised"
        }));
        assert!(usable_integration(Some(&unknown_tenant)).is_err());
        let usable = config(serde_json::json!({
            "tenant_id": "acme", "authorisation": "authorised",
            "entra_tenant_id": "6a2d4e1f-0000-4000-8000-00000000abcd"
        }));
        let (tenant, entra_tenant_id) = usable_integration(Some(&usable)).unwrap();
        assert_eq!(tenant.as_str(), "acme");
        assert_eq!(entra_tenant_id, "6a2d4e1f-0000-4000-8000-00000000abcd");
    }

    #[test]
    fn only_managed_domains_of_the_tenant_are_checked_by_entra() {
        let domains = [
            DomainInfo {
                name: "contoso.com".into(),
                federated: false,
                verified: true,
            },
            DomainInfo {
                name: "federated.contoso.com".into(),
                federated: true,
                verified: true,
            },
        ];
        assert!(check_managed_domain(&domains, "contoso.com").is_ok());
        let federated = check_managed_domain(&domains, "federated.contoso.com").unwrap_err();
        assert_eq!(federated.result, VerifyResult::NotSupported);
        let unknown = check_managed_domain(&domains, "fabrikam.com").unwrap_err();
        assert_eq!(unknown.result, VerifyResult::NotFound);
    }
}
