//! What one tenant's expressions and filters may cost a Lambda shared with
//! every other tenant's runs: sizes known before they are built, source
//! values checked on the way in, a bounded number of regular expressions.

use serde_json::{Value as Json, json};

use super::super::{
    EvalError, Expression, MAX_VALUE_CHARS, ScopeFilters, SourceObject, UserMappings, Value,
};
use super::{object, text};

fn evaluate(expression: &str, source: &dyn SourceObject) -> Result<Value, EvalError> {
    Expression::compile(expression)
        .unwrap_or_else(|e| panic!("{e}"))
        .evaluate(source)
}

fn too_long(result: Result<Value, EvalError>) -> bool {
    matches!(result, Err(EvalError::ValueTooLong { .. }))
}

#[test]
fn a_join_too_long_is_refused_before_it_is_built() {
    // A long separator between a thousand parts of nine lists: the
    // result would be hundreds of megabytes.
    let long = "x".repeat(MAX_VALUE_CHARS / 2);
    let parts = vec!["a"; 1_000].join(",");
    let source = object(&[("sep", text(&long)), ("parts", text(&parts))]);
    let lists = ["Split([parts], \",\")"; 9].join(", ");
    let result = evaluate(&format!("Join([sep], {lists})"), &source);
    assert!(too_long(result));
}

#[test]
fn a_replacement_full_of_references_is_refused_before_it_is_written() {
    let source = object(&[("s", text(&"y".repeat(MAX_VALUE_CHARS / 2)))]);
    let references = "$0".repeat(500);
    let result = evaluate(
        &format!("RegexReplace([s], \"^.*$\", \"{references}\")"),
        &source,
    );
    assert!(too_long(result));
}

#[test]
fn a_source_value_past_the_limit_is_refused_on_the_way_in() {
    let source = object(&[("huge", text(&"z".repeat(MAX_VALUE_CHARS + 1)))]);
    assert!(too_long(evaluate("ToLower([huge])", &source)));
    assert!(too_long(evaluate("[huge]", &source)));
}

fn matches_clause(n: usize) -> Json {
    json!({"attribute": "department", "operator": "matches", "value": format!("^d{n}$")})
}

#[test]
fn a_tenants_regular_expressions_are_few() {
    // Two filters of `n` clauses each.
    let filters = |n: usize| -> Json {
        let clauses: Vec<Json> = (0..n).map(matches_clause).collect();
        json!([{"name": "a", "clauses": clauses}, {"name": "b", "clauses": clauses}])
    };
    let filters = |total: usize| match total % 2 {
        0 => filters(total / 2),
        _ => {
            let mut two = filters(total / 2);
            two[1]["clauses"]
                .as_array_mut()
                .unwrap()
                .push(matches_clause(99));
            two
        }
    };
    assert!(ScopeFilters::from_config(Some(&filters(20))).is_ok());
    let err = ScopeFilters::from_config(Some(&filters(21))).unwrap_err();
    assert!(err.to_string().contains("21 `matches` clauses"), "{err}");

    let mapping = |target: &str, patterns: usize| -> Json {
        let mut expression = "[department]".to_string();
        for i in 0..patterns {
            expression = format!("RegexReplace({expression}, \"a{i}\", \"b\")");
        }
        json!({"direction": "import", "target": target, "source_type": "expression", "source": expression})
    };
    let ok = json!([mapping("attributes.a", 10), mapping("attributes.b", 10)]);
    assert!(UserMappings::from_config(Some(&ok)).is_ok());
    let many = json!([mapping("attributes.a", 10), mapping("attributes.b", 11)]);
    let err = UserMappings::from_config(Some(&many)).unwrap_err();
    assert!(
        err.to_string().contains("21 RegexReplace patterns"),
        "{err}"
    );
}
