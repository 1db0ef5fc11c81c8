//! Reading the fields of a config list's items (the config item arrives
//! as JSON, docs/contract.md 1.3), with problems that name the field.

use serde_json::{Map, Value as Json};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    #[error("`{field}` must be a list")]
    NotAList { field: &'static str },
    #[error("it must be {expected}")]
    NotAnObject { expected: &'static str },
    #[error("`{field}` is missing")]
    Missing { field: &'static str },
    #[error("`{field}` must be a text")]
    NotText { field: &'static str },
    #[error("`{field}` is \"{given}\"; it must be one of {allowed}")]
    BadChoice {
        field: &'static str,
        given: String,
        allowed: String,
    },
}

pub(crate) fn object<'a>(
    item: &'a Json,
    expected: &'static str,
) -> Result<&'a Map<String, Json>, FieldProblem> {
    match item {
        Json::Object(fields) => Ok(fields),
        _ => Err(FieldProblem::NotAnObject { expected }),
    }
}

/// A text field that must be there and not be empty.
pub(crate) fn required_text<'a>(
    fields: &'a Map<String, Json>,
    field: &'static str,
) -> Result<&'a str, FieldProblem> {
    optional_text(fields, field)?.ok_or(FieldProblem::Missing { field })
}

/// A text field; absent, null and `""` are all `None`.
pub(crate) fn optional_text<'a>(
    fields: &'a Map<String, Json>,
    field: &'static str,
) -> Result<Option<&'a str>, FieldProblem> {
    match fields.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(text)) if text.is_empty() => Ok(None),
        Some(Json::String(text)) => Ok(Some(text)),
        Some(_) => Err(FieldProblem::NotText { field }),
    }
}

/// One of `allowed` (any case); `default` when absent, else required.
pub(crate) fn choice(
    fields: &Map<String, Json>,
    field: &'static str,
    allowed: &[&'static str],
    default: Option<&'static str>,
) -> Result<&'static str, FieldProblem> {
    let Some(given) = optional_text(fields, field)? else {
        return default.ok_or(FieldProblem::Missing { field });
    };
    allowed
        .iter()
        .find(|choice| choice.eq_ignore_ascii_case(given.trim()))
        .copied()
        .ok_or_else(|| FieldProblem::BadChoice {
            field,
            given: shorten(given),
            allowed: allowed.join(", "),
        })
}

/// A value quoted in a message, cut to a readable length.
pub(crate) fn shorten(text: &str) -> String {
    const SHOWN: usize = 64;
    if text.chars().count() <= SHOWN {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(SHOWN).collect::<String>())
    }
}
