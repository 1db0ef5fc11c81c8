//! What flows between Entra ID and AM, as the tenant chose it (DESIGN 2.13,
//! docs/mapping.md): the expression language, the attribute mappings of
//! `user_mappings`, and the scoping filters of `user_scope_filters`.
//!
//! Pure domain code: no AWS, HTTP or Graph types. The engines read a
//! source object (an Entra user on import, an AM user on export) through
//! [`SourceObject`] and get target values back.

mod am_user;
mod catalogue;
mod eval;
mod expression;
mod functions;
mod json_fields;
mod mappings;
mod outcome;
mod scope;
mod scope_config;
mod syntax;
mod text;
mod validate;
mod value;

#[cfg(test)]
mod tests;

pub use catalogue::{TargetKind, graph_select_property};
pub use eval::EvalError;
pub use expression::Expression;
pub use functions::Function;
pub use json_fields::FieldProblem;
pub use mappings::{
    Apply, Direction, MAX_MAPPED_ATTRIBUTES, MAX_MAPPINGS, MappingConfigError, MappingProblem,
    MappingSource, Target, UserMapping, UserMappings,
};
pub use outcome::{
    MappedValue, MappingEvalError, MappingEvalProblem, Occasion, TargetValue, map_user,
};
pub use scope::{
    Clause, ClauseFailure, MAX_CLAUSES_PER_FILTER, MAX_SCOPE_FILTERS, Operator, ScopeConfigError,
    ScopeDecision, ScopeFilter, ScopeFilters, ScopeProblem,
};
pub use syntax::{CompileError, CompileErrorKind};
pub use value::{SourceObject, Value};

/// An expression's length in characters (WAVE3 §1.4).
pub const MAX_EXPRESSION_CHARS: usize = 2_048;
/// How deep calls may nest: a literal alone is depth 1.
pub const MAX_DEPTH: usize = 16;
/// Calls, attributes and literals in one expression.
pub const MAX_NODES: usize = 64;
/// A mapped value's characters: the longest Graph user text property
/// (`onPremisesExtensionAttributes`, 1,024), and it keeps AM items small.
pub const MAX_OUTPUT_CHARS: usize = 1_024;
/// Any value made on the way to the result; with [`MAX_NODES`], bounds
/// the memory and work of one evaluation whatever the expression.
pub const MAX_VALUE_CHARS: usize = 16 * 1_024;
/// Values in a list made by a function (`Split`).
pub const MAX_LIST_VALUES: usize = 1_000;
/// Matches one RegexReplace may replace: iterating matches can cost more
/// than one linear search, so their number is capped too.
pub const MAX_REPLACEMENTS: usize = 4_096;
/// Compiled regular expression sizes (bytes): the `regex` crate refuses a
/// pattern whose automaton would be larger, instead of using the memory.
/// Room for Unicode classes (`(\w+), (\w+)` needs over 64 KiB), and a
/// small lazy-DFA cache: a tenant's patterns (at most 20 in its mappings
/// and 20 in its filters) share the Lambda's memory with every other
/// tenant's run.
const REGEX_SIZE_LIMIT: usize = 256 * 1_024;
const REGEX_DFA_SIZE_LIMIT: usize = 256 * 1_024;

/// A regular expression with the size limits; `regex` matches in linear
/// time whatever the pattern (no backtracking).
fn compile_regex(pattern: &str, case_insensitive: bool) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
        .map_err(|error| match error {
            // The syntax message draws the pattern over several lines; its
            // last line says what is wrong.
            regex::Error::Syntax(message) => message
                .lines()
                .rev()
                .find_map(|line| line.strip_prefix("error: "))
                .unwrap_or("invalid syntax")
                .to_string(),
            regex::Error::CompiledTooBig(limit) => {
                format!("the pattern is too large (its automaton would exceed {limit} bytes)")
            }
            other => other.to_string(),
        })
}
