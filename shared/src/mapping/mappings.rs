//! `user_mappings` (DESIGN 2.13): each mapping read from the config and
//! validated before any run writes, then merged with the built-in set.

use serde_json::{Map, Value as Json};

use super::catalogue::{self, TargetKind, graph_select_property};
use super::expression::Expression;
use super::syntax::CompileError;
use super::{MAX_OUTPUT_CHARS, json_fields};

/// `attributes.<name>` targets per tenant: each value is at most
/// [`MAX_OUTPUT_CHARS`], so 50 keep the `attributes` map near 55 KB, far
/// below DynamoDB's 400 KB item limit, with the stream's old and new
/// images of the item still small.
pub const MAX_MAPPED_ATTRIBUTES: usize = 50;
/// Mappings in `user_mappings`: bounds the work per object (each
/// expression is at most 64 parts) and the size of the config item.
pub const MAX_MAPPINGS: usize = 100;
/// At most [`MAX_MAPPING_PATTERNS`] regular expressions in all of them.
fn check_patterns(mappings: &[UserMapping]) -> Result<(), MappingProblem> {
    let patterns: usize = mappings
        .iter()
        .map(|m| match &m.source {
            MappingSource::Expression(expression) => expression.patterns(),
            _ => 0,
        })
        .sum();
    if patterns > MAX_MAPPING_PATTERNS {
        return Err(MappingProblem::TooManyPatterns { given: patterns });
    }
    Ok(())
}

/// RegexReplace patterns in one tenant's mappings: each is compiled and
/// kept in a Lambda the other tenants share.
pub const MAX_MAPPING_PATTERNS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Entra ID → AM: targets are AM user attributes.
    Import,
    /// AM → Entra ID: targets are Graph user properties.
    Export,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Export => "export",
        }
    }
}

/// When a mapping writes its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    Always,
    /// On create only: later changes of the source leave the target alone.
    CreateOnly,
}

#[derive(Debug, Clone)]
pub enum MappingSource {
    /// The source attribute's value as it is.
    Attribute(String),
    Constant(String),
    Expression(Expression),
}

/// A mapping's target: its name as configured, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
}

impl Target {
    /// The key in the AM user item's `attributes` map, for `attributes.<key>`.
    pub fn attribute_key(&self) -> Option<&str> {
        self.name.strip_prefix(catalogue::ATTRIBUTES_PREFIX)
    }
}

/// One validated mapping.
#[derive(Debug, Clone)]
pub struct UserMapping {
    /// The mapping's 1-based place in `user_mappings`; `None` for a
    /// built-in mapping no configured one replaced.
    pub number: Option<usize>,
    pub direction: Direction,
    pub target: Target,
    pub source: MappingSource,
    pub apply: Apply,
    /// Used on create when the source gives no value.
    pub default: Option<String>,
}

impl UserMapping {
    /// The source attributes the mapping reads.
    pub fn sources(&self) -> Vec<&str> {
        match &self.source {
            MappingSource::Attribute(name) => vec![name.as_str()],
            MappingSource::Constant(_) => Vec::new(),
            MappingSource::Expression(expression) => {
                expression.sources().iter().map(String::as_str).collect()
            }
        }
    }

    /// How errors name the mapping.
    pub fn describe(&self) -> String {
        match self.number {
            Some(number) => format!(
                "user_mappings #{number} ({} → `{}`)",
                self.direction.as_str(),
                self.target.name
            ),
            None => format!(
                "the built-in {} mapping of `{}`",
                self.direction.as_str(),
                self.target.name
            ),
        }
    }
}

/// Why `user_mappings` cannot be used; names the mapping at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user_mappings{}: {problem}", place(*.number, .target.as_deref()))]
pub struct MappingConfigError {
    /// 1-based; `None` when the problem is the whole list's.
    pub number: Option<usize>,
    pub target: Option<String>,
    pub problem: MappingProblem,
}

fn place(number: Option<usize>, target: Option<&str>) -> String {
    match (number, target) {
        (Some(number), Some(target)) => format!(" #{number} (target `{target}`)"),
        (Some(number), None) => format!(" #{number}"),
        _ => String::new(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingProblem {
    #[error(transparent)]
    Field(#[from] json_fields::FieldProblem),
    #[error("there are {given} mappings; at most {MAX_MAPPINGS} are allowed")]
    TooManyMappings { given: usize },
    #[error(
        "the mappings hold {given} RegexReplace patterns; at most {MAX_MAPPING_PATTERNS} are allowed"
    )]
    TooManyPatterns { given: usize },
    #[error("{given} attributes.<name> targets; at most {MAX_MAPPED_ATTRIBUTES} are allowed")]
    TooManyAttributes { given: usize },
    #[error(
        "`{target}` is not an AM user attribute: use one of {known}, or attributes.<name> (name: 1–64 letters, digits, _ or -)"
    )]
    UnknownImportTarget { target: String, known: String },
    #[error("`{target}` is kept by entra-sync itself and cannot be mapped")]
    EngineOwnedTarget { target: String },
    #[error("`{target}` is read-only: {why}")]
    ReadOnlyTarget { target: String, why: &'static str },
    #[error("`{target}` is not a writable Graph user property{hint}")]
    UnknownExportTarget { target: String, hint: String },
    #[error("the source `{source_name}` is not a known {side} attribute{hint}")]
    UnknownSource {
        source_name: String,
        side: &'static str,
        hint: String,
    },
    #[error("the expression does not compile: {0}")]
    Compile(CompileError),
    #[error("mapping #{first} already fills this target")]
    DuplicateTarget { first: usize },
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the {what} has {chars} characters; at most {MAX_OUTPUT_CHARS} are allowed")]
    TooLong { what: &'static str, chars: usize },
}

/// The mappings in effect for each direction.
#[derive(Debug, Clone)]
pub struct UserMappings {
    import: Vec<UserMapping>,
    export: Vec<UserMapping>,
}

/// Today's fixed mapping (docs/contract.md 1.3): AM attribute, Graph property.
const BUILT_IN: &[(&str, &str)] = &[
    ("user_name", "userPrincipalName"),
    ("display_name", "displayName"),
    ("given_name", "givenName"),
    ("surname", "surname"),
    ("email", "mail"),
    ("mobile_phone", "mobilePhone"),
    ("job_title", "jobTitle"),
    ("department", "department"),
    ("enabled", "accountEnabled"),
];

impl Default for UserMappings {
    /// The built-in mapping only (no `user_mappings`).
    fn default() -> Self {
        Self {
            import: built_in(Direction::Import, &[]),
            export: built_in(Direction::Export, &[]),
        }
    }
}

impl UserMappings {
    /// Reads `user_mappings` (absent = the built-in mapping only). A mapping
    /// for a built-in target replaces its default.
    pub fn from_config(list: Option<&Json>) -> Result<Self, MappingConfigError> {
        let configured = match list {
            None | Some(Json::Null) => Vec::new(),
            Some(list) => read_all(list)?,
        };
        let (import, export): (Vec<_>, Vec<_>) = configured
            .into_iter()
            .partition(|m| m.direction == Direction::Import);
        Ok(Self {
            import: built_in(Direction::Import, &import),
            export: built_in(Direction::Export, &export),
        })
    }

    pub fn for_direction(&self, direction: Direction) -> &[UserMapping] {
        match direction {
            Direction::Import => &self.import,
            Direction::Export => &self.export,
        }
    }

    /// The Graph `$select` the import mappings need, sorted, each once.
    pub fn graph_select(&self) -> Vec<String> {
        let mut select: Vec<String> = self
            .import
            .iter()
            .flat_map(UserMapping::sources)
            .map(|source| graph_select_property(source).to_string())
            .collect();
        select.sort();
        select.dedup();
        select
    }
}

/// The built-in mappings, each replaced by a configured one for its
/// target, then the other configured mappings in their order.
fn built_in(direction: Direction, configured: &[UserMapping]) -> Vec<UserMapping> {
    let mut effective = Vec::with_capacity(BUILT_IN.len() + configured.len());
    for (am, graph) in BUILT_IN {
        let (target, source) = match direction {
            Direction::Import => (*am, *graph),
            Direction::Export => (*graph, *am),
        };
        match configured.iter().find(|m| m.target.name == target) {
            Some(replacement) => effective.push(replacement.clone()),
            None => effective.push(UserMapping {
                number: None,
                direction,
                target: Target {
                    name: target.to_string(),
                    kind: built_in_kind(target),
                },
                source: MappingSource::Attribute(source.to_string()),
                apply: Apply::Always,
                default: None,
            }),
        }
    }
    let is_built_in = |name: &str| {
        BUILT_IN
            .iter()
            .any(|(am, graph)| name == *am || name == *graph)
    };
    effective.extend(
        configured
            .iter()
            .filter(|m| !is_built_in(&m.target.name))
            .cloned(),
    );
    effective
}

fn built_in_kind(target: &str) -> TargetKind {
    if target == "enabled" || target == "accountEnabled" {
        TargetKind::Flag
    } else {
        TargetKind::Text
    }
}

fn read_all(list: &Json) -> Result<Vec<UserMapping>, MappingConfigError> {
    let whole = |problem| MappingConfigError {
        number: None,
        target: None,
        problem,
    };
    let Json::Array(items) = list else {
        return Err(whole(
            json_fields::FieldProblem::NotAList {
                field: "user_mappings",
            }
            .into(),
        ));
    };
    if items.len() > MAX_MAPPINGS {
        return Err(whole(MappingProblem::TooManyMappings {
            given: items.len(),
        }));
    }
    let mut mappings: Vec<UserMapping> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let number = index + 1;
        let mut mapping = read_one(item).map_err(|(target, problem)| MappingConfigError {
            number: Some(number),
            target,
            problem,
        })?;
        mapping.number = Some(number);
        if let Some(first) = mappings
            .iter()
            .find(|m| m.direction == mapping.direction && m.target == mapping.target)
        {
            let problem = MappingProblem::DuplicateTarget {
                first: first.number.unwrap_or(0),
            };
            return Err(MappingConfigError {
                number: Some(number),
                target: Some(mapping.target.name),
                problem,
            });
        }
        mappings.push(mapping);
    }
    check_patterns(&mappings).map_err(whole)?;
    let attributes = mappings
        .iter()
        .filter(|m| m.target.attribute_key().is_some())
        .count();
    if attributes > MAX_MAPPED_ATTRIBUTES {
        return Err(whole(MappingProblem::TooManyAttributes {
            given: attributes,
        }));
    }
    Ok(mappings)
}

type ItemError = (Option<String>, MappingProblem);

fn read_one(item: &Json) -> Result<UserMapping, ItemError> {
    let fields = json_fields::object(
        item,
        "a mapping {direction, target, source_type, source, apply, default}",
    )
    .map_err(|problem| (None, problem.into()))?;
    let target_name = json_fields::required_text(fields, "target").map_err(|p| (None, p.into()))?;
    let named = |problem: MappingProblem| (Some(target_name.to_string()), problem);
    read_fields(fields, target_name).map_err(named)
}

fn read_fields(
    fields: &Map<String, Json>,
    target_name: &str,
) -> Result<UserMapping, MappingProblem> {
    let direction = match json_fields::choice(fields, "direction", &["import", "export"], None)? {
        "import" => Direction::Import,
        _ => Direction::Export,
    };
    let target = super::validate::target(direction, target_name)?;
    let source_type = json_fields::choice(
        fields,
        "source_type",
        &["attribute", "constant", "expression"],
        None,
    )?;
    let source_text = json_fields::required_text(fields, "source")?;
    let source = super::validate::source(direction, &target, source_type, source_text)?;
    let apply =
        match json_fields::choice(fields, "apply", &["always", "create_only"], Some("always"))? {
            "create_only" => Apply::CreateOnly,
            _ => Apply::Always,
        };
    let default = json_fields::optional_text(fields, "default")?.map(str::to_string);
    if let Some(default) = &default {
        super::validate::default_value(&target, default)?;
    }
    Ok(UserMapping {
        number: None,
        direction,
        target,
        source,
        apply,
        default,
    })
}
