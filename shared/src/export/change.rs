//! Stream records parsed into directory changes, and what each one asks of
//! Entra ID (DESIGN.md 2.3), decided from the item's state alone.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::directory::{
    ENTRA_HASH, GROUP_ATTRIBUTES, IMPORT_DELETED, ItemKey, USER_ATTRIBUTES, entra_hash, entra_id_of,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeAction {
    Created,
    Modified,
    Removed,
}

/// One stream record about a directory item.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryChange {
    pub key: ItemKey,
    pub action: ChangeAction,
    pub old: Map<String, Value>,
    pub new: Map<String, Value>,
    pub sequence_number: String,
    pub recorded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("unknown eventName {0:?}")]
    UnknownEvent(String),
    #[error("the record has no key pk/sk")]
    NoKeys,
    #[error("a {0} record has no {1} image (the stream must be NEW_AND_OLD_IMAGES)")]
    MissingImage(&'static str, &'static str),
}

impl DirectoryChange {
    /// `Ok(None)` for items that are not users, groups or memberships.
    pub fn parse(
        event_name: &str,
        keys: &Map<String, Value>,
        old: Map<String, Value>,
        new: Map<String, Value>,
        sequence_number: String,
        recorded_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Self>, ChangeError> {
        let action = match event_name {
            "INSERT" => ChangeAction::Created,
            "MODIFY" => ChangeAction::Modified,
            "REMOVE" => ChangeAction::Removed,
            other => return Err(ChangeError::UnknownEvent(other.to_owned())),
        };
        let (Some(pk), Some(sk)) = (
            keys.get("pk").and_then(Value::as_str),
            keys.get("sk").and_then(Value::as_str),
        ) else {
            return Err(ChangeError::NoKeys);
        };
        let Some(key) = ItemKey::parse(pk, sk) else {
            return Ok(None);
        };
        match action {
            ChangeAction::Created | ChangeAction::Modified if new.is_empty() => {
                return Err(ChangeError::MissingImage(
                    if action == ChangeAction::Created {
                        "INSERT"
                    } else {
                        "MODIFY"
                    },
                    "new",
                ));
            }
            ChangeAction::Modified | ChangeAction::Removed if old.is_empty() => {
                return Err(ChangeError::MissingImage(
                    if action == ChangeAction::Removed {
                        "REMOVE"
                    } else {
                        "MODIFY"
                    },
                    "old",
                ));
            }
            _ => {}
        }
        Ok(Some(Self {
            key,
            action,
            old,
            new,
            sequence_number,
            recorded_at,
        }))
    }
}

/// What a change asks of Entra ID.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportPlan {
    /// Nothing to do (why): import's writes, our write-backs, no-op changes.
    Ignore(&'static str),
    CreateUser {
        user_id: String,
        item: Map<String, Value>,
    },
    UpdateUser {
        user_id: String,
        entra_id: String,
        changed: Vec<&'static str>,
        item: Map<String, Value>,
    },
    DeleteUser {
        entra_id: String,
    },
    CreateGroup {
        group_id: String,
        item: Map<String, Value>,
    },
    UpdateGroup {
        group_id: String,
        entra_id: String,
        changed: Vec<&'static str>,
        item: Map<String, Value>,
    },
    DeleteGroup {
        entra_id: String,
    },
    AddMember {
        group_id: String,
        user_id: String,
    },
    RemoveMember {
        group_id: String,
        user_id: String,
    },
}

fn text<'a>(item: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn imported(item: &Map<String, Value>) -> bool {
    text(item, "source") == Some("entra")
}

/// Synchronised attributes whose values differ between the images.
fn changed(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    attributes: &[&'static str],
) -> Vec<&'static str> {
    let value = |m: &Map<String, Value>, name: &str| match m.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(v.clone()),
    };
    attributes
        .iter()
        .copied()
        .filter(|a| value(old, a) != value(new, a))
        .collect()
}

/// The item agrees with Entra ID as entra-sync last left it.
fn agrees_with_entra(item: &Map<String, Value>, attributes: &[&str]) -> bool {
    text(item, ENTRA_HASH).is_some_and(|stored| stored == entra_hash(item, attributes))
}

impl DirectoryChange {
    pub fn plan(&self) -> ExportPlan {
        match &self.key {
            ItemKey::User { user_id, .. } => self.plan_object(user_id, USER_ATTRIBUTES, true),
            ItemKey::Group { group_id, .. } => self.plan_object(group_id, GROUP_ATTRIBUTES, false),
            ItemKey::Membership {
                group_id, user_id, ..
            } => match self.action {
                ChangeAction::Created if imported(&self.new) => {
                    ExportPlan::Ignore("a membership the import wrote")
                }
                ChangeAction::Created => ExportPlan::AddMember {
                    group_id: group_id.clone(),
                    user_id: user_id.clone(),
                },
                ChangeAction::Modified => {
                    ExportPlan::Ignore("a membership has no synchronised attributes")
                }
                ChangeAction::Removed if self.old.contains_key(IMPORT_DELETED) => {
                    ExportPlan::Ignore("the import removed it")
                }
                ChangeAction::Removed => ExportPlan::RemoveMember {
                    group_id: group_id.clone(),
                    user_id: user_id.clone(),
                },
            },
        }
    }

    fn plan_object(&self, id: &str, attributes: &'static [&'static str], user: bool) -> ExportPlan {
        let create = |item: &Map<String, Value>| {
            if user {
                ExportPlan::CreateUser {
                    user_id: id.to_owned(),
                    item: item.clone(),
                }
            } else {
                ExportPlan::CreateGroup {
                    group_id: id.to_owned(),
                    item: item.clone(),
                }
            }
        };
        match self.action {
            ChangeAction::Created if imported(&self.new) => {
                ExportPlan::Ignore("an object the import created")
            }
            ChangeAction::Created if text(&self.new, "entra_id").is_some() => {
                ExportPlan::Ignore("already linked to Entra ID")
            }
            ChangeAction::Created => create(&self.new),
            ChangeAction::Modified => {
                let changed = changed(&self.old, &self.new, attributes);
                if changed.is_empty() {
                    return ExportPlan::Ignore("no synchronised attribute changed");
                }
                if agrees_with_entra(&self.new, attributes) {
                    return ExportPlan::Ignore(
                        "the values are Entra ID's own (written by the import)",
                    );
                }
                match entra_id_of(&self.new, id) {
                    Some(entra_id) if user => ExportPlan::UpdateUser {
                        user_id: id.to_owned(),
                        entra_id: entra_id.to_owned(),
                        changed,
                        item: self.new.clone(),
                    },
                    Some(entra_id) => ExportPlan::UpdateGroup {
                        group_id: id.to_owned(),
                        entra_id: entra_id.to_owned(),
                        changed,
                        item: self.new.clone(),
                    },
                    // Never exported (export was off, or its create failed).
                    None if !imported(&self.new) => create(&self.new),
                    None => ExportPlan::Ignore("an imported object without an Entra id"),
                }
            }
            ChangeAction::Removed if self.old.contains_key(IMPORT_DELETED) => {
                ExportPlan::Ignore("the import deleted it (it is gone from Entra ID)")
            }
            ChangeAction::Removed => match entra_id_of(&self.old, id) {
                Some(entra_id) if user => ExportPlan::DeleteUser {
                    entra_id: entra_id.to_owned(),
                },
                Some(entra_id) => ExportPlan::DeleteGroup {
                    entra_id: entra_id.to_owned(),
                },
                None => ExportPlan::Ignore("never exported"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn change(event: &str, sk: &str, old: Value, new: Value) -> DirectoryChange {
        DirectoryChange::parse(
            event,
            &obj(json!({"pk": "TENANT#acme", "sk": sk})),
            obj(old),
            obj(new),
            "1".into(),
            None,
        )
        .unwrap()
        .unwrap()
    }

    fn hashed(mut v: Value) -> Value {
        let hash = entra_hash(v.as_object().unwrap(), USER_ATTRIBUTES);
        v[ENTRA_HASH] = json!(hash);
        v
    }

    #[test]
    fn a_platform_user_is_created_and_an_imported_one_is_not() {
        let plan = change(
            "INSERT",
            "USER#p1",
            json!({}),
            json!({"user_id": "p1", "user_name": "ann@contoso.com", "source": "local"}),
        )
        .plan();
        assert!(matches!(plan, ExportPlan::CreateUser { .. }));
        let plan = change(
            "INSERT",
            "USER#e1",
            json!({}),
            json!({"user_id": "e1", "source": "entra", "entra_id": "e1"}),
        )
        .plan();
        assert!(matches!(plan, ExportPlan::Ignore(_)));
    }

    #[test]
    fn an_edit_by_the_platform_patches_only_what_changed() {
        let old = hashed(
            json!({"user_id": "p1", "user_name": "ann@contoso.com", "job_title": "Dev", "entra_id": "x"}),
        );
        let mut new = old.clone();
        new["job_title"] = json!("CTO");
        let ExportPlan::UpdateUser {
            changed, entra_id, ..
        } = change("MODIFY", "USER#p1", old, new).plan()
        else {
            panic!()
        };
        assert_eq!(changed, vec!["job_title"]);
        assert_eq!(entra_id, "x");
    }

    #[test]
    fn import_writes_and_our_write_backs_are_never_echoed() {
        // The import wrote Entra's values (and their hash).
        let old = hashed(
            json!({"user_id": "e1", "user_name": "a@contoso.com", "job_title": "Dev", "source": "entra", "entra_id": "e1"}),
        );
        let new = hashed(
            json!({"user_id": "e1", "user_name": "a@contoso.com", "job_title": "Lead", "source": "entra", "entra_id": "e1"}),
        );
        assert!(matches!(
            change("MODIFY", "USER#e1", old.clone(), new).plan(),
            ExportPlan::Ignore(_)
        ));
        // The export wrote back entra_id and the hash.
        let before = json!({"user_id": "p1", "user_name": "a@contoso.com"});
        let after = hashed(json!({"user_id": "p1", "user_name": "a@contoso.com", "entra_id": "x"}));
        assert!(matches!(
            change("MODIFY", "USER#p1", before, after).plan(),
            ExportPlan::Ignore(_)
        ));
        // The import marked and then deleted the item.
        let mut marked = old.clone();
        marked[IMPORT_DELETED] = json!("2026-11-26T10:00:00Z");
        assert!(matches!(
            change("MODIFY", "USER#e1", old, marked.clone()).plan(),
            ExportPlan::Ignore(_)
        ));
        assert!(matches!(
            change("REMOVE", "USER#e1", marked, json!({})).plan(),
            ExportPlan::Ignore(_)
        ));
    }

    #[test]
    fn a_platform_deletion_of_an_imported_user_is_exported() {
        let old = hashed(
            json!({"user_id": "e1", "user_name": "a@contoso.com", "source": "entra", "entra_id": "e1"}),
        );
        assert_eq!(
            change("REMOVE", "USER#e1", old, json!({})).plan(),
            ExportPlan::DeleteUser {
                entra_id: "e1".into()
            }
        );
    }

    #[test]
    fn memberships_follow_the_same_rules() {
        let plan = change(
            "INSERT",
            "MEMBER#g1#u1",
            json!({}),
            json!({"group_id": "g1", "user_id": "u1"}),
        )
        .plan();
        assert_eq!(
            plan,
            ExportPlan::AddMember {
                group_id: "g1".into(),
                user_id: "u1".into()
            }
        );
        let plan = change(
            "INSERT",
            "MEMBER#g1#u1",
            json!({}),
            json!({"group_id": "g1", "user_id": "u1", "source": "entra"}),
        )
        .plan();
        assert!(matches!(plan, ExportPlan::Ignore(_)));
        let plan = change(
            "REMOVE",
            "MEMBER#g1#u1",
            json!({"group_id": "g1", "user_id": "u1", "source": "entra"}),
            json!({}),
        )
        .plan();
        assert_eq!(
            plan,
            ExportPlan::RemoveMember {
                group_id: "g1".into(),
                user_id: "u1".into()
            }
        );
    }

    #[test]
    fn records_that_cannot_be_understood_say_why_and_others_are_not_ours() {
        let keys = obj(json!({"pk": "TENANT#acme", "sk": "USER#p1"}));
        assert_eq!(
            DirectoryChange::parse("UPSERT", &keys, Map::new(), Map::new(), "1".into(), None),
            Err(ChangeError::UnknownEvent("UPSERT".into()))
        );
        assert!(matches!(
            DirectoryChange::parse("INSERT", &keys, Map::new(), Map::new(), "1".into(), None),
            Err(ChangeError::MissingImage(..))
        ));
        assert_eq!(
            DirectoryChange::parse(
                "INSERT",
                &obj(json!({"pk": "x"})),
                Map::new(),
                Map::new(),
                "1".into(),
                None
            ),
            Err(ChangeError::NoKeys)
        );
        let other = obj(json!({"pk": "TENANT#acme", "sk": "ROLE#r1"}));
        assert_eq!(
            DirectoryChange::parse(
                "INSERT",
                &other,
                Map::new(),
                obj(json!({"a": 1})),
                "1".into(),
                None
            ),
            Ok(None)
        );
    }
}
