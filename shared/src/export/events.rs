//! The export's change events (docs/behaviour.md 2.14): each change Entra
//! ID now reflects, named by the AM id of its object, caused by its stream
//! record, and carrying what the engine sent (`Exported`, built where it
//! acts). The batch writes its events together once its records are done.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::mappings::ManagerWrite;
use super::{ChangeImages, DirectoryChange, EntraPatch, Exported};
use crate::events::{AttributeChange, ChangeEvent, EventAction, EventCause};
use crate::model::directory::UserItem;
use crate::problems::{Direction, ObjectKind};

/// The event of a change the engine exported as `exported` says.
pub(super) fn exported_event(
    change: &DirectoryChange,
    exported: Exported,
    at: DateTime<Utc>,
) -> Option<ChangeEvent> {
    let (object_kind, object_id, display) = object_of(change)?;
    Some(ChangeEvent {
        at,
        id: ChangeEvent::new_id(),
        direction: Direction::Export,
        object_kind,
        object_id,
        display,
        action: exported.action,
        modified: exported.modified,
        cause: EventCause::Stream {
            sequence_number: change.sequence_number.clone(),
        },
    })
}

/// The object by its AM id, and what an admin recognises it by; a
/// membership is an event of its group.
fn object_of(change: &DirectoryChange) -> Option<(ObjectKind, String, String)> {
    Some(match &change.images {
        ChangeImages::User(images) => {
            let user = images.new.as_ref().or(images.old.as_ref())?;
            let name = user.attributes.user_name.clone();
            (ObjectKind::User, user.user_id.clone(), name)
        }
        ChangeImages::Group(images) => {
            let group = images.new.as_ref().or(images.old.as_ref())?;
            let name = group.attributes.name.clone();
            (ObjectKind::Group, group.group_id.clone(), name)
        }
        ChangeImages::Membership(images) => {
            let m = images.new.as_ref().or(images.old.as_ref())?;
            let display = format!("{} / {}", m.group_id, m.user_id);
            (ObjectKind::Group, m.group_id.clone(), display)
        }
    })
}

/// `member`: none → the user's AM id (added), or back.
pub(super) fn member(added: bool, user_id: &str) -> Vec<AttributeChange> {
    let (old, new) = match added {
        true => (Value::Null, json!(user_id)),
        false => (json!(user_id), Value::Null),
    };
    vec![AttributeChange {
        attribute: "member".into(),
        old,
        new,
    }]
}

/// The properties a create sent, none before.
pub(super) fn posted(properties: &EntraPatch) -> Vec<AttributeChange> {
    patched(properties, |_| Value::Null)
}

/// The properties a PATCH sent, each with the value `old` gives it.
pub(super) fn patched(patch: &EntraPatch, old: impl Fn(&str) -> Value) -> Vec<AttributeChange> {
    patch
        .properties
        .iter()
        .map(|(property, value)| AttributeChange {
            attribute: property.clone(),
            old: old(property),
            new: value.to_json(),
        })
        .collect()
}

/// `manager`: the AM user's manager before (`null` when unknown or none)
/// → the one written (`null`: removed).
pub(super) fn manager(before: Option<&UserItem>, written: &ManagerWrite) -> AttributeChange {
    let old = before.and_then(|b| b.attributes.manager_id.clone());
    let new = match written {
        ManagerWrite::Set(id) => Some(id.clone()),
        ManagerWrite::Remove => None,
    };
    AttributeChange {
        attribute: "manager".into(),
        old: old.map_or(Value::Null, Value::String),
        new: new.map_or(Value::Null, Value::String),
    }
}

/// An update that turned `accountEnabled` off is a disable, on an enable.
pub(super) fn update_action(sent: &[AttributeChange]) -> EventAction {
    let enabled = sent.iter().find(|c| c.attribute == "accountEnabled");
    match enabled.map(|c| (&c.old, &c.new)) {
        Some((Value::Bool(true), Value::Bool(false))) => EventAction::Disable,
        Some((Value::Bool(false), Value::Bool(true))) => EventAction::Enable,
        _ => EventAction::Update,
    }
}
