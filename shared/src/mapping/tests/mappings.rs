//! `user_mappings`: validation errors that name the mapping, the built-in
//! set, and the target values with `apply` and `default`.

use serde_json::{Value as Json, json};

use super::super::{
    Direction, MAX_MAPPED_ATTRIBUTES, MAX_MAPPINGS, MappingConfigError, MappingProblem, Occasion,
    TargetKind, TargetValue, UserMappings, map_user,
};
use super::{object, text};

pub(super) fn mappings(list: Json) -> UserMappings {
    UserMappings::from_config(Some(&list)).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn refused(list: Json) -> MappingConfigError {
    match UserMappings::from_config(Some(&list)) {
        Ok(_) => panic!("accepted: {list}"),
        Err(error) => error,
    }
}

pub(super) fn mapping(direction: &str, target: &str, source_type: &str, source: &str) -> Json {
    json!({"direction": direction, "target": target, "source_type": source_type, "source": source})
}

/// The value mapped to `target` (panics when the target is not mapped).
pub(super) fn value_of(values: &[super::super::MappedValue<'_>], target: &str) -> TargetValue {
    values
        .iter()
        .find(|v| v.target.name == target)
        .map(|v| v.value.clone())
        .expect(target)
}

#[test]
fn given_no_user_mappings_then_the_built_in_mapping_is_in_effect() {
    let mappings = UserMappings::from_config(None).unwrap();
    let import: Vec<&str> = mappings
        .for_direction(Direction::Import)
        .iter()
        .map(|m| m.target.name.as_str())
        .collect();
    let export: Vec<&str> = mappings
        .for_direction(Direction::Export)
        .iter()
        .map(|m| m.target.name.as_str())
        .collect();
    assert_eq!(
        import,
        [
            "user_name",
            "display_name",
            "given_name",
            "surname",
            "email",
            "mobile_phone",
            "job_title",
            "department",
            "enabled"
        ]
    );
    assert_eq!(export[0], "userPrincipalName");
    assert!(
        mappings
            .graph_select()
            .contains(&"accountEnabled".to_string())
    );
}

#[test]
fn the_built_in_mapping_is_the_field_table_of_the_directory_model() {
    use crate::model::directory::USER_FIELDS;
    let mappings = UserMappings::default();
    let import = mappings.for_direction(Direction::Import);
    assert_eq!(import.len(), USER_FIELDS.len());
    for (mapping, field) in import.iter().zip(USER_FIELDS) {
        assert_eq!(
            (mapping.target.name.as_str(), mapping.sources()),
            (field.am, vec![field.graph])
        );
    }
}

#[test]
fn given_a_mapping_for_a_built_in_target_then_it_replaces_the_default_in_place() {
    let mappings = mappings(json!([
        mapping(
            "import",
            "attributes.cost_center",
            "attribute",
            "onPremisesExtensionAttributes.extensionAttribute3"
        ),
        mapping(
            "import",
            "display_name",
            "expression",
            "Join(\" \", [givenName], [surname])"
        ),
    ]));
    let import = mappings.for_direction(Direction::Import);
    assert_eq!(import[1].target.name, "display_name");
    assert_eq!(import[1].number, Some(2));
    assert_eq!(
        import.last().map(|m| m.target.name.as_str()),
        Some("attributes.cost_center")
    );
    assert_eq!(
        import.last().and_then(|m| m.target.attribute_key()),
        Some("cost_center")
    );
    let select = mappings.graph_select();
    assert!(
        select.contains(&"onPremisesExtensionAttributes".to_string()),
        "{select:?}"
    );
    assert!(
        !select.iter().any(|s| s.contains("extensionAttribute3")),
        "{select:?}"
    );
}

#[test]
fn given_an_unknown_import_target_then_the_error_names_the_mapping_and_lists_the_targets() {
    let error = refused(json!([mapping(
        "import",
        "displayName",
        "attribute",
        "displayName"
    )]));
    assert_eq!(
        (error.number, error.target.as_deref()),
        (Some(1), Some("displayName"))
    );
    let message = error.to_string();
    assert!(
        message.starts_with(
            "user_mappings #1 (target `displayName`): `displayName` is not an AM user attribute"
        ),
        "{message}"
    );
    assert!(message.contains("attributes.<name>"), "{message}");
}

#[test]
fn given_an_attribute_entra_sync_keeps_then_it_is_refused_as_a_target() {
    for target in [
        "entra_id",
        "user_id",
        "password_mode",
        "sync_hash",
        "attributes",
    ] {
        let error = refused(json!([mapping("import", target, "constant", "x")]));
        assert!(
            matches!(error.problem, MappingProblem::EngineOwnedTarget { .. }),
            "{target}: {error}"
        );
    }
}

#[test]
fn given_read_only_graph_properties_then_export_refuses_them_saying_why() {
    for (target, why) in [
        ("id", "Entra's own"),
        ("createdDateTime", "Entra sets it"),
        ("userType", "guest_users"),
        ("onPremisesSamAccountName", "on-premises AD"),
        ("onPremisesImmutableId", "on-premises AD"),
        ("proxyAddresses", "Graph does not allow"),
        ("skills", "SharePoint"),
    ] {
        let error = refused(json!([mapping(
            "export",
            target,
            "attribute",
            "department"
        )]));
        assert!(
            matches!(error.problem, MappingProblem::ReadOnlyTarget { .. }),
            "{target}: {error}"
        );
        assert!(
            error.to_string().contains("is read-only") && error.to_string().contains(why),
            "{error}"
        );
    }
}

#[test]
fn given_writable_graph_properties_then_export_accepts_them_with_their_kind() {
    let mappings = mappings(json!([
        mapping("export", "employeeId", "attribute", "user_id"),
        mapping(
            "export",
            "onPremisesExtensionAttributes.extensionAttribute15",
            "attribute",
            "attributes.badge"
        ),
        mapping(
            "export",
            "extension_0123456789abcdef0123456789abcdef_costCenter",
            "constant",
            "4711"
        ),
        mapping("export", "businessPhones", "attribute", "mobile_phone"),
        mapping("export", "manager", "attribute", "manager_id"),
    ]));
    let kinds: Vec<TargetKind> = mappings.for_direction(Direction::Export)[9..]
        .iter()
        .map(|m| m.target.kind)
        .collect();
    use TargetKind::*;
    assert_eq!(kinds, [Text, Text, Text, SingleValueList, Reference]);
    let error = refused(json!([mapping(
        "export",
        "onPremisesExtensionAttributes.extensionAttribute16",
        "constant",
        "x"
    )]));
    assert!(
        matches!(error.problem, MappingProblem::UnknownExportTarget { .. }),
        "{error}"
    );
}

#[test]
fn given_a_misspelt_target_or_source_then_the_error_suggests_the_spelling() {
    let error = refused(json!([mapping(
        "export",
        "JobTitle",
        "attribute",
        "job_title"
    )]));
    assert!(
        error
            .to_string()
            .ends_with("is not a writable Graph user property (did you mean `jobTitle`?)"),
        "{error}"
    );
    let error = refused(json!([mapping(
        "import",
        "job_title",
        "expression",
        "ToUpper([JobTitle])"
    )]));
    assert_eq!(
        error.to_string(),
        "user_mappings #1 (target `job_title`): the source `JobTitle` is not a known Entra ID user attribute (did you mean `jobTitle`?)"
    );
}

#[test]
fn given_an_expression_that_does_not_compile_then_the_error_names_mapping_and_position() {
    let error = refused(json!([
        mapping("import", "department", "attribute", "department"),
        mapping(
            "import",
            "attributes.x",
            "expression",
            "Lower([department])"
        ),
    ]));
    assert_eq!(
        error.to_string(),
        "user_mappings #2 (target `attributes.x`): the expression does not compile: at character 1: unknown function `Lower`"
    );
}

#[test]
fn given_malformed_items_then_the_error_names_the_field() {
    let error = refused(
        json!([{"direction": "sideways", "target": "department", "source_type": "constant", "source": "x"}]),
    );
    assert_eq!(
        error.to_string(),
        "user_mappings #1 (target `department`): `direction` is \"sideways\"; it must be one of import, export"
    );
    let error = refused(
        json!([{"direction": "import", "target": "department", "source_type": "attribute"}]),
    );
    assert!(
        error.to_string().ends_with("`source` is missing"),
        "{error}"
    );
    assert!(
        refused(json!(["x"]))
            .to_string()
            .contains("it must be a mapping")
    );
    assert!(
        refused(json!({"a": 1}))
            .to_string()
            .contains("`user_mappings` must be a list")
    );
    let error = refused(
        json!([{"direction": "import", "target": "department", "source_type": "constant", "source": "x", "apply": "sometimes"}]),
    );
    assert!(error.to_string().contains("always, create_only"), "{error}");
}

#[test]
fn given_two_mappings_for_one_target_then_the_second_is_refused() {
    let error = refused(json!([
        mapping("import", "department", "attribute", "department"),
        mapping("export", "department", "attribute", "department"),
        mapping("import", "department", "constant", "x"),
    ]));
    assert_eq!(
        (error.number, error.problem),
        (Some(3), MappingProblem::DuplicateTarget { first: 1 })
    );
}

#[test]
fn given_too_many_mapped_attributes_or_mappings_then_the_list_is_refused() {
    let attributes: Vec<Json> = (0..=MAX_MAPPED_ATTRIBUTES)
        .map(|i| mapping("import", &format!("attributes.a{i}"), "constant", "x"))
        .collect();
    let error = refused(Json::Array(attributes));
    assert_eq!(
        error.problem,
        MappingProblem::TooManyAttributes {
            given: MAX_MAPPED_ATTRIBUTES + 1
        }
    );
    let many: Vec<Json> = (0..=MAX_MAPPINGS)
        .map(|_| mapping("import", "department", "constant", "x"))
        .collect();
    assert_eq!(
        refused(Json::Array(many)).problem,
        MappingProblem::TooManyMappings {
            given: MAX_MAPPINGS + 1
        }
    );
}

#[test]
fn given_manager_mappings_then_only_manager_to_manager_is_accepted() {
    let mappings = mappings(json!([mapping(
        "import",
        "manager_id",
        "attribute",
        "manager"
    )]));
    let source = object(&[("manager", text("7f0c…-manager"))]);
    let values = map_user(
        mappings.for_direction(Direction::Import),
        &source,
        Occasion::Update,
    )
    .unwrap();
    assert_eq!(
        value_of(&values, "manager_id"),
        TargetValue::Reference("7f0c…-manager".into())
    );
    for bad in [
        mapping("import", "department", "attribute", "manager"),
        mapping("import", "manager_id", "attribute", "department"),
        mapping("import", "manager_id", "constant", "x"),
        mapping("import", "department", "expression", "ToLower([manager])"),
    ] {
        assert!(matches!(
            refused(json!([bad])).problem,
            MappingProblem::Invalid(_)
        ));
    }
}

#[test]
fn a_directory_extension_name_longer_than_graph_allows_is_not_a_source() {
    let long = format!(
        "extension_0123456789abcdef0123456789abcdef_{}",
        "x".repeat(121)
    );
    let error = refused(json!([mapping(
        "import",
        "attributes.x",
        "attribute",
        &long
    )]));
    assert!(
        matches!(error.problem, MappingProblem::UnknownSource { .. }),
        "{error}"
    );
    let fits = format!(
        "extension_0123456789abcdef0123456789abcdef_{}",
        "x".repeat(120)
    );
    mappings(json!([mapping(
        "import",
        "attributes.x",
        "attribute",
        &fits
    )]));
}

/// Another AM tenant sharing the Entra organisation marks its objects with
/// the same extension: read, it would show that tenant's ids; written, it
/// would forge ownership.
#[test]
fn given_the_exports_mark_then_no_mapping_reads_or_writes_it() {
    let mark = "extension_0123456789abcdef0123456789abcdef_entraSyncCreatedFor";
    for bad in [
        mapping("import", "attributes.owner", "attribute", mark),
        mapping(
            "import",
            "attributes.owner",
            "expression",
            &format!("ToLower([{mark}])"),
        ),
        mapping("export", mark, "constant", "acme/USER#p-1"),
        mapping("export", mark, "attribute", "user_id"),
    ] {
        let error = refused(json!([bad]));
        assert!(
            error.to_string().contains("entra-sync's own mark"),
            "{bad}: {error}"
        );
    }
    // Another extension of the same app stays mappable both ways.
    let other = "extension_0123456789abcdef0123456789abcdef_costCentre";
    mappings(json!([
        mapping("import", "attributes.cc", "attribute", other),
        mapping("export", other, "attribute", "attributes.cc"),
    ]));
}

#[test]
fn the_exports_mark_as_graph_names_it_is_what_mappings_refuse() {
    let property =
        crate::graph::bodies::export_mark_property("01234567-89ab-cdef-0123-456789abcdef");
    assert!(
        super::super::catalogue::is_export_mark(&property),
        "{property}"
    );
}
