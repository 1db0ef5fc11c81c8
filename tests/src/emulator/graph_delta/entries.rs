//! A round's objects as Graph renders them: every live object of an initial
//! round, the changed (or removed) objects of an incremental one, and their
//! `members@delta` slices (a user's `manager@delta`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::RoundToken;
use crate::emulator::directory::{ObjectKind, Tenant};
use crate::emulator::graph::{group_json, project};
use crate::emulator::user_properties::{DEFAULT_USER_PROPERTIES, user_view};

/// One object of a round, ready to render.
pub(super) struct Entry {
    pub(super) id: String,
    body: Option<Map<String, Value>>,
    removed: Option<&'static str>,
    /// `members@delta` (a user's `manager@delta`) entries: (id, kind, removed).
    pub(super) members: Vec<(String, ObjectKind, bool)>,
}

/// The annotation that carries an object's links.
fn links_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "manager@delta",
        ObjectKind::Group => "members@delta",
    }
}

impl Entry {
    pub(super) fn render(
        &self,
        kind: ObjectKind,
        member_offset: usize,
        member_count: usize,
    ) -> Value {
        let mut object = match (&self.body, self.removed) {
            (_, Some(reason)) => {
                let mut m = Map::new();
                m.insert("id".into(), json!(self.id));
                m.insert("@removed".into(), json!({"reason": reason}));
                m
            }
            (Some(body), None) => body.clone(),
            (None, None) => {
                let mut m = Map::new();
                m.insert("id".into(), json!(self.id));
                m
            }
        };
        let slice: Vec<Value> = self
            .members
            .iter()
            .skip(member_offset)
            .take(member_count)
            .map(|(id, kind, removed)| {
                let mut member = json!({
                    "@odata.type": match kind { ObjectKind::User => "#microsoft.graph.user", ObjectKind::Group => "#microsoft.graph.group" },
                    "id": id,
                });
                if *removed {
                    member["@removed"] = json!({"reason": "deleted"});
                }
                member
            })
            .collect();
        if !slice.is_empty() {
            object.insert(links_name(kind).into(), Value::Array(slice));
        }
        Value::Object(object)
    }
}

fn selects(select: &Option<Vec<String>>, property: &str) -> bool {
    select
        .as_ref()
        .is_none_or(|s| s.iter().any(|p| p.eq_ignore_ascii_case(property)))
}

/// Only selected properties are tracked (docs/graph.md 1.2); without `$select`
/// a user's default set is.
fn tracks(token: &RoundToken, property: &str) -> bool {
    match (token.kind, &token.select) {
        (ObjectKind::User, None) => DEFAULT_USER_PROPERTIES.contains(&property),
        _ => selects(&token.select, property),
    }
}

/// Per object of an incremental round: changed properties, and membership
/// changes (member id -> kind, removed).
type ObjectChanges = (Vec<String>, BTreeMap<String, (ObjectKind, bool)>);

pub(super) fn round_entries(tenant: &Tenant, token: &RoundToken, minimal: bool) -> Vec<Entry> {
    if token.initial {
        return initial_entries(tenant, token);
    }
    round_changes(tenant, token)
        .into_iter()
        .filter_map(|(id, changes)| changed_entry(tenant, token, minimal, id, changes))
        .collect()
}

fn in_filter(token: &RoundToken, id: &str) -> bool {
    token
        .filter
        .as_ref()
        .is_none_or(|f| f.iter().any(|x| x == id))
}

/// Groups carry `members@delta` unless `$select` leaves members out;
/// users carry `manager@delta` only when `$select` names it.
fn with_links(token: &RoundToken) -> bool {
    match token.kind {
        ObjectKind::Group => selects(&token.select, "members"),
        ObjectKind::User => token.select.is_some() && selects(&token.select, "manager"),
    }
}

/// An initial round: every live object of the kind (within `$filter`).
fn initial_entries(tenant: &Tenant, token: &RoundToken) -> Vec<Entry> {
    match token.kind {
        ObjectKind::User => tenant
            .users
            .values()
            .filter(|u| !u.deleted && in_filter(token, &u.id))
            .map(|user| Entry {
                id: user.id.clone(),
                body: Some(user_view(user, token.select.as_deref())),
                removed: None,
                members: match &user.manager {
                    Some(manager) if with_links(token) => {
                        vec![(manager.clone(), ObjectKind::User, false)]
                    }
                    _ => Vec::new(),
                },
            })
            .collect(),
        ObjectKind::Group => tenant
            .groups
            .values()
            .filter(|g| !g.deleted && in_filter(token, &g.id))
            .map(|group| Entry {
                id: group.id.clone(),
                body: Some(project(group_json(group), token.select.as_deref())),
                removed: None,
                members: if with_links(token) {
                    current_members(tenant, &group.members)
                } else {
                    Vec::new()
                },
            })
            .collect(),
    }
}

/// A group's members as an initial round lists them: a soft-deleted one
/// is not listed (nor reported removed until it is purged).
fn current_members(tenant: &Tenant, members: &[String]) -> Vec<(String, ObjectKind, bool)> {
    members
        .iter()
        .filter(|m| {
            tenant.users.get(*m).is_none_or(|u| !u.deleted)
                && tenant.groups.get(*m).is_none_or(|g| !g.deleted)
        })
        .map(|m| {
            let kind = if tenant.groups.contains_key(m) {
                ObjectKind::Group
            } else {
                ObjectKind::User
            };
            (m.clone(), kind, false)
        })
        .collect()
}

/// Incremental: per object, the properties and membership changes in (since, upto].
fn round_changes(tenant: &Tenant, token: &RoundToken) -> BTreeMap<String, ObjectChanges> {
    let with_members = with_links(token);
    let mut changed: BTreeMap<String, ObjectChanges> = BTreeMap::new();
    for change in tenant.change_log.iter().filter(|c| {
        c.sequence > token.since
            && c.sequence <= token.upto
            && c.kind == token.kind
            && in_filter(token, &c.id)
    }) {
        let tracked: Vec<String> = change
            .properties
            .iter()
            .filter(|p| p.starts_with('@') || tracks(token, p))
            .cloned()
            .collect();
        match &change.member {
            Some(m) if with_members => {
                let entry = changed.entry(change.id.clone()).or_default();
                entry
                    .1
                    .insert(m.member_id.clone(), (m.member_kind, m.removed));
            }
            Some(_) => {}
            None if !tracked.is_empty() => changed
                .entry(change.id.clone())
                .or_default()
                .0
                .extend(tracked),
            None => {}
        }
    }
    changed
}

/// An incremental round's entry for one changed object: its body (all of it,
/// or under `return=minimal` only what changed), or `@removed` when it is
/// gone; nothing for an object that never existed as far as Graph knows.
fn changed_entry(
    tenant: &Tenant,
    token: &RoundToken,
    minimal: bool,
    id: String,
    (properties, links): ObjectChanges,
) -> Option<Entry> {
    let select = token.select.as_deref();
    let live = match token.kind {
        ObjectKind::User => tenant
            .users
            .get(&id)
            .filter(|u| !u.deleted)
            .map(|u| user_view(u, select)),
        ObjectKind::Group => tenant
            .groups
            .get(&id)
            .filter(|g| !g.deleted)
            .map(|g| project(group_json(g), select)),
    };
    let Some(mut body) = live else {
        return removed_entry(tenant, token.kind, id);
    };
    let restored = properties.iter().any(|p| p == "@restored");
    if minimal && !restored {
        body.retain(|k, _| k == "id" || properties.iter().any(|p| p == k));
        // An extension that lost its value is absent from the object: null.
        for cleared in properties.iter().filter(|p| p.starts_with("extension_")) {
            body.entry(cleared.clone()).or_insert(Value::Null);
        }
    } else if properties.is_empty() {
        // Only links changed: the object carries its id.
        body.retain(|k, _| k == "id");
    }
    let members = changed_links(tenant, token, &id, restored, links);
    Some(Entry {
        id,
        body: Some(body),
        removed: None,
        members,
    })
}

/// `@removed`: `changed` while restorable (a user, a Microsoft 365 group),
/// `deleted` when gone for good.
fn removed_entry(tenant: &Tenant, kind: ObjectKind, id: String) -> Option<Entry> {
    let soft = match kind {
        ObjectKind::User => tenant.users.get(&id).is_some_and(|u| u.deleted),
        ObjectKind::Group => tenant.groups.get(&id).is_some_and(|g| g.deleted),
    };
    let hard = tenant.tombstones.contains_key(&id);
    (soft || hard).then(|| Entry {
        id,
        body: None,
        removed: Some(if soft { "changed" } else { "deleted" }),
        members: Vec::new(),
    })
}

/// The links an incremental entry carries: a group's membership changes
/// (all its members again when it was restored); a user's manager as it is
/// now, or the one it lost.
fn changed_links(
    tenant: &Tenant,
    token: &RoundToken,
    id: &str,
    restored: bool,
    changes: BTreeMap<String, (ObjectKind, bool)>,
) -> Vec<(String, ObjectKind, bool)> {
    let changes = changes.into_iter().map(|(m, (k, r))| (m, k, r));
    match token.kind {
        ObjectKind::Group if restored && with_links(token) => {
            current_members(tenant, &tenant.groups[id].members)
        }
        ObjectKind::Group => changes.collect(),
        ObjectKind::User if !restored && changes.len() == 0 => Vec::new(),
        ObjectKind::User => match &tenant.users[id].manager {
            Some(manager) if with_links(token) => vec![(manager.clone(), ObjectKind::User, false)],
            Some(_) => Vec::new(),
            // How Graph shows a manager's removal is not confirmed (no
            // Microsoft source shows one): members@delta's removal form.
            None => changes.filter(|(_, _, removed)| *removed).collect(),
        },
    }
}
