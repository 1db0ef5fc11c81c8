//! Secrets Manager: the tenants' grants and the app's client secret.

use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::authorisation::{TenantTokens, TokenStore};
use crate::model::TenantId;
use crate::ports::StoreError;

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

impl crate::tokens::GrantStore for SecretsManagerTokenStore {
    async fn load_grant(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<crate::tokens::StoredGrant>, StoreError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        let output = match self
            .client
            .get_secret_value()
            .secret_id(&name)
            .version_stage("AWSCURRENT")
            .send()
            .await
        {
            Ok(output) => output,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => {
                return Err(StoreError::Unavailable {
                    operation: "reading the tenant's grant",
                    detail: describe(&err),
                });
            }
        };
        let malformed = |detail: &str| StoreError::Malformed {
            what: "the tenant's secret",
            detail: detail.to_owned(),
        };
        // Parsed as a map of strings, so an error message can never quote a value.
        let fields: std::collections::HashMap<String, serde_json::Value> = output
            .secret_string
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| malformed("not a JSON object"))?;
        let text = |key: &str| fields.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let entra_tenant_id = text("entra_tenant_id")
            .and_then(|t| crate::model::Guid::parse(&t).ok())
            .ok_or_else(|| malformed("entra_tenant_id is missing or not a GUID"))?;
        let refresh_token = text("refresh_token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| malformed("refresh_token is missing"))?;
        let stored_at = text("refreshed_at")
            .or_else(|| text("authorised_at"))
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        Ok(Some(crate::tokens::StoredGrant {
            entra_tenant_id,
            refresh_token: SecretString::from(refresh_token),
            scope: text("scope").unwrap_or_default(),
            stored_at,
        }))
    }

    async fn store_rotated_refresh_token(
        &self,
        tenant: &TenantId,
        refresh_token: &SecretString,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        let current = self
            .client
            .get_secret_value()
            .secret_id(&name)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|e| StoreError::Unavailable {
                operation: "reading the tenant's grant",
                detail: describe(&e),
            })?;
        let mut fields: serde_json::Map<String, serde_json::Value> = current
            .secret_string
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or(StoreError::Malformed {
                what: "the tenant's secret",
                detail: "not a JSON object".into(),
            })?;
        fields.insert(
            "refresh_token".into(),
            serde_json::Value::String(refresh_token.expose_secret().to_owned()),
        );
        fields.insert(
            "refreshed_at".into(),
            serde_json::Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        let body = SecretString::from(serde_json::Value::Object(fields).to_string());
        self.client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(body.expose_secret())
            .send()
            .await
            .map_err(|e| StoreError::Unavailable {
                operation: "storing the rotated refresh token",
                detail: describe(&e),
            })?;
        Ok(())
    }
}
