use super::*;
use serde_json::json;

#[test]
fn keys_name_their_kind_and_others_are_not_directory_items() {
    assert!(
        matches!(ItemKey::parse("TENANT#acme", "USER#u1"), Some(ItemKey::User { user_id, .. }) if user_id == "u1")
    );
    assert!(
        matches!(ItemKey::parse("TENANT#acme", "MEMBER#g1#u1"), Some(ItemKey::Membership { key, .. }) if key.group_id == "g1" && key.user_id == "u1")
    );
    assert!(ItemKey::parse("TENANT#acme", "ROLE#admin").is_none());
    assert!(ItemKey::parse("ORG#acme", "USER#u1").is_none());
    assert!(ItemKey::parse("TENANT#acme", "MEMBER#g1").is_none());
    // An id holding the separator names no object (never another one).
    for sk in ["USER#a#b", "GROUP#g#1", "MEMBER#a#b#c", "MEMBER#a#b#"] {
        assert!(ItemKey::separator_in_id(sk), "{sk}");
        assert!(ItemKey::parse("TENANT#acme", sk).is_none(), "{sk}");
    }
    assert!(!ItemKey::separator_in_id("MEMBER#g1#u1"));
    assert!(!ItemKey::separator_in_id("ROLE#a#b"));
    let key = ItemKey::parse("TENANT#acme", "MEMBER#g1#u1").unwrap();
    assert_eq!(
        (key.pk(), key.sk()),
        ("TENANT#acme".into(), "MEMBER#g1#u1".into())
    );
}

fn user(value: serde_json::Value) -> UserItem {
    serde_json::from_value(value).unwrap()
}

#[test]
fn an_item_parses_with_defaults_for_what_is_absent_and_keeps_nothing_else() {
    let item =
        user(json!({"user_id": "u1", "user_name": "ann@contoso.com", "role": "x", "email": ""}));
    assert_eq!(item.source, Source::Local);
    assert!(item.attributes.enabled);
    assert_eq!(item.attributes.email, None);
    assert_eq!(item.entra_object_id(), None);
    let imported = user(json!({"user_id": "e1", "user_name": "a@b.c", "source": "entra"}));
    assert_eq!(imported.entra_object_id(), Some("e1"));
}

#[test]
fn values_of_another_type_read_as_no_value_and_never_make_the_item_unreadable() {
    let item = user(json!({
        "user_id": "u1", "user_name": null, "enabled": "yes", "source": 7,
        "display_name": 42, "password_mode": true, "sync_entra_hash": null,
        "sync_import_deleted_at": 1
    }));
    assert_eq!(item.attributes.user_name, "");
    assert!(item.attributes.enabled);
    assert_eq!(item.source, Source::Local);
    assert_eq!(item.attributes.display_name, None);
    assert_eq!(item.password_mode, None);
    assert_eq!(
        (item.sync.entra_hash, item.sync.import_deleted_at),
        (None, None)
    );
    let disabled = user(json!({"user_id": "u2", "enabled": false, "password_mode": "entra"}));
    assert!(!disabled.attributes.enabled);
    assert_eq!(disabled.password_mode, Some(PasswordMode::Entra));
}

#[test]
fn the_hash_covers_only_synchronised_values_and_treats_absent_as_empty() {
    let a = user(
        json!({"user_id": "u1", "user_name": "ann@contoso.com", "enabled": true, "job_title": "CTO", "sync_other": 1}),
    );
    let b = user(
        json!({"user_id": "u2", "user_name": "ann@contoso.com", "enabled": true, "job_title": "CTO", "email": null, "role": "x"}),
    );
    let hash = |i: &UserItem| EntraHash::of_user(&i.attributes);
    assert_eq!(hash(&a), hash(&b));
    let c = user(
        json!({"user_id": "u1", "user_name": "ann@contoso.com", "enabled": false, "job_title": "CTO"}),
    );
    assert_ne!(hash(&a), hash(&c));
    assert_eq!(hash(&a).as_str().len(), 16);
}

#[test]
fn the_hash_is_the_one_earlier_releases_stored() {
    // Computed by the release before the typed model, from the item's JSON.
    let item = user(
        json!({"user_id": "u1", "user_name": "ann@contoso.com", "enabled": true, "job_title": "CTO"}),
    );
    assert_eq!(EntraHash::of_user(&item.attributes).as_str(), LEGACY_HASH);
}

/// FNV-1a of `user_name=s:ann@contoso.com;display_name=\0;...enabled=v:true;`.
const LEGACY_HASH: &str = "2856858713eef70b";

#[test]
fn a_hash_stored_for_an_item_without_enabled_still_agrees() {
    let legacy = user(json!({"user_id": "u1", "user_name": "ann@contoso.com"}));
    let mut item = legacy.clone();
    // What the release before the typed model stored for this item.
    item.sync.entra_hash = legacy.legacy_hashes().pop();
    assert!(item.agrees_with_entra() && !item.pending_export());
}

#[test]
fn a_changed_value_makes_the_item_pending_until_the_hash_is_renewed() {
    let mut item = user(json!({"user_id": "u1", "user_name": "ann@contoso.com"}));
    assert!(!item.pending_export(), "never synchronised");
    item.sync.entra_hash = Some(EntraHash::of_user(&item.attributes));
    assert!(item.agrees_with_entra() && !item.pending_export());
    item.attributes.department = Some("Sales".into());
    assert!(item.pending_export());
    let changed = changed_fields(USER_FIELDS, &UserAttributes::default(), &item.attributes);
    let names: Vec<&str> = changed.iter().map(|f| f.am).collect();
    assert_eq!(names, vec!["user_name", "department"]);
}

#[test]
fn the_attributes_map_is_hashed_and_an_empty_one_keeps_the_hash_earlier_releases_stored() {
    let mut item = user(
        json!({"user_id": "u1", "user_name": "ann@contoso.com", "enabled": true, "job_title": "CTO"}),
    );
    assert_eq!(EntraHash::of_user(&item.attributes).as_str(), LEGACY_HASH);
    item.sync.entra_hash = Some(EntraHash::of_user(&item.attributes));
    // The platform gives it a mapped attribute (an export mapping's
    // source): the item no longer agrees, and the change is the map's.
    let before = item.clone();
    item.attributes
        .attributes
        .insert("costCenter".into(), "42".into());
    assert!(item.pending_export(), "a new map entry shows");
    assert_eq!(UserItem::changed_attributes(&before, &item), ["attributes"]);
    item.sync.entra_hash = Some(EntraHash::of_user(&item.attributes));
    assert!(item.agrees_with_entra());
    item.attributes
        .attributes
        .insert("costCenter".into(), "43".into());
    assert!(item.pending_export(), "a changed map value shows");
}

#[test]
fn a_manager_counts_in_the_hash_only_when_present_and_an_unwritten_one_agrees_with_no_value() {
    let without = user(json!({"user_id": "p1", "user_name": "ann@contoso.com"}));
    let with = user(json!({"user_id": "p1", "user_name": "ann@contoso.com", "manager_id": "m1"}));
    assert_eq!(with.attributes.manager_id.as_deref(), Some("m1"));
    // Hashes stored before `manager_id` existed stay valid.
    assert_eq!(
        EntraHash::of_user(&without.attributes),
        EntraHash::of(USER_FIELDS, &without.attributes)
    );
    assert_ne!(
        EntraHash::of_user(&with.attributes),
        EntraHash::of_user(&without.attributes)
    );
    let unwritten = EntraHash::of_user_manager_unwritten(&with.attributes);
    for agreeing in [&with, &without] {
        assert_ne!(unwritten, EntraHash::of_user(&agreeing.attributes));
    }
}
