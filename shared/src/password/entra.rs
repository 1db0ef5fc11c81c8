//! Entra ID as password verification needs it, for one tenant: its domains
//! (from the process-wide cache) and the resource-owner password grant.

use secrecy::SecretString;

use super::PasswordAuthority;
use crate::graph::reader::GraphEntraDirectory;
use crate::graph::{GraphClient, GraphError};
use crate::identity::IdentityError;
use crate::import::EntraDirectory;
use crate::model::TenantId;
use crate::model::entra::DomainInfo;
use crate::model::entra::TenantDomains;
use crate::tokens::{GrantStore, TokenProvider};

pub struct EntraPasswordAuthority<'a, G> {
    pub graph: &'a GraphClient,
    pub tokens: &'a TokenProvider<G>,
    pub domains: &'a TenantDomains,
    pub tenant: TenantId,
}

impl<G: GrantStore> PasswordAuthority for EntraPasswordAuthority<'_, G> {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        self.domains
            .get_or_fetch(&self.tenant, || async {
                GraphEntraDirectory::new(self.graph, self.tokens.for_tenant(&self.tenant), None)
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
        // The tokens are dropped here, unused.
        self.tokens
            .app()
            .password_grant(entra_tenant_id, user_name, password)
            .await
            .map(drop)
    }
}
