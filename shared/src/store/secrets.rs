//! Secrets Manager: the tenants' grants and the app's client secret.

use aws_sdk_secretsmanager::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::authorisation::TokenStore;
use crate::model::{EntraTenantId, TenantId};
use crate::ports::StoreError;
use crate::tokens::RotationWrite;

pub(super) fn describe<E, R>(err: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> String
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    crate::aws::describe_sdk_error(err)
}

/// `<SECRET_PREFIX>tenants/<tenant_id>` (docs/contract.md 1.3).
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
}

/// The tenant's secret (docs/contract.md 1.3), the one shape it has: written at
/// authorisation, read for every refresh, its refresh token replaced on
/// rotation. Attributes this release does not know are kept.
#[derive(Serialize, Deserialize)]
struct GrantSecret {
    entra_tenant_id: String,
    #[serde(serialize_with = "expose", deserialize_with = "wrap")]
    refresh_token: SecretString,
    #[serde(default)]
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorised_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorised_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refreshed_at: Option<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// The only place a refresh token is exposed: into the secret's JSON,
/// which goes straight into the SDK request.
fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

fn wrap<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    String::deserialize(deserializer).map(SecretString::from)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn malformed_secret(detail: impl Into<String>) -> StoreError {
    StoreError::Malformed {
        what: "the tenant's secret",
        detail: detail.into(),
    }
}

impl GrantSecret {
    fn new(grant: &TenantGrant) -> Self {
        Self {
            entra_tenant_id: grant.entra_tenant_id.as_str().to_owned(),
            refresh_token: grant.refresh_token.clone(),
            scope: grant.scope.clone(),
            authorised_at: Some(rfc3339(grant.authorised_at)),
            authorised_by: grant.authorised_by.clone(),
            refreshed_at: None,
            other: Map::new(),
        }
    }

    /// Parsed without quoting anything of the secret in an error: serde's
    /// messages can carry the value they refused.
    fn parse(raw: Option<&str>) -> Result<Self, StoreError> {
        let raw = raw.ok_or_else(|| malformed_secret("it has no string value"))?;
        serde_json::from_str(raw).map_err(|e| {
            malformed_secret(format!(
                "not a grant (a JSON object with entra_tenant_id and refresh_token): {:?} at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    fn to_secret_string(&self) -> SecretString {
        SecretString::from(serde_json::to_string(self).expect("a grant serialises"))
    }

    fn stored_grant(self) -> Result<crate::tokens::StoredGrant, StoreError> {
        let entra_tenant_id = crate::model::Guid::parse(&self.entra_tenant_id)
            .map_err(|_| malformed_secret("entra_tenant_id is not a GUID"))?;
        if self.refresh_token.expose_secret().is_empty() {
            return Err(malformed_secret("refresh_token is empty"));
        }
        let stored_at = self
            .refreshed_at
            .as_deref()
            .or(self.authorised_at.as_deref())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        Ok(crate::tokens::StoredGrant {
            entra_tenant_id,
            refresh_token: self.refresh_token,
            scope: self.scope,
            stored_at,
            authorisation: self.authorised_at,
        })
    }
}

impl SecretsManagerTokenStore {
    /// The tenant's secret as it is now (`None`: never authorised).
    async fn current_secret(&self, name: &str) -> Result<Option<GrantSecret>, StoreError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .send()
            .await;
        match output {
            Ok(output) => GrantSecret::parse(output.secret_string.as_deref()).map(Some),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(StoreError::Unavailable {
                operation: "reading the tenant's grant",
                detail: describe(&err),
            }),
        }
    }

    async fn put_secret(
        &self,
        name: &str,
        secret: &GrantSecret,
        operation: &'static str,
    ) -> Result<(), StoreError> {
        self.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(secret.to_secret_string().expose_secret())
            .send()
            .await
            .map_err(|e| StoreError::Unavailable {
                operation,
                detail: describe(&e),
            })?;
        Ok(())
    }
}

impl SecretsManagerTokenStore {
    /// The tenant's first secret. Two sign-ins at once may both get here:
    /// the one that finds it created meanwhile writes over it instead.
    async fn create_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        body: &SecretString,
    ) -> Result<(), StoreError> {
        let created = self
            .client
            .create_secret()
            .name(name)
            .description(format!("entra-sync: Entra ID grant of AM tenant {tenant}"))
            .secret_string(body.expose_secret())
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                self.client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(body.expose_secret())
                    .send()
                    .await
                    .map_err(|e| StoreError::Unavailable {
                        operation: "storing the tenant's tokens",
                        detail: describe(&e),
                    })?;
                Ok(())
            }
            Err(err) => Err(StoreError::Unavailable {
                operation: "creating the tenant's secret",
                detail: describe(&err),
            }),
        }
    }
}

/// A delegated grant as kept in Secrets Manager (DESIGN 1.3): tenants
/// authorised before 2.12.
#[derive(Debug, Clone)]
pub struct TenantGrant {
    pub entra_tenant_id: EntraTenantId,
    pub refresh_token: SecretString,
    pub scope: String,
    pub authorised_at: DateTime<Utc>,
    pub authorised_by: Option<String>,
}

impl TokenStore for SecretsManagerTokenStore {
    async fn delete_tenant_tokens(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        // The default recovery window: a deletion by mistake can be undone.
        let deleted = self.client.delete_secret().secret_id(&name).send().await;
        match deleted {
            Ok(_) => {
                tracing::info!(tenant_id = %tenant, "the tenant's delegated grant was deleted");
                Ok(())
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            // Already scheduled for deletion by an earlier confirm.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_invalid_request_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(StoreError::Unavailable {
                operation: "deleting the tenant's delegated grant",
                detail: describe(&err),
            }),
        }
    }
}

impl SecretsManagerTokenStore {
    /// Writes a delegated grant (tenants authorised before DESIGN 2.12).
    pub async fn save_tenant_tokens(
        &self,
        tenant: &TenantId,
        tokens: &TenantGrant,
    ) -> Result<(), StoreError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        let body = GrantSecret::new(tokens).to_secret_string();
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
                self.create_secret(tenant, &name, &body).await
            }
            Err(err) => Err(StoreError::Unavailable {
                operation: "storing the tenant's tokens",
                detail: describe(&err),
            }),
        }
    }
}

impl crate::tokens::GrantStore for SecretsManagerTokenStore {
    async fn load_grant(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<crate::tokens::StoredGrant>, StoreError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        self.current_secret(&name)
            .await?
            .map(GrantSecret::stored_grant)
            .transpose()
    }

    async fn store_rotated_refresh_token(
        &self,
        tenant: &TenantId,
        refresh_token: &SecretString,
        at: DateTime<Utc>,
        authorisation: Option<&str>,
    ) -> Result<RotationWrite, StoreError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        let mut secret = self
            .current_secret(&name)
            .await?
            .ok_or_else(|| malformed_secret("it is gone"))?;
        if authorisation.is_some() && secret.authorised_at.as_deref() != authorisation {
            return Ok(RotationWrite::Superseded);
        }
        secret.refresh_token = refresh_token.clone();
        secret.refreshed_at = Some(rfc3339(at));
        self.put_secret(&name, &secret, "storing the rotated refresh token")
            .await?;
        Ok(RotationWrite::Written)
    }
}
