//! The checks of one mapping's target, source and default.

use super::MAX_OUTPUT_CHARS;
use super::catalogue::{
    self, AM_MANAGER, AmAttribute, GRAPH_MANAGER, GraphTarget, TargetKind, am_attribute,
    graph_target,
};
use super::expression::Expression;
use super::mappings::{Direction, MappingProblem, MappingSource, Target};

pub(crate) fn target(direction: Direction, name: &str) -> Result<Target, MappingProblem> {
    let target = |kind| {
        Ok(Target {
            name: name.to_string(),
            kind,
        })
    };
    match direction {
        Direction::Import => match am_attribute(name) {
            AmAttribute::BuiltIn(kind) => target(kind),
            AmAttribute::Mapped => target(TargetKind::Text),
            AmAttribute::EngineOwned => Err(MappingProblem::EngineOwnedTarget {
                target: name.to_string(),
            }),
            AmAttribute::Unknown => Err(MappingProblem::UnknownImportTarget {
                target: name.to_string(),
                known: catalogue::am_attribute_names(),
            }),
        },
        Direction::Export => match graph_target(name) {
            GraphTarget::Writable(kind) => target(kind),
            GraphTarget::ReadOnly(why) => Err(MappingProblem::ReadOnlyTarget {
                target: name.to_string(),
                why,
            }),
            GraphTarget::Unknown => Err(MappingProblem::UnknownExportTarget {
                target: name.to_string(),
                hint: did_you_mean(catalogue::graph_spelling(name)),
            }),
        },
    }
}

fn did_you_mean(spelling: Option<&str>) -> String {
    spelling
        .map(|known| format!(" (did you mean `{known}`?)"))
        .unwrap_or_default()
}

/// The manager is a reference, not a text: it maps only to the other
/// side's manager, and only as a plain attribute.
fn manager_source(direction: Direction) -> &'static str {
    match direction {
        Direction::Import => GRAPH_MANAGER,
        Direction::Export => AM_MANAGER,
    }
}

pub(crate) fn source(
    direction: Direction,
    target: &Target,
    source_type: &str,
    text: &str,
) -> Result<MappingSource, MappingProblem> {
    let manager = manager_source(direction);
    let is_reference = target.kind == TargetKind::Reference;
    match source_type {
        "attribute" => {
            let name = text
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim();
            if is_reference != (name == manager) {
                return Err(MappingProblem::Invalid(
                    "a manager maps only to a manager: import `manager_id` from `manager`, export `manager` from `manager_id`",
                ));
            }
            known_source(direction, name)?;
            Ok(MappingSource::Attribute(name.to_string()))
        }
        _ if is_reference => Err(MappingProblem::Invalid(
            "a manager maps only from the other side's manager attribute (source_type attribute)",
        )),
        "constant" => {
            check_value(target, text, "constant")?;
            Ok(MappingSource::Constant(text.to_string()))
        }
        _ => {
            let expression = Expression::compile(text).map_err(MappingProblem::Compile)?;
            for name in expression.sources() {
                if name == manager {
                    return Err(MappingProblem::Invalid(
                        "an expression cannot read the manager (a reference, not a text)",
                    ));
                }
                known_source(direction, name)?;
            }
            Ok(MappingSource::Expression(expression))
        }
    }
}

fn known_source(direction: Direction, name: &str) -> Result<(), MappingProblem> {
    if catalogue::is_export_mark(name) {
        return Err(MappingProblem::Invalid(catalogue::EXPORT_MARK_REFUSED));
    }
    let known = match direction {
        Direction::Import => name == GRAPH_MANAGER || catalogue::is_graph_source(name),
        Direction::Export => {
            name == "user_id"
                || matches!(
                    am_attribute(name),
                    AmAttribute::BuiltIn(_) | AmAttribute::Mapped
                )
        }
    };
    if known {
        return Ok(());
    }
    let (side, hint) = match direction {
        Direction::Import => (
            "Entra ID user",
            did_you_mean(catalogue::graph_spelling(name)),
        ),
        Direction::Export => ("AM user", String::new()),
    };
    Err(MappingProblem::UnknownSource {
        source_name: name.to_string(),
        side,
        hint,
    })
}

pub(crate) fn default_value(target: &Target, default: &str) -> Result<(), MappingProblem> {
    if target.kind == TargetKind::Reference {
        return Err(MappingProblem::Invalid("a manager has no default"));
    }
    check_value(target, default, "default")
}

/// A constant or default: short enough, and a flag for a flag target.
fn check_value(target: &Target, value: &str, what: &'static str) -> Result<(), MappingProblem> {
    let chars = value.chars().count();
    if chars > MAX_OUTPUT_CHARS {
        return Err(MappingProblem::TooLong { what, chars });
    }
    if target.kind == TargetKind::Flag
        && !["true", "false"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(value.trim()))
    {
        return Err(MappingProblem::Invalid(
            "this target is a flag: the value must be \"true\" or \"false\"",
        ));
    }
    Ok(())
}
