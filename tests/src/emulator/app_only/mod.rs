//! The app's own identity in each tenant (DESIGN 2.12; research
//! APP-ONLY-AUTH.md): whether an administrator granted its application
//! permissions (admin consent), which roles, whether its service principal
//! is disabled; the directory-role template ids an id token's `wids`
//! carries; and the knobs tests use in process.

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests_client_credentials;
#[cfg(test)]
mod tests_consent;
#[cfg(test)]
mod tests_graph;
#[cfg(test)]
mod tests_sign_in;

use serde::{Deserialize, Serialize};

use super::directory::{Tenant, User};
use super::graph_roles::{GLOBAL_ADMINISTRATOR_TEMPLATE, groups_of, role_template};
use super::{AccessGrant, Emulator};

/// The only scope client credentials accept, and admin consent needs to
/// grant application permissions.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The same scope named by Graph's app id.
pub const GRAPH_DEFAULT_SCOPE_BY_ID: &str = "00000003-0000-0000-c000-000000000000/.default";
/// `aud` of the app tokens issued for Graph.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// The app registration's display name, in AADSTS7000112's message.
pub const APP_DISPLAY_NAME: &str = "entra-sync";

/// What admin consent grants by default: APP-ONLY-AUTH.md §3's
/// least-privilege set (the read roles beside the write ones because
/// subscriptions take only the read role of their resource).
pub const REQUIRED_APP_ROLES: &[&str] = &[
    "User.ReadWrite.All",
    "User.Read.All",
    "Group.ReadWrite.All",
    "Group.Read.All",
    "GroupMember.ReadWrite.All",
    "Domain.Read.All",
];

/// Privileged Role Administrator's role template id.
pub const PRIVILEGED_ROLE_ADMINISTRATOR_TEMPLATE: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";

/// The app's service principal in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppConsent {
    /// An administrator consented (the service principal exists).
    pub consented: bool,
    /// Application roles granted (`roles` of new app tokens).
    pub granted_roles: Vec<String>,
    /// "Enabled for users to sign in" = No: no token is issued (7000112).
    #[serde(default)]
    pub disabled: bool,
    /// The service principal's object id: the `oid` of app tokens. Kept
    /// while consented; a consent after a revocation makes a new one.
    #[serde(default)]
    pub service_principal_id: Option<String>,
}

impl AppConsent {
    pub(crate) fn grant(&mut self, roles: Vec<String>) {
        self.consented = true;
        self.granted_roles = roles;
        self.service_principal_id
            .get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
    }

    /// Consent withdrawn: the enterprise app deleted with its grants.
    pub(crate) fn revoke(&mut self) {
        self.consented = false;
        self.granted_roles.clear();
        self.service_principal_id = None;
    }
}

/// The roles a consent grants now: the knob's, else the required set.
pub(crate) fn roles_granted_on_consent(knobs: &super::Knobs) -> Vec<String> {
    knobs
        .consent_grants_roles
        .clone()
        .unwrap_or_else(|| REQUIRED_APP_ROLES.iter().map(|r| (*r).to_owned()).collect())
}

/// The directory-role template ids the user holds actively (`wids`):
/// its own assignments and those of its role-assignable groups. PIM
/// eligibilities (`User::eligible_roles`) are not active, so not here.
pub fn active_role_templates(tenant: &Tenant, user: &User) -> Vec<String> {
    let mut templates: Vec<String> = Vec::new();
    if user.is_global_admin {
        templates.push(GLOBAL_ADMINISTRATOR_TEMPLATE.to_owned());
    }
    if user.is_privileged_role_admin {
        templates.push(PRIVILEGED_ROLE_ADMINISTRATOR_TEMPLATE.to_owned());
    }
    for name in groups_of(tenant, &user.id, true)
        .iter()
        .flat_map(|g| &g.roles)
    {
        let template = role_template(name);
        if !templates.contains(&template) {
            templates.push(template);
        }
    }
    templates
}

/// Global Administrators and Privileged Role Administrators may grant
/// Microsoft Graph application permissions (APP-ONLY-AUTH.md §1(a)).
pub fn may_grant_app_permissions(tenant: &Tenant, user: &User) -> bool {
    active_role_templates(tenant, user)
        .iter()
        .any(|t| t == GLOBAL_ADMINISTRATOR_TEMPLATE || t == PRIVILEGED_ROLE_ADMINISTRATOR_TEMPLATE)
}

impl AccessGrant {
    /// A token from client credentials (the app's own), not a user's.
    pub fn is_app(&self) -> bool {
        self.app_roles.is_some()
    }

    /// The signed-in user's object id; `None` for an app token.
    pub fn user(&self) -> Option<&str> {
        (!self.is_app()).then_some(self.user_id.as_str())
    }
}

fn owned(roles: &[&str]) -> Vec<String> {
    roles.iter().map(|r| (*r).to_owned()).collect()
}

impl Emulator {
    /// The app is consented in the tenant with these roles, as if an
    /// administrator had done it earlier.
    pub fn consent_app(&self, tenant_id: &str, roles: &[&str]) {
        self.with_tenant(tenant_id, |t| t.app_consent.grant(owned(roles)));
    }

    /// The tenant withdraws the app's consent: client credentials answer
    /// AADSTS700016 until an administrator consents again.
    pub fn revoke_app_consent(&self, tenant_id: &str) {
        self.with_tenant(tenant_id, |t| t.app_consent.revoke());
    }

    /// Disables the app's service principal in the tenant (AADSTS7000112).
    pub fn set_app_disabled(&self, tenant_id: &str, disabled: bool) {
        self.with_tenant(tenant_id, |t| t.app_consent.disabled = disabled);
    }

    /// Replaces the granted roles; tokens issued before keep theirs.
    pub fn set_granted_roles(&self, tenant_id: &str, roles: &[&str]) {
        self.with_tenant(tenant_id, |t| t.app_consent.granted_roles = owned(roles));
    }

    pub fn app_consent(&self, tenant_id: &str) -> AppConsent {
        self.with_tenant(tenant_id, |t| t.app_consent.clone())
    }

    /// Token-endpoint requests of one grant type to one authority (the
    /// `{tenant}` path segment as sent, a tenant id or `organizations`).
    pub fn token_requests(&self, authority: &str, grant_type: &str) -> usize {
        let path = format!("/{authority}/oauth2/v2.0/token");
        self.state()
            .requests
            .iter()
            .filter(|r| r.path == path && r.grant_type.as_deref() == Some(grant_type))
            .count()
    }

    /// An app token for the tenant with these roles, as if client
    /// credentials had issued it (a benchmark's own Graph requests).
    pub fn grant_app_access_token(&self, tenant_id: &str, roles: &[&str]) -> String {
        let token = format!("eyJ0eXAi.app{}", uuid::Uuid::new_v4().simple());
        let service_principal = self
            .app_consent(tenant_id)
            .service_principal_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.state().access_tokens.insert(
            token.clone(),
            AccessGrant {
                tenant_id: tenant_id.to_owned(),
                user_id: service_principal,
                expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
                app_roles: Some(owned(roles)),
            },
        );
        token
    }
}
