//! Rows 1 and 3: a first import of a large organisation, the idle poll
//! after it, and the same import bound by Graph's latency.

use std::time::{Duration, Instant};

use entra_sync_tests::aws_meter::{self, AwsMeter, Tallies};
use entra_sync_tests::emulator::Knobs;
use entra_sync_tests::organisation;
use entra_sync_tests::stack::{CONTOSO, CONTOSO_ADMIN, LocalStack};
use entra_sync_tests::sync::{StreamCursor, SyncFunctions};
use serde_json::{Value, json};

use crate::Sizes;

/// Graph's observed page sizes for directory delta.
const USERS_PER_PAGE: usize = 200;
const LINKS_PER_PAGE: usize = 500;
const TENANT: &str = "bench";

/// What the first import wrote, by kind, for the store ceiling to copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
}

pub struct FirstImport {
    pub figures: Value,
    pub ceiling_shape: Shape,
}

/// A stack whose functions reach moto through a counting proxy.
pub struct MeteredStack {
    pub stack: LocalStack,
    pub meter: AwsMeter,
}

impl MeteredStack {
    pub async fn start() -> anyhow::Result<Self> {
        // Every stack counts its functions' AWS requests.
        let stack = LocalStack::start().await?;
        let meter = stack.meter.clone();
        Ok(Self { stack, meter })
    }
}

/// One sync, as the platform would see it: a scheduler tick, then every
/// queued message (continuations included) until the queue is empty.
pub struct SyncFigures {
    pub wall: Duration,
    pub invocations: usize,
    pub graph_requests: usize,
    pub graph_by_path: Value,
    pub directory_writes: usize,
    pub aws: Tallies,
    pub status: Value,
}

pub async fn sync_once(
    metered: &MeteredStack,
    functions: &mut SyncFunctions,
) -> anyhow::Result<SyncFigures> {
    let stack = &metered.stack;
    let mut cursor = StreamCursor::start(stack).await?;
    let graph_before = stack.emulator.graph_requests().len();
    let aws_before = metered.meter.snapshot();
    let started = Instant::now();
    let mut report = stack.tick(functions).await?;
    let mut invocations = report.messages;
    while report.failed_message_ids.is_empty() {
        report = stack.deliver(&mut functions.worker).await?;
        if report.messages == 0 {
            break;
        }
        invocations += report.messages;
    }
    let wall = started.elapsed();
    anyhow::ensure!(
        report.failed_message_ids.is_empty(),
        "the worker failed: {report:?}"
    );
    let graph = stack.emulator.graph_requests();
    let requests = &graph[graph_before..];
    let mut by_path = serde_json::Map::new();
    for request in requests {
        let count = by_path.entry(request.path.clone()).or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + 1);
    }
    Ok(SyncFigures {
        wall,
        invocations,
        graph_requests: requests.len(),
        graph_by_path: Value::Object(by_path),
        directory_writes: cursor.read().await?.len(),
        aws: aws_meter::since(&aws_before, &metered.meter.snapshot()),
        status: Value::Object(stack.status_item(TENANT).await?),
    })
}

/// Requests by operation, and reads and writes per object.
pub fn dynamodb_figures(aws: &Tallies, objects: usize) -> Value {
    let reads = aws_meter::requests(aws, "", aws_meter::is_read);
    let writes = aws_meter::requests(aws, "", aws_meter::is_write);
    let per = |n: u64| {
        if objects == 0 {
            Value::Null
        } else {
            json!(n as f64 / objects as f64)
        }
    };
    let by_operation: serde_json::Map<String, Value> = aws
        .iter()
        .map(|(op, t)| {
            let mut name = if op.target.is_empty() {
                op.name.clone()
            } else {
                format!("{} ({})", op.name, op.target)
            };
            // A Query of an index is tallied apart from one of its table.
            if !op.index.is_empty() {
                name.push_str(&format!(" by {}", op.index));
            }
            (
                name,
                json!({"requests": t.requests, "items": t.items, "moto_seconds": t.busy.as_secs_f64()}),
            )
        })
        .collect();
    json!({
        "read_requests": reads,
        "write_requests": writes,
        "read_requests_per_object": per(reads),
        "write_requests_per_object": per(writes),
        "integrations_writes": aws_meter::requests(aws, "integrations", aws_meter::is_write),
        "by_operation": by_operation,
    })
}

/// The change events the tenant holds (`ENTRA#EVENT#…`), counted by a
/// query of its partition (a scan page could miss some).
pub async fn change_events(stack: &LocalStack, tenant: &str) -> anyhow::Result<u64> {
    use aws_sdk_dynamodb::types::{AttributeValue, Select};
    let mut count = 0;
    let mut start = None;
    loop {
        let page = stack
            .aws
            .dynamodb
            .query()
            .table_name(&stack.tables.integrations)
            .key_condition_expression("pk = :pk AND begins_with(sk, :events)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("TENANT#{tenant}")))
            .expression_attribute_values(":events", AttributeValue::S("ENTRA#EVENT#".into()))
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        count += page.count() as u64;
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(count);
        }
    }
}

/// The delta pages a sync read (Graph requests of a delta path).
fn delta_pages(sync: &SyncFigures) -> u64 {
    sync.graph_by_path
        .as_object()
        .map(|paths| {
            paths
                .iter()
                .filter(|(path, _)| path.contains("/delta"))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

fn memberships_in_emulator(stack: &LocalStack) -> usize {
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.groups
            .values()
            .map(|g| {
                g.members
                    .iter()
                    .filter(|m| t.users.contains_key(*m))
                    .count()
            })
            .sum()
    })
}

/// The fewest pages Graph can answer the organisation in.
fn minimum_pages(users: usize, groups: usize, links: usize) -> usize {
    users.div_ceil(USERS_PER_PAGE)
        + groups
            .div_ceil(USERS_PER_PAGE)
            .max(links.div_ceil(LINKS_PER_PAGE))
}

async fn seeded_stack(
    users: usize,
    groups: usize,
    members: usize,
    latency: Duration,
) -> anyhow::Result<(MeteredStack, SyncFunctions, usize)> {
    let mut metered = MeteredStack::start().await?;
    let stack = &mut metered.stack;
    organisation::seed_sized(&stack.emulator, CONTOSO, users, groups, members);
    stack.emulator.set_knobs(Knobs {
        page_size: Some(USERS_PER_PAGE),
        member_page_size: Some(LINKS_PER_PAGE),
        latency,
        ..Knobs::default()
    });
    // Every domain in scope: all users are imported.
    stack.connect(TENANT, CONTOSO_ADMIN, json!({})).await?;
    let functions = stack.start_sync_functions().await?;
    let memberships = memberships_in_emulator(stack);
    Ok((metered, functions, memberships))
}

fn sync_figures(sync: &SyncFigures, functions: &SyncFunctions, objects: usize) -> Value {
    json!({
        "wall_seconds": sync.wall.as_secs_f64(),
        "invocations": sync.invocations,
        "graph_requests": sync.graph_requests,
        "graph_requests_by_path": sync.graph_by_path,
        "directory_writes": sync.directory_writes,
        "dynamodb": dynamodb_figures(&sync.aws, objects),
        "worker_cpu_seconds": functions.worker.cpu_seconds(),
        "worker_peak_rss_mib": functions.worker.peak_memory_kib().map(|k| k as f64 / 1024.0),
        "result": sync.status["last_sync_result"],
        "mode": sync.status["last_sync_mode"],
        "counts": sync.status["last_sync_counts"],
    })
}

/// Row 1 (and row 4's idle poll).
pub async fn first_import_and_idle_poll(sizes: &Sizes) -> anyhow::Result<FirstImport> {
    let (metered, mut functions, memberships) =
        seeded_stack(sizes.users, sizes.groups, sizes.members, Duration::ZERO).await?;
    let users = sizes.users + 2; // and the two people every stack starts with
    let objects = users + sizes.groups + memberships;
    println!(
        "\nrow 1: first import of {users} users, {} groups, {memberships} memberships",
        sizes.groups
    );
    let first = sync_once(&metered, &mut functions).await?;
    let mut figures = sync_figures(&first, &functions, objects);
    figures["objects"] = json!(objects);
    figures["graph_minimum_pages"] = json!(minimum_pages(users, sizes.groups, memberships + 2));
    figures["directory_writes_minimum"] = json!(objects);
    figures["objects_per_second"] = json!(first.directory_writes as f64 / first.wall.as_secs_f64());
    let events = change_events(&metered.stack, TENANT).await?;
    let pages = delta_pages(&first);
    figures["change_events"] = json!({
        "written": events,
        "delta_pages": pages,
        "per_page": events as f64 / pages.max(1) as f64,
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);

    println!("\nrow 4: the idle poll after it");
    let idle = sync_once(&metered, &mut functions).await?;
    let mut idle_figures = sync_figures(&idle, &functions, 0);
    idle_figures["change_events_written"] =
        json!(change_events(&metered.stack, TENANT).await? - events);
    idle_figures["integrations_writes"] = idle_figures["dynamodb"]["integrations_writes"].clone();
    println!("{}", serde_json::to_string_pretty(&idle_figures)?);

    let resync_figures = resync_after_deletions(&metered, functions, users, objects).await?;
    Ok(FirstImport {
        figures: json!({"first": figures, "idle_poll": idle_figures, "resync": resync_figures}),
        ceiling_shape: Shape {
            users,
            groups: sizes.groups,
            memberships,
        },
    })
}

/// Row 1b: a resync of the imported tenant after ten of its users were
/// deleted in Entra (each deleted user costs a query of the `by-member`
/// index, which moto answers by reading the whole table: at 212,000 items
/// a hundred of them outlast the invocation), in a fresh worker process (its peak RSS is the
/// resync's alone): the full round's finish sweeps a bucket at a time.
async fn resync_after_deletions(
    metered: &MeteredStack,
    functions: SyncFunctions,
    users: usize,
    objects: usize,
) -> anyhow::Result<Value> {
    let stack = &metered.stack;
    let deleted = 10;
    println!("\nrow 1b: a resync after {deleted} users were deleted in Entra");
    stack.emulator.with_tenant(CONTOSO, |tenant| {
        for n in 0..deleted {
            tenant.purge_user(&organisation::user_id(n * 97 % (users - 2)));
        }
    });
    stack
        .update_config(
            TENANT,
            json!({"resync_requested_at": chrono::Utc::now().to_rfc3339()}),
        )
        .await?;
    drop(functions);
    let mut functions = stack.start_sync_functions().await?;
    let resync = sync_once(metered, &mut functions).await?;
    let mut figures = sync_figures(&resync, &functions, objects);
    figures["users_deleted_in_entra"] = json!(deleted);
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(figures)
}

/// Row 3: the same kind of import with 100 ms of latency on every Graph
/// response; wall time against pages × latency.
pub async fn graph_bound(sizes: &Sizes) -> anyhow::Result<Value> {
    let latency = Duration::from_millis(100);
    let (metered, mut functions, memberships) = seeded_stack(
        sizes.graph_bound_users,
        sizes.graph_bound_groups,
        sizes.members,
        latency,
    )
    .await?;
    let users = sizes.graph_bound_users + 2;
    println!(
        "\nrow 3: Graph-bound import of {users} users, {} groups, 100 ms per Graph response",
        sizes.graph_bound_groups
    );
    let sync = sync_once(&metered, &mut functions).await?;
    let pages = sync.graph_requests;
    let objects = users + sizes.graph_bound_groups + memberships;
    let mut figures = sync_figures(&sync, &functions, objects);
    figures["latency_ms"] = json!(latency.as_millis() as u64);
    figures["wall_over_pages_times_latency"] =
        json!(sync.wall.as_secs_f64() / (pages as f64 * latency.as_secs_f64()));
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(figures)
}
