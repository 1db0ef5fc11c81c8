//! Change events (DESIGN 2.14): one item per object change applied in
//! either direction, `ENTRA#EVENT#<timestamp>#<id>`, kept 30 days, so that
//! "why did this attribute change?" is one query. The on-demand sync, the
//! import's runs and the export write them.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::TenantId;
use crate::ports::StoreError;
use crate::problems::{Direction, ObjectKind};

/// How long an event is kept (the table's TTL attribute).
pub const EVENT_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// What happened to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    Create,
    Update,
    Delete,
    Disable,
    Enable,
    Restore,
    AddMember,
    RemoveMember,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::Restore => "restore",
            Self::AddMember => "add_member",
            Self::RemoveMember => "remove_member",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Create,
            Self::Update,
            Self::Delete,
            Self::Disable,
            Self::Enable,
            Self::Restore,
            Self::AddMember,
            Self::RemoveMember,
        ]
        .into_iter()
        .find(|a| a.as_str() == raw)
    }
}

/// One attribute's change, old → new (`null` = no value). Never a secret:
/// the AM directory holds none, and passwords are never attributes here.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeChange {
    pub attribute: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// Why the change was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventCause {
    /// `sync-object`, asked by an admin.
    OnDemand,
    /// A sync run, by its id and trigger (`schedule`, `notification`, …).
    Run { run_id: String, trigger: String },
    /// An export of one stream record.
    Stream { sequence_number: String },
}

impl EventCause {
    /// The `cause` map as stored.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::OnDemand => serde_json::json!({"trigger": "on_demand"}),
            Self::Run { run_id, trigger } => {
                serde_json::json!({"trigger": trigger, "run_id": run_id})
            }
            Self::Stream { sequence_number } => {
                serde_json::json!({"trigger": "stream", "sequence_number": sequence_number})
            }
        }
    }

    /// The cause a stored `cause` map names, if it names one.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        match text("trigger")?.as_str() {
            "on_demand" => Some(Self::OnDemand),
            "stream" => Some(Self::Stream {
                sequence_number: text("sequence_number")?,
            }),
            trigger => Some(Self::Run {
                run_id: text("run_id")?,
                trigger: trigger.to_owned(),
            }),
        }
    }
}

/// One change event.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub at: DateTime<Utc>,
    /// Unique among events of the same instant.
    pub id: String,
    pub direction: Direction,
    pub object_kind: ObjectKind,
    /// The AM id for export, the Entra id for import (as problem items).
    pub object_id: String,
    /// What an admin recognises: the UPN, the group name.
    pub display: String,
    pub action: EventAction,
    pub modified: Vec<AttributeChange>,
    pub cause: EventCause,
}

impl ChangeEvent {
    /// A new event's id: 12 hex digits, unique among events of the same
    /// instant (its sort key's tail).
    pub fn new_id() -> String {
        uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
    }

    /// The item's sort key: events sort by time.
    pub fn sort_key(&self) -> String {
        format!(
            "ENTRA#EVENT#{}#{}",
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.id
        )
    }

    /// When the table's TTL removes it (epoch seconds).
    pub fn expires_at_epoch(&self) -> i64 {
        (self.at + EVENT_RETENTION).timestamp()
    }
}

/// Where change events are written.
pub trait ChangeEvents: Send + Sync {
    fn record(
        &self,
        tenant: &TenantId,
        event: &ChangeEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Several events of one tenant (a page's, a batch's) at once.
    fn record_all(
        &self,
        tenant: &TenantId,
        events: &[ChangeEvent],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What changed between two states of an object, attribute by attribute
/// (as the object serialises; a map such as `attributes` one level down,
/// as `attributes.<name>`): old → new, `null` for no value. `None` is no
/// object (before a create, after a delete).
pub fn attribute_changes<T: Serialize>(old: Option<&T>, new: Option<&T>) -> Vec<AttributeChange> {
    let (old, new) = (flattened(old), flattened(new));
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let was = old.get(name).cloned().unwrap_or_default();
            let now = new.get(name).cloned().unwrap_or_default();
            (was != now).then(|| AttributeChange {
                attribute: name.clone(),
                old: was,
                new: now,
            })
        })
        .collect()
}

fn flattened<T: Serialize>(object: Option<&T>) -> serde_json::Map<String, serde_json::Value> {
    let mut flat = serde_json::Map::new();
    let Some(serde_json::Value::Object(fields)) = object.and_then(|o| serde_json::to_value(o).ok())
    else {
        return flat;
    };
    for (name, value) in fields {
        match value {
            serde_json::Value::Object(inner) => {
                for (key, value) in inner {
                    flat.insert(format!("{name}.{key}"), value);
                }
            }
            serde_json::Value::Null => {}
            value => {
                flat.insert(name, value);
            }
        }
    }
    flat
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_sorts_by_time_and_expires_thirty_days_later() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let event = ChangeEvent {
            at,
            id: "e1".into(),
            direction: Direction::Import,
            object_kind: ObjectKind::User,
            object_id: "u".into(),
            display: "ann@contoso.com".into(),
            action: EventAction::Create,
            modified: vec![],
            cause: EventCause::OnDemand,
        };
        assert_eq!(event.sort_key(), "ENTRA#EVENT#2026-12-07T10:00:00.000Z#e1");
        assert_eq!(event.expires_at_epoch() - at.timestamp(), 30 * 24 * 3600);
        assert_eq!(event.cause.to_json()["trigger"], "on_demand");
    }

    #[test]
    fn a_new_event_id_is_twelve_hex_digits_and_new_each_time() {
        let (one, two) = (ChangeEvent::new_id(), ChangeEvent::new_id());
        assert_eq!(one.len(), 12);
        assert!(one.chars().all(|c| c.is_ascii_hexdigit()), "{one}");
        assert_ne!(one, two);
    }

    #[test]
    fn a_stored_cause_reads_back_as_the_cause_it_was() {
        for cause in [
            EventCause::OnDemand,
            EventCause::Run {
                run_id: "r1".into(),
                trigger: "notification".into(),
            },
            EventCause::Stream {
                sequence_number: "42".into(),
            },
        ] {
            assert_eq!(EventCause::from_json(&cause.to_json()), Some(cause));
        }
    }

    #[test]
    fn attribute_changes_name_each_changed_attribute_with_its_old_and_new_value() {
        let old = serde_json::json!({"job_title": "Analyst", "enabled": true,
            "attributes": {"cost_centre": "12"}, "city": "Oslo"});
        let new = serde_json::json!({"job_title": "Lead", "enabled": true,
            "attributes": {"cost_centre": "13"}});
        let changes = attribute_changes(Some(&old), Some(&new));
        let named: Vec<(&str, &serde_json::Value, &serde_json::Value)> = changes
            .iter()
            .map(|c| (c.attribute.as_str(), &c.old, &c.new))
            .collect();
        assert_eq!(
            named,
            vec![
                ("attributes.cost_centre", &"12".into(), &"13".into()),
                ("city", &"Oslo".into(), &serde_json::Value::Null),
                ("job_title", &"Analyst".into(), &"Lead".into()),
            ]
        );
        assert_eq!(attribute_changes(None, Some(&new)).len(), 3);
    }
}
