//! The figures as JSON (kept under `bench/results/`) and as the Markdown
//! table the README's Performance section holds.

use serde_json::{Value, json};

pub fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    json!({"cpus": cpus, "cpu_model": model})
}

/// Import efficiency: objects imported a second over the ceiling.
pub fn efficiency(results: &mut Value) {
    let imported = results["first_import"]["first"]["objects_per_second"].as_f64();
    let ceiling = results["store_ceiling"]["items_per_second"].as_f64();
    if let (Some(imported), Some(ceiling)) = (imported, ceiling) {
        results["import_efficiency"] = json!(imported / ceiling);
    }
}

fn num(value: &Value, digits: usize) -> String {
    match value.as_f64() {
        Some(n) if value.is_f64() => format!("{n:.digits$}"),
        Some(n) => format!("{n}"),
        None => "–".to_owned(),
    }
}

fn row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

/// Row 1b: the resync after deletions, when it ran.
fn resync_row(resync: &Value) -> String {
    if !resync.is_object() {
        return String::new();
    }
    row(&[
        "1b".into(),
        format!(
            "resync after {} users were deleted in Entra",
            resync["users_deleted_in_entra"]
        ),
        format!(
            "{} s wall; {} directory writes; counts {}; DynamoDB {} reads, {} writes; worker CPU {} s, peak RSS {} MiB (a fresh process); {} invocations",
            num(&resync["wall_seconds"], 1),
            resync["directory_writes"],
            resync["counts"],
            resync["dynamodb"]["read_requests"],
            resync["dynamodb"]["write_requests"],
            num(&resync["worker_cpu_seconds"], 1),
            num(&resync["worker_peak_rss_mib"], 1),
            resync["invocations"],
        ),
    ])
}

pub fn markdown(r: &Value) -> String {
    let mut out = String::from("| # | run | figures |\n|---|---|---|\n");
    out += &first_import_row(&r["first_import"]["first"]);
    out += &resync_row(&r["first_import"]["resync"]);
    out += &store_ceiling_row(r);
    out += &graph_bound_row(&r["graph_bound_import"]);
    out += &idle_row(&r["first_import"]["idle_poll"], &r["scheduler_tick"]);
    out += &export_row(&r["export"]);
    if let Some(binaries) = r["binaries"].as_array() {
        out += &binaries_row(binaries);
    }
    let latency = &r["latency"];
    if latency.is_object() {
        out += &latency_row(latency);
    }
    if r["app_tokens"].is_object() {
        out += &app_tokens_row(&r["app_tokens"]);
    }
    if r["mapping_cost"].is_object() {
        out += &mapping_cost_row(&r["mapping_cost"]);
    }
    if r["sync_object"].is_object() {
        out += &sync_object_row(&r["sync_object"]);
    }
    out
}

fn mapping_cost_row(cost: &Value) -> String {
    let median = |kind: &str| num(&cost[kind]["worker_cpu_ms_per_user_median"], 3);
    row(&[
        "9".into(),
        format!(
            "first import of {} users: built-in mapping vs 20 mappings and 3 scoping filters ({} of each, medians)",
            cost["users"], cost["repeats"]
        ),
        format!(
            "worker CPU {} vs {} ms per user: {}×; idle poll after the mapped import: {} directory writes",
            median("built_in"),
            median("mapped"),
            num(&cost["cpu_ratio_mapped_over_built_in"], 2),
            cost["mapped"]["last"]["idle_poll_directory_writes"],
        ),
    ])
}

fn sync_object_row(latency: &Value) -> String {
    row(&[
        "10".into(),
        format!(
            "sync-object, {} real imports at {} ms per Graph request",
            latency["calls"], latency["graph_latency_ms"]
        ),
        format!(
            "p50 {} s, p95 {} s, max {} s; {} Graph requests per call in sequence (max {})",
            num(&latency["p50_seconds"], 2),
            num(&latency["p95_seconds"], 2),
            num(&latency["max_seconds"], 2),
            latency["graph_requests_per_call_p50"],
            latency["graph_requests_per_call_max"],
        ),
    ])
}

fn app_tokens_row(tokens: &Value) -> String {
    row(&[
        "8".into(),
        format!(
            "token-endpoint requests, app-only tenants, an hour of {}-minute polls in one warm worker",
            tokens["poll_interval_seconds"].as_u64().unwrap_or(0) / 60
        ),
        format!(
            "{} client-credentials requests per tenant per hour ({} tenants, {} polls; {}-minute tokens renewed 5 minutes before expiry; the hour compressed {}-fold, {} s wall, {} polls late); {} refresh-token requests",
            tokens["token_requests_per_tenant_per_hour"],
            tokens["tenants"],
            tokens["polls"],
            tokens["token_lifetime_minutes"],
            tokens["compression"],
            num(&tokens["wall_seconds"], 1),
            tokens["late_polls"],
            tokens["refresh_token_requests"],
        ),
    ])
}

fn first_import_row(first: &Value) -> String {
    row(&[
        "1".into(),
        format!("first import, {} objects", first["objects"]),
        format!(
            "{} s wall; {} objects/s; Graph {} requests (minimum {}); directory writes {} (minimum {}); DynamoDB {} reads ({} per object), {} writes ({} per object); worker CPU {} s, peak RSS {} MiB; {} invocations",
            num(&first["wall_seconds"], 1),
            num(&first["objects_per_second"], 0),
            first["graph_requests"],
            first["graph_minimum_pages"],
            first["directory_writes"],
            first["directory_writes_minimum"],
            first["dynamodb"]["read_requests"],
            num(&first["dynamodb"]["read_requests_per_object"], 3),
            first["dynamodb"]["write_requests"],
            num(&first["dynamodb"]["write_requests_per_object"], 3),
            num(&first["worker_cpu_seconds"], 1),
            num(&first["worker_peak_rss_mib"], 1),
            first["invocations"],
        ),
    ])
}

fn store_ceiling_row(r: &Value) -> String {
    row(&[
        "2".into(),
        "raw store ceiling".into(),
        format!(
            "{} items/s ({} items, 4 BatchWriteItem in flight); import efficiency {}",
            num(&r["store_ceiling"]["items_per_second"], 0),
            r["store_ceiling"]["items"],
            num(&r["import_efficiency"], 2),
        ),
    ])
}

fn graph_bound_row(bound: &Value) -> String {
    row(&[
        "3".into(),
        format!("Graph-bound import, {} ms a response", bound["latency_ms"]),
        format!(
            "{} s wall for {} pages: wall ÷ (pages × latency) = {}",
            num(&bound["wall_seconds"], 1),
            bound["graph_requests"],
            num(&bound["wall_over_pages_times_latency"], 2),
        ),
    ])
}

fn idle_row(idle: &Value, tick: &Value) -> String {
    row(&[
        "4".into(),
        "idle poll; scheduler tick".into(),
        format!(
            "poll: {} Graph requests, {} directory writes, {} integrations writes, {} s; tick over {} tenants: {} s, {} SQS requests (minimum {})",
            idle["graph_requests"],
            idle["directory_writes"],
            idle["dynamodb"]["integrations_writes"],
            num(&idle["wall_seconds"], 2),
            tick["tenants"],
            num(&tick["wall_seconds"], 2),
            tick["sqs_requests"],
            tick["sqs_requests_minimum"],
        ),
    ])
}

fn export_row(export: &Value) -> String {
    row(&[
        "5".into(),
        format!("export of {} mixed changes", export["changes"]),
        format!(
            "{} changes/s; {} Graph operations and {} HTTP requests per change; emulator ceiling {} requests/s (1 client), {} (4 clients); ratio {}",
            num(&export["changes_per_second"], 0),
            num(&export["graph_operations_per_change"], 2),
            num(&export["graph_requests_per_change"], 2),
            num(&export["emulator_requests_per_second_1_client"], 0),
            num(&export["emulator_requests_per_second_4_clients"], 0),
            num(&export["changes_per_second_over_emulator_ceiling"], 2),
        ),
    ])
}

fn binaries_row(binaries: &[Value]) -> String {
    let cells: Vec<String> = binaries
        .iter()
        .map(|b| {
            format!(
                "{} {} MB, {} ms",
                b["binary"].as_str().unwrap_or(""),
                num(&b["size_mb"], 1),
                num(&b["cold_start_ms"], 1)
            )
        })
        .collect();
    row(&[
        "6".into(),
        "binaries: size, cold start".into(),
        cells.join("; "),
    ])
}

fn latency_row(latency: &Value) -> String {
    let cell = |key: &str| {
        format!(
            "p50 {} s, p95 {} s",
            num(&latency[key]["p50_seconds"], 2),
            num(&latency[key]["p95_seconds"], 2)
        )
    };
    row(&[
        "7".into(),
        format!(
            "Entra → AM latency, {} changes",
            latency["notified_at_once"]["changes"]
        ),
        format!(
            "notified at once: {}; notified after 1 s: {}; poll only: {} (a delta run of {} s after the 3-minute tick)",
            cell("notified_at_once"),
            cell("notified_after_1s"),
            cell("poll_only"),
            num(&latency["poll_only"]["delta_run_seconds_p50"], 2)
        ),
    ])
}
