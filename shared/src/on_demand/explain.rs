//! The sentences an admin reads: why a user is in or out of scope, and
//! what a write changes, attribute by attribute.

use serde_json::{Value, json};

use crate::events::AttributeChange;
use crate::import::flows::ImportFlows;
use crate::import::records::{DeprovisionMark, DirectoryWrite};
use crate::import::scope::Scope;
use crate::import::state::GroupScope;
use crate::mapping::ScopeDecision;
use crate::model::TenantConfig;
use crate::model::directory::{FieldValue, USER_FIELDS, UserAttributes, UserItem};
use crate::model::entra::EntraUser;
use crate::model::tenant_config::GuestUsers;

/// Whether the import takes the user in, and why, in words.
pub(super) struct ScopeVerdict {
    pub(super) in_scope: bool,
    pub(super) description: String,
    pub(super) details: Value,
}

/// The reasons found so far, and the first setting that excludes.
#[derive(Default)]
struct Reasons {
    sentences: Vec<String>,
    excluded_by: Option<&'static str>,
}

impl Reasons {
    fn include(&mut self, sentence: String) {
        self.sentences.push(sentence);
    }

    fn exclude(&mut self, setting: &'static str, sentence: String) {
        self.excluded_by.get_or_insert(setting);
        self.sentences.push(sentence);
    }
}

/// The import's own scope rule (`Scope::includes_user`) decides; the
/// sentences name the setting, group or filter clause that did.
pub(super) fn scope_of(
    config: &TenantConfig,
    flows: &ImportFlows,
    groups: Option<&GroupScope>,
    user: &EntraUser,
) -> ScopeVerdict {
    let in_scope =
        config.import_users && Scope::of(config, &flows.filters, groups).includes_user(user);
    let mut reasons = Reasons::default();
    if !config.import_users {
        reasons.exclude(
            "import_users",
            "Import Users is off: the sync imports no user".into(),
        );
    }
    kind_and_domain(config, user, &mut reasons);
    if let Some(groups) = groups {
        group_membership(config, groups, user, &mut reasons);
    }
    let decision = flows.filters.evaluate(user.properties.as_ref());
    filter_clauses(&decision, &mut reasons);
    let lead = if in_scope { "In scope" } else { "Out of scope" };
    let description = match reasons.sentences.is_empty() {
        true => format!("{lead}: the tenant imports every user"),
        false => format!("{lead}: {}", reasons.sentences.join("; ")),
    };
    ScopeVerdict {
        in_scope,
        description,
        details: json!({
            "in_scope": in_scope,
            "decided_by": reasons.excluded_by,
            "filters": decision.to_string(),
        }),
    }
}

/// Guests by the tenant's guest choice, members by their UPN's domain.
fn kind_and_domain(config: &TenantConfig, user: &EntraUser, reasons: &mut Reasons) {
    if user.guest {
        match config.guest_users {
            GuestUsers::Include => {
                reasons.include("a guest (userType Guest), and the tenant includes guests".into())
            }
            GuestUsers::Exclude => reasons.exclude(
                "guest_users",
                "a guest (userType Guest), and the tenant excludes guests".into(),
            ),
        }
        return;
    }
    if config.domains.is_empty() {
        return;
    }
    let domain = user.domain().unwrap_or_default();
    if config.domains.contains(&domain) {
        reasons.include(format!(
            "its domain '{domain}' is one of the tenant's Domains"
        ));
    } else {
        let domains = config.domains.join(", ");
        let sentence =
            format!("its domain '{domain}' is not one of the tenant's Domains ({domains})");
        reasons.exclude("domains", sentence);
    }
}

fn group_membership(
    config: &TenantConfig,
    groups: &GroupScope,
    user: &EntraUser,
    reasons: &mut Reasons,
) {
    let configured: Vec<String> = config
        .import_group_ids
        .iter()
        .map(|g| g.to_string())
        .collect();
    let configured = configured.join(", ");
    if groups.users.contains(user.id.as_str()) {
        reasons.include(format!(
            "a member of an import group ({configured}), directly or through a nested group"
        ));
    } else {
        let sentence = format!(
            "not a member of any import group ({configured}), directly or through a nested group"
        );
        reasons.exclude("import_group_ids", sentence);
    }
}

/// The filter that holds, or each filter's first clause that does not.
fn filter_clauses(decision: &ScopeDecision, reasons: &mut Reasons) {
    match decision {
        ScopeDecision::NoFilters => {}
        ScopeDecision::InScope { filter, .. } => {
            reasons.include(format!("every clause of filter '{filter}' holds"))
        }
        ScopeDecision::OutOfScope { failures } => {
            for failure in failures {
                let value = match &failure.actual {
                    Some(actual) => format!("'{actual}'"),
                    None => "a user with no value".to_owned(),
                };
                let sentence = format!(
                    "filter '{}' clause {} ({}) does not hold for {value}",
                    failure.filter, failure.clause_number, failure.clause
                );
                reasons.exclude("user_scope_filters", sentence);
            }
        }
    }
}

pub(super) fn field_json(value: FieldValue) -> Value {
    match value {
        FieldValue::Text(text) => text.map(Value::String).unwrap_or(Value::Null),
        FieldValue::Flag(flag) => Value::Bool(flag),
    }
}

/// The attribute changes between what AM holds and what the write sets.
fn attribute_changes(old: Option<&UserAttributes>, new: &UserAttributes) -> Vec<AttributeChange> {
    let empty = UserAttributes::default();
    let before = old.unwrap_or(&empty);
    let mut changes: Vec<AttributeChange> = USER_FIELDS
        .iter()
        .filter(|f| old.is_none() || (f.read)(before) != (f.read)(new))
        .map(|f| AttributeChange {
            attribute: f.am.to_owned(),
            old: old.map_or(Value::Null, |o| field_json((f.read)(o))),
            new: field_json((f.read)(new)),
        })
        .filter(|c| c.old != c.new)
        .collect();
    if before.manager_id != new.manager_id {
        changes.push(AttributeChange {
            attribute: "manager_id".into(),
            old: json!(before.manager_id),
            new: json!(new.manager_id),
        });
    }
    let names = before.attributes.keys().chain(new.attributes.keys());
    let mut names: Vec<&String> = names.collect();
    names.sort();
    names.dedup();
    for name in names {
        let (was, now) = (before.attributes.get(name), new.attributes.get(name));
        if was != now {
            changes.push(AttributeChange {
                attribute: format!("attributes.{name}"),
                old: json!(was),
                new: json!(now),
            });
        }
    }
    changes
}

/// What a write changes on the user, old → new.
pub(super) fn changes_of(
    current: Option<&UserItem>,
    write: &DirectoryWrite,
) -> Vec<AttributeChange> {
    match write {
        DirectoryWrite::CreateUser(item) => {
            let mut changes = attribute_changes(None, &item.attributes);
            if let Some(mode) = item.password_mode {
                changes.push(AttributeChange {
                    attribute: "password_mode".into(),
                    old: Value::Null,
                    new: json!(mode.as_str()),
                });
            }
            changes
        }
        DirectoryWrite::UpdateUser {
            attributes,
            password_mode,
            deprovision,
            ..
        } => {
            let mut changes = attribute_changes(current.map(|c| &c.attributes), attributes);
            let old_mode = current.and_then(|c| c.password_mode);
            if let Some(mode) = password_mode.filter(|m| Some(*m) != old_mode) {
                changes.push(AttributeChange {
                    attribute: "password_mode".into(),
                    old: json!(old_mode.map(|m| m.as_str())),
                    new: json!(mode.as_str()),
                });
            }
            let old_reason = current.and_then(|c| c.sync.deprovisioned_reason.clone());
            let new_reason = match deprovision {
                DeprovisionMark::Unchanged => old_reason.clone(),
                DeprovisionMark::Clear => None,
                DeprovisionMark::Set { cause, .. } => Some(cause.as_str().to_owned()),
            };
            if new_reason != old_reason {
                changes.push(AttributeChange {
                    attribute: "sync_deprovisioned_reason".into(),
                    old: json!(old_reason),
                    new: json!(new_reason),
                });
            }
            changes
        }
        DirectoryWrite::DeleteUser { .. } => vec![AttributeChange {
            attribute: "user".into(),
            old: json!(current.map(|c| c.attributes.user_name.clone())),
            new: Value::Null,
        }],
        _ => Vec::new(),
    }
}
