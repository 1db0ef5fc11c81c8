//! The import benchmark: prints figures, asserts nothing. A first import of
//! a large organisation and an idle poll, through the real scheduler and
//! worker binaries, moto and the Entra emulator:
//! wall time, Graph requests, directory writes (counted on the table's
//! stream) and the worker's peak memory.
//!
//! `tests/scripts/benchmark.sh [users] [groups]` (defaults 10000 and 300).

use std::time::Instant;

use anyhow::Context;
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
