//! Compile errors: each names its position and what is wrong; the limits.

use super::super::syntax::CompileErrorKind as Kind;
use super::super::{CompileError, Expression, MAX_DEPTH, MAX_EXPRESSION_CHARS, MAX_NODES};
use super::{eval_alone, object, text};

fn compile_error(expression: &str) -> CompileError {
    match Expression::compile(expression) {
        Ok(_) => panic!("`{expression}` compiled"),
        Err(error) => error,
    }
}

#[test]
fn given_an_unknown_function_then_the_error_names_it_and_its_position() {
    let error = compile_error("Join(\" \", Frobnicate([a]))");
    assert_eq!(error.position, 11);
    assert_eq!(
        error.kind,
        Kind::UnknownFunction {
            name: "Frobnicate".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "at character 11: unknown function `Frobnicate`"
    );
}

#[test]
fn given_a_function_left_out_on_purpose_then_the_error_says_why() {
    let error = compile_error("Now()");
    assert!(
        matches!(error.kind, Kind::LeftOutFunction { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("not deterministic"), "{error}");
    assert!(
        compile_error("FormatDateTime([a], \"x\", \"y\")")
            .to_string()
            .contains(".NET")
    );
}

#[test]
fn given_a_wrong_number_of_arguments_then_the_error_says_what_the_function_takes() {
    let error = compile_error("Left([a])");
    assert_eq!(error.position, 1);
    assert_eq!(
        error.to_string(),
        "at character 1: Left takes 2 arguments; it was given 1"
    );
    let error = compile_error("Switch([a], \"d\", \"k\")");
    assert!(error.to_string().contains("key/value pair"), "{error}");
    assert!(matches!(
        compile_error("ToLower()").kind,
        Kind::WrongArity { given: 0, .. }
    ));
}

#[test]
fn given_function_names_in_any_case_then_they_compile() {
    let source = object(&[("a", text("MiXeD"))]);
    assert_eq!(super::eval("tolower([a])", &source), text("mixed"));
    assert_eq!(super::eval("TOUPPER([a])", &source), text("MIXED"));
    assert_eq!(
        super::eval("iif(isPresent([a]), \"y\", \"n\")", &source),
        text("y")
    );
}

#[test]
fn given_unclosed_literals_then_the_error_points_at_their_start() {
    let error = compile_error("Append([a], \"tail)");
    assert_eq!((error.position, error.kind), (13, Kind::UnclosedString));
    let error = compile_error("ToLower([department)");
    assert_eq!((error.position, error.kind), (9, Kind::UnclosedAttribute));
    assert_eq!(compile_error("ToLower([])").kind, Kind::EmptyAttribute);
    assert_eq!(
        compile_error("ToLower([a b])").kind,
        Kind::BadAttributeCharacter { character: ' ' }
    );
}

#[test]
fn given_escapes_then_quote_and_backslash_are_unescaped_and_others_kept() {
    assert_eq!(
        eval_alone(r#"Append("say \"hi\"", "\\")"#),
        text(r#"say "hi"\"#)
    );
    assert_eq!(eval_alone(r#"Append("\d", "")"#), text(r"\d"));
}

#[test]
fn given_an_infix_operator_then_the_error_suggests_the_functions() {
    let error = compile_error("IIF([country]=\"US\", \"a\", \"b\")");
    assert_eq!(
        (error.position, error.kind.clone()),
        (14, Kind::InfixOperator { operator: '=' })
    );
    assert!(error.to_string().contains("Equals(a, b)"), "{error}");
}

#[test]
fn given_text_after_the_expression_or_a_bare_word_then_it_is_refused() {
    assert!(matches!(
        compile_error("ToLower([a]) x").kind,
        Kind::Unexpected { .. }
    ));
    assert!(
        compile_error("IIF(true, \"a\", \"b\")")
            .to_string()
            .contains("\"true\"")
    );
    assert!(matches!(
        compile_error("ToLower([a]").kind,
        Kind::UnexpectedEnd { .. }
    ));
    assert_eq!(compile_error("   ").kind, Kind::Empty);
}

#[test]
fn given_literal_numbers_out_of_range_then_they_are_refused_when_compiled() {
    let error = compile_error("Mid([a], 0, 2)");
    assert_eq!(
        error.to_string(),
        "at character 1: Mid's argument 2 must be a whole number from 1, not \"0\""
    );
    assert!(matches!(
        compile_error("Left([a], \"x\")").kind,
        Kind::BadNumber { argument: 2, .. }
    ));
    assert!(matches!(
        compile_error("Item([a], 0)").kind,
        Kind::BadNumber { .. }
    ));
    assert_eq!(
        compile_error("Left([a], 1234567890)").kind,
        Kind::NumberTooLarge
    );
}

#[test]
fn given_a_bad_pattern_then_regex_replace_is_refused_with_the_reason() {
    let error = compile_error("RegexReplace([a], \"(unclosed\", \"\")");
    assert!(
        matches!(&error.kind, Kind::BadPattern { message } if message.contains("unclosed")),
        "{error}"
    );
    assert!(!error.to_string().contains('\n'), "one line: {error}");
    assert_eq!(
        compile_error("RegexReplace([a], [b], \"\")").kind,
        Kind::PatternNotLiteral
    );
}

#[test]
fn given_a_pattern_whose_automaton_is_too_large_then_it_is_refused() {
    let error = compile_error(r#"RegexReplace([a], "\w{1000}\w{1000}\w{1000}", "")"#);
    assert!(
        matches!(&error.kind, Kind::BadPattern { message } if message.contains("too large")),
        "{error}"
    );
}

#[test]
fn given_nesting_at_the_limit_then_it_compiles_and_one_deeper_is_refused() {
    let nested = |depth: usize| {
        format!(
            "{}[a]{}",
            "ToLower(".repeat(depth - 1),
            ")".repeat(depth - 1)
        )
    };
    let at_limit = Expression::compile(&nested(MAX_DEPTH)).expect("depth 16 compiles");
    assert_eq!(at_limit.depth(), MAX_DEPTH);
    assert_eq!(compile_error(&nested(MAX_DEPTH + 1)).kind, Kind::TooDeep);
}

#[test]
fn given_more_parts_than_the_limit_then_it_is_refused() {
    let join = |args: usize| format!("Join(\",\"{})", ", [a]".repeat(args));
    let at_limit = Expression::compile(&join(MAX_NODES - 2)).expect("64 parts compile");
    assert_eq!(at_limit.node_count(), MAX_NODES);
    assert_eq!(compile_error(&join(MAX_NODES - 1)).kind, Kind::TooManyNodes);
}

#[test]
fn given_a_longer_expression_than_the_limit_then_it_is_refused() {
    let padded = |chars: usize| format!("{:<width$}", "[a]", width = chars);
    assert!(Expression::compile(&padded(MAX_EXPRESSION_CHARS)).is_ok());
    let error = compile_error(&padded(MAX_EXPRESSION_CHARS + 1));
    assert_eq!(
        error.kind,
        Kind::TooLong {
            chars: MAX_EXPRESSION_CHARS + 1
        }
    );
}

#[test]
fn sources_lists_each_attribute_read_once_sorted() {
    let expression = Expression::compile(
        "Join(\" \", [surname], [givenName], [surname], [onPremisesExtensionAttributes.extensionAttribute3])",
    )
    .unwrap();
    assert_eq!(
        expression.sources(),
        [
            "givenName",
            "onPremisesExtensionAttributes.extensionAttribute3",
            "surname"
        ]
    );
    assert!(
        Expression::compile("\"constant\"")
            .unwrap()
            .sources()
            .is_empty()
    );
}
