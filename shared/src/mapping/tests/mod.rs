//! Tests of the mapping module: the language (compile errors, each
//! function), the mappings, the scoping filters, and property tests.

mod bounds;
mod compile;
mod functions;
mod mappings;
mod outcome;
mod properties;
mod scope;

use std::collections::BTreeMap;

use super::{Expression, SourceObject, Value};

/// A source object from `(name, value)` pairs.
fn object(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect()
}

fn text(text: &str) -> Value {
    Value::text(text)
}

fn list(values: &[&str]) -> Value {
    Value::List(values.iter().map(|v| v.to_string()).collect())
}

/// Compiles and evaluates `expression` on `source`; panics (the test
/// fails) on any error.
fn eval(expression: &str, source: &dyn SourceObject) -> Value {
    let compiled = Expression::compile(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
    compiled
        .evaluate(source)
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
}

/// Evaluates on an object without attributes.
fn eval_alone(expression: &str) -> Value {
    eval(expression, &object(&[]))
}
