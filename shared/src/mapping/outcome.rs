//! Applying the mappings of one direction to one whole source object.

use super::MAX_OUTPUT_CHARS;
use super::catalogue::TargetKind;
use super::eval::EvalError;
use super::json_fields::shorten;
use super::mappings::{Apply, MappingSource, Target, UserMapping};
use super::value::{SourceObject, Value};

/// Whether the target object is being created or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    Create,
    Update,
}

/// A value shaped for its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetValue {
    /// No value. On import the AM attribute becomes absent (DESIGN 1.3:
    /// Graph's null maps to absent); on export the engine leaves the Entra
    /// value alone, as Microsoft flows no nulls by default (WAVE3 §0.5).
    Absent,
    Text(String),
    Flag(bool),
    Texts(Vec<String>),
    /// A user id: the manager's.
    Reference(String),
}

/// What one mapping gives for the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedValue<'m> {
    pub target: &'m Target,
    pub value: TargetValue,
    /// A built-in mapping no configured one replaced (the fixed mapping
    /// of docs/contract.md 1.3).
    pub built_in: bool,
}

/// Why a mapping gave no value for one object (the engine records it as
/// the object's problem); names the mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{mapping}: {problem}")]
pub struct MappingEvalError {
    pub mapping: String,
    pub problem: MappingEvalProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingEvalProblem {
    #[error(transparent)]
    Expression(#[from] EvalError),
    #[error("the target is a flag, and \"{given}\" is neither \"true\" nor \"false\"")]
    NotAFlag { given: String },
}

/// The target values the `mappings` (one direction's, in effect) give for
/// `object`, the whole source object, in the mappings' order. A
/// `create_only` mapping is skipped on update; a `default` fills a target
/// whose source gives no value, on create only (Microsoft's rule, WAVE3
/// §0.5).
pub fn map_user<'m>(
    mappings: &'m [UserMapping],
    object: &dyn SourceObject,
    occasion: Occasion,
) -> Result<Vec<MappedValue<'m>>, MappingEvalError> {
    let mut mapped = Vec::with_capacity(mappings.len());
    for mapping in mappings {
        if mapping.apply == Apply::CreateOnly && occasion == Occasion::Update {
            continue;
        }
        let fail = |problem| MappingEvalError {
            mapping: mapping.describe(),
            problem,
        };
        let mut value = shape(
            mapping.target.kind,
            source_value(mapping, object).map_err(fail)?,
        )
        .map_err(fail)?;
        if value == TargetValue::Absent
            && occasion == Occasion::Create
            && let Some(default) = &mapping.default
        {
            value = shape(mapping.target.kind, Value::text(default.as_str())).map_err(fail)?;
        }
        mapped.push(MappedValue {
            target: &mapping.target,
            value,
            built_in: mapping.number.is_none(),
        });
    }
    Ok(mapped)
}

fn source_value(
    mapping: &UserMapping,
    object: &dyn SourceObject,
) -> Result<Value, MappingEvalProblem> {
    let value = match &mapping.source {
        MappingSource::Constant(text) => Value::text(text.as_str()),
        MappingSource::Expression(expression) => expression.evaluate(object)?,
        MappingSource::Attribute(name) => object.attribute(name),
    };
    if value.longer_than(MAX_OUTPUT_CHARS) {
        return Err(EvalError::OutputTooLong {
            chars: value.char_count(),
            limit: MAX_OUTPUT_CHARS,
        }
        .into());
    }
    Ok(value)
}

/// The non-empty texts a value holds.
fn texts(value: Value) -> Vec<String> {
    let all = match value {
        Value::Null => Vec::new(),
        Value::List(values) => values,
        Value::Text(text) => vec![text],
        Value::Flag(flag) => vec![flag.to_string()],
    };
    all.into_iter().filter(|text| !text.is_empty()).collect()
}

fn shape(kind: TargetKind, value: Value) -> Result<TargetValue, MappingEvalProblem> {
    match (kind, value) {
        (TargetKind::Flag, Value::Flag(flag)) => Ok(TargetValue::Flag(flag)),
        // One text, the usual case, moves into its target.
        (TargetKind::Text, Value::Text(text)) if !text.is_empty() => Ok(TargetValue::Text(text)),
        (TargetKind::Reference, Value::Text(text)) if !text.is_empty() => {
            Ok(TargetValue::Reference(text))
        }
        (kind, value) => shape_texts(kind, texts(value)),
    }
}

fn shape_texts(
    kind: TargetKind,
    mut texts: Vec<String>,
) -> Result<TargetValue, MappingEvalProblem> {
    if texts.is_empty() {
        return Ok(TargetValue::Absent);
    }
    Ok(match kind {
        TargetKind::TextList => TargetValue::Texts(texts),
        TargetKind::SingleValueList => {
            texts.truncate(1);
            TargetValue::Texts(texts)
        }
        TargetKind::Text => TargetValue::Text(texts.swap_remove(0)),
        TargetKind::Reference => TargetValue::Reference(texts.swap_remove(0)),
        TargetKind::Flag => {
            let given = texts.swap_remove(0);
            match given.trim().to_ascii_lowercase().as_str() {
                "true" => TargetValue::Flag(true),
                "false" => TargetValue::Flag(false),
                _ => {
                    return Err(MappingEvalProblem::NotAFlag {
                        given: shorten(&given),
                    });
                }
            }
        }
    })
}
