//! The tenant's history as the console reads it (DESIGN 2.14): its runs of
//! the last 30 days (`ENTRA#RUN#…`, newest first, a page at a time) and one
//! object's change events (`ENTRA#EVENT#…`, through `by-event-object`).

use aws_sdk_dynamodb::types::AttributeValue;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use entra_sync::events::ChangeEvent;
use entra_sync::model::TenantId;
use entra_sync::problems::ObjectKind;
use entra_sync::store::events::DynamoChangeEvents;
use serde_json::{Map, Value};

use super::super::TENANT;
use super::words::{
    action_words, change_sentence, counts_words, parse_time, result_words, trigger_words, when,
};
use super::{Console, Fields, esc, failed, field, page};
use crate::stack::LocalStack;

const RUN_PREFIX: &str = "ENTRA#RUN#";
/// Runs on one page of the history.
pub(super) const RUNS_PER_PAGE: i32 = 20;
/// Events shown on an object's page.
const EVENTS_SHOWN: i32 = 50;

/// One page of runs, and the sort key to continue after (older runs).
pub(super) struct RunPage {
    pub runs: Vec<Map<String, Value>>,
    pub older: Option<String>,
}

fn partition() -> AttributeValue {
    AttributeValue::S(format!("TENANT#{TENANT}"))
}

/// The runs started within 30 days, newest first, from after `before`
/// (a run's sort key) when given.
pub(super) async fn runs_page(
    stack: &LocalStack,
    before: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<RunPage> {
    let cutoff =
        (now - chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut request = stack
        .aws
        .dynamodb
        .query()
        .table_name(&stack.tables.integrations)
        .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
        .expression_attribute_values(":pk", partition())
        .expression_attribute_values(":from", AttributeValue::S(format!("{RUN_PREFIX}{cutoff}")))
        // Every `started_at` begins with a digit, below `~`.
        .expression_attribute_values(":to", AttributeValue::S(format!("{RUN_PREFIX}~")))
        .scan_index_forward(false)
        .limit(RUNS_PER_PAGE);
    if let Some(sk) = before.filter(|sk| sk.starts_with(RUN_PREFIX)) {
        request = request
            .exclusive_start_key("pk", partition())
            .exclusive_start_key("sk", AttributeValue::S(sk.to_owned()));
    }
    let output = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
    let older = output
        .last_evaluated_key
        .and_then(|key| key.get("sk").and_then(|sk| sk.as_s().ok()).cloned());
    let runs = output
        .items
        .unwrap_or_default()
        .into_iter()
        .map(serde_dynamo::from_item)
        .collect::<Result<_, _>>()?;
    Ok(RunPage { runs, older })
}

/// "Today 14:02 — scheduled sync — 3 users updated — ok".
pub(super) fn run_line(run: &Map<String, Value>, now: DateTime<Utc>) -> String {
    let started = parse_time(&field(run, "started_at"))
        .map(|at| when(at, now))
        .unwrap_or_else(|| "?".to_owned());
    let mut counts = counts_words(run);
    if field(run, "direction") == "export" && counts != "no changes" {
        // An admin's export of one object changed Entra ID, not AM.
        counts += " in Entra ID";
    }
    format!(
        "{started} — {} — {counts} — {}",
        trigger_words(&field(run, "trigger")),
        result_words(&field(run, "result"), &field(run, "error"))
    )
}

pub(super) fn runs_section(page: &RunPage, now: DateTime<Utc>) -> String {
    let items: String = page
        .runs
        .iter()
        .map(|run| format!("<li>{}</li>", esc(&run_line(run, now))))
        .collect();
    let list = if page.runs.is_empty() {
        r#"<p id="runs_none">No run in the last 30 days.</p>"#.to_owned()
    } else {
        format!(r#"<ol id="runs">{items}</ol>"#)
    };
    let older = page
        .older
        .as_deref()
        .map(|sk| {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("before", sk)
                .finish();
            format!(
                r#"<p><a id="older_runs" href="/runs?{}">Older runs</a></p>"#,
                esc(&query)
            )
        })
        .unwrap_or_default();
    format!(
        "<section><h2>Run history <small>(last 30 days, newest first, UTC)</small></h2>{list}{older}</section>"
    )
}

/// `/runs?before=<sort key>`: the older runs, a page at a time.
pub(super) async fn runs_page_handler(
    State(console): State<Console>,
    Query(query): Query<Fields>,
) -> Response {
    let now = Utc::now();
    let before = query.get("before").map(String::as_str);
    match runs_page(&console.stack, before, now).await {
        Ok(runs) => {
            let body = format!(
                r#"<h1>Run history</h1><p><a id="console_link" href="/">Back to the console</a></p>{}"#,
                runs_section(&runs, now)
            );
            page("Run history", &body).into_response()
        }
        Err(err) => failed(err),
    }
}

/// The newest events of the object known by any of `ids` (its AM id and
/// Entra id: each direction records the object by its own), each read
/// through the `by-event-object` index, merged newest first.
pub(super) async fn object_events(
    stack: &LocalStack,
    kind: ObjectKind,
    ids: &[String],
) -> anyhow::Result<Vec<Map<String, Value>>> {
    let store = DynamoChangeEvents::new(
        stack.aws.dynamodb.clone(),
        stack.tables.integrations.clone(),
    );
    let tenant = TenantId::parse(TENANT)?;
    let mut events = Vec::new();
    for id in ids {
        events.extend(store.of_object(&tenant, kind, id, EVENTS_SHOWN).await?);
    }
    events.sort_by_key(|e| std::cmp::Reverse(e.at));
    events.truncate(EVENTS_SHOWN as usize);
    Ok(events.iter().map(event_fields).collect())
}

/// The fields of an event a line tells, as its item holds them.
fn event_fields(event: &ChangeEvent) -> Map<String, Value> {
    let fields = serde_json::json!({
        "at": event.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "action": event.action.as_str(),
        "modified": event.modified,
        "cause": event.cause.to_json(),
    });
    fields.as_object().cloned().unwrap_or_default()
}

/// "Today 14:02 Job title changed from Engineer to Lead — scheduled sync".
pub(super) fn event_line(event: &Map<String, Value>, now: DateTime<Utc>) -> String {
    let at = parse_time(&field(event, "at"))
        .map(|at| when(at, now))
        .unwrap_or_else(|| "?".to_owned());
    let changes: Vec<String> = event
        .get("modified")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(change_sentence)
        .collect();
    let action = field(event, "action");
    let what = match (action.as_str(), changes.is_empty()) {
        ("update", false) => changes.join("; "),
        (_, true) => action_words(&action).to_owned(),
        (_, false) => format!("{}: {}", action_words(&action), changes.join("; ")),
    };
    let cause = event
        .get("cause")
        .and_then(Value::as_object)
        .map(|c| field(c, "trigger"))
        .unwrap_or_default();
    format!("{at} {what} — {}", trigger_words(&cause))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn given_a_run_item_then_its_line_names_when_why_what_and_how_it_ended() {
        let now = parse_time("2026-12-07T14:30:00Z").unwrap();
        let run = map(
            json!({"started_at": "2026-12-07T14:02:10.000Z", "trigger": "schedule",
            "users_updated": 3, "users_created": 0, "result": "ok"}),
        );
        assert_eq!(
            run_line(&run, now),
            "Today 14:02 — scheduled sync — 3 users updated — ok"
        );
        let failed = map(
            json!({"started_at": "2026-12-06T09:00:00Z", "trigger": "notification",
            "result": "error", "error": "Graph answered 503"}),
        );
        assert_eq!(
            run_line(&failed, now),
            "Yesterday 09:00 — change notification from Entra ID — no changes — failed: Graph answered 503"
        );
    }

    #[test]
    fn given_an_update_event_then_its_line_says_old_and_new_in_words() {
        let now = parse_time("2026-12-07T14:30:00Z").unwrap();
        let event = map(json!({"at": "2026-12-07T14:02:00.000Z", "action": "update",
            "modified": [{"attribute": "job_title", "old": "Engineer", "new": "Lead"}],
            "cause": {"trigger": "schedule", "run_id": "r1"}}));
        assert_eq!(
            event_line(&event, now),
            "Today 14:02 Job title changed from Engineer to Lead — scheduled sync"
        );
    }
}
