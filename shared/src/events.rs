//! Change events (DESIGN 2.14): one item per object change applied in
//! either direction, `ENTRA#EVENT#<timestamp>#<id>`, kept 30 days, so that
//! "why did this attribute change?" is one query. The on-demand sync
//! writes them first; the runs and the export can use the same model.

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
}
