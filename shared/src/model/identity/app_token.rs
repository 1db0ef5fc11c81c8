//! Application (app-only) access, DESIGN 2.12: a client-credentials token
//! for one customer tenant, and the application roles it carries.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

/// The application permissions entra-sync needs, least privilege
/// (research/APP-ONLY-AUTH.md §3): the reads subscriptions want beside the
/// writes, and the directory-role reads of the administrator check (2.11).
pub const REQUIRED_APP_ROLES: &[&str] = &[
    "User.ReadWrite.All",
    "User.Read.All",
    "Group.ReadWrite.All",
    "Group.Read.All",
    "GroupMember.ReadWrite.All",
    "Domain.Read.All",
    "RoleManagement.Read.Directory",
];

/// The only scope a client-credentials request may name: every
/// application role granted on Graph.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A client-credentials token. `Debug` shows no value.
#[derive(Debug)]
pub struct AppToken {
    pub access_token: SecretString,
    pub expires_in: Duration,
    /// The `roles` claim; `None` when the token cannot be read as a JWT
    /// (Microsoft does not promise that it can: then only a 403 tells).
    pub roles: Option<Vec<String>>,
}

impl AppToken {
    pub fn new(access_token: SecretString, expires_in: Duration) -> Self {
        let roles = roles_of(access_token.expose_secret());
        Self {
            access_token,
            expires_in,
            roles,
        }
    }

    /// The required roles the token lacks, in `REQUIRED_APP_ROLES` order
    /// (empty when unknown: nothing to name until Graph refuses).
    pub fn missing_roles(&self) -> Vec<String> {
        let Some(granted) = &self.roles else {
            return Vec::new();
        };
        REQUIRED_APP_ROLES
            .iter()
            .filter(|role| !granted.iter().any(|g| g == *role))
            .map(|role| (*role).to_owned())
            .collect()
    }
}

/// The `roles` of a JWT's payload, read without a signature check: the
/// token is Graph's to verify, this only names what was granted. A token
/// without the claim was issued with no role at all.
fn roles_of(jwt: &str) -> Option<Vec<String>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let claims = claims.as_object()?;
    let Some(roles) = claims.get("roles") else {
        return Some(Vec::new());
    };
    let roles = roles.as_array()?;
    Some(
        roles
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> SecretString {
        let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        SecretString::from(format!("{}.{}.sig", part(&header), part(&claims)))
    }

    #[test]
    fn the_roles_a_token_lacks_are_named_in_a_stable_order() {
        let token = AppToken::new(
            jwt(serde_json::json!({"roles": ["User.Read.All", "Domain.Read.All"]})),
            Duration::from_secs(3599),
        );
        assert_eq!(
            token.missing_roles(),
            vec![
                "User.ReadWrite.All",
                "Group.ReadWrite.All",
                "Group.Read.All",
                "GroupMember.ReadWrite.All",
                "RoleManagement.Read.Directory"
            ]
        );
        let all: Vec<&str> = REQUIRED_APP_ROLES.to_vec();
        let full = AppToken::new(jwt(serde_json::json!({ "roles": all })), Duration::ZERO);
        assert!(full.missing_roles().is_empty());
    }

    #[test]
    fn a_token_without_roles_lacks_them_all_and_an_opaque_one_names_none() {
        let bare = AppToken::new(jwt(serde_json::json!({"tid": "t"})), Duration::ZERO);
        assert_eq!(bare.roles, Some(vec![]));
        assert_eq!(bare.missing_roles().len(), REQUIRED_APP_ROLES.len());
        let opaque = AppToken::new(SecretString::from("not-a-jwt".to_owned()), Duration::ZERO);
        assert_eq!(opaque.roles, None);
        assert!(opaque.missing_roles().is_empty());
    }
}
