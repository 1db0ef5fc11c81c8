//! Directory items (DESIGN.md 1.3) as both the import and the export see
//! them: keys, the attributes that travel to and from Entra ID, and the
//! `sync_entra_hash` that tells import's writes from the platform's.
//!
//! The platform does not mark its writes, so the export decides by state:
//! every time entra-sync makes an item agree with Entra ID (import writing
//! Entra's values, or export after pushing the platform's), it stores a hash
//! of the synchronised attributes. An item whose attributes still hash to
//! that value holds nothing Entra ID lacks; one that does not was changed by
//! the platform since.

use serde_json::{Map, Value};

use crate::model::TenantId;

/// Entra-side bookkeeping on directory items (a `sync_` attribute: other
/// writers keep it).
pub const ENTRA_HASH: &str = "sync_entra_hash";
/// Set by the import just before it deletes an item, so that the stream's
/// REMOVE record says who deleted it.
pub const IMPORT_DELETED: &str = "sync_import_deleted_at";

/// User attributes that are synchronised with Entra ID.
pub const USER_ATTRIBUTES: &[&str] = &[
    "user_name",
    "display_name",
    "given_name",
    "surname",
    "email",
    "mobile_phone",
    "job_title",
    "department",
    "enabled",
];

pub const GROUP_ATTRIBUTES: &[&str] = &["name", "description"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKey {
    User {
        tenant: TenantId,
        user_id: String,
    },
    Group {
        tenant: TenantId,
        group_id: String,
    },
    Membership {
        tenant: TenantId,
        group_id: String,
        user_id: String,
    },
}

impl ItemKey {
    /// The kind of directory item `pk`/`sk` name; `None` for anything else.
    pub fn parse(pk: &str, sk: &str) -> Option<Self> {
        let tenant = TenantId::parse(pk.strip_prefix("TENANT#")?).ok()?;
        if let Some(id) = sk.strip_prefix("USER#") {
            return (!id.is_empty()).then(|| Self::User {
                tenant,
                user_id: id.to_owned(),
            });
        }
        if let Some(id) = sk.strip_prefix("GROUP#") {
            return (!id.is_empty()).then(|| Self::Group {
                tenant,
                group_id: id.to_owned(),
            });
        }
        let (group_id, user_id) = sk.strip_prefix("MEMBER#")?.split_once('#')?;
        (!group_id.is_empty() && !user_id.is_empty()).then(|| Self::Membership {
            tenant,
            group_id: group_id.to_owned(),
            user_id: user_id.to_owned(),
        })
    }

    pub fn tenant(&self) -> &TenantId {
        match self {
            Self::User { tenant, .. }
            | Self::Group { tenant, .. }
            | Self::Membership { tenant, .. } => tenant,
        }
    }
}

/// The Entra object id of a directory item: its `entra_id` once linked, or
/// its own id when it was imported (imported objects use the Entra id as
/// their id and carry no `entra_id`).
pub fn entra_id_of<'a>(item: &'a Map<String, Value>, own_id: &'a str) -> Option<&'a str> {
    match item
        .get("entra_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        Some(linked) => Some(linked),
        None if item.get("source").and_then(Value::as_str) == Some("entra") => Some(own_id),
        None => None,
    }
}

/// FNV-1a 64 over a canonical rendering of the attributes: stable across
/// processes and releases (no std `Hasher`, whose output may change).
pub fn entra_hash(item: &Map<String, Value>, attributes: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for name in attributes {
        let rendered = match item.get(*name) {
            None | Some(Value::Null) => String::from("\u{0}"),
            Some(Value::String(s)) if s.is_empty() => String::from("\u{0}"),
            Some(Value::String(s)) => format!("s:{s}"),
            Some(other) => format!("v:{other}"),
        };
        for byte in name
            .bytes()
            .chain([b'='])
            .chain(rendered.bytes())
            .chain([b';'])
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_name_their_kind_and_others_are_not_directory_items() {
        assert!(
            matches!(ItemKey::parse("TENANT#acme", "USER#u1"), Some(ItemKey::User { user_id, .. }) if user_id == "u1")
        );
        assert!(
            matches!(ItemKey::parse("TENANT#acme", "MEMBER#g1#u1"), Some(ItemKey::Membership { group_id, user_id, .. }) if group_id == "g1" && user_id == "u1")
        );
        assert!(ItemKey::parse("TENANT#acme", "ROLE#admin").is_none());
        assert!(ItemKey::parse("ORG#acme", "USER#u1").is_none());
        assert!(ItemKey::parse("TENANT#acme", "MEMBER#g1").is_none());
    }

    #[test]
    fn the_hash_covers_only_synchronised_values_and_treats_absent_as_empty() {
        let a = json!({"user_name": "ann@contoso.com", "enabled": true, "job_title": "CTO", "sync_other": 1});
        let b = json!({"user_name": "ann@contoso.com", "enabled": true, "job_title": "CTO", "email": null, "role": "x"});
        let hash = |v: &Value| entra_hash(v.as_object().unwrap(), USER_ATTRIBUTES);
        assert_eq!(hash(&a), hash(&b));
        let c = json!({"user_name": "ann@contoso.com", "enabled": false, "job_title": "CTO"});
        assert_ne!(hash(&a), hash(&c));
        assert_eq!(hash(&a).len(), 16);
    }
}
