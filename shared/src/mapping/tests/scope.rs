//! `user_scope_filters`: OR across filters, AND within, each operator,
//! case-insensitivity, absent attributes, and the explanation.

use serde_json::{Value as Json, json};

use super::super::{ScopeConfigError, ScopeDecision, ScopeFilters, ScopeProblem, Value};
use super::{list, object, text};

fn filters(list: Json) -> ScopeFilters {
    ScopeFilters::from_config(Some(&list)).unwrap_or_else(|e| panic!("{e}"))
}

fn refused(list: Json) -> ScopeConfigError {
    match ScopeFilters::from_config(Some(&list)) {
        Ok(_) => panic!("accepted: {list}"),
        Err(error) => error,
    }
}

/// One filter of one clause.
fn clause(attribute: &str, operator: &str, value: Json) -> ScopeFilters {
    filters(
        json!([{"name": "f", "clauses": [{"attribute": attribute, "operator": operator, "value": value}]}]),
    )
}

fn holds(filters: &ScopeFilters, value: Value) -> bool {
    filters
        .evaluate(&object(&[("department", value)]))
        .is_in_scope()
}

#[test]
fn given_no_filters_then_every_user_is_in_scope() {
    let none = ScopeFilters::from_config(None).unwrap();
    assert_eq!(none.evaluate(&object(&[])), ScopeDecision::NoFilters);
    assert!(filters(json!([])).is_empty());
}

#[test]
fn a_user_is_in_scope_when_every_clause_of_one_filter_holds() {
    let filters = filters(json!([
        {"name": "EU staff", "clauses": [
            {"attribute": "country", "operator": "in", "value": ["FR", "DE"]},
            {"attribute": "department", "operator": "equals", "value": "Sales"}]},
        {"name": "Contractors", "clauses": [
            {"attribute": "employeeType", "operator": "equals", "value": "contractor"}]},
    ]));
    let eu_sales = object(&[("country", text("fr")), ("department", text("SALES"))]);
    assert_eq!(
        filters.evaluate(&eu_sales),
        ScopeDecision::InScope {
            filter_number: 1,
            filter: "EU staff".into()
        }
    );
    let contractor = object(&[
        ("country", text("US")),
        ("employeeType", text("Contractor")),
    ]);
    assert_eq!(
        filters.evaluate(&contractor),
        ScopeDecision::InScope {
            filter_number: 2,
            filter: "Contractors".into()
        }
    );

    let eu_marketing = object(&[("country", text("DE")), ("department", text("Marketing"))]);
    let decision = filters.evaluate(&eu_marketing);
    assert!(!decision.is_in_scope());
    assert_eq!(
        decision.to_string(),
        "out of scope: filter `EU staff` fails clause 2 (department equals \"Sales\"; the user's is \"Marketing\"); \
         filter `Contractors` fails clause 1 (employeeType equals \"contractor\"; the user has none)"
    );
}

#[test]
fn text_operators_ignore_case() {
    let cases = [
        ("equals", json!("sales"), "SALES", true),
        ("equals", json!("sales"), "Sales EU", false),
        ("not_equals", json!("Sales"), "sales", false),
        ("not_equals", json!("Sales"), "Marketing", true),
        ("starts_with", json!("SAL"), "sales", true),
        ("ends_with", json!("EU"), "Sales eu", true),
        ("contains", json!("LES E"), "sales eu", true),
        ("contains", json!("x"), "sales", false),
        ("in", json!(["Marketing", "SALES"]), "sales", true),
        ("in", json!(["Marketing"]), "sales", false),
        ("matches", json!("^s.*s$"), "SALES", true),
        ("matches", json!("^\\d{3}$"), "1234", false),
    ];
    for (operator, wanted, actual, expected) in cases {
        let filters = clause("department", operator, wanted.clone());
        assert_eq!(
            holds(&filters, text(actual)),
            expected,
            "{operator} {wanted} on {actual}"
        );
    }
}

#[test]
fn an_absent_or_empty_attribute_fails_every_clause_but_is_absent() {
    for (operator, value) in [
        ("equals", json!("x")),
        ("not_equals", json!("x")),
        ("starts_with", json!("x")),
        ("ends_with", json!("x")),
        ("contains", json!("x")),
        ("in", json!(["x"])),
        ("matches", json!(".*")),
        ("is_present", Json::Null),
        ("is_true", Json::Null),
        ("is_false", Json::Null),
    ] {
        let filters = clause("department", operator, value);
        assert!(!holds(&filters, Value::Null), "{operator} on null");
        assert!(!holds(&filters, text("")), "{operator} on empty");
    }
    let is_absent = clause("department", "is_absent", Json::Null);
    assert!(holds(&is_absent, Value::Null));
    assert!(holds(&is_absent, text("")));
    assert!(!holds(&is_absent, text("x")));
}

#[test]
fn is_true_and_is_false_read_flags_and_texts() {
    let is_true = clause("department", "is_true", json!(""));
    let is_false = clause("department", "is_false", Json::Null);
    assert!(holds(&is_true, Value::Flag(true)) && holds(&is_true, text("True")));
    assert!(!holds(&is_true, Value::Flag(false)) && !holds(&is_true, text("yes")));
    assert!(holds(&is_false, Value::Flag(false)) && holds(&is_false, text("FALSE")));
}

#[test]
fn a_list_attribute_holds_when_one_of_its_values_does() {
    let contains = clause("department", "ends_with", json!("@contoso.com"));
    assert!(holds(&contains, list(&["a@fabrikam.com", "b@CONTOSO.com"])));
    let not_equals = clause("department", "not_equals", json!("x"));
    assert!(!holds(&not_equals, list(&["y", "x"])));
    assert!(holds(&not_equals, list(&["y", "z"])));
}

#[test]
fn filters_read_extension_attributes_and_select_their_object() {
    let filters = clause(
        "onPremisesExtensionAttributes.extensionAttribute1",
        "equals",
        json!("staff"),
    );
    let user: serde_json::Map<String, Json> = serde_json::from_value(
        json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "Staff"}}),
    )
    .unwrap();
    assert!(filters.evaluate(&user).is_in_scope());
    assert_eq!(filters.graph_select(), ["onPremisesExtensionAttributes"]);
}

#[test]
fn given_bad_filters_then_the_error_names_filter_and_clause() {
    let error = refused(json!([
        {"name": "ok", "clauses": [{"attribute": "department", "operator": "is_present"}]},
        {"name": "EU staff", "clauses": [
            {"attribute": "country", "operator": "equals", "value": "FR"},
            {"attribute": "Department", "operator": "equals", "value": "Sales"}]},
    ]));
    assert_eq!(
        error.to_string(),
        "user_scope_filters #2 (`EU staff`) clause 2: `Department` is not a known Entra ID user attribute (did you mean `department`?)"
    );
    let one = |clause: Json| refused(json!([{"name": "f", "clauses": [clause]}])).problem;
    assert_eq!(
        one(json!({"attribute": "department", "operator": "equals"})),
        ScopeProblem::MissingValue { operator: "equals" }
    );
    assert_eq!(
        one(json!({"attribute": "department", "operator": "is_absent", "value": "x"})),
        ScopeProblem::UnexpectedValue {
            operator: "is_absent"
        }
    );
    assert_eq!(
        one(json!({"attribute": "department", "operator": "in", "value": "Sales"})),
        ScopeProblem::BadInValues
    );
    assert!(matches!(
        one(json!({"attribute": "department", "operator": "matches", "value": "("})),
        ScopeProblem::BadPattern { .. }
    ));
    assert!(matches!(
        one(json!({"attribute": "department", "operator": "like", "value": "x"})),
        ScopeProblem::Field(_)
    ));
    assert!(matches!(
        one(json!({"attribute": "manager", "operator": "is_present"})),
        ScopeProblem::UnknownAttribute { .. }
    ));
    assert_eq!(
        refused(json!([{"name": "f", "clauses": []}])).problem,
        ScopeProblem::NoClauses
    );
    assert!(
        refused(json!([{"clauses": []}]))
            .to_string()
            .contains("`name` is missing")
    );
    let many: Vec<Json> = (0..=super::super::MAX_SCOPE_FILTERS)
        .map(|i| json!({"name": format!("f{i}"), "clauses": [{"attribute": "department", "operator": "is_present"}]}))
        .collect();
    assert!(matches!(
        refused(Json::Array(many)).problem,
        ScopeProblem::TooManyFilters { .. }
    ));
}

#[test]
fn given_the_exports_mark_then_no_filter_reads_it() {
    let mark = "extension_0123456789abcdef0123456789abcdef_entraSyncCreatedFor";
    let error = refused(json!([{"name": "f", "clauses": [
        {"attribute": mark, "operator": "starts_with", "value": "other-tenant/"}]}]));
    assert!(
        matches!(&error.problem, ScopeProblem::UnknownAttribute { attribute, .. } if attribute == mark),
        "{error}"
    );
}
