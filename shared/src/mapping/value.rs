//! The values expressions work on, and the source object they read.

use std::collections::BTreeMap;

/// A value in the mapping language: what an attribute holds or a function
/// returns. Graph's `null` and an absent attribute are both `Null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Text(String),
    /// A multi-valued attribute (`businessPhones`, `proxyAddresses`, `Split`).
    List(Vec<String>),
    Flag(bool),
}

impl Value {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// Null, the empty text or an empty list: "no value" (AM stores an empty
    /// attribute as absent, DESIGN 1.3).
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Null => true,
            Self::Text(text) => text.is_empty(),
            Self::List(values) => values.iter().all(String::is_empty),
            Self::Flag(_) => false,
        }
    }

    /// The value where one text is expected: null is `None`, a flag is
    /// `true`/`false`, a list stands for its first value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Null => None,
            Self::Text(text) => Some(text),
            Self::List(values) => values.first().map(String::as_str),
            Self::Flag(true) => Some("true"),
            Self::Flag(false) => Some("false"),
        }
    }

    /// Like [`Value::as_text`], with null read as `""` (IIF, Switch, Equals).
    pub fn text_or_empty(&self) -> &str {
        self.as_text().unwrap_or("")
    }

    /// Whether a condition holds: a true flag or the text `true` (any case).
    /// Null, other texts and lists are false.
    pub fn is_true(&self) -> bool {
        match self {
            Self::Flag(flag) => *flag,
            Self::Text(text) => text.eq_ignore_ascii_case("true"),
            Self::Null | Self::List(_) => false,
        }
    }

    /// Whether the value holds more than `limit` characters. A UTF-8 text
    /// has no more characters than bytes: most values are not counted.
    pub fn longer_than(&self, limit: usize) -> bool {
        let bytes = match self {
            Self::Null | Self::Flag(_) => 0,
            Self::Text(text) => text.len(),
            Self::List(values) => values.iter().map(String::len).sum(),
        };
        bytes > limit && self.char_count() > limit
    }

    /// Characters the value holds (a list: all its values), for the limits.
    pub fn char_count(&self) -> usize {
        match self {
            Self::Null | Self::Flag(_) => 0,
            Self::Text(text) => text.chars().count(),
            Self::List(values) => values.iter().map(|v| v.chars().count()).sum(),
        }
    }
}

/// The whole object a mapping or a scoping filter reads: every attribute
/// by name, absent ones as [`Value::Null`]. Evaluation always sees the
/// whole stored object, never a delta patch (WAVE3 §1.1: Microsoft's
/// Switch-null trap comes from evaluating on the changed attributes only).
pub trait SourceObject {
    fn attribute(&self, name: &str) -> Value;
}

impl SourceObject for BTreeMap<String, Value> {
    fn attribute(&self, name: &str) -> Value {
        self.get(name).cloned().unwrap_or(Value::Null)
    }
}

/// A JSON object (a Graph user as delta returns it, or an AM user item):
/// a dotted name reads inside nested objects, so
/// `onPremisesExtensionAttributes.extensionAttribute3` finds its value.
impl SourceObject for serde_json::Map<String, serde_json::Value> {
    fn attribute(&self, name: &str) -> Value {
        let found = match self.get(name) {
            Some(value) => Some(value),
            None => dotted(self, name),
        };
        found.map_or(Value::Null, json_value)
    }
}

fn dotted<'a>(
    object: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    let (first, rest) = name.split_once('.')?;
    match object.get(first)? {
        serde_json::Value::Object(inner) => inner.get(rest).or_else(|| dotted(inner, rest)),
        _ => None,
    }
}

fn json_value(value: &serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match value {
        Json::Null | Json::Object(_) => Value::Null,
        Json::Bool(flag) => Value::Flag(*flag),
        Json::String(text) => Value::Text(text.clone()),
        Json::Number(number) => Value::Text(number.to_string()),
        Json::Array(items) => Value::List(
            items
                .iter()
                .filter_map(|item| match item {
                    Json::String(text) => Some(text.clone()),
                    Json::Number(number) => Some(number.to_string()),
                    Json::Bool(flag) => Some(flag.to_string()),
                    _ => None,
                })
                .collect(),
        ),
    }
}
