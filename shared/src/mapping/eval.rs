//! Evaluation of a compiled expression on a whole source object. Total:
//! every input gives a value or an [`EvalError`], never a panic, and the
//! work is bounded by the tree's size and the object's values.

use super::functions::{Function, NumberRule};
use super::syntax::Node;
use super::text::{self, Overflow};
use super::value::{SourceObject, Value};
use super::{MAX_LIST_VALUES, MAX_REPLACEMENTS, MAX_VALUE_CHARS};

/// Why an expression gave no value for one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("{function} made a value of more than {MAX_VALUE_CHARS} characters")]
    ValueTooLong { function: &'static str },
    #[error("{function} made more than {MAX_LIST_VALUES} values")]
    TooManyValues { function: &'static str },
    #[error("{function}'s pattern matched more than {MAX_REPLACEMENTS} times")]
    TooManyMatches { function: &'static str },
    #[error("the result has {chars} characters; at most {limit} are allowed")]
    OutputTooLong { chars: usize, limit: usize },
    #[error("{function}'s argument {argument} must be {expected}, not \"{given}\"")]
    BadNumber {
        function: &'static str,
        argument: usize,
        expected: &'static str,
        given: String,
    },
}

pub(crate) fn evaluate(node: &Node, object: &dyn SourceObject) -> Result<Value, EvalError> {
    match node {
        Node::Literal(text) => Ok(Value::Text(text.clone())),
        Node::Attribute(name) => {
            // A source value past the limit (a huge directory extension)
            // is refused before any function works on it.
            let value = object.attribute(name);
            if value.longer_than(MAX_VALUE_CHARS) {
                return Err(EvalError::ValueTooLong {
                    function: "an attribute",
                });
            }
            Ok(value)
        }
        Node::Pattern(regex) => Ok(Value::Text(regex.as_str().to_string())),
        Node::Call { function, args } => {
            let value = call(*function, args, object)?;
            check_size(*function, &value)?;
            Ok(value)
        }
    }
}

fn check_size(function: Function, value: &Value) -> Result<(), EvalError> {
    if let Value::List(values) = value
        && values.len() > MAX_LIST_VALUES
    {
        return Err(EvalError::TooManyValues {
            function: function.name(),
        });
    }
    if value.longer_than(MAX_VALUE_CHARS) {
        return Err(EvalError::ValueTooLong {
            function: function.name(),
        });
    }
    Ok(())
}

/// The functions that choose what to evaluate are evaluated lazily; the
/// others see all their arguments' values.
fn call(function: Function, args: &[Node], object: &dyn SourceObject) -> Result<Value, EvalError> {
    let eval = |node: &Node| evaluate(node, object);
    match function {
        Function::Iif => {
            let chosen = if eval(&args[0])?.is_true() {
                &args[1]
            } else {
                &args[2]
            };
            eval(chosen)
        }
        Function::Coalesce => {
            for arg in args {
                let value = eval(arg)?;
                if !value.is_empty() {
                    return Ok(value);
                }
            }
            Ok(Value::Null)
        }
        Function::And => all_or_any(args, object, true),
        Function::Or => all_or_any(args, object, false),
        Function::Switch | Function::SwitchI => switch(function, args, object),
        _ => {
            let values = args.iter().map(eval).collect::<Result<Vec<_>, _>>()?;
            apply(function, &values, args)
        }
    }
}

/// And (`all` true) or Or, evaluated left to right until decided.
fn all_or_any(args: &[Node], object: &dyn SourceObject, all: bool) -> Result<Value, EvalError> {
    for arg in args {
        if evaluate(arg, object)?.is_true() != all {
            return Ok(Value::Flag(!all));
        }
    }
    Ok(Value::Flag(all))
}

/// Switch(source, default, key1, value1, …): null matches `""`; SwitchI
/// compares without case.
fn switch(
    function: Function,
    args: &[Node],
    object: &dyn SourceObject,
) -> Result<Value, EvalError> {
    let source = evaluate(&args[0], object)?;
    let source = source.text_or_empty();
    for pair in args[2..].chunks(2) {
        let [key, value] = pair else { break };
        let key = evaluate(key, object)?;
        let key = key.text_or_empty();
        let matches = if function == Function::SwitchI {
            key.to_lowercase() == source.to_lowercase()
        } else {
            key == source
        };
        if matches {
            return evaluate(value, object);
        }
    }
    evaluate(&args[1], object)
}

fn apply(function: Function, values: &[Value], args: &[Node]) -> Result<Value, EvalError> {
    let number = |position: usize| number_argument(function, values, position);
    let text_at = |position: usize| values[position - 1].text_or_empty();
    let name = function.name();
    Ok(match function {
        Function::Append => map_text(&values[0], name, |s| Ok(format!("{s}{}", text_at(2))))?,
        Function::Equals => Value::Flag(equals(&values[0], &values[1])),
        Function::Not => Value::Flag(!values[0].is_true()),
        Function::IsPresent => Value::Flag(!values[0].is_empty()),
        Function::IsNullOrEmpty => Value::Flag(values[0].is_empty()),
        Function::Item => item(&values[0], number(2)?),
        Function::Join => join(text_at(1), &values[1..]).ok_or(EvalError::ValueTooLong {
            function: function.name(),
        })?,
        Function::Left => {
            let count = number(2)?;
            map_text(&values[0], name, |s| Ok(text::left(s, count)))?
        }
        Function::Mid => {
            let (start, length) = (number(2)?, number(3)?);
            map_text(&values[0], name, |s| Ok(text::mid(s, start, length)))?
        }
        Function::Word => {
            let position = number(2)?;
            map_text(&values[0], name, |s| {
                Ok(text::word(s, position, text_at(3)))
            })?
        }
        Function::Split => split(&values[0], text_at(2)),
        Function::Replace => map_text(&values[0], name, |s| {
            text::replace_plain(s, text_at(2), text_at(3))
        })?,
        Function::RegexReplace => match &args[1] {
            Node::Pattern(regex) => map_text(&values[0], name, |s| {
                text::replace_regex(s, regex, text_at(3))
            })?,
            // The compiler always puts a pattern here.
            _ => values[0].clone(),
        },
        Function::ToLower => map_text(&values[0], name, |s| Ok(s.to_lowercase()))?,
        Function::ToUpper => map_text(&values[0], name, |s| Ok(s.to_uppercase()))?,
        Function::Trim => map_text(&values[0], name, |s| Ok(s.trim().to_string()))?,
        Function::StripSpaces => map_text(&values[0], name, |s| Ok(text::strip_spaces(s)))?,
        Function::NormalizeDiacritics => {
            map_text(&values[0], name, |s| Ok(text::normalize_diacritics(s)))?
        }
        // Evaluated lazily in `call`.
        Function::Iif | Function::Coalesce | Function::And | Function::Or => Value::Null,
        Function::Switch | Function::SwitchI => Value::Null,
    })
}

/// A text function applied to a value: null stays null (null propagates),
/// a list is transformed value by value.
fn map_text(
    value: &Value,
    function: &'static str,
    transform: impl Fn(&str) -> Result<String, Overflow>,
) -> Result<Value, EvalError> {
    let overflow = |overflow| match overflow {
        Overflow::TooLong => EvalError::ValueTooLong { function },
        Overflow::TooManyMatches => EvalError::TooManyMatches { function },
    };
    Ok(match value {
        Value::Null => Value::Null,
        Value::List(values) => {
            let mut out = Vec::with_capacity(values.len());
            for value in values {
                out.push(transform(value).map_err(overflow)?);
            }
            Value::List(out)
        }
        other => Value::Text(transform(other.text_or_empty()).map_err(overflow)?),
    })
}

fn number_argument(
    function: Function,
    values: &[Value],
    position: usize,
) -> Result<usize, EvalError> {
    let rule = function
        .number_arguments()
        .iter()
        .find(|(argument, _)| *argument == position)
        .map_or(NumberRule::ZeroOrMore, |(_, rule)| *rule);
    let given = values[position - 1].text_or_empty();
    rule.parse(given).ok_or_else(|| EvalError::BadNumber {
        function: function.name(),
        argument: position,
        expected: rule.describe(),
        given: given.chars().take(64).collect(),
    })
}

/// Null equals `""`; lists equal lists value by value; case matters.
fn equals(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::List(a), Value::List(b)) => a == b,
        _ => left.text_or_empty() == right.text_or_empty(),
    }
}

fn item(value: &Value, position: usize) -> Value {
    let found = match value {
        Value::List(values) => values.get(position - 1).cloned(),
        other if position == 1 => other.as_text().map(str::to_string),
        _ => None,
    };
    found.map_or(Value::Null, Value::Text)
}

/// Join(separator, a, …): every non-empty value, lists flattened; null
/// when there is none. `None` when the result would be too long: its
/// length is known before anything is allocated (a long separator between
/// thousands of parts must not be built to be refused).
fn join(separator: &str, values: &[Value]) -> Option<Value> {
    let mut parts: Vec<&str> = Vec::new();
    for value in values {
        match value {
            Value::List(items) => parts.extend(items.iter().map(String::as_str)),
            other => parts.extend(other.as_text()),
        }
    }
    parts.retain(|part| !part.is_empty());
    if parts.is_empty() {
        return Some(Value::Null);
    }
    let separators = separator.len().saturating_mul(parts.len() - 1);
    let bytes = parts
        .iter()
        .map(|p| p.len())
        .sum::<usize>()
        .saturating_add(separators);
    (bytes <= MAX_VALUE_CHARS.saturating_mul(4)).then(|| Value::Text(parts.join(separator)))
}

fn split(value: &Value, delimiter: &str) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::List(items) => Value::List(
            items
                .iter()
                .flat_map(|item| text::split(item, delimiter))
                .collect(),
        ),
        other => Value::List(text::split(other.text_or_empty(), delimiter)),
    }
}
