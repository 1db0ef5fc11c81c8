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
    /// An active Privileged Role Administrator: may grant admin consent to
    /// application permissions too.
    #[serde(default)]
    pub is_privileged_role_admin: bool,
    /// Soft-deleted users keep their memberships until purged.
    pub deleted: bool,
    /// A B2B guest (`userType` `Guest`).
    #[serde(default)]
    pub guest: bool,
    /// The cloud password, when one was set through Graph or the test.
    #[serde(skip)]
    pub password: Option<String>,
    /// A scripted answer of the password grant for this user (AADSTS code):
    /// 50076, 50079 and 53003 apply after a correct password, 50055 too;
    /// the others whatever the password.
    #[serde(default)]
    pub sign_in_outcome: Option<u32>,
    /// Wrong passwords so far (smart lockout after ten).
    #[serde(default)]
    pub failed_sign_ins: u32,
    /// Directory extension values (`extension_<appid>_<name>`) set on it.
    #[serde(default)]
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// Role definition ids it is eligible for through PIM (not active).
    #[serde(default)]
    pub eligible_roles: Vec<String>,
    /// The Graph properties beyond the typed ones (docs/mapping.md 1.2),
    /// by their Graph names: `user_properties` lists them, with accessors.
    #[serde(default)]
    pub properties: BTreeMap<String, serde_json::Value>,
    /// Its manager's object id (a navigation property: `manager@delta`,
    /// `/manager/$ref`).
    #[serde(default)]
    pub manager: Option<String>,
    /// When it was soft-deleted: purged 30 days later.
    #[serde(default)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Roles assigned to it that no `transitiveMemberOf` lists: (role
    /// definition id, directory scope id), an administrative unit's
    /// (`/administrativeUnits/<id>`) or a custom role's.
    #[serde(default)]
    pub scoped_roles: Vec<(String, String)>,
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
    /// A Microsoft 365 group (`Unified`) is soft-deleted; a security group
    /// is deleted for good.
    pub deleted: bool,
    #[serde(default)]
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `groupTypes`: `Unified` for a Microsoft 365 group.
    #[serde(default)]
    pub group_types: Vec<String>,
    /// Directory extension values (`extension_<appid>_<name>`) set on it.
    #[serde(default)]
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// `isAssignableToRole`: set at creation, never changed.
    #[serde(default)]
    pub is_assignable_to_role: bool,
    /// Display names of the directory roles assigned to it (only a
    /// role-assignable group can hold one); its members hold them too.
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Graph property names that changed (empty for membership changes).
    pub properties: Vec<String>,
    /// A membership change of group `id`.
    pub member: Option<MemberChange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberChange {
    pub member_id: String,
    pub member_kind: ObjectKind,
    pub removed: bool,
}

/// An object that is gone for good: delta reports it `deleted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub kind: ObjectKind,
}

/// How a revoked grant shows at the token endpoint (docs/graph.md 5.5).
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
    pub tombstones: BTreeMap<String, Tombstone>,
    /// Set when the organisation withdrew the app's consent.
    pub consent_revoked: Option<Revocation>,
    /// Without Entra ID P2 (or Governance) PIM's APIs answer 400
    /// `AadPremiumLicenseRequired`.
    #[serde(default)]
    pub without_pim_licence: bool,
    /// PIM's eligibility collection answers 404 (a cloud or tenant where it
    /// is not served).
    #[serde(default)]
    pub pim_not_found: bool,
    /// The app's service principal here: admin consent to its application
    /// permissions (client credentials), apart from delegated grants.
    #[serde(default)]
    pub app_consent: super::app_only::AppConsent,
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
            tombstones: BTreeMap::new(),
            consent_revoked: None,
            without_pim_licence: false,
            pim_not_found: false,
            app_consent: super::app_only::AppConsent::default(),
        }
    }

    pub fn last_sequence(&self) -> u64 {
        self.change_log.last().map_or(0, |c| c.sequence)
    }

    /// The changes recorded after `sequence`, oldest first.
    pub fn changes_after(&self, sequence: u64) -> impl Iterator<Item = &Change> {
        let start = self.change_log.partition_point(|c| c.sequence <= sequence);
        self.change_log[start..].iter()
    }

    pub(super) fn record(
        &mut self,
        kind: ObjectKind,
        id: &str,
        properties: Vec<String>,
        member: Option<MemberChange>,
    ) {
        let sequence = self.last_sequence() + 1;
        self.change_log.push(Change {
            sequence,
            kind,
            id: id.to_owned(),
            properties,
            member,
        });
    }

    /// Creates or replaces a user; the change names the properties that differ.
    pub fn upsert_user(&mut self, user: User) {
        let before = self.users.get(&user.id).map(super::graph::user_json);
        let after = super::graph::user_json(&user);
        let changed = changed_properties(before.as_ref(), &after);
        let id = user.id.clone();
        let manager_before = self.users.get(&id).and_then(|u| u.manager.clone());
        let manager_after = user.manager.clone();
        self.tombstones.remove(&id);
        self.users.insert(id.clone(), user);
        if !changed.is_empty() {
            self.record(ObjectKind::User, &id, changed, None);
        }
        if manager_before != manager_after {
            self.record_manager_change(&id, manager_before, manager_after);
        }
    }

    /// A manager link change of user `id`, as the member change of a
    /// group's is: the new manager, or the old one removed.
    fn record_manager_change(&mut self, id: &str, before: Option<String>, after: Option<String>) {
        let (member_id, removed) = match (after, before) {
            (Some(new), _) => (new, false),
            (None, Some(old)) => (old, true),
            (None, None) => return,
        };
        let change = MemberChange {
            member_id,
            member_kind: ObjectKind::User,
            removed,
        };
        self.record(ObjectKind::User, id, vec!["manager".into()], Some(change));
    }

    /// Users managed by `manager_id` lose their manager (it was deleted).
    pub(super) fn clear_reports_of(&mut self, manager_id: &str) {
        let reports: Vec<String> = self
            .users
            .values()
            .filter(|u| u.manager.as_deref() == Some(manager_id))
            .map(|u| u.id.clone())
            .collect();
        for report in reports {
            self.update_user(&report, |u| u.manager = None);
        }
    }

    /// Applies `edit` to a live user and records what changed.
    pub fn update_user(&mut self, id: &str, edit: impl FnOnce(&mut User)) {
        let mut user = self
            .users
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no user {id}"));
        edit(&mut user);
        self.upsert_user(user);
    }

    /// Soft delete: restorable for 30 days; memberships are kept, and
    /// those it managed have no manager any more.
    pub fn soft_delete_user(&mut self, id: &str) {
        if let Some(user) = self.users.get_mut(id) {
            user.deleted = true;
            user.deleted_at = Some(chrono::Utc::now());
            self.record(ObjectKind::User, id, vec!["@removed".into()], None);
            self.clear_reports_of(id);
        }
    }

    pub fn restore_user(&mut self, id: &str) {
        if let Some(user) = self.users.get_mut(id) {
            user.deleted = false;
            user.deleted_at = None;
            self.record(ObjectKind::User, id, vec!["@restored".into()], None);
        }
    }

    /// Permanent delete: gone from every group, reported `deleted`.
    pub fn purge_user(&mut self, id: &str) {
        if self.users.remove(id).is_some() {
            self.clear_reports_of(id);
            self.remove_for_good(ObjectKind::User, id);
        }
    }

    /// An object deleted for good: out of every group that held it, a
    /// tombstone, and a `@removed` change.
    fn remove_for_good(&mut self, kind: ObjectKind, id: &str) {
        let containing: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.members.iter().any(|m| m == id))
            .map(|g| g.id.clone())
            .collect();
        for group in containing {
            self.remove_member(&group, id);
        }
        self.tombstones.insert(id.to_owned(), Tombstone { kind });
        self.record(kind, id, vec!["@removed".into()], None);
    }

    pub fn upsert_group(&mut self, group: Group) {
        let before = self.groups.get(&group.id).map(super::graph::group_json);
        let after = super::graph::group_json(&group);
        let changed = changed_properties(before.as_ref(), &after);
        let id = group.id.clone();
        let members = group.members.clone();
        let previous: Vec<String> = self
            .groups
            .get(&id)
            .map(|g| g.members.clone())
            .unwrap_or_default();
        self.tombstones.remove(&id);
        self.groups.insert(
            id.clone(),
            Group {
                members: previous.clone(),
                ..group
            },
        );
        if !changed.is_empty() {
            self.record(ObjectKind::Group, &id, changed, None);
        }
        for member in previous.iter().filter(|m| !members.contains(m)) {
            self.remove_member(&id, member);
        }
        for member in members.iter().filter(|m| !previous.contains(m)) {
            self.add_member(&id, member);
        }
    }

    pub fn update_group(&mut self, id: &str, edit: impl FnOnce(&mut Group)) {
        let mut group = self
            .groups
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no group {id}"));
        edit(&mut group);
        self.upsert_group(group);
    }

    /// Security groups are deleted for good at once (docs/graph.md 1.5).
    pub fn delete_group(&mut self, id: &str) {
        if self.groups.remove(id).is_some() {
            self.remove_for_good(ObjectKind::Group, id);
        }
    }

    fn member_kind(&self, id: &str) -> ObjectKind {
        if self.groups.contains_key(id) {
            ObjectKind::Group
        } else {
            ObjectKind::User
        }
    }

    /// Returns false when the member is already there.
    pub fn add_member(&mut self, group_id: &str, member_id: &str) -> bool {
        let kind = self.member_kind(member_id);
        let Some(group) = self.groups.get_mut(group_id) else {
            return false;
        };
        if group.members.iter().any(|m| m == member_id) {
            return false;
        }
        group.members.push(member_id.to_owned());
        self.record(
            ObjectKind::Group,
            group_id,
            Vec::new(),
            Some(MemberChange {
                member_id: member_id.to_owned(),
                member_kind: kind,
                removed: false,
            }),
        );
        true
    }

    /// Returns false when the member was not there.
    pub fn remove_member(&mut self, group_id: &str, member_id: &str) -> bool {
        let kind = self.member_kind(member_id);
        let Some(group) = self.groups.get_mut(group_id) else {
            return false;
        };
        let before = group.members.len();
        group.members.retain(|m| m != member_id);
        if group.members.len() == before {
            return false;
        }
        self.record(
            ObjectKind::Group,
            group_id,
            Vec::new(),
            Some(MemberChange {
                member_id: member_id.to_owned(),
                member_kind: kind,
                removed: true,
            }),
        );
        true
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

/// The Graph property names whose values differ (all of them for a new
/// object), those that lost their value too (a cleared extension).
fn changed_properties(
    before: Option<&serde_json::Map<String, serde_json::Value>>,
    after: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    let mut changed: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.and_then(|b| b.get(*k)) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    if let Some(before) = before {
        changed.extend(before.keys().filter(|k| !after.contains_key(*k)).cloned());
    }
    changed
}
