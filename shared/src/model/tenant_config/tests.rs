use super::*;
use serde_json::json;

fn parse(value: Value) -> Result<TenantConfig, ConfigItemError> {
    TenantConfig::from_attributes(value.as_object().unwrap())
}

#[test]
fn an_application_tenant_whose_tenant_id_changed_since_its_authorisation_is_not_authorised() {
    let item = |tid: &str| {
        json!({"pk": "TENANT#acme", "sk": "ENTRA#CONFIG", "tenant_id": "acme",
               "authorisation": "authorised", "auth_mode": "application",
               "entra_tenant_id": tid,
               "authorised_entra_tenant_id": "6a2d4e1f-0000-4000-8000-00000000abcd"})
    };
    assert!(
        parse(item("6a2d4e1f-0000-4000-8000-00000000abcd"))
            .unwrap()
            .is_authorised()
    );
    let moved = parse(item("99999999-0000-4000-8000-000000000000")).unwrap();
    assert!(!moved.is_authorised());
    assert!(
        moved
            .authorisation_refusal()
            .unwrap()
            .contains("authorise it again")
    );
    let mut unproven = item("6a2d4e1f-0000-4000-8000-00000000abcd");
    unproven
        .as_object_mut()
        .unwrap()
        .remove("authorised_entra_tenant_id");
    assert!(!parse(unproven).unwrap().is_authorised());
    let mut moved_cloud = item("6a2d4e1f-0000-4000-8000-00000000abcd");
    moved_cloud["cloud"] = json!("usgov");
    assert!(
        !parse(moved_cloud.clone()).unwrap().is_authorised(),
        "another cloud"
    );
    moved_cloud["authorised_cloud"] = json!("usgov");
    assert!(parse(moved_cloud).unwrap().is_authorised());
    // A delegated tenant's grant is bound to its organisation already.
    let mut delegated = item("99999999-0000-4000-8000-000000000000");
    delegated.as_object_mut().unwrap().remove("auth_mode");
    assert!(parse(delegated).unwrap().is_authorised());
}

#[test]
fn the_auth_mode_is_delegated_unless_the_item_says_application() {
    let item = |mode: Value| json!({"pk": "TENANT#acme", "sk": "ENTRA#CONFIG", "tenant_id": "acme", "auth_mode": mode});
    assert_eq!(
        parse(item(Value::Null)).unwrap().auth_mode,
        AuthMode::Delegated
    );
    let app = parse(item(json!("application"))).unwrap();
    assert_eq!(app.auth_mode, AuthMode::Application);
    let err = parse(item(json!("magic"))).unwrap_err();
    assert_eq!(err.attribute, "auth_mode");
    assert!(err.problem.contains("\"magic\""), "{err}");
}

#[test]
fn given_a_full_item_then_every_setting_is_read() {
    let config = parse(json!({
        "pk": "TENANT#acme", "sk": "ENTRA#CONFIG",
        "tenant_id": "acme", "label": "Acme Entra",
        "entra_tenant_id": "6A2D4E1F-0000-4000-8000-00000000ABCD",
        "sync_enabled": true, "import_users": true, "import_groups": false,
        "domains": ["Contoso.com", "contoso.com", "fabrikam.io"],
        "import_group_ids": ["11111111-1111-4111-8111-111111111111"],
        "deletion_threshold_percent": 35,
        "export_adopt_existing": true,
        "authorisation": "authorised",
        "authorised_at": "2026-11-01T10:00:00Z"
    }))
    .unwrap();
    assert_eq!(config.tenant_id.as_str(), "acme");
    assert_eq!(
        config.entra_tenant_id.as_ref().unwrap().as_str(),
        "6a2d4e1f-0000-4000-8000-00000000abcd"
    );
    assert!(config.sync_enabled && config.import_users && !config.import_groups);
    assert_eq!(config.domains, vec!["contoso.com", "fabrikam.io"]);
    assert_eq!(config.deletion_threshold_percent, 35);
    assert!(config.export_adopt_existing);
    assert!(config.is_authorised());
}

#[test]
fn given_a_minimal_item_then_everything_is_off() {
    let config = parse(json!({"tenant_id": "acme"})).unwrap();
    assert!(!config.sync_enabled && !config.import_users && !config.export_users);
    assert!(
        !config.export_adopt_existing,
        "export adopts nothing unless told"
    );
    assert_eq!(config.authorisation, Authorisation::NotAuthorised);
    assert_eq!(config.deletion_threshold_percent, 20);
    assert!(config.domains.is_empty());
}

#[test]
fn each_malformed_attribute_is_named() {
    let cases = [
        (json!({}), "tenant_id"),
        (
            json!({"tenant_id": "acme", "sync_enabled": "yes"}),
            "sync_enabled",
        ),
        (
            json!({"tenant_id": "acme", "domains": "contoso.com"}),
            "domains",
        ),
        (
            json!({"tenant_id": "acme", "domains": ["not a domain"]}),
            "domains",
        ),
        (
            json!({"tenant_id": "acme", "import_group_ids": ["sales"]}),
            "import_group_ids",
        ),
        (
            json!({"tenant_id": "acme", "entra_tenant_id": "contoso"}),
            "entra_tenant_id",
        ),
        (
            json!({"tenant_id": "acme", "deletion_threshold_percent": 150}),
            "deletion_threshold_percent",
        ),
        (
            json!({"tenant_id": "acme", "resync_requested_at": "yesterday"}),
            "resync_requested_at",
        ),
        (
            json!({"tenant_id": "acme", "authorisation": "maybe"}),
            "authorisation",
        ),
        (
            json!({"tenant_id": "acme", "export_adopt_existing": "yes"}),
            "export_adopt_existing",
        ),
    ];
    for (item, attribute) in cases {
        let err = parse(item.clone()).unwrap_err();
        assert_eq!(err.attribute, attribute, "{item}");
        assert!(err.to_string().contains(attribute));
    }
}

#[test]
fn domains_and_group_ids_are_kept_once_in_their_first_order() {
    let config = parse(json!({
        "tenant_id": "acme",
        "domains": ["fabrikam.io", "Contoso.com", "FABRIKAM.io"],
        "import_group_ids": [
            "22222222-2222-4222-8222-222222222222",
            "11111111-1111-4111-8111-111111111111",
            "22222222-2222-4222-8222-222222222222"
        ]
    }))
    .unwrap();
    assert_eq!(config.domains, vec!["fabrikam.io", "contoso.com"]);
    let ids: Vec<&str> = config.import_group_ids.iter().map(|g| g.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "22222222-2222-4222-8222-222222222222",
            "11111111-1111-4111-8111-111111111111"
        ]
    );
}

#[test]
fn the_deletion_threshold_is_a_whole_percentage() {
    for (value, expected) in [
        (json!(0), Some(0)),
        (json!(100), Some(100)),
        (json!(12.5), None),
        (json!(-1), None),
        (json!("20"), None),
    ] {
        let result = parse(json!({"tenant_id": "acme", "deletion_threshold_percent": value}));
        assert_eq!(
            result.ok().map(|c| c.deletion_threshold_percent),
            expected,
            "{value}"
        );
    }
}

#[test]
fn given_several_bad_attributes_then_the_first_in_reading_order_is_named() {
    let err = parse(json!({
        "tenant_id": "acme", "sync_enabled": "yes", "authorisation": "maybe",
        "domains": ["not a domain"]
    }))
    .unwrap_err();
    assert_eq!(err.attribute, "domains");
}

#[test]
fn deprovisioning_choices_have_their_defaults_and_refuse_unknown_values_by_name() {
    let base = json!({"pk": "TENANT#acme", "sk": "ENTRA#CONFIG", "tenant_id": "acme"});
    let defaults = parse(base.clone()).unwrap().deprovisioning;
    assert_eq!(defaults, Deprovisioning::default());
    assert_eq!(defaults.import_user_soft_delete, UserAction::Disable);
    assert_eq!(defaults.import_user_purge, UserAction::Delete);
    assert_eq!(defaults.import_user_out_of_scope, UserAction::Disable);
    assert_eq!(defaults.import_group_delete, GroupAction::Delete);
    assert_eq!(defaults.export_user_delete, UserAction::Delete);
    assert_eq!(defaults.export_group_delete, GroupAction::Delete);
    assert!(defaults.reactivate_on_restore);

    let mut chosen = base.clone();
    for (name, value) in [
        ("import_user_soft_delete_action", json!("keep")),
        ("import_user_purge_action", json!("disable")),
        ("import_user_out_of_scope_action", json!("delete")),
        ("import_group_delete_action", json!("keep")),
        ("export_user_delete_action", json!("disable")),
        ("export_group_delete_action", json!("keep")),
        ("reactivate_on_restore", json!(false)),
    ] {
        chosen[name] = value;
    }
    let chosen = parse(chosen).unwrap().deprovisioning;
    assert_eq!(chosen.import_user_soft_delete, UserAction::Keep);
    assert_eq!(chosen.import_user_purge, UserAction::Disable);
    assert_eq!(chosen.import_user_out_of_scope, UserAction::Delete);
    assert_eq!(chosen.import_group_delete, GroupAction::Keep);
    assert_eq!(chosen.export_user_delete, UserAction::Disable);
    assert_eq!(chosen.export_group_delete, GroupAction::Keep);
    assert!(!chosen.reactivate_on_restore);

    let mut group_disable = base.clone();
    group_disable["import_group_delete_action"] = json!("disable");
    let err = parse(group_disable).unwrap_err();
    assert_eq!(err.attribute, "import_group_delete_action");
    assert!(err.problem.contains("`delete` or `keep`"), "{err}");
    let mut mappings = base;
    mappings["user_mappings"] = json!("displayName");
    let err = parse(mappings).unwrap_err();
    assert_eq!(err.attribute, "user_mappings");
}
