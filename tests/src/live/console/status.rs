//! The status as an admin reads it (DESIGN 2.14): who authorised, when
//! the directory last synchronised and what it changed, the failures in a
//! row, a first import's progress, real-time changes, and each open
//! problem with what to do about it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::words::{ago, counts_words, date, direction_words, number, parse_time, problem_action};
use super::{esc, field};

/// The phases of a round, in order, as the progress bar counts them.
const PHASES: &[(&str, &str)] = &[
    ("users", "Reading users from Entra ID"),
    ("groups", "Reading groups and their members"),
    ("finishing", "Applying scope changes and deletions"),
];

pub(super) fn status_section(
    status: &Map<String, Value>,
    config: &Map<String, Value>,
    now: DateTime<Utc>,
) -> String {
    let mut lines = vec![
        line("authorised_line", &authorised_words(config)),
        line("last_sync", &last_sync_words(status, now)),
    ];
    if let Some(failures) = failure_words(status) {
        lines.push(format!(
            r#"<p class="error" id="failures">{}</p>"#,
            esc(&failures)
        ));
    }
    if field(status, "last_sync_result") == "held" {
        lines.push(line(
            "held",
            "Deletions were held back: more would be deleted than the safety threshold allows. Check them in the preview, then press \"Approve held deletions\".",
        ));
    }
    lines.push(running_html(status, sync_on(config)));
    lines.push(line("realtime_line", &realtime_words(status, now)));
    format!("<section><h2>Status</h2>{}</section>", lines.concat())
}

fn line(id: &str, text: &str) -> String {
    format!(r#"<p id="{id}">{}</p>"#, esc(text))
}

/// "Authorised by admin@contoso.com on 7 Dec 2026".
fn authorised_words(config: &Map<String, Value>) -> String {
    let by = field(config, "authorised_by");
    let on = parse_time(&field(config, "authorised_at")).map(date);
    match (field(config, "authorisation").as_str(), on) {
        ("authorised", Some(on)) if !by.is_empty() => format!("Authorised by {by} on {on}"),
        ("authorised", Some(on)) => format!("Authorised on {on}"),
        ("authorised", None) => "Authorised".to_owned(),
        ("reauthorisation_required", _) => {
            "Authorisation required again: press Authorise".to_owned()
        }
        _ => "Not authorised yet: press Authorise".to_owned(),
    }
}

/// "Last synchronised 2 minutes ago — 3 users updated".
fn last_sync_words(status: &Map<String, Value>, now: DateTime<Utc>) -> String {
    let Some(at) = parse_time(&field(status, "last_successful_sync_at")) else {
        return "Not synchronised yet".to_owned();
    };
    let counts = status
        .get("last_sync_counts")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    format!(
        "Last synchronised {} — {}",
        ago(at, now),
        counts_words(&counts)
    )
}

/// "The last 3 runs failed: <reason>", while runs keep failing.
fn failure_words(status: &Map<String, Value>) -> Option<String> {
    let failures = number(status.get("consecutive_failures"));
    let reason = field(status, "last_sync_error");
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    };
    match failures {
        ..=0 => None,
        1 => Some(format!("The last run failed{reason}")),
        n => Some(format!("The last {n} runs failed{reason}")),
    }
}

/// The tenant's "Directory Sync" toggle (`sync_enabled`, off when absent).
fn sync_on(config: &Map<String, Value>) -> bool {
    config.get("sync_enabled") == Some(&Value::Bool(true))
}

/// "No sync running", or a running round's progress bar: the phase it
/// reads, how many users and groups it has read, over how many pages. A
/// round left unfinished (its invocation stopped) while the sync was
/// switched off goes on only when it is switched on again: said so, not
/// "running" for ever.
fn running_html(status: &Map<String, Value>, sync_on: bool) -> String {
    if status.get("running") != Some(&Value::Bool(true)) {
        return line("running", "No sync running");
    }
    if !sync_on {
        return line(
            "running",
            "Sync is switched off; the unfinished sync goes on when it is switched on again",
        );
    }
    let Some(progress) = status.get("progress").and_then(Value::as_object) else {
        return line("running", "A sync is running");
    };
    let phase = field(progress, "phase");
    let step = PHASES.iter().position(|(p, _)| *p == phase).unwrap_or(0);
    let label = PHASES.get(step).map_or("Synchronising", |(_, label)| label);
    let text = format!(
        "A sync is running — {label}: {} users and {} groups read, page {} of this phase",
        number(progress.get("users_read")),
        number(progress.get("groups_read")),
        number(progress.get("pages")),
    );
    format!(
        r#"<p id="running">{text}</p><p><progress id="progress" max="{max}" value="{value}"></progress> step {value} of {max}</p>"#,
        text = esc(&text),
        max = PHASES.len(),
        value = step + 1,
    )
}

fn realtime_words(status: &Map<String, Value>, now: DateTime<Utc>) -> String {
    let last = parse_time(&field(status, "last_notification_at"))
        .map(|at| format!("; last change notification {}", ago(at, now)))
        .unwrap_or_default();
    match field(status, "realtime").as_str() {
        "active" => format!("Real-time changes from Entra ID: on{last}"),
        "error" => format!(
            "Real-time changes from Entra ID: failing ({}); changes arrive with the schedule{last}",
            field(status, "realtime_error")
        ),
        _ => {
            format!("Real-time changes from Entra ID: off; changes arrive with the schedule{last}")
        }
    }
}

/// Each open problem: the object, what went wrong, what to do.
pub(super) fn problems_section(problems: &[Map<String, Value>]) -> String {
    let rows: String = problems
        .iter()
        .map(|p| {
            let object = format!(
                "{} {} {}",
                field(p, "object_kind"),
                field(p, "display"),
                direction_words(&field(p, "direction"))
            );
            let attempts = number(p.get("attempts"));
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{attempts}</td></tr>",
                esc(&object),
                esc(&field(p, "reason")),
                esc(problem_action(&field(p, "code"))),
            )
        })
        .collect();
    let summary = match problems.len() {
        0 => "No open problems: every object synchronises.".to_owned(),
        1 => "1 object could not be synchronised:".to_owned(),
        n => format!("{n} objects could not be synchronised:"),
    };
    let table = if problems.is_empty() {
        String::new()
    } else {
        format!(
            r#"<table id="problems"><tr><th>object</th><th>what went wrong</th><th>what to do</th><th>attempts</th></tr>{rows}</table>"#
        )
    };
    format!(
        r#"<section><h2>Problems</h2><p id="problems_summary">{}</p>{table}</section>"#,
        esc(&summary)
    )
}

/// The preview (DESIGN 2.9): what a full sync would do now, and samples
/// of the objects it would change.
pub(super) fn preview_section(preview: &Map<String, Value>) -> String {
    let now = Utc::now();
    let requested = parse_time(&field(preview, "requested_at"))
        .map(|at| format!("Asked {}", ago(at, now)))
        .unwrap_or_else(|| "Asked".to_owned());
    let summary = match (
        field(preview, "result").as_str(),
        field(preview, "completed_at").is_empty(),
    ) {
        ("error", _) => format!(
            "{requested}; the preview failed: {}",
            field(preview, "error")
        ),
        (_, true) => format!("{requested}; the preview is being prepared"),
        (_, false) => {
            let counts = preview
                .get("counts")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            format!(
                "{requested}; a full sync now would do: {}",
                counts_words(&counts)
            )
        }
    };
    let hold = if preview.get("would_hold") == Some(&Value::Bool(true)) {
        r#"<p class="error" id="preview_hold">Deletion safety would hold its deletions back until an admin approves them.</p>"#
    } else {
        ""
    };
    let samples: String = preview
        .get("samples")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|s| {
            format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&sample_change_words(&field(s, "change"))),
                esc(&field(s, "display"))
            )
        })
        .collect();
    format!(
        r#"<section><h2>Preview</h2><p id="preview">{}</p>{hold}<table id="samples"><tr><th>change</th><th>object</th></tr>{samples}</table></section>"#,
        esc(&summary)
    )
}

/// A sample's `change` (`user_create`, …) in words.
fn sample_change_words(change: &str) -> String {
    let (kind, action) = change.split_once('_').unwrap_or((change, ""));
    let action = match action {
        "create" => "created",
        "update" => "updated",
        "delete" => "deleted",
        "add" => "added",
        "remove" => "removed",
        other => other,
    };
    let kind = if kind == "member" { "membership" } else { kind };
    format!("{kind} {action}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn given_a_failed_run_after_a_good_one_then_both_are_told() {
        let now = parse_time("2026-12-07T14:05:00Z").unwrap();
        let status = map(json!({
            "last_successful_sync_at": "2026-12-07T14:03:00Z",
            "last_sync_counts": {"users_updated": 3},
            "consecutive_failures": 3,
            "last_sync_error": "Graph answered 503",
            "running": false
        }));
        assert_eq!(
            last_sync_words(&status, now),
            "Last synchronised 2 minutes ago — 3 users updated"
        );
        assert_eq!(
            failure_words(&status).unwrap(),
            "The last 3 runs failed: Graph answered 503"
        );
        assert_eq!(
            running_html(&status, true),
            r#"<p id="running">No sync running</p>"#
        );
    }

    #[test]
    fn given_a_first_import_reading_groups_then_the_bar_is_at_its_second_step() {
        let status = map(json!({
            "running": true,
            "progress": {"phase": "groups", "users_read": 12000, "groups_read": 40, "pages": 2}
        }));
        let html = running_html(&status, true);
        assert!(
            html.contains(r#"<progress id="progress" max="3" value="2">"#),
            "{html}"
        );
        assert!(html.contains("12000 users and 40 groups read"), "{html}");
    }

    #[test]
    fn given_a_round_left_unfinished_and_the_sync_switched_off_then_it_is_not_called_running() {
        let status = map(json!({
            "running": true,
            "progress": {"phase": "users", "users_read": 500, "groups_read": 0, "pages": 1}
        }));
        let config = map(json!({"sync_enabled": false}));
        let html = running_html(&status, sync_on(&config));
        assert_eq!(
            html,
            r#"<p id="running">Sync is switched off; the unfinished sync goes on when it is switched on again</p>"#
        );
        assert!(!html.contains("progress"), "{html}");
        let on = map(json!({"sync_enabled": true}));
        assert!(running_html(&status, sync_on(&on)).contains("A sync is running"));
    }

    #[test]
    fn given_a_completed_preview_then_its_counts_and_samples_read_in_words() {
        let preview = map(json!({
            "requested_at": "2026-12-07T14:03:00Z", "completed_at": "2026-12-07T14:04:00Z",
            "result": "ok", "would_hold": true,
            "counts": {"users_created": 10, "members_removed": 1},
            "samples": [{"change": "member_remove", "display": "Sales / ada@contoso.com"}]
        }));
        let html = preview_section(&preview);
        assert!(
            html.contains("a full sync now would do: 10 users created, 1 membership removed</p>"),
            "{html}"
        );
        assert!(
            html.contains(r#"<p class="error" id="preview_hold">"#),
            "{html}"
        );
        assert!(
            html.contains("<td>membership removed</td><td>Sales / ada@contoso.com</td>"),
            "{html}"
        );
    }

    #[test]
    fn given_an_authorised_config_then_who_and_when_are_told() {
        let config = map(json!({
            "authorisation": "authorised",
            "authorised_by": "admin@contoso.com",
            "authorised_at": "2026-12-07T10:00:00Z"
        }));
        assert_eq!(
            authorised_words(&config),
            "Authorised by admin@contoso.com on 7 Dec 2026"
        );
    }
}
