//! The export's change events (docs/behaviour.md 2.14): each change Entra
//! ID now reflects, named by the AM id of its object, caused by its stream
//! record. The batch writes its events together once its records are done.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{ChangeImages, DirectoryChange, ExportPlan};
use crate::events::{AttributeChange, ChangeEvent, EventAction, EventCause, attribute_changes};
use crate::problems::{Direction, ObjectKind};

/// The event of a change exported as `what` says (the outcome's words: a
/// delete the tenant made a disable says "disabled").
pub(super) fn exported_event(
    change: &DirectoryChange,
    what: &str,
    at: DateTime<Utc>,
) -> Option<ChangeEvent> {
    let (object_kind, object_id, display) = object_of(change)?;
    let (action, modified) = action_and_changes(change, what)?;
    Some(ChangeEvent {
        at,
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        direction: Direction::Export,
        object_kind,
        object_id,
        display,
        action,
        modified,
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
fn member(added: bool, user_id: &str) -> Vec<AttributeChange> {
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

fn action_and_changes(
    change: &DirectoryChange,
    what: &str,
) -> Option<(EventAction, Vec<AttributeChange>)> {
    let named = |plain: EventAction| {
        if what.ends_with("disabled") {
            EventAction::Disable
        } else if what.contains("restored") {
            EventAction::Restore
        } else {
            plain
        }
    };
    Some(match change.plan() {
        ExportPlan::Ignore(_) => return None,
        ExportPlan::CreateUser { item, .. } => (
            named(EventAction::Create),
            attribute_changes(None, Some(&item.attributes)),
        ),
        ExportPlan::UpdateUser { before, item, .. } => {
            let old = before.as_deref().map(|b| &b.attributes);
            let action = match (old.map(|o| o.enabled), item.attributes.enabled) {
                (Some(true), false) => EventAction::Disable,
                (Some(false), true) => EventAction::Enable,
                _ => EventAction::Update,
            };
            (action, attribute_changes(old, Some(&item.attributes)))
        }
        ExportPlan::CreateGroup { item, .. } => (
            EventAction::Create,
            attribute_changes(None, Some(&item.attributes)),
        ),
        ExportPlan::UpdateGroup { item, .. } => {
            let old = match &change.images {
                ChangeImages::Group(images) => images.old.as_ref().map(|g| &g.attributes),
                _ => None,
            };
            (
                EventAction::Update,
                attribute_changes(old, Some(&item.attributes)),
            )
        }
        ExportPlan::DeleteUser { .. }
        | ExportPlan::DeleteGroup { .. }
        | ExportPlan::DeleteMarked(_) => (named(EventAction::Delete), Vec::new()),
        ExportPlan::AddMember { user_id, .. } => (EventAction::AddMember, member(true, &user_id)),
        ExportPlan::RemoveMember { user_id, .. } => {
            (EventAction::RemoveMember, member(false, &user_id))
        }
    })
}
