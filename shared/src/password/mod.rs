//! Password verification against Entra ID (docs/behaviour.md 2.4), for users of
//! managed domains only, through the resource-owner password grant. Each
//! attempt is reserved against a per-user limit before Entra ID is asked
//! (2.11) and counted per Entra account, so nobody can drive a user into
//! Entra's smart lockout through
//! this function. The password stays wrapped throughout; every message is
//! fixed text, never an error's own words.

mod answers;
pub mod attempts;
pub mod entra;

use std::future::Future;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

pub use attempts::{
    AttemptAccount, AttemptLedger, Reservation, Settlement, ThrottlePolicy, carried_attempts,
};

use crate::model::entra::DomainInfo;
use crate::model::entra::GraphError;
use crate::model::identity::IdentityError;
use crate::model::{TenantConfig, TenantId};

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

/// An answer with fixed text: the only way messages are made, so that no
/// error's own words (an AWS error, an ARN) can reach the caller.
pub fn answer(result: VerifyResult, message: &'static str) -> Verification {
    Verification {
        result,
        message: message.to_owned(),
    }
}

/// The answer when the store cannot reserve the attempt: Entra ID is not
/// asked blind.
const STORE_UNAVAILABLE: &str = "password verification is unavailable right now";

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

/// A verification that passed every check needing no I/O.
struct PasswordAttempt<'a> {
    tenant: &'a TenantId,
    entra_tenant_id: &'a str,
    /// The user principal name, trimmed and lowercased.
    user: String,
    domain: String,
    /// What the attempt counts against: the Entra account, not the AM
    /// tenant that asks (several may share one Entra tenant).
    account: AttemptAccount,
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
            account: AttemptAccount::new(entra_tenant_id, &user),
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
            "the user's domain is not a domain of the Entra tenant",
        )),
        Some(d) if d.federated => Err(answer(
            VerifyResult::NotSupported,
            "the user's domain is federated: its passwords are checked by its own identity provider",
        )),
        Some(_) => Ok(()),
    }
}

/// The answer once the user's attempts in the window reached the limit.
fn too_many_attempts(until: DateTime<Utc>) -> Verification {
    let mut refused = answer(
        VerifyResult::Unavailable,
        "too many failed attempts for this user; try again after",
    );
    refused.message.push(' ');
    refused
        .message
        .push_str(&until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    refused
}

pub struct PasswordVerifier<'a, L, A> {
    pub attempts: &'a L,
    pub authority: &'a A,
    pub policy: ThrottlePolicy,
}

impl<L: AttemptLedger, A: PasswordAuthority> PasswordVerifier<'_, L, A> {
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
        if let Err(refused) = self.ensure_managed_domain(&attempt).await {
            return refused;
        }
        let window_until = match self.reserve(&attempt, now).await {
            Ok(window_until) => window_until,
            Err(refused) => return refused,
        };
        let (verification, settlement) = answers::interpret(
            self.authority
                .check_password(attempt.entra_tenant_id, &attempt.user, password)
                .await,
        );
        if settlement == Settlement::Release {
            self.release(&attempt, window_until).await;
        }
        tracing::info!(tenant_id = %attempt.tenant, result = verification.result.as_str(), "password verified");
        verification
    }

    /// Reserves the attempt before Entra ID is asked; refuses when the
    /// user's window is full, or when the store cannot say (asking blind
    /// risks a lockout).
    async fn reserve(
        &self,
        attempt: &PasswordAttempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, Verification> {
        let tenant = attempt.tenant;
        match self
            .attempts
            .reserve(&attempt.account, self.policy, now)
            .await
        {
            Ok(Reservation::Admitted { window_until }) => Ok(window_until),
            Ok(Reservation::Refused { until }) => {
                tracing::warn!(tenant_id = %tenant, "too many attempts for a user; Entra ID not asked");
                Err(too_many_attempts(until))
            }
            Err(err) => {
                tracing::error!(tenant_id = %tenant, error = %err, "the attempt cannot be reserved; not asking Entra ID");
                Err(answer(VerifyResult::Unavailable, STORE_UNAVAILABLE))
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

    /// Gives back an attempt Entra ID did not count. Failing to is logged,
    /// not answered: the attempt then counts until its window ends.
    async fn release(&self, attempt: &PasswordAttempt<'_>, window_until: DateTime<Utc>) {
        if let Err(err) = self.attempts.release(&attempt.account, window_until).await {
            tracing::warn!(tenant_id = %attempt.tenant, error = %err, "could not give back a reserved attempt");
        }
    }
}

#[cfg(test)]
mod tests;
