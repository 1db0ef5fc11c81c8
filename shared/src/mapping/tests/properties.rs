//! Property tests: compiling and evaluating never panic, whatever the text
//! and the object; evaluation is deterministic; the limits hold.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::super::{
    CompileErrorKind, Expression, Function, MAX_DEPTH, MAX_EXPRESSION_CHARS, MAX_NODES,
    MAX_OUTPUT_CHARS, ScopeFilters, Value,
};

const NAMES: &[&str] = &[
    "a",
    "department",
    "givenName",
    "surname",
    "phones",
    "flag",
    "n",
];

fn value() -> impl Strategy<Value = Value> {
    let short_text = "\\PC{0,24}|[0-9]{1,3}|true|FALSE|";
    prop_oneof![
        Just(Value::Null),
        short_text.prop_map(Value::Text),
        prop::collection::vec(short_text, 0..4).prop_map(Value::List),
        any::<bool>().prop_map(Value::Flag),
        // Long values, to meet the size limits.
        (1usize..3_000).prop_map(|n| Value::Text("xé ".repeat(n / 3))),
    ]
}

fn source_object() -> impl Strategy<Value = BTreeMap<String, Value>> {
    prop::collection::btree_map(
        prop::sample::select(NAMES).prop_map(str::to_string),
        value(),
        0..NAMES.len(),
    )
}

/// Expressions from the grammar, with any function and any number of
/// arguments, so both good and bad calls are generated.
fn expression_text() -> impl Strategy<Value = String> {
    let names: Vec<&'static str> = Function::all().map(Function::name).collect();
    let leaf = prop_oneof![
        prop::sample::select(NAMES).prop_map(|n| format!("[{n}]")),
        "[a-z ,;.@0-9\\\\\"]{0,8}|\\PC{0,8}".prop_map(|t| literal(&t)),
        (0u32..20).prop_map(|n| n.to_string()),
        Just("\"[0-9]+\"".to_string()),
        Just("\"(\\\\w+)@(.*)\"".to_string()),
    ];
    leaf.prop_recursive(20, 120, 6, move |inner| {
        (
            prop::sample::select(names.clone()),
            prop::collection::vec(inner, 0..7),
            prop::bool::weighted(0.9),
        )
            .prop_map(|(name, mut args, fit)| {
                if fit {
                    fit_arity(name, &mut args);
                }
                format!("{name}({})", args.join(", "))
            })
    })
}

/// `text` as a text literal of the language.
fn literal(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Most generated calls get a number of arguments their function takes,
/// so evaluation, not only the arity check, is exercised.
fn fit_arity(name: &str, args: &mut Vec<String>) {
    let Some(function) = Function::lookup(name) else {
        return;
    };
    while !function.arity().accepts(args.len()) {
        if args.len() > 6 {
            args.truncate(1);
        } else {
            args.push("[a]".to_string());
        }
    }
}

fn check_evaluation(text: &str, source: &BTreeMap<String, Value>) -> Result<(), TestCaseError> {
    let Ok(expression) = Expression::compile(text) else {
        return Ok(());
    };
    prop_assert!(text.chars().count() <= MAX_EXPRESSION_CHARS);
    prop_assert!(
        expression.depth() <= MAX_DEPTH,
        "depth {}",
        expression.depth()
    );
    prop_assert!(
        expression.node_count() <= MAX_NODES,
        "{} nodes",
        expression.node_count()
    );
    let first = expression.evaluate(source);
    prop_assert_eq!(&first, &expression.evaluate(source), "not deterministic");
    if let Ok(value) = first {
        prop_assert!(value.char_count() <= MAX_OUTPUT_CHARS);
    }
    Ok(())
}

/// Each text function over any text, with numbers and delimiters taken
/// from the object, so multi-byte characters meet every position.
const TEXT_CALLS: &[&str] = &[
    "Left([a], [n])",
    "Mid([a], [n], [m])",
    "Word([a], [n], [d])",
    "Item(Split([a], [d]), [n])",
    "Replace([a], [d], [b])",
    "RegexReplace([a], \"(.)\", [b])",
    "RegexReplace([a], \"\", [b])",
    "NormalizeDiacritics([a])",
    "StripSpaces([a])",
    "Trim([a])",
    "ToUpper([a])",
    "ToLower([a])",
    "SwitchI([a], [b], [d], [a])",
    "Append([a], [b])",
    "Join([d], [a], [b])",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_text_compiles_or_is_refused_without_panicking(text in "\\PC{0,64}|[A-Za-z(),\\[\\]\" 0-9\\\\=]{0,64}", source in source_object()) {
        check_evaluation(&text, &source)?;
    }

    #[test]
    fn generated_expressions_evaluate_deterministically_within_the_limits(text in expression_text(), source in source_object()) {
        check_evaluation(&text, &source)?;
    }

    #[test]
    fn text_functions_take_any_text(
        call in prop::sample::select(TEXT_CALLS),
        a in "\\PC{0,40}", b in "\\PC{0,8}", d in "\\PC{0,3}", n in 0usize..50, m in 0usize..50,
    ) {
        let source: BTreeMap<String, Value> = [("a", a), ("b", b), ("d", d), ("n", n.to_string()), ("m", m.to_string())]
            .into_iter()
            .map(|(name, value)| (name.to_string(), Value::Text(value)))
            .collect();
        let expression = Expression::compile(call).unwrap();
        let first = expression.evaluate(&source);
        prop_assert_eq!(&first, &expression.evaluate(&source));
        if call.starts_with("Left") {
            prop_assert!(first.unwrap().char_count() <= n);
        }
    }

    #[test]
    fn texts_over_the_length_limit_are_refused(extra in 1usize..200, fill in "[a-z ]") {
        let text = format!("[a]{}", fill.repeat(MAX_EXPRESSION_CHARS - 3 + extra));
        let error = Expression::compile(&text).unwrap_err();
        prop_assert_eq!(error.kind, CompileErrorKind::TooLong { chars: MAX_EXPRESSION_CHARS + extra });
    }

    #[test]
    fn scope_filters_read_and_decide_without_panicking(
        attribute in prop::sample::select(vec!["department", "givenName", "surname", "Department", "x"]),
        operator in prop::sample::select(vec!["equals", "not_equals", "starts_with", "ends_with", "contains", "in",
                                              "is_present", "is_absent", "is_true", "is_false", "matches", "nope"]),
        wanted in prop_oneof![Just(json!(null)), "\\PC{0,8}".prop_map(|t| json!(t)), prop::collection::vec("\\PC{0,4}", 0..3).prop_map(|v| json!(v))],
        actual in value(),
    ) {
        let config = json!([{"name": "f", "clauses": [{"attribute": attribute, "operator": operator, "value": wanted}]}]);
        if let Ok(filters) = ScopeFilters::from_config(Some(&config)) {
            let source: BTreeMap<String, Value> = [(attribute.to_string(), actual)].into_iter().collect();
            let decision = filters.evaluate(&source);
            prop_assert_eq!(&decision, &filters.evaluate(&source));
            let _ = decision.to_string();
        }
    }

    #[test]
    fn is_absent_holds_exactly_when_is_present_does_not(actual in value()) {
        let read = |operator: &str| {
            let config = json!([{"name": "f", "clauses": [{"attribute": "department", "operator": operator}]}]);
            ScopeFilters::from_config(Some(&config)).unwrap()
        };
        let source: BTreeMap<String, Value> = [("department".to_string(), actual)].into_iter().collect();
        prop_assert_ne!(read("is_present").evaluate(&source).is_in_scope(), read("is_absent").evaluate(&source).is_in_scope());
    }
}
