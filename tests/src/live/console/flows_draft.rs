//! What the "what flows" page edits (DESIGN 2.13): the tenant's mappings,
//! scoping filters and deprovisioning choices as rows of a form, read from
//! the config item or from the posted form, turned into the config's JSON
//! and compiled with the engine's own code before anything is written.

use entra_sync::mapping::{ScopeFilters, UserMappings};
use serde_json::{Map, Value as Json, json};

use super::{Fields, field};

/// A deprovisioning (or guest) choice: its config attribute, what the
/// admin reads, and its values, the default first.
pub(super) struct Choice {
    pub attribute: &'static str,
    pub label: &'static str,
    pub values: &'static [&'static str],
}

pub(super) const CHOICES: &[Choice] = &[
    Choice {
        attribute: "guest_users",
        label: "Guest users (B2B) of the organisation",
        values: &["exclude", "include"],
    },
    Choice {
        attribute: "import_user_soft_delete_action",
        label: "A user deleted in Entra ID (restorable for 30 days)",
        values: &["disable", "delete", "keep"],
    },
    Choice {
        attribute: "import_user_purge_action",
        label: "A user permanently deleted in Entra ID",
        values: &["delete", "disable", "keep"],
    },
    Choice {
        attribute: "import_user_out_of_scope_action",
        label: "A user who leaves the scope",
        values: &["disable", "delete", "keep"],
    },
    Choice {
        attribute: "import_group_delete_action",
        label: "A group deleted in Entra ID or leaving the scope",
        values: &["delete", "keep"],
    },
    Choice {
        attribute: "export_user_delete_action",
        label: "A platform user deleted: its Entra ID user",
        values: &["delete", "disable", "keep"],
    },
    Choice {
        attribute: "export_group_delete_action",
        label: "A platform group deleted: its Entra ID group",
        values: &["delete", "keep"],
    },
    Choice {
        attribute: "reactivate_on_restore",
        label: "A user Entra ID restores is enabled again",
        values: &["true", "false"],
    },
];

/// The 11 operators of DESIGN 2.13.
pub(super) const OPERATORS: &[&str] = &[
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

/// Rows a posted form may hold: more than the engine allows, so that its
/// own limit is what the admin reads.
const MAX_ROWS: usize = 200;

/// One row of `user_mappings`, as typed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MappingRow {
    pub direction: String,
    pub target: String,
    pub source_type: String,
    pub source: String,
    pub apply: String,
    pub default: String,
}

/// One clause of `user_scope_filters`, with the name of its filter: the
/// clauses of one name are one filter (AND), the filters are ORed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ClauseRow {
    pub filter: String,
    pub attribute: String,
    pub operator: String,
    pub value: String,
}

/// The page's state: saved (read from the config) or as posted.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FlowsDraft {
    pub mappings: Vec<MappingRow>,
    pub clauses: Vec<ClauseRow>,
    /// One value per [`CHOICES`], in its order.
    pub choices: Vec<String>,
}

/// Why the draft cannot be saved or previewed, per part of the page.
#[derive(Debug, Default)]
pub(super) struct FlowsErrors {
    pub mappings: Option<String>,
    pub filters: Option<String>,
    pub choices: Option<String>,
}

impl FlowsErrors {
    pub fn any(&self) -> bool {
        self.mappings.is_some() || self.filters.is_some() || self.choices.is_some()
    }
}

impl MappingRow {
    pub fn blank() -> Self {
        Self {
            direction: "import".into(),
            target: String::new(),
            source_type: "attribute".into(),
            source: String::new(),
            apply: "always".into(),
            default: String::new(),
        }
    }

    fn is_blank(&self) -> bool {
        self.target.trim().is_empty() && self.source.trim().is_empty()
    }

    fn to_json(&self) -> Json {
        let mut mapping = json!({
            "direction": self.direction,
            "target": self.target.trim(),
            "source_type": self.source_type,
            "source": self.source,
            "apply": self.apply,
        });
        if !self.default.is_empty() {
            mapping["default"] = Json::String(self.default.clone());
        }
        mapping
    }
}

impl ClauseRow {
    pub fn blank() -> Self {
        Self {
            filter: String::new(),
            attribute: String::new(),
            operator: "equals".into(),
            value: String::new(),
        }
    }

    fn is_blank(&self) -> bool {
        self.attribute.trim().is_empty() && self.value.trim().is_empty()
    }

    /// `in` takes a list (typed comma-separated); the operators without a
    /// value get none.
    fn to_json(&self) -> Json {
        let mut clause = json!({"attribute": self.attribute.trim(), "operator": self.operator});
        if self.operator == "in" {
            let values: Vec<&str> = self
                .value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect();
            clause["value"] = json!(values);
        } else if !self.value.is_empty() {
            clause["value"] = Json::String(self.value.clone());
        }
        clause
    }
}

impl FlowsDraft {
    /// What the config item holds now.
    pub fn from_config(config: &Map<String, Json>) -> Self {
        let objects = |name: &str| -> Vec<Map<String, Json>> {
            config
                .get(name)
                .and_then(Json::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.as_object().cloned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mappings = objects("user_mappings")
            .iter()
            .map(|m| MappingRow {
                direction: field(m, "direction"),
                target: field(m, "target"),
                source_type: field(m, "source_type"),
                source: field(m, "source"),
                apply: or_default(field(m, "apply"), "always"),
                default: field(m, "default"),
            })
            .collect();
        let clauses = objects("user_scope_filters")
            .iter()
            .flat_map(|filter| {
                let name = field(filter, "name");
                let clauses = filter.get("clauses").and_then(Json::as_array);
                clauses
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_object)
                    .map(move |c| clause_from_config(&name, c))
                    .collect::<Vec<_>>()
            })
            .collect();
        let choices = CHOICES
            .iter()
            .map(|c| or_default(field(config, c.attribute), c.values[0]))
            .collect();
        Self {
            mappings,
            clauses,
            choices,
        }
    }

    /// What the admin posted: the rows not marked "remove", blank rows left out.
    pub fn from_form(form: &Fields) -> Self {
        let text = |name: String| form.get(&name).cloned().unwrap_or_default();
        let mappings = posted_rows(form, "mappings", "m")
            .map(|p| MappingRow {
                direction: text(format!("{p}.direction")),
                target: text(format!("{p}.target")),
                source_type: text(format!("{p}.source_type")),
                source: text(format!("{p}.source")),
                apply: text(format!("{p}.apply")),
                default: text(format!("{p}.default")),
            })
            .filter(|row| !row.is_blank())
            .collect();
        let clauses = posted_rows(form, "clauses", "c")
            .map(|p| ClauseRow {
                filter: text(format!("{p}.filter")).trim().to_owned(),
                attribute: text(format!("{p}.attribute")),
                operator: text(format!("{p}.operator")),
                value: text(format!("{p}.value")),
            })
            .filter(|row| !row.is_blank())
            .collect();
        let choices = CHOICES
            .iter()
            .map(|c| text(c.attribute.to_owned()))
            .collect();
        Self {
            mappings,
            clauses,
            choices,
        }
    }

    /// `user_mappings` as the config holds it.
    pub fn mappings_json(&self) -> Json {
        Json::Array(self.mappings.iter().map(MappingRow::to_json).collect())
    }

    /// `user_scope_filters`: the clauses grouped by filter name, in the
    /// order each name first appears.
    pub fn filters_json(&self) -> Json {
        let mut filters: Vec<(String, Vec<Json>)> = Vec::new();
        for clause in &self.clauses {
            match filters.iter_mut().find(|(name, _)| *name == clause.filter) {
                Some((_, clauses)) => clauses.push(clause.to_json()),
                None => filters.push((clause.filter.clone(), vec![clause.to_json()])),
            }
        }
        Json::Array(
            filters
                .into_iter()
                .map(|(name, clauses)| json!({"name": name, "clauses": clauses}))
                .collect(),
        )
    }

    /// Each choice as its config attribute and value
    /// (`reactivate_on_restore` is a BOOL).
    pub fn choices_json(&self) -> Vec<(&'static str, Json)> {
        CHOICES
            .iter()
            .zip(&self.choices)
            .map(|(choice, value)| {
                let value = match choice.attribute {
                    "reactivate_on_restore" => Json::Bool(value == "true"),
                    _ => Json::String(value.clone()),
                };
                (choice.attribute, value)
            })
            .collect()
    }

    /// Every 2.13 attribute of the draft: what `preview_draft` holds.
    pub fn preview_draft(&self) -> Map<String, Json> {
        let mut draft = Map::new();
        draft.insert("user_mappings".into(), self.mappings_json());
        draft.insert("user_scope_filters".into(), self.filters_json());
        for (attribute, value) in self.choices_json() {
            draft.insert(attribute.into(), value);
        }
        draft
    }

    /// Compiled as each run compiles them: the engine's error, if any.
    pub fn compile(&self) -> FlowsErrors {
        let mappings = UserMappings::from_config(Some(&self.mappings_json()))
            .err()
            .map(|e| e.to_string());
        let filters = ScopeFilters::from_config(Some(&self.filters_json()))
            .err()
            .map(|e| e.to_string());
        let choices = CHOICES
            .iter()
            .zip(&self.choices)
            .find(|(c, value)| !c.values.contains(&value.as_str()))
            .map(|(c, _)| format!("{}: choose one of {}", c.attribute, c.values.join(", ")));
        FlowsErrors {
            mappings,
            filters,
            choices,
        }
    }
}

fn clause_from_config(filter: &str, clause: &Map<String, Json>) -> ClauseRow {
    let value = match clause.get("value") {
        Some(Json::Array(values)) => values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => field(clause, "value"),
    };
    ClauseRow {
        filter: filter.to_owned(),
        attribute: field(clause, "attribute"),
        operator: field(clause, "operator"),
        value,
    }
}

fn or_default(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_owned()
    } else {
        value
    }
}

/// The field prefixes (`m0`, `m1`, …) of the posted rows not marked
/// "remove"; `count` is the form's hidden row count.
fn posted_rows<'a>(
    form: &'a Fields,
    count: &str,
    prefix: &'a str,
) -> impl Iterator<Item = String> + 'a {
    let rows = form
        .get(count)
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_ROWS);
    (0..rows)
        .map(move |i| format!("{prefix}{i}"))
        .filter(|p| !form.contains_key(&format!("{p}.remove")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn given_clauses_of_two_names_when_posted_then_they_are_two_filters_and_in_takes_a_list() {
        let posted = form(&[
            ("clauses", "4"),
            ("c0.filter", "staff"),
            ("c0.attribute", "department"),
            ("c0.operator", "in"),
            ("c0.value", "Sales, Dept 1, "),
            ("c1.filter", "guests"),
            ("c1.attribute", "mail"),
            ("c1.operator", "is_present"),
            ("c2.filter", "staff"),
            ("c2.attribute", "accountEnabled"),
            ("c2.operator", "is_true"),
            ("c3.filter", "gone"),
            ("c3.attribute", "jobTitle"),
            ("c3.operator", "equals"),
            ("c3.remove", "on"),
        ]);
        let draft = FlowsDraft::from_form(&posted);
        assert_eq!(
            draft.filters_json(),
            json!([
                {"name": "staff", "clauses": [
                    {"attribute": "department", "operator": "in", "value": ["Sales", "Dept 1"]},
                    {"attribute": "accountEnabled", "operator": "is_true"}
                ]},
                {"name": "guests", "clauses": [{"attribute": "mail", "operator": "is_present"}]}
            ])
        );
        assert!(draft.compile().filters.is_none(), "{:?}", draft.compile());
    }

    #[test]
    fn given_saved_flows_when_read_back_from_their_json_then_the_rows_are_the_same() {
        let posted = form(&[
            ("mappings", "2"),
            ("m0.direction", "import"),
            ("m0.target", "attributes.office"),
            ("m0.source_type", "expression"),
            ("m0.source", "ToLower([officeLocation])"),
            ("m0.apply", "create_only"),
            ("m0.default", "hq"),
            ("m1.direction", "import"),
            ("m1.source_type", "attribute"),
            ("m1.apply", "always"),
            ("clauses", "1"),
            ("c0.filter", "sales"),
            ("c0.attribute", "department"),
            ("c0.operator", "in"),
            ("c0.value", "Sales, Marketing"),
            ("guest_users", "include"),
            ("reactivate_on_restore", "false"),
        ]);
        let draft = FlowsDraft::from_form(&posted);
        assert_eq!(draft.mappings.len(), 1, "the blank row is left out");
        let config: Map<String, Json> = draft.preview_draft();
        let read_back = FlowsDraft::from_config(&config);
        assert_eq!(read_back.mappings, draft.mappings);
        assert_eq!(read_back.clauses, draft.clauses);
        assert_eq!(read_back.choices[0], "include");
        assert_eq!(read_back.choices[7], "false");
        assert_eq!(config["reactivate_on_restore"], Json::Bool(false));
    }

    #[test]
    fn given_a_broken_expression_or_an_unknown_choice_when_compiled_then_each_error_is_named() {
        let mut draft = FlowsDraft::from_config(&Map::new());
        assert!(!draft.compile().any(), "the defaults compile");
        draft.mappings.push(MappingRow {
            target: "attributes.office".into(),
            source_type: "expression".into(),
            source: "Lower([department])".into(),
            ..MappingRow::blank()
        });
        draft.choices[1] = "purge".into();
        let errors = draft.compile();
        let mapping = errors.mappings.unwrap();
        assert!(
            mapping.contains("#1 (target `attributes.office`)"),
            "{mapping}"
        );
        assert!(mapping.contains("at character 1"), "{mapping}");
        assert_eq!(
            errors.choices.as_deref(),
            Some("import_user_soft_delete_action: choose one of disable, delete, keep")
        );
    }
}
