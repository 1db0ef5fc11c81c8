//! The import benchmark: prints figures, asserts nothing. A first import of
//! a large organisation and an idle poll, through the real scheduler and
//! worker binaries, moto and the Entra emulator:
//! wall time, Graph requests, directory writes (counted on the table's
//! stream) and the worker's peak memory.
//!
//! Then the export: the platform creates users and edits imported ones, and
//! the real export-stream binary, fed from the table's stream, pushes them:
//! records per second and Graph requests per change.
//!
//! `tests/scripts/benchmark.sh [users] [groups]` (defaults 10000 and 300).

use std::time::Instant;

use anyhow::Context;
use entra_sync_tests::aws_meter::AwsMeter;
use entra_sync_tests::emulator::Knobs;
use entra_sync_tests::organisation;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use entra_sync_tests::sync::StreamCursor;
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let groups: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(300);
    let mut stack = LocalStack::start()
        .await
        .context("starting the local stack (is moto running?)")?;
    let meter = AwsMeter::start(
        &stack.aws.endpoint,
        vec![
            (stack.tables.directory.clone(), "directory".to_owned()),
            (stack.tables.integrations.clone(), "integrations".to_owned()),
        ],
    )
    .await?;
    stack.route_functions_through(&meter.endpoint);
    organisation::seed(&stack.emulator, CONTOSO, users, groups);
    // Graph's observed page sizes for directory delta: 200 objects, 500 links.
    stack.emulator.set_knobs(Knobs {
        page_size: Some(200),
        member_page_size: Some(500),
        ..Knobs::default()
    });
    // Every domain in scope: all users are imported.
    stack.connect("bench", CONTOSO_ADMIN, json!({})).await?;
    let mut functions = stack.start_sync_functions().await?;
    let memberships: usize = stack.emulator.with_tenant(CONTOSO, |t| {
        t.groups
            .values()
            .map(|g| {
                g.members
                    .iter()
                    .filter(|m| t.users.contains_key(*m))
                    .count()
            })
            .sum()
    });
    println!(
        "Organisation: {users} users (+2 seeded), {groups} groups, {memberships} user memberships"
    );

    for label in ["first import (full)", "idle poll (delta)"] {
        let mut cursor = StreamCursor::start(&stack).await?;
        let graph_before = stack.emulator.graph_requests().len();
        let aws_before = meter.snapshot();
        let started = Instant::now();
        let report = stack.tick(&mut functions).await?;
        let elapsed = started.elapsed();
        anyhow::ensure!(
            report.failed_message_ids.is_empty(),
            "the worker failed: {report:?}"
        );
        let writes = cursor.read().await?.len();
        let graph = stack.emulator.graph_requests();
        let requests = &graph[graph_before..];
        let status = stack.status_item("bench").await?;
        println!("\n{label}");
        println!(
            "  wall time (scheduler tick to last message handled): {:.2} s",
            elapsed.as_secs_f64()
        );
        println!(
            "  Graph requests: {} (users/delta {}, groups/delta {}, other {})",
            requests.len(),
            requests
                .iter()
                .filter(|r| r.path == "/v1.0/users/delta")
                .count(),
            requests
                .iter()
                .filter(|r| r.path == "/v1.0/groups/delta")
                .count(),
            requests
                .iter()
                .filter(|r| !r.path.ends_with("/delta"))
                .count()
        );
        println!("  directory writes (stream records): {writes}");
        print!(
            "  AWS requests by operation:\n{}",
            entra_sync_tests::aws_meter::render(&entra_sync_tests::aws_meter::since(
                &aws_before,
                &meter.snapshot()
            ))
        );
        println!(
            "  result: {} ({}), counts: {}",
            status["last_sync_result"], status["last_sync_mode"], status["last_sync_counts"]
        );
        if let Some(kib) = functions.worker.peak_memory_kib() {
            println!(
                "  sync-worker peak memory (VmHWM): {:.1} MiB",
                kib as f64 / 1024.0
            );
        }
    }
    export_figures(&stack, 200).await?;
    println!(
        "\nBuild profile: {}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    Ok(())
}

/// The export of `n` platform-created users and `n` one-attribute edits.
async fn export_figures(stack: &LocalStack, n: usize) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    stack
        .update_config("bench", json!({"export_users": true}))
        .await?;
    let mut exporter = entra_sync_tests::lambda_runtime_api::LambdaFunction::start(
        "export-stream",
        &stack.function_env(),
    )
    .await?;
    let mut cursor = StreamCursor::start(stack).await?;
    let pk = AttributeValue::S("TENANT#bench".into());
    let creates: Vec<WriteRequest> = (0..n)
        .map(|i| {
            let item = std::collections::HashMap::from([
                ("pk".to_owned(), pk.clone()),
                ("sk".to_owned(), AttributeValue::S(format!("USER#am-{i}"))),
                ("user_id".to_owned(), AttributeValue::S(format!("am-{i}"))),
                (
                    "user_name".to_owned(),
                    AttributeValue::S(format!("platform.user{i}@contoso.com")),
                ),
                (
                    "display_name".to_owned(),
                    AttributeValue::S(format!("Platform User {i}")),
                ),
                ("enabled".to_owned(), AttributeValue::Bool(true)),
                ("source".to_owned(), AttributeValue::S("local".into())),
            ]);
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("item"),
                )
                .build()
        })
        .collect();
    for chunk in creates.chunks(25) {
        stack
            .aws
            .dynamodb
            .batch_write_item()
            .request_items(&stack.tables.directory, chunk.to_vec())
            .send()
            .await?;
    }
    for i in 0..n {
        stack
            .aws
            .dynamodb
            .update_item()
            .table_name(&stack.tables.directory)
            .key("pk", pk.clone())
            .key(
                "sk",
                AttributeValue::S(format!("USER#{}", organisation::user_id(i))),
            )
            .update_expression("SET job_title = :t")
            .expression_attribute_values(":t", AttributeValue::S(format!("Edited {i}")))
            .send()
            .await?;
    }
    let before = stack.emulator.requests().len();
    let started = Instant::now();
    let report = entra_sync_tests::export::export_pending(&mut cursor, &mut exporter, 5).await?;
    let elapsed = started.elapsed();
    let requests: Vec<_> = stack.emulator.requests()[before..]
        .iter()
        .filter(|r| r.path.starts_with("/v1.0/"))
        .cloned()
        .collect();
    let writes = requests.iter().filter(|r| r.is_graph_write()).count();
    let changes = 2 * n;
    println!("\nexport of {n} platform-created users and {n} one-attribute edits");
    println!(
        "  stream records delivered: {} in {} invocations, {:.2} s",
        report.records,
        report.invocations,
        elapsed.as_secs_f64()
    );
    println!(
        "  records exported per second: {:.0}",
        changes as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  Graph requests: {} ({writes} writes) = {:.2} per change",
        requests.len(),
        requests.len() as f64 / changes as f64
    );
    // The export's own write-backs come back on the stream: no Graph writes.
    let before = stack.emulator.requests().len();
    let echo = entra_sync_tests::export::export_pending(&mut cursor, &mut exporter, 5).await?;
    let echoed = stack.emulator.requests()[before..]
        .iter()
        .filter(|r| r.is_graph_write())
        .count();
    println!(
        "  write-backs re-read from the stream: {} records, {echoed} Graph writes",
        echo.records
    );
    Ok(())
}
