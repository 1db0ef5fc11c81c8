//! The request body (DESIGN 2.14), parsed at the edge: an error names the
//! field at fault.

use serde_json::{Map, Value};

use crate::problems::Direction;

/// What kind of object to synchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKindAsked {
    User,
    Group,
}

/// `{direction, object_kind, object, dry_run, draft}`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncObjectRequest {
    pub direction: Direction,
    pub object_kind: ObjectKindAsked,
    /// An Entra object id, a UPN, or an AM id.
    pub object: String,
    pub dry_run: bool,
    /// Unsaved 2.13 config attributes for this one call.
    pub draft: Option<Map<String, Value>>,
}

/// A body that cannot be used, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {problem}")]
pub struct RequestError {
    pub field: &'static str,
    pub problem: String,
}

fn refused(field: &'static str, problem: impl Into<String>) -> RequestError {
    RequestError {
        field,
        problem: problem.into(),
    }
}

/// The longest object reference accepted, in bytes (a UPN is at most 113
/// characters; an item key at most 1,024 bytes).
const MAX_OBJECT_BYTES: usize = 256;

/// An Entra object id, a UPN or an AM id: nothing that could reach
/// another Graph path or query (`/`, `?`, `%`, a `#` outside a guest's
/// UPN, where it is escaped), no spaces or control characters.
fn is_object_reference(object: &str) -> bool {
    object.len() <= MAX_OBJECT_BYTES
        && !object.contains(['/', '?', '\\', '%'])
        && !object.chars().any(|c| c.is_whitespace() || c.is_control())
        && (!object.contains('#') || object.contains('@'))
}

impl SyncObjectRequest {
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|_| refused("body", "must be a JSON object"))?;
        let Value::Object(body) = value else {
            return Err(refused("body", "must be a JSON object"));
        };
        let text = |field: &'static str| match body.get(field) {
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim()),
            None | Some(Value::Null) => Err(refused(field, "is required")),
            Some(_) => Err(refused(field, "must be a non-empty string")),
        };
        let direction = text("direction")?;
        let direction = Direction::parse(direction)
            .ok_or_else(|| refused("direction", "must be `import` or `export`"))?;
        let object_kind = match text("object_kind")? {
            "user" => ObjectKindAsked::User,
            "group" => ObjectKindAsked::Group,
            _ => return Err(refused("object_kind", "must be `user` or `group`")),
        };
        let object = text("object")?;
        if !is_object_reference(object) {
            return Err(refused(
                "object",
                "must be an Entra object id, a UPN or an AM id",
            ));
        }
        let dry_run = match body.get("dry_run") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => return Err(refused("dry_run", "must be true or false")),
        };
        let draft = match body.get("draft") {
            None | Some(Value::Null) => None,
            // A draft is tried, never applied: what a real call writes
            // follows the saved settings (and their deletion safety).
            Some(Value::Object(_)) if !dry_run => {
                return Err(refused(
                    "draft",
                    "is only for a dry run: save the settings to sync with them",
                ));
            }
            Some(Value::Object(draft)) => Some(draft.clone()),
            Some(_) => return Err(refused("draft", "must be a map of config attributes")),
        };
        Ok(Self {
            direction,
            object_kind,
            object: object.to_owned(),
            dry_run,
            draft,
        })
    }
}
