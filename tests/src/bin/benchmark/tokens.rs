//! Row 8 (issue 21): what application-mode tokens cost. An hour of
//! 3-minute polls of app-only tenants in one warm sync-worker, compressed
//! `COMPRESSION`-fold: a poll every 3 s, and tokens that live as long
//! beside the 5-minute expiry margin as a 60-minute one does (a token
//! serves 55 of its 60 minutes, compressed to 55 s, plus the margin the
//! worker keeps in real seconds). The emulator counts the token requests.

use std::time::{Duration, Instant};

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync::tokens::EXPIRY_MARGIN;
use entra_sync_tests::emulator::Knobs;
use entra_sync_tests::organisation;
use entra_sync_tests::stack::{CONTOSO, FABRIKAM, LocalStack};
use serde_json::{Value, json};

/// How many times faster than real the hour runs.
const COMPRESSION: u32 = 60;
const POLL_INTERVAL: Duration = Duration::from_secs(180);
const POLLS_AN_HOUR: u32 = 20;
/// A poll that starts later than this after its time is counted late.
const LATE: Duration = Duration::from_millis(500);
/// The emulator's (and Microsoft's usual) token lifetime.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The compressed lifetime: the part of a token's life the worker uses,
/// compressed, plus the margin it keeps (not compressed).
fn compressed_token_lifetime() -> Duration {
    (TOKEN_LIFETIME - EXPIRY_MARGIN) / COMPRESSION + EXPIRY_MARGIN
}

/// Two app-only tenants, each on its own organisation.
const TENANTS: [(&str, &str); 2] = [("acme", CONTOSO), ("globex", FABRIKAM)];

async fn app_only_stack() -> anyhow::Result<LocalStack> {
    let stack = LocalStack::start().await?;
    for (tenant, entra) in TENANTS {
        organisation::seed(&stack.emulator, entra, 50, 3);
        stack.emulator.consent_app(entra, REQUIRED_APP_ROLES);
        stack
            .put_config_with(
                tenant,
                Some(entra),
                json!({"auth_mode": "application", "authorisation": "authorised",
                       "authorised_at": "2026-12-07T06:00:00Z", "domains": []}),
            )
            .await?;
    }
    Ok(stack)
}

pub async fn requests_per_hour_of_polling() -> anyhow::Result<Value> {
    println!("\nrow 8: token requests over an hour of 3-minute polls (app-only tenants)");
    let stack = app_only_stack().await?;
    let tenants = TENANTS;
    let lifetime = compressed_token_lifetime();
    stack.emulator.set_knobs(Knobs {
        access_token_ttl_secs: Some(lifetime.as_secs()),
        ..Knobs::default()
    });
    let mut sync = stack.start_sync_functions().await?;
    let interval = POLL_INTERVAL / COMPRESSION;
    let started = Instant::now();
    let mut late_polls = 0;
    for poll in 0..POLLS_AN_HOUR {
        let due = started + interval * poll;
        let now = Instant::now();
        if now < due {
            tokio::time::sleep(due - now).await;
        } else if now - due > LATE {
            // The poll before outlasted the interval: the hour stretches.
            late_polls += 1;
        }
        let report = stack.tick(&mut sync).await?;
        anyhow::ensure!(
            report.failed_message_ids.is_empty(),
            "poll {poll} failed: {report:?}"
        );
    }
    let per_tenant: Vec<usize> = tenants
        .iter()
        .map(|(_, entra)| stack.emulator.token_requests(entra, "client_credentials"))
        .collect();
    let figures = json!({
        "tenants": tenants.len(),
        "polls": POLLS_AN_HOUR,
        "poll_interval_seconds": POLL_INTERVAL.as_secs(),
        "compression": COMPRESSION,
        "compressed_token_lifetime_seconds": lifetime.as_secs(),
        "wall_seconds": started.elapsed().as_secs_f64(),
        "late_polls": late_polls,
        "token_requests_per_tenant": per_tenant,
        "token_requests_per_tenant_per_hour": per_tenant.iter().max(),
        "token_lifetime_minutes": TOKEN_LIFETIME.as_secs() / 60,
        "refresh_token_requests": tenants
            .iter()
            .map(|(_, entra)| stack.emulator.token_requests(entra, "refresh_token"))
            .sum::<usize>(),
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(figures)
}
