//! Entra ID as the export sees it: users and groups with the export's
//! mark, the accounts the tenant made itself (administrators among them),
//! the export group, and a log of every write the export made to an object
//! it did not create.

use std::collections::{BTreeMap, BTreeSet};

use super::world::{DOMAINS, EXPORT_GROUP, NAMES};
use crate::model::entra::GraphError;
use crate::sim::rng::Rng;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraObject {
    /// Users only (`""` for a group).
    pub upn: String,
    /// A user's display name, a group's name.
    pub name: Option<String>,
    pub enabled: bool,
    pub mark: Option<String>,
    pub admin: bool,
    /// Made by the tenant, not by the export.
    pub tenants_own: bool,
    pub members: BTreeSet<String>,
    /// Calls to Graph before it is visible (replication lag)...
    pub hidden_for: u64,
    /// ...or until this time at the latest (replication ends within
    /// `MAX_LAG`: the export's window assumes as much).
    pub visible_by: Option<chrono::DateTime<chrono::Utc>>,
}

/// Replication lag's bound, well inside the export's window for creates
/// (`export::intent::REPLICATION_WINDOW`).
pub const MAX_LAG: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

impl EntraObject {
    fn tenants(upn: &str, mark: Option<&str>, admin: bool) -> Self {
        Self {
            upn: upn.to_owned(),
            name: Some(format!("Entra {upn}")),
            enabled: true,
            mark: mark.map(str::to_owned),
            admin,
            tenants_own: true,
            members: BTreeSet::new(),
            hidden_for: 0,
            visible_by: None,
        }
    }
}

#[derive(Debug, Default)]
pub struct EntraModel {
    pub users: BTreeMap<String, EntraObject>,
    pub groups: BTreeMap<String, EntraObject>,
    /// The mark of every create Entra applied.
    pub creates: Vec<String>,
    /// Writes to the tenant's own objects: (id, what).
    pub touched: Vec<(String, String)>,
    /// Every write Entra applied, in order (for the trace).
    pub log: Vec<String>,
    /// The tenant's own users as they were before any export.
    pub tenants_accounts: BTreeMap<String, EntraObject>,
    /// Those of them the import brought into AM (the platform may edit
    /// them, and the export then writes them).
    pub imported: BTreeSet<String>,
    next_id: u64,
}

/// Graph's answer to a UPN already taken (docs/graph.md 3.1).
pub fn conflict() -> GraphError {
    GraphError::ObjectConflict {
        code: "Request_BadRequest".into(),
        message:
            "Another object with the same value for property userPrincipalName already exists."
                .into(),
    }
}

impl EntraModel {
    /// The tenant's own accounts on some of the names the platform uses:
    /// an administrator, an unmarked account, one marked for an AM object
    /// that is not the platform's (an earlier tenant's export), and the
    /// export group.
    pub fn seeded(rng: &mut Rng) -> Self {
        let mut model = Self::default();
        let kinds: [(Option<&str>, bool); 3] = [
            (None, true),
            (None, false),
            (Some("acme/USER#old-1"), false),
        ];
        for (mark, admin) in kinds {
            if rng.chance(60) {
                let upn = format!("{}@{}", rng.pick(&NAMES), DOMAINS[0]);
                if model.holder(&upn).is_none() {
                    let id = model.fresh_id("t");
                    model
                        .users
                        .insert(id, EntraObject::tenants(&upn, mark, admin));
                }
            }
        }
        model.tenants_accounts = model.users.clone();
        let mut group = EntraObject::tenants("", None, false);
        group.name = Some("Export group".into());
        model.groups.insert(EXPORT_GROUP.into(), group);
        model
    }

    pub fn fresh_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// The user holding this UPN (Graph compares them case-insensitively),
    /// visible or not.
    pub fn holder(&self, upn: &str) -> Option<&String> {
        self.users
            .iter()
            .find(|(_, u)| u.upn.eq_ignore_ascii_case(upn))
            .map(|(id, _)| id)
    }

    /// One call's passing at `now`: replication catches up.
    pub fn tick(&mut self, now: chrono::DateTime<chrono::Utc>) {
        for object in self.users.values_mut().chain(self.groups.values_mut()) {
            object.hidden_for = match object.visible_by {
                Some(by) if by <= now => 0,
                _ => object.hidden_for.saturating_sub(1),
            };
        }
    }

    /// All objects visible at once (the faults have stopped).
    pub fn catch_up(&mut self) {
        for object in self.users.values_mut().chain(self.groups.values_mut()) {
            object.hidden_for = 0;
        }
    }

    pub fn visible_user(&self, id: &str) -> Result<&EntraObject, GraphError> {
        self.users
            .get(id)
            .filter(|u| u.hidden_for == 0)
            .ok_or(GraphError::NotFound)
    }

    pub fn object_mut(&mut self, group: bool, id: &str) -> Result<&mut EntraObject, GraphError> {
        let objects = if group {
            &mut self.groups
        } else {
            &mut self.users
        };
        objects
            .get_mut(id)
            .filter(|o| o.hidden_for == 0)
            .ok_or(GraphError::NotFound)
    }

    /// Notes a write to an object the export did not create.
    pub fn note_write(&mut self, group: bool, id: &str, what: &str) {
        self.log.push(format!("{what} {id}"));
        let objects = if group { &self.groups } else { &self.users };
        if objects.get(id).is_some_and(|o| o.tenants_own) {
            self.touched.push((id.to_owned(), what.to_owned()));
        }
    }

    /// Removes a deleted object from every group, as Entra does.
    pub fn forget_member(&mut self, id: &str) {
        for group in self.groups.values_mut() {
            group.members.remove(id);
        }
    }
}
