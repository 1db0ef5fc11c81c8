//! The bodies of the export's Graph writes (docs/graph.md 3.1, 3.4): Graph
//! JSON built from typed values, and the mark the export writes with every
//! object it creates (docs/behaviour.md 2.11).

use serde_json::{Map, Value};

use super::GraphError;
use super::model::string;
use crate::model::directory::{Field, GROUP_FIELDS};
use crate::model::entra::GraphValue;

fn json_string(text: &str) -> Value {
    Value::String(text.to_owned())
}

/// A value as Graph takes it.
fn graph_value(value: &GraphValue) -> Value {
    value.to_json()
}

/// The body of `PATCH /users/{id}` or `/groups/{id}`.
pub fn patch_body(patch: &crate::model::entra::EntraPatch) -> Value {
    Value::Object(patch_properties(patch))
}

fn patch_properties(patch: &crate::model::entra::EntraPatch) -> Map<String, Value> {
    patch
        .properties
        .iter()
        .map(|(property, value)| (property.clone(), graph_value(value)))
        .collect()
}

/// The mapped properties that have a value.
fn present_properties<A>(fields: &[Field<A>], attributes: &A) -> Map<String, Value> {
    fields
        .iter()
        .map(|f| {
            (
                f.graph.to_owned(),
                graph_value(&(f.read)(attributes).into()),
            )
        })
        .filter(|(_, v)| !v.is_null())
        .collect()
}

pub use crate::model::entra::EXPORT_MARK_EXTENSION;

/// The mark's property name: `extension_<app id without dashes>_<name>`.
pub fn export_mark_property(client_id: &str) -> String {
    format!(
        "extension_{}_{EXPORT_MARK_EXTENSION}",
        client_id.replace('-', "")
    )
}

/// The export's mark on a Graph object, when it has one (Graph leaves an
/// extension without a value out, or sends `null`).
pub fn export_mark(
    object: &Map<String, Value>,
    property: &str,
) -> Result<Option<crate::model::entra::ExportMark>, GraphError> {
    Ok(string(object, property)?.map(|mark| crate::model::entra::ExportMark::from_graph(&mark)))
}

/// The body of `POST /users` (docs/graph.md 3.1), marked as the export's:
/// the mapped properties with a value, then what Graph requires that no
/// mapping gave (a display name, `mailNickname`, `accountEnabled`).
pub fn new_user_body(user: &crate::model::entra::NewEntraUser, mark_property: &str) -> Value {
    use secrecy::ExposeSecret;
    let mut body = patch_properties(&user.posted_properties());
    body.insert(mark_property.to_owned(), json_string(user.mark.as_str()));
    body.insert(
        "passwordProfile".into(),
        serde_json::json!({"forceChangePasswordNextSignIn": true, "password": user.password.expose_secret()}),
    );
    Value::Object(body)
}

/// The body of `POST /groups`: a security group, marked as the export's.
pub fn new_group_body(group: &crate::model::entra::NewEntraGroup, mark_property: &str) -> Value {
    let mut body = present_properties(GROUP_FIELDS, &group.attributes);
    body.insert(mark_property.to_owned(), json_string(group.mark.as_str()));
    body.insert("mailEnabled".into(), Value::Bool(false));
    body.insert("securityEnabled".into(), Value::Bool(true));
    body.insert(
        "mailNickname".into(),
        Value::String(group.mail_nickname.clone()),
    );
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entra::EntraPatch;
    use serde_json::json;

    #[test]
    fn a_patch_body_holds_texts_flags_lists_and_nulls_by_graph_name() {
        let mut patch = EntraPatch::default();
        patch.set("employeeId", GraphValue::Text("42".into()));
        patch.set("accountEnabled", GraphValue::Flag(false));
        patch.set("businessPhones", GraphValue::Texts(vec!["+33 1 23".into()]));
        patch.set("jobTitle", GraphValue::Null);
        assert_eq!(
            patch_body(&patch),
            json!({"employeeId": "42", "accountEnabled": false,
                   "businessPhones": ["+33 1 23"], "jobTitle": null})
        );
    }

    #[test]
    fn the_mark_is_the_apps_directory_extension_read_back_when_set() {
        let property = export_mark_property("7c3e5a9b-2f1d-4c8e-b6a0-1d3f5e7a9c2b");
        assert_eq!(
            property,
            "extension_7c3e5a9b2f1d4c8eb6a01d3f5e7a9c2b_entraSyncCreatedFor"
        );
        let marked = json!({"id": "u1", property.clone(): "acme/USER#p-1"});
        assert_eq!(
            export_mark(marked.as_object().unwrap(), &property)
                .unwrap()
                .map(|m| m.to_string()),
            Some("acme/USER#p-1".to_owned())
        );
        for unmarked in [
            json!({"id": "u1"}),
            json!({"id": "u1", property.clone(): null}),
        ] {
            assert_eq!(
                export_mark(unmarked.as_object().unwrap(), &property).unwrap(),
                None
            );
        }
    }
}
