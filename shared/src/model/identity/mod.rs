//! The identity platform's values as the engines speak them (DESIGN
//! 2.12): a token grant, an app token and its roles, id-token claims, a
//! sign-in request and the errors. The `identity` adapter produces them;
//! the authorisation flow's port names them without depending on it.

pub mod app_token;
pub mod claims;

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

pub use app_token::{AppToken, GRAPH_DEFAULT_SCOPE, REQUIRED_APP_ROLES};
pub use claims::{ClaimsError, IdTokenClaims};

/// `{tenant}` of the identity endpoints: a tenant GUID once known, otherwise
/// `organizations` (any work or school account).
pub fn authority(entra_tenant_id: Option<&crate::model::EntraTenantId>) -> String {
    entra_tenant_id
        .map(|t| t.to_string())
        .unwrap_or_else(|| "organizations".to_owned())
}

/// Global Administrator and Privileged Role Administrator (role template
/// ids): either may grant tenant-wide consent.
pub const CONSENTING_ADMIN_ROLES: &[&str] = &[
    "62e90394-69f5-4237-9190-012177145e10",
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
];

/// One sign-in attempt: the URL and what redeems and checks its answer.
#[derive(Debug)]
pub struct SignInRequest {
    pub url: Url,
    pub state: SecretString,
    pub pkce_verifier: SecretString,
    pub nonce: SecretString,
}

/// How the app proves itself on a token request (DESIGN 2.12): its client
/// secret, or a JWT from another issuer that the app registration trusts
/// through a federated identity credential (`client_assertion`).
#[derive(Clone)]
pub enum AppCredential {
    ClientSecret(SecretString),
    ClientAssertion(SecretString),
}

impl AppCredential {
    /// Whether two credentials are the same value (a re-read that found
    /// nothing new must not be retried).
    pub fn same_as(&self, other: &AppCredential) -> bool {
        use secrecy::ExposeSecret;
        match (self, other) {
            (Self::ClientSecret(a), Self::ClientSecret(b))
            | (Self::ClientAssertion(a), Self::ClientAssertion(b)) => crate::model::same_digest(
                a.expose_secret().as_bytes(),
                b.expose_secret().as_bytes(),
            ),
            _ => false,
        }
    }
}

impl std::fmt::Debug for AppCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ClientSecret(_) => "ClientSecret(..)",
            Self::ClientAssertion(_) => "ClientAssertion(..)",
        })
    }
}

/// Entra's token error body (docs/graph.md 5.4). Its text never contains a secret.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct TokenErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<u32>,
    #[serde(default)]
    pub suberror: Option<String>,
}

impl std::fmt::Display for TokenErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(code) = self.error_codes.first() {
            write!(f, " (AADSTS{code})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The identity platform answered with an OAuth error.
    #[error("the identity platform refused the request: {0}")]
    Rejected(TokenErrorBody),
    #[error("could not reach the identity platform: {0}")]
    Transport(String),
    #[error("the identity platform's answer could not be read")]
    UnreadableResponse,
    #[error("the app's configuration is unusable: {0}")]
    Configuration(String),
}

impl IdentityError {
    /// The grant (code or refresh token) is dead: only a new sign-in helps.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::Rejected(body) if body.error == "invalid_grant")
    }

    /// Microsoft refused the app's own credential, which a fresh one may
    /// cure: a client secret invalid (AADSTS7000215, rotated) or expired
    /// (7000222); a federated assertion expired (700024), failing its
    /// signature check (700027, the issuer rotated its keys) or matching no
    /// federated identity credential yet (70021: they take minutes to
    /// propagate).
    pub fn is_refused_app_credential(&self) -> bool {
        matches!(self, Self::Rejected(body)
            if body.error_codes.iter().any(|c| matches!(c, 7000215 | 7000222 | 700024 | 700027 | 70021)))
    }

    /// The app is not in the customer tenant: never consented there, or
    /// its enterprise application deleted (AADSTS700016).
    pub fn is_app_not_installed(&self) -> bool {
        self.has_code(700016)
    }

    /// The app's enterprise application is disabled in the customer tenant
    /// (AADSTS7000112).
    pub fn is_app_disabled(&self) -> bool {
        self.has_code(7000112)
    }

    fn has_code(&self, code: u32) -> bool {
        matches!(self, Self::Rejected(body) if body.error_codes.contains(&code))
    }

    /// A later attempt may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) | Self::UnreadableResponse => true,
            Self::Rejected(body) => {
                matches!(
                    body.error.as_str(),
                    "temporarily_unavailable" | "server_error"
                )
            }
            Self::Configuration(_) => false,
        }
    }
}

/// Tokens from one grant. `Debug` shows no values.
#[derive(Debug)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<SecretString>,
    pub scope: String,
    pub expires_in: Duration,
}
