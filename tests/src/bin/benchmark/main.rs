//! The benchmark: figures, no assertions. Release binaries through the
//! local Lambda Runtime API against moto and the Entra emulator, every AWS
//! request the functions make counted by a proxy (`aws_meter`).
//!
//! Rows (issue 9): 1 a first import and the idle poll after it; 2 the raw
//! store ceiling and the import efficiency; 3 a Graph-bound import; 4 a
//! scheduler tick over many tenants; 5 the export of mixed changes against
//! the emulator's own request ceiling; 6 each binary's size and cold start
//! (measured by `cold-start.py`, passed in with `--binaries`); 7 (issue 10)
//! Entra → AM latency with and without change notifications; 8 (issue 21)
//! token-endpoint requests per app-only tenant over an hour of polling; 9
//! (issue 22) the cost of 20 mappings and 3 scoping filters; 10 (issue 23)
//! `sync-object` latency and its sequential Graph requests.
//!
//! `benchmark [--quick] [--users N] [--groups N] [--rows 1,2,...] [--binaries FILE] [--out FILE]`

mod ceiling;
mod export;
mod import;
mod latency;
mod mapping;
mod on_demand;
mod report;
mod scheduler;
mod tokens;

use anyhow::Context;
use serde_json::{Value, json};

/// The sizes of one benchmark run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub users: usize,
    pub groups: usize,
    /// Users per group (but "All Staff", which holds every tenth user).
    pub members: usize,
    pub graph_bound_users: usize,
    pub graph_bound_groups: usize,
    pub export_changes: usize,
    pub tenants: usize,
    pub ceiling_items: usize,
    /// Changes timed from Entra to AM (row 7).
    pub latency_changes: usize,
}

impl Sizes {
    /// 30,000 users by default, about ten minutes in all; the issue's
    /// 100,000 users and 2,000 groups with `--users 100000 --groups 2000`.
    fn full() -> Self {
        Self {
            users: 30_000,
            groups: 600,
            members: 50,
            graph_bound_users: 10_000,
            graph_bound_groups: 200,
            export_changes: 10_000,
            tenants: 1_000,
            ceiling_items: 20_000,
            latency_changes: 100,
        }
    }

    fn quick() -> Self {
        Self {
            users: 5_000,
            groups: 100,
            members: 50,
            graph_bound_users: 1_000,
            graph_bound_groups: 20,
            export_changes: 1_000,
            tenants: 1_000,
            ceiling_items: 5_000,
            latency_changes: 50,
        }
    }
}

struct Args {
    sizes: Sizes,
    quick: bool,
    binaries: Option<String>,
    out: Option<String>,
    /// Rows to run (`--rows 4,5`); all when empty.
    rows: Vec<u8>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        sizes: Sizes::full(),
        quick: false,
        binaries: None,
        out: None,
        rows: Vec::new(),
    };
    let mut users = None;
    let mut groups = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => parsed.quick = true,
            "--users" => users = Some(value()?.parse()?),
            "--groups" => groups = Some(value()?.parse()?),
            "--binaries" => parsed.binaries = Some(value()?),
            "--out" => parsed.out = Some(value()?),
            "--rows" => {
                parsed.rows = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            other => anyhow::bail!(
                "unknown argument {other}: benchmark [--quick] [--users N] [--groups N] [--rows 1,2,...] [--binaries FILE] [--out FILE]"
            ),
        }
    }
    if parsed.quick {
        parsed.sizes = Sizes::quick();
    }
    parsed.sizes.users = users.unwrap_or(parsed.sizes.users);
    parsed.sizes.groups = groups.unwrap_or(parsed.sizes.groups);
    Ok(parsed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let sizes = args.sizes;
    println!("Sizes: {sizes:?}");
    let mut results = json!({
        "measured_at": chrono::Utc::now().to_rfc3339(),
        "quick": args.quick,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "machine": report::machine(),
        "sizes": format!("{sizes:?}"),
    });
    let wanted = |row: u8| args.rows.is_empty() || args.rows.contains(&row);
    if wanted(1) || wanted(2) {
        let first = import::first_import_and_idle_poll(&sizes).await?;
        results["first_import"] = first.figures;
        if wanted(2) {
            results["store_ceiling"] = ceiling::store_ceiling(&sizes, &first.ceiling_shape).await?;
            report::efficiency(&mut results);
        }
    }
    if wanted(3) {
        results["graph_bound_import"] = import::graph_bound(&sizes).await?;
    }
    if wanted(4) {
        results["scheduler_tick"] = scheduler::tick_over_tenants(sizes.tenants).await?;
    }
    if wanted(5) {
        results["export"] = export::mixed_changes(sizes.export_changes).await?;
    }
    if wanted(7) {
        results["latency"] = latency::entra_to_am(sizes.latency_changes).await?;
    }
    if wanted(8) {
        results["app_tokens"] = tokens::requests_per_hour_of_polling().await?;
    }
    if wanted(9) {
        let users = sizes.graph_bound_users;
        let repeats = if args.quick { 1 } else { 3 };
        results["mapping_cost"] =
            mapping::mapping_cost(users, sizes.graph_bound_groups, sizes.members, repeats).await?;
    }
    if wanted(10) {
        results["sync_object"] = on_demand::sync_object_latency().await?;
    }
    results["binaries"] = match &args.binaries {
        Some(path) => serde_json::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        )?,
        None => Value::Null,
    };
    println!("\n{}", report::markdown(&results));
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&results)?)?;
        println!("figures written to {out}");
    }
    Ok(())
}
