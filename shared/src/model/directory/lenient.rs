//! How values on items that other writers share are read.

use serde::{Deserialize, Deserializer};

// Other writers share these items, so a value of an unexpected type (a
// NULL, a number where text belongs) is read as no value, as docs/contract.md 1.3
// reads an absent one, rather than making the item unreadable: one odd item
// must not stop a tenant's import or lose a change on the stream.

/// Text; an empty string or a value of another type is no value.
pub(super) fn text_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// Required text (`user_name`, a group's `name`): no value is "".
pub(super) fn text_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(text_or_none(d)?.unwrap_or_default())
}

/// `enabled`: anything but `false` means enabled.
pub(super) fn enabled_unless_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(!matches!(
        serde_json::Value::deserialize(d)?,
        serde_json::Value::Bool(false)
    ))
}

pub(super) fn enabled_by_default() -> bool {
    true
}

/// `attributes` (mapped attributes, DESIGN 2.13): a map of texts; entries
/// of another type, or a value that is no map, are no value.
pub(super) fn texts_by_name<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter_map(|(name, value)| match value {
                serde_json::Value::String(text) if !text.is_empty() => Some((name, text)),
                _ => None,
            })
            .collect(),
        _ => Default::default(),
    })
}
