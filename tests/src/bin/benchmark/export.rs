//! Row 5: the export of mixed platform changes (a quarter each: creates,
//! edits, deletions, membership additions), fed from the table's stream to
//! the real export-stream binary, against the emulator's own ceiling: the
//! Graph requests a second it answers to a plain client.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use entra_sync_tests::export::export_pending;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation::{self, group_id, user_id};
use entra_sync_tests::stack::{CONTOSO, LocalStack};
use entra_sync_tests::sync::StreamCursor;
use futures::stream::{self, StreamExt};
use serde_json::{Value, json};

use crate::import::{MeteredStack, sync_once};

const TENANT: &str = "bench";
const GROUPS: usize = 20;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn put(item: HashMap<String, AttributeValue>) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("item"),
        )
        .build()
}

/// The platform's side: `quarter` creates, edits, deletions and additions.
async fn platform_changes(stack: &LocalStack, quarter: usize) -> anyhow::Result<()> {
    let db = &stack.aws.dynamodb;
    let table = &stack.tables.directory;
    let pk = s(format!("TENANT#{TENANT}"));
    let mut puts: Vec<WriteRequest> = (0..quarter)
        .map(|i| {
            put(HashMap::from([
                ("pk".to_owned(), pk.clone()),
                ("sk".to_owned(), s(format!("USER#am-{i}"))),
                ("user_id".to_owned(), s(format!("am-{i}"))),
                (
                    "user_name".to_owned(),
                    s(format!("platform.user{i}@contoso.com")),
                ),
                ("display_name".to_owned(), s(format!("Platform User {i}"))),
                ("enabled".to_owned(), AttributeValue::Bool(true)),
                ("source".to_owned(), s("local")),
            ]))
        })
        .collect();
    // Additions of imported users to seeded groups that are empty (group 0,
    // "All Staff", already holds every tenth user).
    puts.extend((0..quarter).map(|i| {
        let (group, user) = (group_id(1 + i % (GROUPS - 1)), user_id(i));
        put(HashMap::from([
            ("pk".to_owned(), pk.clone()),
            ("sk".to_owned(), s(format!("MEMBER#{group}#{user}"))),
            ("group_id".to_owned(), s(group)),
            ("user_id".to_owned(), s(user)),
            ("source".to_owned(), s("local")),
        ]))
    }));
    for chunk in puts.chunks(25) {
        db.batch_write_item()
            .request_items(table, chunk.to_vec())
            .send()
            .await?;
    }
    for i in quarter..2 * quarter {
        db.update_item()
            .table_name(table)
            .key("pk", pk.clone())
            .key("sk", s(format!("USER#{}", user_id(i))))
            .update_expression("SET job_title = :t")
            .expression_attribute_values(":t", s(format!("Edited {i}")))
            .send()
            .await?;
    }
    for i in 2 * quarter..3 * quarter {
        db.delete_item()
            .table_name(table)
            .key("pk", pk.clone())
            .key("sk", s(format!("USER#{}", user_id(i))))
            .send()
            .await?;
    }
    Ok(())
}

/// Graph requests a second the emulator answers: PATCHes of one user from
/// `concurrency` clients for about two seconds.
async fn emulator_ceiling(stack: &LocalStack, concurrency: usize) -> anyhow::Result<f64> {
    let admin = stack
        .emulator
        .with_tenant(CONTOSO, |t| t.users.keys().next().cloned())
        .unwrap_or_default();
    let token = stack.emulator.grant_access_token(CONTOSO, &admin);
    let url = format!("{}/v1.0/users/{}", stack.emulator.base_url, user_id(0));
    let http = reqwest::Client::new();
    let started = Instant::now();
    let window = Duration::from_secs(2);
    let counts: Vec<usize> = stream::iter(0..concurrency)
        .map(|_| async {
            let mut n = 0;
            while started.elapsed() < window {
                let answer = http
                    .patch(&url)
                    .bearer_auth(&token)
                    .json(&json!({"jobTitle": "Ceiling"}))
                    .send()
                    .await;
                if answer.is_ok_and(|a| a.status().is_success()) {
                    n += 1;
                }
            }
            n
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    Ok(counts.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64())
}

/// The organisation of `users` people, imported once.
async fn exporting_stack(users: usize) -> anyhow::Result<MeteredStack> {
    let mut metered = MeteredStack::start().await?;
    organisation::seed_sized(&metered.stack.emulator, CONTOSO, users, GROUPS, 0);
    metered
        .stack
        .connect(TENANT, entra_sync_tests::stack::CONTOSO_ADMIN, json!({}))
        .await?;
    let mut functions = metered.stack.start_sync_functions().await?;
    sync_once(&metered, &mut functions).await?;
    Ok(metered)
}

pub async fn mixed_changes(changes: usize) -> anyhow::Result<Value> {
    let quarter = changes / 4;
    let metered = exporting_stack(3 * quarter).await?;
    let stack = &metered.stack;
    stack
        .update_config(TENANT, json!({"export_users": true, "export_groups": true}))
        .await?;
    println!("\nrow 5: export of {} mixed changes", 4 * quarter);
    let mut exporter = LambdaFunction::start("export-stream", &stack.function_env()).await?;
    let mut cursor = StreamCursor::start(stack).await?;
    platform_changes(stack, quarter).await?;
    let before = stack.emulator.requests().len();
    let events_before = crate::import::change_events(stack, TENANT).await?;
    let aws_before = metered.meter.snapshot();
    let started = Instant::now();
    let report = export_pending(&mut cursor, &mut exporter, 5).await?;
    let wall = started.elapsed().as_secs_f64();
    let graph: Vec<_> = stack.emulator.requests()[before..]
        .iter()
        .filter(|r| r.path.starts_with("/v1.0/"))
        .cloned()
        .collect();
    let aws = entra_sync_tests::aws_meter::since(&aws_before, &metered.meter.snapshot());
    let total = 4 * quarter;
    // HTTP requests (a `$batch` is one) and the operations they carried.
    let http = graph.iter().filter(|r| r.is_http_request()).count();
    let operations = graph.iter().filter(|r| !r.is_batch_envelope()).count();
    let writes = graph.iter().filter(|r| r.is_graph_write()).count();
    let ceiling_1 = emulator_ceiling(stack, 1).await?;
    let ceiling_4 = emulator_ceiling(stack, 4).await?;
    let per_second = total as f64 / wall;
    let events = crate::import::change_events(stack, TENANT).await? - events_before;
    let figures = json!({
        "changes": total,
        "stream_records": report.records,
        "invocations": report.invocations,
        "wall_seconds": wall,
        "changes_per_second": per_second,
        "graph_requests": http,
        "graph_requests_per_change": http as f64 / total as f64,
        "graph_operations": operations,
        "graph_operations_per_change": operations as f64 / total as f64,
        "graph_writes": writes,
        "emulator_requests_per_second_1_client": ceiling_1,
        "emulator_requests_per_second_4_clients": ceiling_4,
        "changes_per_second_over_emulator_ceiling": per_second / ceiling_1.max(ceiling_4),
        "dynamodb": crate::import::dynamodb_figures(&aws, total),
        "change_events_written": events,
        "change_events_per_change": events as f64 / total as f64,
        // Each change Entra ID took writes one event (a change with
        // nothing to export, none).
        "change_events_per_graph_write": events as f64 / writes.max(1) as f64,
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(figures)
}
