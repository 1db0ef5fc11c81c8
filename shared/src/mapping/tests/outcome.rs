//! The target values of `map_user`: `apply`, `default`, target kinds, and
//! evaluation on the whole object.

use serde_json::json;

use super::super::{Apply, Direction, Occasion, TargetValue, UserMappings, map_user};
use super::mappings::{mapping, mappings, refused, value_of};
use super::{object, text};

#[test]
fn given_a_flag_target_then_constants_and_defaults_must_be_flags() {
    let error = refused(json!([mapping("import", "enabled", "constant", "yes")]));
    assert!(
        error.to_string().contains("\"true\" or \"false\""),
        "{error}"
    );
    let mappings = mappings(json!([mapping("import", "enabled", "constant", "FALSE")]));
    let values = map_user(
        mappings.for_direction(Direction::Import),
        &object(&[]),
        Occasion::Update,
    )
    .unwrap();
    assert_eq!(value_of(&values, "enabled"), TargetValue::Flag(false));
}

#[test]
fn create_only_mappings_apply_on_create_and_defaults_fill_empty_sources_on_create_only() {
    let mappings = mappings(json!([
        {"direction": "import", "target": "attributes.first_title", "source_type": "attribute",
         "source": "jobTitle", "apply": "create_only"},
        {"direction": "import", "target": "attributes.cost_center", "source_type": "attribute",
         "source": "onPremisesExtensionAttributes.extensionAttribute3", "default": "none"},
    ]));
    let import = mappings.for_direction(Direction::Import);
    assert_eq!(import[9].apply, Apply::CreateOnly);
    let source = object(&[
        ("jobTitle", text("Engineer")),
        ("userPrincipalName", text("ann@contoso.com")),
    ]);

    let created = map_user(import, &source, Occasion::Create).unwrap();
    assert_eq!(
        value_of(&created, "attributes.first_title"),
        TargetValue::Text("Engineer".into())
    );
    assert_eq!(
        value_of(&created, "attributes.cost_center"),
        TargetValue::Text("none".into())
    );
    assert_eq!(value_of(&created, "department"), TargetValue::Absent);

    let updated = map_user(import, &source, Occasion::Update).unwrap();
    assert!(
        updated
            .iter()
            .all(|v| v.target.name != "attributes.first_title")
    );
    assert_eq!(
        value_of(&updated, "attributes.cost_center"),
        TargetValue::Absent
    );
    assert_eq!(
        value_of(&updated, "user_name"),
        TargetValue::Text("ann@contoso.com".into())
    );
}

#[test]
fn a_value_that_does_not_fit_its_target_fails_naming_the_mapping() {
    let mappings = mappings(json!([mapping(
        "import",
        "enabled",
        "attribute",
        "employeeType"
    )]));
    let source = object(&[("employeeType", text("Contractor"))]);
    let error = map_user(
        mappings.for_direction(Direction::Import),
        &source,
        Occasion::Create,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "user_mappings #1 (import → `enabled`): the target is a flag, and \"Contractor\" is neither \"true\" nor \"false\""
    );
    let long = object(&[("department", text(&"d".repeat(2_000)))]);
    let error = map_user(
        UserMappings::default().for_direction(Direction::Import),
        &long,
        Occasion::Create,
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("the built-in import mapping of `department`: the result has 2000"),
        "{error}"
    );
}

#[test]
fn list_targets_take_one_value_for_business_phones_and_all_for_other_mails() {
    let mappings = mappings(json!([
        mapping(
            "export",
            "businessPhones",
            "expression",
            "Split([attributes.phones], \";\")"
        ),
        mapping(
            "export",
            "otherMails",
            "expression",
            "Split([attributes.phones], \";\")"
        ),
    ]));
    let source = object(&[("attributes.phones", text("1;2"))]);
    let values = map_user(
        mappings.for_direction(Direction::Export),
        &source,
        Occasion::Update,
    )
    .unwrap();
    assert_eq!(
        value_of(&values, "businessPhones"),
        TargetValue::Texts(vec!["1".into()])
    );
    assert_eq!(
        value_of(&values, "otherMails"),
        TargetValue::Texts(vec!["1".into(), "2".into()])
    );
}

/// Microsoft's documented trap (WAVE3 §1.1): its engine evaluates Switch on
/// the changed attributes only, so when another mapped attribute changes,
/// Switch sees its source as null and wipes the target. Here a mapping is
/// always evaluated on the whole stored object: a change of `jobTitle`
/// leaves the Switch's value as it was.
#[test]
fn given_another_attribute_changes_then_a_switch_keeps_its_value() {
    let mappings = mappings(json!([
        mapping(
            "import",
            "attributes.division",
            "expression",
            "Switch([department], \"Other\", \"Sales\", \"Commercial\", \"R&D\", \"Engineering\")"
        ),
        mapping("import", "job_title", "attribute", "jobTitle"),
    ]));
    let import = mappings.for_direction(Direction::Import);
    let mut stored = object(&[("department", text("Sales")), ("jobTitle", text("Rep"))]);
    let before = map_user(import, &stored, Occasion::Update).unwrap();
    assert_eq!(
        value_of(&before, "attributes.division"),
        TargetValue::Text("Commercial".into())
    );

    // The delta brings only the changed jobTitle; the engine merges it into
    // the stored object and evaluates on the whole.
    stored.insert("jobTitle".into(), text("Senior Rep"));
    let after = map_user(import, &stored, Occasion::Update).unwrap();
    assert_eq!(
        value_of(&after, "attributes.division"),
        TargetValue::Text("Commercial".into())
    );
    assert_eq!(
        value_of(&after, "job_title"),
        TargetValue::Text("Senior Rep".into())
    );
}
