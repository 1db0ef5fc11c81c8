//! Row 9 (issue 22): what the tenant's mappings and scoping filters cost.
//! First imports of the same organisation in one run, with the built-in
//! mapping and with 20 mappings (half expressions) and 3 scoping filters
//! that keep everyone, alternating three times each (once with `--quick`):
//! the worker's CPU per object (median), and the idle poll after each
//! import (its directory writes).

use std::time::Duration;

use entra_sync_tests::emulator::Knobs;
use entra_sync_tests::organisation::{self, user_id};
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN};
use serde_json::{Value, json};

use crate::import::{MeteredStack, sync_once};

// The tenant `sync_once` reads the status of.
const TENANT: &str = "bench";

/// Ten attribute mappings and ten expressions, over properties every
/// seeded user has.
fn twenty_mappings() -> Value {
    let mut mappings = Vec::new();
    let attributes = [
        "employeeId",
        "employeeType",
        "companyName",
        "officeLocation",
        "city",
        "country",
        "state",
        "postalCode",
        "streetAddress",
        "usageLocation",
    ];
    for (n, source) in attributes.iter().enumerate() {
        mappings.push(
            json!({"direction": "import", "target": format!("attributes.a{n}"),
                             "source_type": "attribute", "source": source}),
        );
    }
    let expressions = [
        "Join(\" \", [givenName], [surname])",
        "ToUpper([employeeType])",
        "ToLower([companyName])",
        "Left([employeeId], 3)",
        "Coalesce([officeLocation], [city], \"remote\")",
        "Replace([streetAddress], \"Street\", \"St\")",
        "IIF(IsPresent([country]), [country], \"none\")",
        "Switch([employeeType], \"other\", \"Employee\", \"staff\", \"Contractor\", \"vendor\")",
        "Trim(Append([state], \" \"))",
        "Mid([postalCode], 1, 2)",
    ];
    for (n, expression) in expressions.iter().enumerate() {
        mappings.push(
            json!({"direction": "import", "target": format!("attributes.e{n}"),
                             "source_type": "expression", "source": expression}),
        );
    }
    Value::Array(mappings)
}

fn three_filters() -> Value {
    json!([
        {"name": "staff", "clauses": [
            {"attribute": "employeeType", "operator": "in", "value": ["Employee", "Contractor"]},
            {"attribute": "accountEnabled", "operator": "is_true", "value": ""}]},
        {"name": "cities", "clauses": [
            {"attribute": "city", "operator": "matches", "value": "^(Leeds|York)$"}]},
        {"name": "ids", "clauses": [
            {"attribute": "employeeId", "operator": "starts_with", "value": "E"}]},
    ])
}

async fn seeded(
    users: usize,
    groups: usize,
    members: usize,
    config: Value,
) -> anyhow::Result<(MeteredStack, entra_sync_tests::sync::SyncFunctions)> {
    let mut metered = MeteredStack::start().await?;
    let stack = &mut metered.stack;
    organisation::seed_sized(&stack.emulator, CONTOSO, users, groups, members);
    stack.emulator.with_tenant(CONTOSO, |t| {
        for n in 0..users {
            t.update_user(&user_id(n), |user| {
                for (name, value) in [
                    ("employeeId", json!(format!("E{n:06}"))),
                    (
                        "employeeType",
                        json!(if n % 4 == 0 { "Contractor" } else { "Employee" }),
                    ),
                    ("companyName", json!("Contoso")),
                    ("officeLocation", json!(format!("Floor {}", n % 9))),
                    ("city", json!(if n % 2 == 0 { "Leeds" } else { "York" })),
                    ("country", json!("GB")),
                    ("state", json!("Yorkshire")),
                    ("postalCode", json!("LS1 4AP")),
                    ("streetAddress", json!("1 Park Street")),
                    ("usageLocation", json!("GB")),
                ] {
                    user.set_property(name, value);
                }
            });
        }
    });
    stack.emulator.set_knobs(Knobs {
        page_size: Some(500),
        member_page_size: Some(1_000),
        latency: Duration::ZERO,
        ..Knobs::default()
    });
    stack.connect(TENANT, CONTOSO_ADMIN, config).await?;
    let functions = stack.start_sync_functions().await?;
    Ok((metered, functions))
}

/// One first import and the idle poll after it, under `config`.
async fn one_import(
    (users, groups, members): (usize, usize, usize),
    config: Value,
) -> anyhow::Result<Value> {
    let (metered, mut functions) = seeded(users, groups, members, config).await?;
    let first = sync_once(&metered, &mut functions).await?;
    let cpu = functions.worker.cpu_seconds();
    let idle = sync_once(&metered, &mut functions).await?;
    Ok(json!({
        "result": first.status["last_sync_result"],
        "users_created": first.status["last_sync_counts"]["users_created"],
        "wall_seconds": first.wall.as_secs_f64(),
        "worker_cpu_seconds": cpu,
        "worker_cpu_ms_per_user": cpu.map(|s| s * 1_000.0 / users as f64),
        "directory_writes": first.directory_writes,
        "idle_poll_directory_writes": idle.directory_writes,
        "idle_poll_graph_requests": idle.graph_requests,
    }))
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Row 9: `repeats` imports of each kind, alternating, so that what else
/// the machine does weighs on both alike; the ratio is of the medians.
pub async fn mapping_cost(
    users: usize,
    groups: usize,
    members: usize,
    repeats: usize,
) -> anyhow::Result<Value> {
    println!(
        "\nrow 9: first import of {users} users, built-in mapping vs 20 mappings and 3 filters, {repeats} of each"
    );
    let mut figures = json!({"users": users, "repeats": repeats});
    let kinds = [
        ("built_in", json!({})),
        (
            "mapped",
            json!({"user_mappings": twenty_mappings(), "user_scope_filters": three_filters()}),
        ),
    ];
    let mut runs: Vec<Vec<Value>> = vec![Vec::new(), Vec::new()];
    for _ in 0..repeats {
        for (kind, (_, config)) in kinds.iter().enumerate() {
            runs[kind].push(one_import((users, groups, members), config.clone()).await?);
        }
    }
    let mut medians = Vec::new();
    for ((name, _), runs) in kinds.iter().zip(runs) {
        let per_user: Vec<f64> = runs
            .iter()
            .filter_map(|run| run["worker_cpu_ms_per_user"].as_f64())
            .collect();
        let median_ms = median(per_user.clone());
        medians.push(median_ms);
        figures[*name] = json!({
            "worker_cpu_ms_per_user_median": median_ms,
            "worker_cpu_ms_per_user_each": per_user,
            "last": runs.last(),
        });
    }
    if let [Some(built_in), Some(mapped)] = medians[..] {
        figures["cpu_ratio_mapped_over_built_in"] = json!(mapped / built_in);
    }
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(figures)
}
