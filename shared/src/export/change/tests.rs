use super::*;
use crate::export::tests::{change, obj};
use serde_json::json;

fn hashed(mut v: Value) -> Value {
    let item: UserItem = serde_json::from_value(v.clone()).unwrap();
    let hash = crate::model::directory::EntraHash::of_user(&item.attributes);
    v[crate::model::directory::ENTRA_HASH] = json!(hash.as_str());
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
    marked[crate::model::directory::IMPORT_DELETED] = json!("2026-11-26T10:00:00Z");
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
fn a_deletion_is_exported_only_for_what_the_export_created_or_adopted() {
    let imported =
        hashed(json!({"user_id": "e1", "user_name": "a@contoso.com", "source": "entra"}));
    assert!(matches!(
        change("REMOVE", "USER#e1", imported, json!({})).plan(),
        ExportPlan::Ignore(_)
    ));
    let linked_by_another_writer =
        json!({"user_id": "p1", "user_name": "b@contoso.com", "entra_id": "x1"});
    assert!(matches!(
        change("REMOVE", "USER#p1", linked_by_another_writer, json!({})).plan(),
        ExportPlan::Ignore(_)
    ));
    for origin in ["created", "adopted"] {
        let exported = json!({"user_id": "p2", "user_name": "c@contoso.com", "entra_id": "x2", "sync_entra_origin": origin});
        assert_eq!(
            change("REMOVE", "USER#p2", exported, json!({})).plan(),
            ExportPlan::DeleteUser {
                entra_id: "x2".into()
            },
            "{origin}"
        );
    }
    let group =
        json!({"group_id": "g1", "name": "G", "entra_id": "x3", "sync_entra_origin": "created"});
    assert_eq!(
        change("REMOVE", "GROUP#g1", group, json!({})).plan(),
        ExportPlan::DeleteGroup {
            entra_id: "x3".into()
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
fn a_membership_is_exported_under_the_ids_its_key_names_not_its_attributes() {
    let forged = json!({"group_id": "g9", "user_id": "u9", "source": "local"});
    let added = change("INSERT", "MEMBER#g1#u1", json!({}), forged.clone()).plan();
    let removed = change("REMOVE", "MEMBER#g1#u1", forged, json!({})).plan();
    let (group_id, user_id) = ("g1".to_owned(), "u1".to_owned());
    assert_eq!(
        added,
        ExportPlan::AddMember {
            group_id: group_id.clone(),
            user_id: user_id.clone()
        }
    );
    assert_eq!(removed, ExportPlan::RemoveMember { group_id, user_id });
}

#[test]
fn ids_holding_the_key_separator_are_refused_naming_the_key() {
    for (sk, new) in [
        (
            "USER#a#b",
            json!({"user_id": "a#b", "user_name": "a@contoso.com"}),
        ),
        ("GROUP#g#1", json!({"group_id": "g#1", "name": "G"})),
        ("MEMBER#a#b#c", json!({"group_id": "a#b", "user_id": "c"})),
    ] {
        let keys = obj(json!({"pk": "TENANT#acme", "sk": sk}));
        let refused =
            DirectoryChange::parse("INSERT", &keys, Map::new(), obj(new), "7".into(), None)
                .unwrap_err();
        assert_eq!(
            refused,
            ChangeError::SeparatorInId {
                pk: "TENANT#acme".into(),
                sk: sk.into()
            }
        );
        assert!(refused.to_string().contains(sk), "{refused}");
    }
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
