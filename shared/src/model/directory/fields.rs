//! The field table: each synchronised attribute, its Graph property, and
//! how to read and write it.

use super::attributes::{GroupAttributes, UserAttributes};

/// A synchronised attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// `None` = no value (Graph's `null`; absent on the item).
    Text(Option<String>),
    Flag(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Flag,
}

/// One synchronised attribute: its AM name, its Graph property, and how to
/// read and write it on the attributes. The engines and the Graph adapter
/// read these tables instead of naming attributes themselves, so a
/// per-tenant mapping later is a different table, not new code.
#[derive(Clone, Copy)]
pub struct Field<A: 'static> {
    pub am: &'static str,
    pub graph: &'static str,
    pub kind: FieldKind,
    pub read: fn(&A) -> FieldValue,
    pub write: fn(&mut A, FieldValue),
}

impl<A> std::fmt::Debug for Field<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <-> {}", self.am, self.graph)
    }
}

fn text_value(value: &Option<String>) -> FieldValue {
    FieldValue::Text(value.clone().filter(|s| !s.is_empty()))
}

fn into_text(value: FieldValue) -> Option<String> {
    match value {
        FieldValue::Text(text) => text.filter(|s| !s.is_empty()),
        FieldValue::Flag(_) => None,
    }
}

macro_rules! optional_text {
    ($am:literal, $graph:literal, $attributes:ty, $field:ident) => {
        Field {
            am: $am,
            graph: $graph,
            kind: FieldKind::Text,
            read: |a: &$attributes| text_value(&a.$field),
            write: |a: &mut $attributes, v| a.$field = into_text(v),
        }
    };
}

/// AM user attribute <-> Graph user property. The order is the hash's.
pub const USER_FIELDS: &[Field<UserAttributes>] = &[
    Field {
        am: "user_name",
        graph: "userPrincipalName",
        kind: FieldKind::Text,
        read: |a| FieldValue::Text(Some(a.user_name.clone()).filter(|s| !s.is_empty())),
        write: |a, v| a.user_name = into_text(v).unwrap_or_default(),
    },
    optional_text!("display_name", "displayName", UserAttributes, display_name),
    optional_text!("given_name", "givenName", UserAttributes, given_name),
    optional_text!("surname", "surname", UserAttributes, surname),
    optional_text!("email", "mail", UserAttributes, email),
    optional_text!("mobile_phone", "mobilePhone", UserAttributes, mobile_phone),
    optional_text!("job_title", "jobTitle", UserAttributes, job_title),
    optional_text!("department", "department", UserAttributes, department),
    Field {
        am: "enabled",
        graph: "accountEnabled",
        kind: FieldKind::Flag,
        read: |a| FieldValue::Flag(a.enabled),
        // Graph's null (or an absent property) means enabled.
        write: |a, v| a.enabled = !matches!(v, FieldValue::Flag(false)),
    },
];

/// AM group attribute <-> Graph group property.
pub const GROUP_FIELDS: &[Field<GroupAttributes>] = &[
    Field {
        am: "name",
        graph: "displayName",
        kind: FieldKind::Text,
        read: |a| FieldValue::Text(Some(a.name.clone()).filter(|s| !s.is_empty())),
        write: |a, v| a.name = into_text(v).unwrap_or_default(),
    },
    optional_text!("description", "description", GroupAttributes, description),
];

/// The synchronised attributes whose values differ between two versions.
pub fn changed_fields<A>(fields: &'static [Field<A>], old: &A, new: &A) -> Vec<&'static Field<A>> {
    fields
        .iter()
        .filter(|f| (f.read)(old) != (f.read)(new))
        .collect()
}
