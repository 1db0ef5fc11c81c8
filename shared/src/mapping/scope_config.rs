//! Reading and validating `user_scope_filters` from the config.

use serde_json::{Map, Value as Json};

use super::catalogue::{self, GRAPH_MANAGER};
use super::json_fields::{self, FieldProblem, shorten};
use super::scope::{Clause, Operator, ScopeFilter, ScopeFilters};

/// Filters per tenant, and clauses per filter: each clause is evaluated
/// for every user of every run, so their number bounds the work per user.
pub const MAX_SCOPE_FILTERS: usize = 20;
pub const MAX_CLAUSES_PER_FILTER: usize = 20;
/// Regular expressions (`matches`) in one tenant's filters: each is
/// compiled and kept in a Lambda the other tenants share.
pub const MAX_PATTERNS: usize = 20;
/// Values of one `in` clause.
const MAX_IN_VALUES: usize = 100;
/// A clause's value (a pattern's too).
const MAX_CLAUSE_VALUE_CHARS: usize = 1_024;

/// Why `user_scope_filters` cannot be used; names the filter and clause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user_scope_filters{}: {problem}", place(*.filter_number, .filter.as_deref(), *.clause_number))]
pub struct ScopeConfigError {
    pub filter_number: Option<usize>,
    pub filter: Option<String>,
    pub clause_number: Option<usize>,
    pub problem: ScopeProblem,
}

fn place(filter_number: Option<usize>, filter: Option<&str>, clause: Option<usize>) -> String {
    let mut place = String::new();
    if let Some(number) = filter_number {
        place.push_str(&format!(" #{number}"));
    }
    if let Some(name) = filter {
        place.push_str(&format!(" (`{name}`)"));
    }
    if let Some(clause) = clause {
        place.push_str(&format!(" clause {clause}"));
    }
    place
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeProblem {
    #[error(transparent)]
    Field(#[from] FieldProblem),
    #[error("there are {given} filters; at most {MAX_SCOPE_FILTERS} are allowed")]
    TooManyFilters { given: usize },
    #[error("there are {given} clauses; at most {MAX_CLAUSES_PER_FILTER} are allowed")]
    TooManyClauses { given: usize },
    #[error("there are {given} `matches` clauses; at most {MAX_PATTERNS} are allowed")]
    TooManyPatterns { given: usize },
    #[error("a filter needs at least one clause")]
    NoClauses,
    #[error("`{attribute}` is not a known Entra ID user attribute{hint}")]
    UnknownAttribute { attribute: String, hint: String },
    #[error("`{operator}` needs a `value`")]
    MissingValue { operator: &'static str },
    #[error("`{operator}` takes no `value`")]
    UnexpectedValue { operator: &'static str },
    #[error("`in` needs a `value` that is a list of 1 to {MAX_IN_VALUES} texts")]
    BadInValues,
    #[error("the value has more than {MAX_CLAUSE_VALUE_CHARS} characters")]
    ValueTooLong,
    #[error("the pattern is not a valid regular expression: {message}")]
    BadPattern { message: String },
}

const OPERATORS: &[&str] = &[
    "equals",
    "not_equals",
    "starts_with",
    "ends_with",
    "contains",
    "in",
    "is_present",
    "is_absent",
    "is_true",
    "is_false",
    "matches",
];

impl ScopeFilters {
    /// Reads `user_scope_filters` (absent or empty = no filter).
    pub fn from_config(list: Option<&Json>) -> Result<Self, ScopeConfigError> {
        let error = |filter_number, filter, clause_number, problem| ScopeConfigError {
            filter_number,
            filter,
            clause_number,
            problem,
        };
        let items = match list {
            None | Some(Json::Null) => return Ok(Self::default()),
            Some(Json::Array(items)) => items,
            Some(_) => {
                let problem = FieldProblem::NotAList {
                    field: "user_scope_filters",
                }
                .into();
                return Err(error(None, None, None, problem));
            }
        };
        if items.len() > MAX_SCOPE_FILTERS {
            return Err(error(
                None,
                None,
                None,
                ScopeProblem::TooManyFilters { given: items.len() },
            ));
        }
        let mut filters = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let filter = read_filter(item)
                .map_err(|(name, clause, problem)| error(Some(index + 1), name, clause, problem))?;
            filters.push(filter);
        }
        let patterns = filters
            .iter()
            .flat_map(|f: &ScopeFilter| &f.clauses)
            .filter(|c| matches!(c.operator, Operator::Matches(_)))
            .count();
        if patterns > MAX_PATTERNS {
            return Err(error(
                None,
                None,
                None,
                ScopeProblem::TooManyPatterns { given: patterns },
            ));
        }
        Ok(Self { filters })
    }
}

type FilterError = (Option<String>, Option<usize>, ScopeProblem);

fn read_filter(item: &Json) -> Result<ScopeFilter, FilterError> {
    let fields = json_fields::object(
        item,
        "a filter {name, clauses: [{attribute, operator, value}]}",
    )
    .map_err(|problem| (None, None, problem.into()))?;
    let name = json_fields::required_text(fields, "name").map_err(|p| (None, None, p.into()))?;
    let named = |clause, problem| (Some(name.to_string()), clause, problem);
    let clauses = match fields.get("clauses") {
        Some(Json::Array(clauses)) => clauses,
        Some(_) => {
            return Err(named(
                None,
                FieldProblem::NotAList { field: "clauses" }.into(),
            ));
        }
        None => return Err(named(None, ScopeProblem::NoClauses)),
    };
    if clauses.is_empty() {
        return Err(named(None, ScopeProblem::NoClauses));
    }
    if clauses.len() > MAX_CLAUSES_PER_FILTER {
        return Err(named(
            None,
            ScopeProblem::TooManyClauses {
                given: clauses.len(),
            },
        ));
    }
    let clauses = clauses
        .iter()
        .enumerate()
        .map(|(index, clause)| {
            read_clause(clause).map_err(|problem| named(Some(index + 1), problem))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ScopeFilter {
        name: name.to_string(),
        clauses,
    })
}

fn read_clause(item: &Json) -> Result<Clause, ScopeProblem> {
    let fields = json_fields::object(item, "a clause {attribute, operator, value}")?;
    let attribute = json_fields::required_text(fields, "attribute")?.trim();
    if attribute == GRAPH_MANAGER || !catalogue::is_graph_source(attribute) {
        let hint = catalogue::graph_spelling(attribute)
            .map(|known| format!(" (did you mean `{known}`?)"))
            .unwrap_or_default();
        return Err(ScopeProblem::UnknownAttribute {
            attribute: attribute.to_string(),
            hint,
        });
    }
    let operator_name = json_fields::choice(fields, "operator", OPERATORS, None)?;
    let operator = read_operator(operator_name, fields)?;
    let written = match fields.get("value") {
        Some(Json::String(value)) if !value.is_empty() => {
            format!("{attribute} {operator_name} \"{}\"", shorten(value))
        }
        Some(Json::Array(values)) => format!(
            "{attribute} {operator_name} {}",
            shorten(&Json::Array(values.clone()).to_string())
        ),
        _ => format!("{attribute} {operator_name}"),
    };
    Ok(Clause {
        attribute: attribute.to_string(),
        operator,
        written,
    })
}

fn read_operator(name: &'static str, fields: &Map<String, Json>) -> Result<Operator, ScopeProblem> {
    let value = fields
        .get("value")
        .filter(|v| !matches!(v, Json::Null) && v.as_str() != Some(""));
    let text = || -> Result<String, ScopeProblem> {
        let text = value.ok_or(ScopeProblem::MissingValue { operator: name })?;
        let text = text
            .as_str()
            .ok_or(FieldProblem::NotText { field: "value" })?;
        if text.chars().count() > MAX_CLAUSE_VALUE_CHARS {
            return Err(ScopeProblem::ValueTooLong);
        }
        Ok(text.to_string())
    };
    let no_value = |operator| match value {
        Some(_) => Err(ScopeProblem::UnexpectedValue { operator: name }),
        None => Ok(operator),
    };
    Ok(match name {
        "equals" => Operator::Equals(text()?.to_lowercase()),
        "not_equals" => Operator::NotEquals(text()?.to_lowercase()),
        "starts_with" => Operator::StartsWith(text()?.to_lowercase()),
        "ends_with" => Operator::EndsWith(text()?.to_lowercase()),
        "contains" => Operator::Contains(text()?.to_lowercase()),
        "in" => Operator::In(in_values(value)?),
        "matches" => {
            let pattern = super::compile_regex(&text()?, true)
                .map_err(|message| ScopeProblem::BadPattern { message })?;
            Operator::Matches(pattern)
        }
        "is_present" => no_value(Operator::IsPresent)?,
        "is_absent" => no_value(Operator::IsAbsent)?,
        "is_true" => no_value(Operator::IsTrue)?,
        _ => no_value(Operator::IsFalse)?,
    })
}

fn in_values(value: Option<&Json>) -> Result<Vec<String>, ScopeProblem> {
    let Some(Json::Array(items)) = value else {
        return Err(ScopeProblem::BadInValues);
    };
    if items.is_empty() || items.len() > MAX_IN_VALUES {
        return Err(ScopeProblem::BadInValues);
    }
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(text) if text.chars().count() <= MAX_CLAUSE_VALUE_CHARS => Ok(text.to_lowercase()),
            Some(_) => Err(ScopeProblem::ValueTooLong),
            None => Err(ScopeProblem::BadInValues),
        })
        .collect()
}
