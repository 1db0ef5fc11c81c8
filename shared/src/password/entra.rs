//! Entra ID as password verification needs it, for one tenant: its domains
//! (from the process-wide cache) and the resource-owner password grant.

use secrecy::SecretString;

use super::PasswordAuthority;
use crate::graph::reader::GraphEntraDirectory;
use crate::graph::{GraphClient, GraphError, TokenError};
use crate::identity::IdentityError;
use crate::import::EntraDirectory;
use crate::model::entra::DomainInfo;
use crate::model::entra::TenantDomains;
use crate::model::{ByCloud, TenantConfig};
use crate::tokens::{GrantStore, PermissionRecords, TenantTokens};

pub struct EntraPasswordAuthority<'a, G, R> {
    /// One per cloud served: the tenant's cloud answers.
    pub graph: &'a ByCloud<GraphClient>,
    pub tokens: &'a TenantTokens<G, R>,
    pub domains: &'a TenantDomains,
    /// The tenant's config, which says which credentials read its
    /// domains (none: nothing is asked of Entra ID).
    pub config: Option<&'a TenantConfig>,
}

impl<G: GrantStore, R: PermissionRecords> PasswordAuthority for EntraPasswordAuthority<'_, G, R> {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        let config = self
            .config
            .ok_or(GraphError::Token(TokenError::NotAuthorised))?;
        self.domains
            .get_or_fetch(&config.tenant_id, || async {
                let graph = crate::graph::of_cloud(self.graph, config.cloud);
                GraphEntraDirectory::new(graph, self.tokens.for_config(config), None)
                    .domains()
                    .await
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
        let cloud = config.cloud;
        let app = self.tokens.app_for(cloud).ok_or_else(|| {
            IdentityError::Configuration(format!("the tenant's cloud `{cloud}` is not served"))
        })?;
        // The tokens are dropped here, unused.
        app.password_grant(entra_tenant_id, user_name, password)
            .await
            .map(drop)
    }
}
