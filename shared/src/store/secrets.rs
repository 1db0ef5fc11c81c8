//! Secrets Manager: the tenants' grants and the app's client secret.

use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use super::StoreError;
use crate::authorisation::{TenantTokens, TokenStore};
use crate::model::TenantId;

fn describe<E, R>(err: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> String
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    crate::aws::describe_sdk_error(err)
}

/// `<SECRET_PREFIX>tenants/<tenant_id>` (DESIGN.md 1.3).
pub fn tenant_secret_name(prefix: &str, tenant: &TenantId) -> String {
    format!("{prefix}tenants/{tenant}")
}

#[derive(Clone, Debug)]
pub struct SecretsManagerTokenStore {
    client: Client,
    prefix: String,
}

impl SecretsManagerTokenStore {
    pub fn new(client: Client, prefix: String) -> Self {
        Self { client, prefix }
    }

    /// The secret's JSON. The only place a refresh token is exposed: the
    /// string goes straight into the SDK request.
    fn secret_json(tokens: &TenantTokens) -> SecretString {
        let mut value = serde_json::json!({
            "entra_tenant_id": tokens.entra_tenant_id.as_str(),
            "refresh_token": tokens.refresh_token.expose_secret(),
            "scope": tokens.scope,
            "authorised_at": tokens.authorised_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        if let Some(by) = &tokens.authorised_by {
            value["authorised_by"] = serde_json::Value::String(by.clone());
        }
        SecretString::from(value.to_string())
    }
}

impl TokenStore for SecretsManagerTokenStore {
    async fn save_tenant_tokens(
        &self,
        tenant: &TenantId,
        tokens: &TenantTokens,
    ) -> Result<(), StoreError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        let body = Self::secret_json(tokens);
        let put = self
            .client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(body.expose_secret())
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                self.client
                    .create_secret()
                    .name(&name)
                    .description(format!("entra-sync: Entra ID grant of AM tenant {tenant}"))
                    .secret_string(body.expose_secret())
                    .send()
                    .await
                    .map_err(|e| StoreError::Unavailable {
                        operation: "creating the tenant's secret",
                        detail: describe(&e),
                    })?;
                Ok(())
            }
            Err(err) => Err(StoreError::Unavailable {
                operation: "storing the tenant's tokens",
                detail: describe(&err),
            }),
        }
    }
}

/// The app's client secret, fetched on first use and kept for the life of
/// the process (cold start does no work a request may not need).
#[derive(Debug)]
pub struct AppClientSecret {
    client: Client,
    secret_id: String,
    value: OnceCell<SecretString>,
}

impl AppClientSecret {
    pub fn new(client: Client, secret_id: String) -> Self {
        Self {
            client,
            secret_id,
            value: OnceCell::new(),
        }
    }

    pub async fn get(&self) -> Result<&SecretString, StoreError> {
        self.value
            .get_or_try_init(|| async {
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
            })
            .await
    }
}
