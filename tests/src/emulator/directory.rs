//! The simulated organisations: tenants, their domains, users and groups,
//! and a change log that the Graph side's delta rounds will read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainAuthentication {
    Managed,
    Federated,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Domain {
    pub name: String,
    pub authentication: DomainAuthentication,
    pub is_verified: bool,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub mobile_phone: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub account_enabled: bool,
    /// A Global Administrator can consent for the organisation.
    pub is_global_admin: bool,
    /// Soft-deleted users keep their memberships until purged.
    pub deleted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub mail_nickname: String,
    pub security_enabled: bool,
    pub mail_enabled: bool,
    /// Direct members: user or group object ids.
    pub members: Vec<String>,
    pub deleted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    User,
    Group,
}

/// One entry of the change log: delta rounds replay everything after a
/// sequence number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub sequence: u64,
    pub kind: ObjectKind,
    pub id: String,
}

/// How a revoked grant shows at the token endpoint (GRAPH.md 5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// AADSTS700082: refresh token expired through inactivity.
    Inactivity,
    /// AADSTS50173: grant revoked (admin reset, sessions revoked).
    Revoked,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub display_name: String,
    pub domains: Vec<Domain>,
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub change_log: Vec<Change>,
    /// Set when the organisation withdrew the app's consent.
    pub consent_revoked: Option<Revocation>,
}

impl Tenant {
    pub fn new(id: &str, display_name: &str, domains: Vec<Domain>) -> Self {
        Self {
            id: id.to_owned(),
            display_name: display_name.to_owned(),
            domains,
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            change_log: Vec::new(),
            consent_revoked: None,
        }
    }

    fn record(&mut self, kind: ObjectKind, id: &str) {
        let sequence = self.change_log.last().map_or(1, |c| c.sequence + 1);
        self.change_log.push(Change {
            sequence,
            kind,
            id: id.to_owned(),
        });
    }

    pub fn upsert_user(&mut self, user: User) {
        let id = user.id.clone();
        self.users.insert(id.clone(), user);
        self.record(ObjectKind::User, &id);
    }

    pub fn upsert_group(&mut self, group: Group) {
        let id = group.id.clone();
        self.groups.insert(id.clone(), group);
        self.record(ObjectKind::Group, &id);
    }

    pub fn user_by_upn(&self, upn: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| !u.deleted && u.user_principal_name.eq_ignore_ascii_case(upn))
    }

    pub fn domain_of(&self, upn: &str) -> Option<&Domain> {
        let domain = upn.rsplit_once('@')?.1;
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(domain))
    }
}
