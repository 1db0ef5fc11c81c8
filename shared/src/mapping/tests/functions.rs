//! Each function of the allow-list, with its null rule.

use super::super::{EvalError, Expression, MAX_OUTPUT_CHARS, Value};
use super::{eval, eval_alone, list, object, text};

#[test]
fn append_adds_a_suffix_and_keeps_null_null() {
    let source = object(&[("mailNickname", text("ann"))]);
    assert_eq!(
        eval("Append([mailNickname], \"@contoso.com\")", &source),
        text("ann@contoso.com")
    );
    assert_eq!(
        eval("Append([absent], \"@contoso.com\")", &source),
        Value::Null
    );
}

#[test]
fn and_or_not_combine_conditions_with_null_as_false() {
    let source = object(&[
        ("a", text("x")),
        ("t", Value::Flag(true)),
        ("s", text("TRUE")),
    ]);
    assert_eq!(
        eval("And(IsPresent([a]), [t], [s])", &source),
        Value::Flag(true)
    );
    assert_eq!(eval("And([t], [absent])", &source), Value::Flag(false));
    assert_eq!(eval("Or([absent], [t])", &source), Value::Flag(true));
    assert_eq!(eval("Or([absent], [a])", &source), Value::Flag(false));
    assert_eq!(eval("Not([absent])", &source), Value::Flag(true));
    assert_eq!(eval("Not([t])", &source), Value::Flag(false));
}

#[test]
fn coalesce_takes_the_first_value_that_is_neither_null_nor_empty() {
    let source = object(&[("empty", text("")), ("mail", text("a@b.c"))]);
    assert_eq!(
        eval("Coalesce([absent], [empty], [mail], \"x\")", &source),
        text("a@b.c")
    );
    assert_eq!(eval("Coalesce([absent], [empty])", &source), Value::Null);
}

#[test]
fn equals_is_case_sensitive_and_reads_null_as_empty() {
    let source = object(&[("country", text("US"))]);
    assert_eq!(
        eval("Equals([country], \"US\")", &source),
        Value::Flag(true)
    );
    assert_eq!(
        eval("Equals([country], \"us\")", &source),
        Value::Flag(false)
    );
    assert_eq!(eval("Equals([absent], \"\")", &source), Value::Flag(true));
}

#[test]
fn iif_chooses_a_branch_and_accepts_a_null_condition() {
    let source = object(&[("country", text("US")), ("department", text("Sales"))]);
    let expression = "IIF(Equals([country], \"US\"), [country], [department])";
    assert_eq!(eval(expression, &source), text("US"));
    // Microsoft's IIF fails on a null input; here null is simply false.
    assert_eq!(eval("IIF([absent], \"yes\", \"no\")", &source), text("no"));
}

#[test]
fn is_present_and_is_null_or_empty_treat_empty_as_absent() {
    let source = object(&[
        ("a", text("x")),
        ("e", text("")),
        ("l", list(&[])),
        ("f", Value::Flag(false)),
    ]);
    for (attribute, present) in [
        ("a", true),
        ("e", false),
        ("l", false),
        ("f", true),
        ("absent", false),
    ] {
        assert_eq!(
            eval(&format!("IsPresent([{attribute}])"), &source),
            Value::Flag(present),
            "{attribute}"
        );
        assert_eq!(
            eval(&format!("IsNullOrEmpty([{attribute}])"), &source),
            Value::Flag(!present),
            "{attribute}"
        );
    }
}

#[test]
fn item_is_one_based_and_out_of_range_is_null() {
    let source = object(&[("phones", list(&["111", "222"])), ("one", text("x"))]);
    assert_eq!(eval("Item([phones], 2)", &source), text("222"));
    assert_eq!(eval("Item([phones], 3)", &source), Value::Null);
    assert_eq!(eval("Item([one], 1)", &source), text("x"));
    assert_eq!(eval("Item(Split(\"a,b,c\", \",\"), 2)", &source), text("b"));
}

#[test]
fn join_skips_empty_values_and_flattens_lists() {
    let source = object(&[
        ("g", text("Ann")),
        ("s", text("")),
        ("l", list(&["x", "", "y"])),
    ]);
    assert_eq!(
        eval("Join(\" \", [g], [s], [absent], \"One\")", &source),
        text("Ann One")
    );
    assert_eq!(eval("Join(\";\", [l], [g])", &source), text("x;y;Ann"));
    assert_eq!(eval("Join(\" \", [absent], [s])", &source), Value::Null);
}

#[test]
fn left_and_mid_count_characters_and_mid_is_one_based() {
    assert_eq!(eval_alone("Left(\"Zoë Roy\", 3)"), text("Zoë"));
    assert_eq!(eval_alone("Left(\"ab\", 5)"), text("ab"));
    assert_eq!(eval_alone("Mid(\"John Doe\", 1, 4)"), text("John"));
    assert_eq!(eval_alone("Mid(\"John Doe\", 6, 10)"), text("Doe"));
    assert_eq!(eval_alone("Mid(\"abc\", 5, 2)"), text(""));
    assert_eq!(eval_alone("Left([absent], 2)"), Value::Null);
}

#[test]
fn a_number_from_an_attribute_that_is_not_one_fails_the_evaluation() {
    let source = object(&[("n", text("three"))]);
    let error = Expression::compile("Left(\"abc\", [n])")
        .unwrap()
        .evaluate(&source)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Left's argument 2 must be a whole number (0 or more), not \"three\""
    );
}

#[test]
fn normalize_diacritics_removes_accents_and_spells_out_other_latin_letters() {
    assert_eq!(
        eval_alone("NormalizeDiacritics(\"Zoë Łódź Straße Øre Ångström\")"),
        text("Zoe Lodz Strasse Ore Angstrom")
    );
    assert_eq!(
        eval_alone("NormalizeDiacritics(\"Ştefan Ćorić\")"),
        text("Stefan Coric")
    );
    assert_eq!(eval_alone("NormalizeDiacritics([absent])"), Value::Null);
}

#[test]
fn regex_replace_replaces_every_match_with_groups() {
    let source = object(&[("phone", text("+1 (425) 555-0100"))]);
    assert_eq!(
        eval(r#"RegexReplace([phone], "[^0-9+]", "")"#, &source),
        text("+14255550100")
    );
    assert_eq!(
        eval_alone(r#"RegexReplace("Doe, John", "^(\w+), (\w+)$", "$2 $1")"#),
        text("John Doe")
    );
    assert_eq!(
        eval_alone(r#"RegexReplace([absent], "a", "b")"#),
        Value::Null
    );
}

#[test]
fn replace_is_plain_text_not_a_pattern() {
    assert_eq!(
        eval_alone("Replace(\"a.b.c\", \".\", \"-\")"),
        text("a-b-c")
    );
    assert_eq!(eval_alone("Replace(\"abc\", \"\", \"-\")"), text("abc"));
    assert_eq!(eval_alone("Replace([absent], \"a\", \"b\")"), Value::Null);
}

#[test]
fn split_makes_a_list() {
    assert_eq!(eval_alone("Split(\"a,b\", \",\")"), list(&["a", "b"]));
    assert_eq!(eval_alone("Split(\"a,b\", \"\")"), list(&["a,b"]));
    assert_eq!(eval_alone("Split([absent], \",\")"), Value::Null);
}

#[test]
fn strip_spaces_trim_and_case_work_on_texts_and_lists() {
    let source = object(&[("l", list(&["A b", " C "]))]);
    assert_eq!(eval_alone("StripSpaces(\" a b\u{a0}c \")"), text("abc"));
    assert_eq!(eval_alone("Trim(\"  a b  \")"), text("a b"));
    assert_eq!(eval_alone("ToLower(\"ÅB\")"), text("åb"));
    assert_eq!(eval_alone("ToUpper(\"straße\")"), text("STRASSE"));
    assert_eq!(eval("ToLower([l])", &source), list(&["a b", " c "]));
    assert_eq!(eval_alone("Trim([absent])"), Value::Null);
}

#[test]
fn switch_is_case_sensitive_switch_i_is_not_and_null_matches_empty() {
    let source = object(&[("dept", text("sales"))]);
    let switch = |f: &str| format!("{f}([dept], \"Other\", \"Sales\", \"S\", \"\", \"None\")");
    assert_eq!(eval(&switch("Switch"), &source), text("Other"));
    assert_eq!(eval(&switch("SwitchI"), &source), text("S"));
    let absent = object(&[]);
    assert_eq!(eval(&switch("Switch"), &absent), text("None"));
    assert_eq!(
        eval("Switch([x], \"default\", \"a\", \"b\")", &absent),
        text("default")
    );
}

#[test]
fn word_finds_the_nth_word_between_any_of_the_delimiters() {
    assert_eq!(
        eval_alone("Word(\"The quick brown fox\", 3, \" \")"),
        text("brown")
    );
    assert_eq!(
        eval_alone("Word(\"This,string!has&many separators\", 3, \",!&#\")"),
        text("has")
    );
    assert_eq!(eval_alone("Word(\"a  b\", 2, \" \")"), text("b"));
    assert_eq!(eval_alone("Word(\"a b\", 5, \" \")"), text(""));
}

#[test]
fn attributes_read_extension_attributes_inside_a_graph_user() {
    let user: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "department": "Sales",
        "businessPhones": ["+1 425 555 0100"],
        "onPremisesExtensionAttributes": {"extensionAttribute3": "CC-42", "extensionAttribute4": null},
        "extension_0123456789abcdef0123456789abcdef_costCenter": "4711",
        "accountEnabled": false
    }))
    .unwrap();
    let read = |e: &str| eval(e, &user);
    assert_eq!(
        read("[onPremisesExtensionAttributes.extensionAttribute3]"),
        text("CC-42")
    );
    assert_eq!(
        read("[onPremisesExtensionAttributes.extensionAttribute4]"),
        Value::Null
    );
    assert_eq!(
        read("[extension_0123456789abcdef0123456789abcdef_costCenter]"),
        text("4711")
    );
    assert_eq!(read("Item([businessPhones], 1)"), text("+1 425 555 0100"));
    assert_eq!(read("Not([accountEnabled])"), Value::Flag(true));
}

#[test]
fn a_result_longer_than_the_limit_fails_the_evaluation() {
    let source = object(&[("long", text(&"x".repeat(600)))]);
    let error = Expression::compile("Join(\"\", [long], [long])")
        .unwrap()
        .evaluate(&source)
        .unwrap_err();
    assert_eq!(
        error,
        EvalError::OutputTooLong {
            chars: 1_200,
            limit: MAX_OUTPUT_CHARS
        }
    );
}

#[test]
fn a_value_that_would_explode_is_stopped_while_it_is_built() {
    // Each Replace multiplies the length by 100: 8 of them would make 10^16
    // characters; evaluation stops at the first value over the limit.
    let hundred = "x".repeat(100);
    let inner = (0..8).fold("\"xx\"".to_string(), |inner, _| {
        format!("Replace({inner}, \"x\", \"{hundred}\")")
    });
    let error = Expression::compile(&inner)
        .unwrap()
        .evaluate(&object(&[]))
        .unwrap_err();
    assert_eq!(
        error,
        EvalError::ValueTooLong {
            function: "Replace"
        }
    );
    let regex = format!("RegexReplace(\"{}\", \"\", \"{hundred}\")", "y".repeat(500));
    let error = Expression::compile(&regex)
        .unwrap()
        .evaluate(&object(&[]))
        .unwrap_err();
    assert_eq!(
        error,
        EvalError::ValueTooLong {
            function: "RegexReplace"
        }
    );
}

#[test]
fn every_function_of_the_allow_list_is_named_in_the_catalogue() {
    use super::super::Function;
    let names: Vec<&str> = Function::all().map(Function::name).collect();
    for required in [
        "Coalesce",
        "Join",
        "Append",
        "Switch",
        "SwitchI",
        "IIF",
        "Equals",
        "And",
        "Or",
        "Not",
        "IsPresent",
        "IsNullOrEmpty",
        "ToLower",
        "ToUpper",
        "Trim",
        "Replace",
        "RegexReplace",
        "Left",
        "Mid",
        "Word",
        "Split",
        "Item",
        "NormalizeDiacritics",
        "StripSpaces",
    ] {
        assert!(names.contains(&required), "{required}");
        assert_eq!(
            Function::lookup(&required.to_lowercase()).map(Function::name),
            Some(required)
        );
    }
}
