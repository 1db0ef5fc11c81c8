//! Row 7 (issue 10): Entra → AM latency, from a change in the emulator to
//! the AM item written. With notifications (the emulator delivering at once
//! and after a second): measured change by change. Poll only: the wait for
//! the next 3-minute tick (a change falls anywhere in the interval) plus
//! the delta run, which is measured.

use std::time::{Duration, Instant};

use entra_sync_tests::emulator::graph_subscriptions::NotificationKnobs;
use entra_sync_tests::organisation::{self, user_id};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use entra_sync_tests::sync::SyncFunctions;
use serde_json::{Value, json};

const TENANT: &str = "acme";
const SCHEDULE: Duration = Duration::from_secs(180);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut seconds: Vec<f64>) -> Value {
    seconds.sort_by(f64::total_cmp);
    json!({
        "changes": seconds.len(),
        "p50_seconds": percentile(&seconds, 50.0),
        "p95_seconds": percentile(&seconds, 95.0),
        "max_seconds": seconds.last(),
    })
}

async fn arrived(stack: &LocalStack, user: &str, title: &str) -> bool {
    stack
        .directory_of(TENANT, "USER#")
        .await
        .is_ok_and(|users| {
            users
                .iter()
                .any(|u| u["user_id"] == user && u["job_title"] == title)
        })
}

pub async fn entra_to_am(changes: usize) -> anyhow::Result<Value> {
    println!("\nrow 7: Entra → AM latency over {changes} changes");
    let mut stack = LocalStack::start().await?;
    // Every third user is of the managed domain, the one synced.
    organisation::seed(&stack.emulator, CONTOSO, changes * 3, 2);
    let users: Vec<String> = (0..changes * 3).step_by(3).map(user_id).collect();
    let (mut functions, _gateway) = stack.start_realtime_sync_functions().await?;
    stack
        .connect(
            TENANT,
            CONTOSO_ADMIN,
            json!({"domains": [organisation::MANAGED]}),
        )
        .await?;
    stack.tick(&mut functions).await?;

    let mut figures = json!({});
    for (label, delay) in [("notified_at_once", 0), ("notified_after_1s", 1_000)] {
        stack.emulator.set_notification_knobs(NotificationKnobs {
            delay: Duration::from_millis(delay),
            ..NotificationKnobs::default()
        });
        let seconds = notified_latencies(&stack, &mut functions, &users, label).await?;
        figures[label] = summary(seconds);
    }
    figures["poll_only"] = poll_only_latency(&stack, &mut functions, &users).await?;
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(figures)
}

/// Each user changed in turn, timed until the notified worker wrote it.
async fn notified_latencies(
    stack: &LocalStack,
    functions: &mut SyncFunctions,
    users: &[String],
    label: &str,
) -> anyhow::Result<Vec<f64>> {
    let mut seconds = Vec::with_capacity(users.len());
    for (n, user) in users.iter().enumerate() {
        let title = format!("{label} {n}");
        let changed = Instant::now();
        stack.emulator.with_tenant(CONTOSO, |t| {
            t.update_user(user, |u| u.job_title = Some(title.clone()))
        });
        stack
            .deliver_until(
                &mut functions.worker,
                Duration::from_secs(60),
                async |stack, _| arrived(stack, user, &title).await,
            )
            .await?;
        seconds.push(changed.elapsed().as_secs_f64());
    }
    Ok(seconds)
}

/// Poll only: a delta run after the change, plus the wait for the tick.
async fn poll_only_latency(
    stack: &LocalStack,
    functions: &mut SyncFunctions,
    users: &[String],
) -> anyhow::Result<Value> {
    stack.emulator.set_notification_knobs(NotificationKnobs {
        delivery: false,
        ..NotificationKnobs::default()
    });
    let mut runs = Vec::new();
    for (n, user) in users.iter().enumerate().take(10) {
        let title = format!("polled {n}");
        stack.emulator.with_tenant(CONTOSO, |t| {
            t.update_user(user, |u| u.job_title = Some(title.clone()))
        });
        let started = Instant::now();
        stack.tick(functions).await?;
        anyhow::ensure!(
            arrived(stack, user, &title).await,
            "the tick did not import {user}"
        );
        runs.push(started.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    let run = percentile(&runs, 50.0);
    let wait = SCHEDULE.as_secs_f64();
    Ok(json!({
        "delta_run_seconds_p50": run,
        "p50_seconds": wait * 0.50 + run,
        "p95_seconds": wait * 0.95 + run,
        "how": "a change waits for the next 3-minute tick (uniformly 0-180 s), then one delta run (measured)",
    }))
}
