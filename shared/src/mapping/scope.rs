//! `user_scope_filters` (DESIGN 2.13): a user is in scope when every
//! clause of at least one filter holds. Comparisons ignore case; an absent
//! (or empty) attribute makes a clause false, except `is_absent`. The
//! decision says which filter and clause decided, for the preview and
//! on-demand sync ("out of scope because …").

use std::fmt;

use regex::Regex;

use super::value::{SourceObject, Value};

pub use super::scope_config::{
    MAX_CLAUSES_PER_FILTER, MAX_SCOPE_FILTERS, ScopeConfigError, ScopeProblem,
};

/// A clause's test, its values lowercased once when read.
#[derive(Debug, Clone)]
pub enum Operator {
    Equals(String),
    NotEquals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    In(Vec<String>),
    IsPresent,
    IsAbsent,
    IsTrue,
    IsFalse,
    /// A case-insensitive regular expression, matched anywhere in the
    /// value (anchor it with `^…$`); linear-time.
    Matches(Regex),
}

/// One `{attribute, operator, value}`.
#[derive(Debug, Clone)]
pub struct Clause {
    pub attribute: String,
    pub operator: Operator,
    /// The clause as the admin wrote it, for explanations.
    pub written: String,
}

#[derive(Debug, Clone)]
pub struct ScopeFilter {
    pub name: String,
    pub clauses: Vec<Clause>,
}

/// The tenant's scoping filters; none = every user is in scope (as far as
/// these filters go: `domains` and `import_group_ids` still apply).
#[derive(Debug, Clone, Default)]
pub struct ScopeFilters {
    pub(crate) filters: Vec<ScopeFilter>,
}

/// Whether a user is in scope, and what decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeDecision {
    NoFilters,
    /// Every clause of this filter holds (the first such filter).
    InScope {
        filter_number: usize,
        filter: String,
    },
    /// No filter holds: for each, the first clause that does not.
    OutOfScope {
        failures: Vec<ClauseFailure>,
    },
}

/// A clause that does not hold for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClauseFailure {
    pub filter_number: usize,
    pub filter: String,
    pub clause_number: usize,
    pub clause: String,
    /// The user's value of the clause's attribute (cut short), if any.
    pub actual: Option<String>,
}

impl ScopeDecision {
    pub fn is_in_scope(&self) -> bool {
        !matches!(self, Self::OutOfScope { .. })
    }
}

impl fmt::Display for ScopeDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoFilters => write!(f, "in scope: there is no scoping filter"),
            Self::InScope { filter, .. } => {
                write!(f, "in scope: every clause of filter `{filter}` holds")
            }
            Self::OutOfScope { failures } => {
                write!(f, "out of scope: ")?;
                for (index, failure) in failures.iter().enumerate() {
                    if index > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{failure}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for ClauseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "filter `{}` fails clause {} ({}",
            self.filter, self.clause_number, self.clause
        )?;
        match &self.actual {
            Some(actual) => write!(f, "; the user's is \"{actual}\")"),
            None => write!(f, "; the user has none)"),
        }
    }
}

impl ScopeFilters {
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    pub fn filters(&self) -> &[ScopeFilter] {
        &self.filters
    }

    /// The Graph `$select` the filters need, sorted, each once.
    pub fn graph_select(&self) -> Vec<String> {
        let mut select: Vec<String> = self
            .filters
            .iter()
            .flat_map(|filter| &filter.clauses)
            .map(|clause| super::graph_select_property(&clause.attribute).to_string())
            .collect();
        select.sort();
        select.dedup();
        select
    }

    /// Whether the whole object is in scope, and why.
    pub fn evaluate(&self, object: &dyn SourceObject) -> ScopeDecision {
        if self.filters.is_empty() {
            return ScopeDecision::NoFilters;
        }
        let mut failures = Vec::with_capacity(self.filters.len());
        for (index, filter) in self.filters.iter().enumerate() {
            match first_failure(filter, object) {
                None => {
                    return ScopeDecision::InScope {
                        filter_number: index + 1,
                        filter: filter.name.clone(),
                    };
                }
                Some((clause_number, clause, value)) => failures.push(ClauseFailure {
                    filter_number: index + 1,
                    filter: filter.name.clone(),
                    clause_number,
                    clause: clause.written.clone(),
                    actual: value
                        .as_text()
                        .filter(|t| !t.is_empty())
                        .map(super::json_fields::shorten),
                }),
            }
        }
        ScopeDecision::OutOfScope { failures }
    }
}

fn first_failure<'f>(
    filter: &'f ScopeFilter,
    object: &dyn SourceObject,
) -> Option<(usize, &'f Clause, Value)> {
    filter
        .clauses
        .iter()
        .enumerate()
        .find_map(|(index, clause)| {
            let value = object.attribute(&clause.attribute);
            (!clause.holds(&value)).then_some((index + 1, clause, value))
        })
}

impl Clause {
    /// Whether the clause holds for the attribute's value. A list holds
    /// when one of its values does (`not_equals`: when none equals).
    pub fn holds(&self, value: &Value) -> bool {
        let texts = lowercase_texts(value);
        if texts.is_empty() {
            return matches!(self.operator, Operator::IsAbsent);
        }
        let any = |test: &dyn Fn(&str) -> bool| texts.iter().any(|text| test(text));
        match &self.operator {
            Operator::IsAbsent => false,
            Operator::IsPresent => true,
            Operator::IsTrue => any(&|text| text == "true"),
            Operator::IsFalse => any(&|text| text == "false"),
            Operator::Equals(wanted) => any(&|text| text == wanted),
            Operator::NotEquals(unwanted) => !any(&|text| text == unwanted),
            Operator::StartsWith(prefix) => any(&|text| text.starts_with(prefix.as_str())),
            Operator::EndsWith(suffix) => any(&|text| text.ends_with(suffix.as_str())),
            Operator::Contains(part) => any(&|text| text.contains(part.as_str())),
            Operator::In(allowed) => any(&|text| allowed.iter().any(|a| a == text)),
            Operator::Matches(pattern) => any(&|text| pattern.is_match(text)),
        }
    }
}

/// The value's non-empty texts, lowercased (a flag: `true`/`false`).
fn lowercase_texts(value: &Value) -> Vec<String> {
    let texts: Vec<&str> = match value {
        Value::Null => Vec::new(),
        Value::List(values) => values.iter().map(String::as_str).collect(),
        other => other.as_text().into_iter().collect(),
    };
    texts
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}
