//! Where the app's credential comes from (DESIGN 2.12): its client secret
//! in Secrets Manager (`ENTRA_CLIENT_AUTH=secret`), or a short-lived JWT
//! from AWS STS `GetWebIdentityToken` that the app registration trusts
//! through a federated identity credential (`federated`: no secret at all).

use std::time::{Duration, SystemTime};

use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::identity::app::{AppCredentialSource, Pending};
use crate::model::identity::AppCredential;
use crate::ports::StoreError;

use super::secrets::describe;

/// The app's client secret, fetched on first use and kept for the life of
/// the process (cold start does no work a request may not need), and read
/// again when Microsoft refuses it: a rotated secret must not stop every
/// tenant until the sandboxes recycle.
#[derive(Debug)]
pub struct AppClientSecret {
    client: Client,
    secret_id: String,
    value: Mutex<Option<SecretString>>,
}

impl AppClientSecret {
    pub fn new(client: Client, secret_id: String) -> Self {
        Self {
            client,
            secret_id,
            value: Mutex::new(None),
        }
    }

    pub async fn get(&self) -> Result<SecretString, StoreError> {
        let mut value = self.value.lock().await;
        if let Some(secret) = value.as_ref() {
            return Ok(secret.clone());
        }
        let secret = self.read().await?;
        *value = Some(secret.clone());
        Ok(secret)
    }

    /// The secret read again from Secrets Manager, unless another caller
    /// already replaced the refused one: `None` when it is unchanged there
    /// (nothing to retry with).
    pub async fn reread(&self, refused: &SecretString) -> Result<Option<SecretString>, StoreError> {
        let mut value = self.value.lock().await;
        if let Some(current) = value.as_ref()
            && current.expose_secret() != refused.expose_secret()
        {
            return Ok(Some(current.clone()));
        }
        let fresh = self.read().await?;
        if fresh.expose_secret() == refused.expose_secret() {
            return Ok(None);
        }
        *value = Some(fresh.clone());
        Ok(Some(fresh))
    }

    async fn read(&self) -> Result<SecretString, StoreError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|e| StoreError::Unavailable {
                operation: "reading the app's client secret",
                detail: describe(&e),
            })?;
        let value = output
            .secret_string
            .filter(|s| !s.trim().is_empty())
            .ok_or(StoreError::Malformed {
                what: "the app's client secret",
                detail: "it has no string value".into(),
            })?;
        Ok(SecretString::from(value.trim().to_owned()))
    }
}

impl AppCredentialSource for AppClientSecret {
    fn current(&self) -> Pending<'_, AppCredential> {
        Box::pin(async { self.get().await.map(AppCredential::ClientSecret) })
    }

    fn renewed<'a>(&'a self, refused: &'a AppCredential) -> Pending<'a, Option<AppCredential>> {
        Box::pin(async move {
            let AppCredential::ClientSecret(refused) = refused else {
                return Ok(None);
            };
            Ok(self.reread(refused).await?.map(AppCredential::ClientSecret))
        })
    }
}

/// What an assertion is asked for: RS256 (the only algorithm Entra's
/// federated credentials are documented for) and five minutes (STS's
/// default, and what the template's condition caps).
const ASSERTION_ALGORITHM: &str = "RS256";
const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
/// An assertion is not sent in its last minute: a token request may take
/// seconds, and clocks differ.
const ASSERTION_MARGIN: Duration = Duration::from_secs(60);

/// Federated assertions from AWS STS, one at a time per process and kept
/// until a minute before they expire (one STS call per ~4 minutes of use).
#[derive(Debug)]
pub struct WebIdentityAssertions {
    client: aws_sdk_sts::Client,
    audience: String,
    value: Mutex<Option<(SecretString, SystemTime)>>,
}

impl WebIdentityAssertions {
    /// `audience`: what the app registration's federated identity
    /// credential expects (`Cloud::federated_audience`).
    pub fn new(client: aws_sdk_sts::Client, audience: String) -> Self {
        Self {
            client,
            audience,
            value: Mutex::new(None),
        }
    }

    async fn get(&self, refused: Option<&SecretString>) -> Result<SecretString, StoreError> {
        let mut value = self.value.lock().await;
        if let Some((assertion, expires)) = value.as_ref() {
            let refused_now =
                refused.is_some_and(|r| r.expose_secret() == assertion.expose_secret());
            let fresh = SystemTime::now() + ASSERTION_MARGIN < *expires;
            if fresh && !refused_now {
                return Ok(assertion.clone());
            }
        }
        let (assertion, expires) = self.mint().await?;
        *value = Some((assertion.clone(), expires));
        Ok(assertion)
    }

    async fn mint(&self) -> Result<(SecretString, SystemTime), StoreError> {
        let output = self
            .client
            .get_web_identity_token()
            .audience(&self.audience)
            .signing_algorithm(ASSERTION_ALGORITHM)
            .duration_seconds(ASSERTION_LIFETIME.as_secs() as i32)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable {
                operation: "asking AWS STS for the app's federated assertion (GetWebIdentityToken)",
                detail: crate::aws::describe_sdk_error(&e),
            })?;
        let token =
            output
                .web_identity_token
                .filter(|t| !t.is_empty())
                .ok_or(StoreError::Malformed {
                    what: "AWS STS's web identity token",
                    detail: "the answer holds no token".into(),
                })?;
        let expires = output
            .expiration
            .and_then(|t| SystemTime::try_from(t).ok())
            .unwrap_or_else(|| SystemTime::now() + ASSERTION_LIFETIME);
        Ok((SecretString::from(token), expires))
    }
}

impl AppCredentialSource for WebIdentityAssertions {
    fn current(&self) -> Pending<'_, AppCredential> {
        Box::pin(async { self.get(None).await.map(AppCredential::ClientAssertion) })
    }

    fn renewed<'a>(&'a self, refused: &'a AppCredential) -> Pending<'a, Option<AppCredential>> {
        Box::pin(async move {
            let AppCredential::ClientAssertion(refused) = refused else {
                return Ok(None);
            };
            let fresh = self.get(Some(refused)).await?;
            Ok(Some(AppCredential::ClientAssertion(fresh)))
        })
    }
}
