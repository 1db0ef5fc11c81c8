//! The seed's words for what the items hold: "Job title", not `job_title`;
//! "2 minutes ago", not a timestamp; "scheduled sync", not `schedule`.
//! Plain text only: the pages escape it where they render it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The eight counts of a run, each as the admin reads it, in this order.
const COUNTS: &[(&str, &str, &str)] = &[
    ("users_created", "user created", "users created"),
    ("users_updated", "user updated", "users updated"),
    ("users_deleted", "user deleted", "users deleted"),
    ("groups_created", "group created", "groups created"),
    ("groups_updated", "group updated", "groups updated"),
    ("groups_deleted", "group deleted", "groups deleted"),
    ("members_added", "membership added", "memberships added"),
    (
        "members_removed",
        "membership removed",
        "memberships removed",
    ),
];

/// An AM attribute's name (an import's event) or a Graph property's (an
/// export's: what was sent) as the admin reads it.
pub fn attribute_label(name: &str) -> String {
    let known = match name {
        "userPrincipalName" => "User name",
        "accountEnabled" => "Enabled",
        "mail" => "Email",
        "user_name" => "User name",
        "display_name" => "Display name",
        "given_name" => "First name",
        "surname" => "Last name",
        "email" => "Email",
        "mobile_phone" => "Mobile phone",
        "job_title" => "Job title",
        "department" => "Department",
        "enabled" => "Enabled",
        "manager_id" => "Manager",
        "password_mode" => "Password checked by",
        "sync_deprovisioned_reason" => "Deprovisioned because",
        "name" => "Name",
        "description" => "Description",
        "user" => "User",
        "group" => "Group",
        other => {
            if let Some(mapped) = other.strip_prefix("attributes.") {
                return format!("{mapped} (mapped attribute)");
            }
            let spaced = words_of(other);
            let mut chars = spaced.chars();
            return match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            };
        }
    };
    known.to_owned()
}

/// `snake_case` or `camelCase` as words: "employee number", "job title".
fn words_of(name: &str) -> String {
    let mut words = String::new();
    for c in name.chars() {
        match c {
            '_' => words.push(' '),
            c if c.is_ascii_uppercase() => {
                words.push(' ');
                words.push(c.to_ascii_lowercase());
            }
            c => words.push(c),
        }
    }
    words
}

/// A value of an attribute: text as it is, a flag as yes or no.
pub fn value_words(value: &Value) -> String {
    match value {
        Value::Null => "(empty)".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::String(text) if text.is_empty() => "(empty)".to_owned(),
        Value::String(text) => match text.as_str() {
            // `password_mode`'s values.
            "entra" => "Entra ID".to_owned(),
            "temporary" => "a temporary password".to_owned(),
            _ => text.clone(),
        },
        other => other.to_string(),
    }
}

/// "Job title changed from Engineer to Lead".
pub fn change_sentence(change: &Map<String, Value>) -> String {
    let attribute = change
        .get("attribute")
        .and_then(Value::as_str)
        .unwrap_or("");
    let old = change.get("old").unwrap_or(&Value::Null);
    let new = change.get("new").unwrap_or(&Value::Null);
    let label = attribute_label(attribute);
    match (old.is_null(), new.is_null()) {
        (true, _) => format!("{label} set to {}", value_words(new)),
        (false, true) => format!("{label} cleared (was {})", value_words(old)),
        (false, false) => format!(
            "{label} changed from {} to {}",
            value_words(old),
            value_words(new)
        ),
    }
}

/// "just now", "2 minutes ago", "3 hours ago", "4 days ago".
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds().max(0);
    let (amount, unit) = match seconds {
        0..60 => return "just now".to_owned(),
        60..3600 => (seconds / 60, "minute"),
        3600..86400 => (seconds / 3600, "hour"),
        _ => (seconds / 86400, "day"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    format!("{amount} {unit}{plural} ago")
}

/// "Today 14:02", "Yesterday 09:10", "3 Dec 14:02" (UTC).
pub fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let day = at.date_naive();
    let today = now.date_naive();
    let time = at.format("%H:%M");
    if day == today {
        format!("Today {time}")
    } else if today.pred_opt() == Some(day) {
        format!("Yesterday {time}")
    } else {
        format!("{} {time}", at.format("%-d %b"))
    }
}

/// "7 Dec 2026".
pub fn date(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y").to_string()
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A number an item holds (DynamoDB numbers arrive as JSON numbers).
pub fn number(value: Option<&Value>) -> i64 {
    value
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
        .unwrap_or(0)
}

/// "3 users updated, 1 group created", or "no changes". `counts` holds
/// the eight counts (a status's `last_sync_counts`, or a run item).
pub fn counts_words(counts: &Map<String, Value>) -> String {
    let parts: Vec<String> = COUNTS
        .iter()
        .filter_map(|(name, one, many)| match number(counts.get(*name)) {
            0 => None,
            1 => Some(format!("1 {one}")),
            n => Some(format!("{n} {many}")),
        })
        .collect();
    if parts.is_empty() {
        "no changes".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Why a run ran, or what caused an event.
pub fn trigger_words(trigger: &str) -> String {
    match trigger {
        "schedule" => "scheduled sync",
        "notification" => "change notification from Entra ID",
        "continuation" => "continued sync",
        "resync" => "full resynchronisation",
        "preview" => "preview",
        "on_demand" => "synchronised by an admin (one object)",
        "stream" => "platform change exported",
        "" => "unknown cause",
        other => other,
    }
    .to_owned()
}

/// A run's result: ok, failed with its reason, deletions held, running.
pub fn result_words(result: &str, error: &str) -> String {
    match result {
        "ok" => "ok".to_owned(),
        "error" if error.is_empty() => "failed".to_owned(),
        "error" => format!("failed: {error}"),
        "held" => "deletions held back: approve them or check the changes".to_owned(),
        "" => "still running".to_owned(),
        other => other.to_owned(),
    }
}

/// What an event did to its object, as a past-tense verb.
pub fn action_words(action: &str) -> &str {
    match action {
        "create" => "Created",
        "update" => "Updated",
        "delete" => "Deleted",
        "disable" => "Disabled",
        "enable" => "Enabled",
        "restore" => "Restored",
        "add_member" => "Member added",
        "remove_member" => "Member removed",
        other => other,
    }
}

/// A problem's direction.
pub fn direction_words(direction: &str) -> &str {
    match direction {
        "import" => "from Entra ID",
        "export" => "to Entra ID",
        other => other,
    }
}

/// What the admin does about a problem (docs/behaviour.md 2.8's table).
pub fn problem_action(code: &str) -> &'static str {
    match code {
        "unverified_domain" => {
            "Verify the domain in Entra ID, or change the user name; then press Resync."
        }
        "domain_not_in_scope" => {
            "Add the domain to Domains, or change the user name; then press Resync."
        }
        "graph_rejected" => {
            "Correct the value Entra ID refused; it is retried when the object changes."
        }
        "not_authorised" => "Authorise again: the change is sent at the first run after.",
        "dependency_missing" => "Nothing, usually: it is retried at every run.",
        "retries_exhausted" => "Nothing: it is retried at every run.",
        "user_name_conflict" => {
            "Rename one of the two users, or link the platform user to the Entra ID user."
        }
        "invalid_object" => "Correct the object in Entra ID (or the mapping named).",
        "entra_object_exists" => {
            "An Entra ID object already has this name: rename one, or link them."
        }
        "privileged_account" => {
            "Entra ID protects this privileged account: change it in Entra ID itself."
        }
        "source_of_authority" => "The user is managed on-premises: change these attributes there.",
        _ => "Read the reason; it is retried at the next run.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        parse_time(text).unwrap()
    }

    #[test]
    fn given_times_when_told_then_they_read_as_an_admin_says_them() {
        let now = at("2026-12-07T14:05:30Z");
        assert_eq!(ago(at("2026-12-07T14:05:00Z"), now), "just now");
        assert_eq!(ago(at("2026-12-07T14:03:10Z"), now), "2 minutes ago");
        assert_eq!(ago(at("2026-12-07T13:04:00Z"), now), "1 hour ago");
        assert_eq!(ago(at("2026-12-03T13:04:00Z"), now), "4 days ago");
        assert_eq!(when(at("2026-12-07T14:02:00Z"), now), "Today 14:02");
        assert_eq!(when(at("2026-12-06T09:10:00Z"), now), "Yesterday 09:10");
        assert_eq!(when(at("2026-12-03T14:02:00Z"), now), "3 Dec 14:02");
        assert_eq!(date(now), "7 Dec 2026");
    }

    #[test]
    fn given_counts_when_told_then_only_what_changed_is_named() {
        let counts = json!({"users_created": 0, "users_updated": 3, "groups_created": 1,
                            "members_added": 2});
        assert_eq!(
            counts_words(counts.as_object().unwrap()),
            "3 users updated, 1 group created, 2 memberships added"
        );
        assert_eq!(counts_words(&Map::new()), "no changes");
    }

    #[test]
    fn given_attribute_changes_when_told_then_no_raw_name_is_left() {
        let change = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            change_sentence(&change(
                json!({"attribute": "job_title", "old": "Engineer", "new": "Lead"})
            )),
            "Job title changed from Engineer to Lead"
        );
        assert_eq!(
            change_sentence(&change(
                json!({"attribute": "enabled", "old": true, "new": false})
            )),
            "Enabled changed from yes to no"
        );
        assert_eq!(
            change_sentence(&change(
                json!({"attribute": "attributes.team", "old": null, "new": "sales"})
            )),
            "team (mapped attribute) set to sales"
        );
        assert_eq!(attribute_label("employee_number"), "Employee number");
        // An export's event names the Graph properties it sent.
        assert_eq!(
            change_sentence(&change(
                json!({"attribute": "jobTitle", "old": "Engineer", "new": "Lead"})
            )),
            "Job title changed from Engineer to Lead"
        );
        assert_eq!(attribute_label("accountEnabled"), "Enabled");
        assert_eq!(attribute_label("employeeId"), "Employee id");
    }

    #[test]
    fn given_every_problem_code_of_the_contract_then_each_has_its_own_action() {
        let codes = [
            "unverified_domain",
            "domain_not_in_scope",
            "user_name_conflict",
            "not_authorised",
            "graph_rejected",
            "dependency_missing",
            "retries_exhausted",
            "invalid_object",
            "entra_object_exists",
            "privileged_account",
            "source_of_authority",
        ];
        let fallback = problem_action("something_new");
        let mut actions: Vec<&str> = codes.iter().map(|c| problem_action(c)).collect();
        assert!(actions.iter().all(|a| *a != fallback));
        actions.sort();
        actions.dedup();
        assert_eq!(actions.len(), codes.len());
    }
}
