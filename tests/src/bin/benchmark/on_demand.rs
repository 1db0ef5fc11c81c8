//! Row 10 (issue 23, "Measured"): `sync-object` latency, p50 and p95 over
//! 50 real on-demand imports of users (not dry runs), each an API Gateway
//! payload 2.0 event through the binary, against the emulator answering
//! every Graph request after 100 ms; and the Graph requests one call makes
//! one after another (the emulator's request log, `$batch` items aside).
//!
//! The limit of 5 calls per 10 s per tenant: 10 AM tenants connected to
//! the one Entra organisation, 5 users each, the calls taken in turn, so
//! none waits for the limit and none is refused.

use std::time::{Duration, Instant};

use entra_sync::identity::REQUIRED_APP_ROLES;
use entra_sync_tests::emulator::Knobs;
use entra_sync_tests::events::{HttpResponse, http_api_request};
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation::{self, user_upn};
use entra_sync_tests::stack::{CONTOSO, LocalStack};
use serde_json::{Value, json};

const CALLS: usize = 50;
const TENANTS: usize = 10;
const GRAPH_LATENCY: Duration = Duration::from_millis(100);
const ROUTE: &str = "POST /tenants/{tenant_id}/entra/sync-object";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn tenant(n: usize) -> String {
    format!("ondemand{n:02}")
}

/// One real import of `upn` for `tenant`: its answer.
async fn sync_user(
    function: &mut LambdaFunction,
    tenant: &str,
    upn: &str,
) -> anyhow::Result<Value> {
    let body = json!({"direction": "import", "object_kind": "user", "object": upn}).to_string();
    let path = format!("/tenants/{tenant}/entra/sync-object");
    let mut request = http_api_request("POST", ROUTE, &path, "");
    request["body"] = Value::String(body.clone());
    request["headers"]["content-type"] = "application/json".into();
    request["headers"]["content-length"] = body.len().to_string().into();
    let answer = function
        .invoke(request)
        .await?
        .map_err(|e| anyhow::anyhow!("sync-object failed: {e:?}"))?;
    let answer = HttpResponse::from_lambda(&answer)?;
    anyhow::ensure!(answer.status == 200, "sync-object answered {answer:?}");
    Ok(answer.json())
}

/// Graph requests that went over HTTP so far.
fn graph_requests(stack: &LocalStack) -> usize {
    stack
        .emulator
        .graph_requests()
        .iter()
        .filter(|r| r.is_http_request())
        .count()
}

pub async fn sync_object_latency() -> anyhow::Result<Value> {
    println!(
        "\nrow 10: sync-object latency over {CALLS} real imports, {GRAPH_LATENCY:?} per Graph request"
    );
    let stack = LocalStack::start().await?;
    // Every third user is of the managed domain; every user is in scope.
    organisation::seed(&stack.emulator, CONTOSO, CALLS, 1);
    stack.emulator.consent_app(CONTOSO, REQUIRED_APP_ROLES);
    for n in 0..TENANTS {
        let config = json!({
            "auth_mode": "application", "authorisation": "authorised",
            "authorised_at": "2026-12-07T06:00:00Z", "sync_enabled": true,
            "import_users": true, "import_groups": true,
        });
        stack
            .put_config_with(&tenant(n), Some(CONTOSO), config)
            .await?;
    }
    let mut function = LambdaFunction::start("sync-object", &stack.function_env()).await?;
    stack.emulator.set_knobs(Knobs {
        latency: GRAPH_LATENCY,
        ..Default::default()
    });
    let mut seconds = Vec::with_capacity(CALLS);
    let mut requests = Vec::with_capacity(CALLS);
    for n in 0..CALLS {
        let before = graph_requests(&stack);
        let started = Instant::now();
        let answer = sync_user(&mut function, &tenant(n % TENANTS), &user_upn(n)).await?;
        seconds.push(started.elapsed().as_secs_f64());
        requests.push(graph_requests(&stack) - before);
        anyhow::ensure!(answer["result"] == "create", "user {n}: {answer}");
    }
    seconds.sort_by(f64::total_cmp);
    requests.sort_unstable();
    let figures = json!({
        "calls": CALLS,
        "graph_latency_ms": GRAPH_LATENCY.as_millis(),
        "p50_seconds": percentile(&seconds, 50.0),
        "p95_seconds": percentile(&seconds, 95.0),
        "max_seconds": seconds.last(),
        "graph_requests_per_call_p50": requests[CALLS / 2],
        "graph_requests_per_call_max": requests.last(),
        "rate_limit": format!("{TENANTS} AM tenants on one Entra organisation, the calls in turn: 5 per tenant, none refused"),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(figures)
}
