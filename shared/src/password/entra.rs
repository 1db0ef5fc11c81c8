//! Entra ID as password verification needs it, for one tenant: its domains
//! (from the process-wide cache, read through the import's directory port)
//! and the resource-owner password grant of the tenant's cloud.

use std::future::Future;

use secrecy::SecretString;

use super::PasswordAuthority;
use crate::import::{EntraDirectory, TenantReaders};
use crate::model::entra::{DomainInfo, GraphError, TenantDomains, TokenError};
use crate::model::identity::IdentityError;
use crate::model::{Cloud, TenantConfig};

/// The identity platform's password grant with the app of `cloud`
/// (`identity` implements it for the tenants' token providers, which hold
/// each cloud's app).
pub trait PasswordGrants: Send + Sync {
    /// `Ok` when Entra ID accepts the password; the tokens it issues are
    /// dropped unused.
    fn password_grant(
        &self,
        cloud: Cloud,
        entra_tenant_id: &str,
        user_name: &str,
        password: &SecretString,
    ) -> impl Future<Output = Result<(), IdentityError>> + Send;
}

pub struct EntraPasswordAuthority<'a, D, P> {
    /// Entra ID's directory per tenant (Graph in Lambda): the domains.
    pub readers: &'a D,
    pub grants: &'a P,
    pub domains: &'a TenantDomains,
    /// The tenant's config, which says which credentials read its
    /// domains (none: nothing is asked of Entra ID).
    pub config: Option<&'a TenantConfig>,
}

impl<D: TenantReaders, P: PasswordGrants> PasswordAuthority for EntraPasswordAuthority<'_, D, P> {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        let config = self
            .config
            .ok_or(GraphError::Token(TokenError::NotAuthorised))?;
        self.domains
            .get_or_fetch(&config.tenant_id, || async {
                self.readers.for_tenant(config, None).domains().await
            })
            .await
    }

    async fn check_password(
        &self,
        entra_tenant_id: &str,
        user_name: &str,
        password: &SecretString,
    ) -> Result<(), IdentityError> {
        let config = self.config.ok_or(IdentityError::Configuration(
            "no tenant config to choose the cloud by".into(),
        ))?;
        self.grants
            .password_grant(config.cloud, entra_tenant_id, user_name, password)
            .await
    }
}
