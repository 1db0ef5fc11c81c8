//! The main job, locally (README's first command): a simulated Global
//! Administrator authorises the integration through the real
//! `oauth-callback` binary against the Entra emulator; then the real
//! `sync-scheduler` and `sync-worker` binaries import a simulated
//! organisation (a first full import, a few changes, a delta tick, an idle
//! tick); then platform-side changes go out through the real `export-stream`
//! binary fed from the directory stream, and the next import tick writes
//! nothing back; last, a change in Entra ID reaches AM through Graph change
//! notifications and the real `graph-notifications` binary, without a
//! scheduler tick. The directory and status are printed along the way.
//! Needs moto (run via tests/scripts/run-local.sh).

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync_tests::emulator::{Knobs, User};
use entra_sync_tests::export::export_pending;
use entra_sync_tests::lambda_runtime_api::LambdaFunction;
use entra_sync_tests::organisation::{self, group_id, user_id};
use entra_sync_tests::stack::{
    CONTOSO, CONTOSO_ADMIN, LocalStack, PORTAL_RETURN_URL, SESSION_BINDING,
};
use entra_sync_tests::sync::{StreamCursor, SyncFunctions};
use serde_json::Value;

const AM_TENANT: &str = "acme";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut stack = LocalStack::start()
        .await
        .context("starting the local stack (is moto running? use tests/scripts/run-local.sh)")?;
    println!("Local stack {}", stack.run_id);
    println!("  Entra ID emulator : {}", stack.emulator.base_url);
    println!("  moto (AWS)        : {}", stack.aws.endpoint);
    println!(
        "  tables            : {}, {}",
        stack.tables.integrations, stack.tables.directory
    );

    authorise(&mut stack).await?;

    print_integration(&stack).await?;
    import(&stack).await
}

/// Steps 1 to 6: the settings saved, the admin's consent and signed
/// sign-in through the real oauth-callback binary, the portal's confirm,
/// and a replayed callback refused.
async fn authorise(stack: &mut LocalStack) -> anyhow::Result<()> {
    println!("\n1. The platform saves the tenant's Entra ID settings (no Entra tenant id yet).");
    stack.put_config(AM_TENANT, None).await?;

    println!(
        "2. The admin clicks \"Authorise\": POST /tenants/{AM_TENANT}/entra/authorize with the portal session's binding"
    );
    let start = stack.authorize(AM_TENANT).await?;
    let body = start.json();
    let url = body["authorize_url"]
        .as_str()
        .context("no authorize_url")?
        .to_owned();
    println!("   -> {} {}...", start.status, &url[..url.len().min(90)]);
    println!(
        "      expires_at={}",
        body["expires_at"].as_str().unwrap_or("?")
    );

    println!("3. {CONTOSO_ADMIN} grants admin consent at Microsoft (the emulator), then signs in:");
    let (pending, last_query) = browser_legs(stack, url).await?;
    let query: std::collections::HashMap<String, String> =
        pending.query_pairs().into_owned().collect();
    anyhow::ensure!(
        query.get("status").map(String::as_str) == Some("pending"),
        "the sign-in was not proven: {query:?}"
    );
    println!(
        "   -> proven (id token signed by the tenant, nonce, Global Administrator): status=pending"
    );

    println!("4. The portal confirms with the same session binding: POST …/authorize/confirm");
    let confirmed = stack
        .confirm(AM_TENANT, &query["result"], SESSION_BINDING)
        .await?;
    println!("   -> {} {}", confirmed.status, confirmed.body);
    anyhow::ensure!(confirmed.status == 200, "the confirm failed");

    println!("5. The last callback replayed (a reused state) is refused:");
    let replay = stack.callback(&last_query).await?;
    println!("   -> {} {}", replay.status, replay.body);
    Ok(())
}

/// The admin's browser between Microsoft and the callback until the
/// callback sends it to the portal: that address and the last query.
async fn browser_legs(
    stack: &mut LocalStack,
    mut url: String,
) -> anyhow::Result<(url::Url, String)> {
    loop {
        let back = stack.emulator.browse(&url).await?.redirect();
        let last_query = url::Url::parse(&back)?.query().unwrap_or("").to_owned();
        let answer = stack.callback(&last_query).await?;
        let location = answer.location().context("the callback did not redirect")?;
        let leg = if last_query.contains("admin_consent") {
            "consent"
        } else {
            "sign-in"
        };
        let shown = &location.as_str()[..location.as_str().len().min(70)];
        println!(
            "   -> GET /entra/callback after the {leg}: {} to {shown}...",
            answer.status
        );
        if location.as_str().starts_with(PORTAL_RETURN_URL) {
            return Ok((location, last_query));
        }
        url = location.to_string();
    }
}

/// The config item, whether a tenant secret exists (none in application
/// mode), and the requests Entra ID saw.
async fn print_integration(stack: &LocalStack) -> anyhow::Result<()> {
    println!("\nIntegration status of tenant {AM_TENANT}:");
    let config = stack
        .config_item(AM_TENANT)
        .await?
        .context("config item is gone")?;
    for field in [
        "authorisation",
        "auth_mode",
        "authorised_at",
        "authorised_by",
        "entra_tenant_id",
        "granted_permissions",
        "sync_enabled",
    ] {
        println!("  {field:<20}: {}", show(config.get(field)));
    }
    let secret = stack.tenant_secret(AM_TENANT).await?;
    println!(
        "  per-tenant secret   : {}",
        match secret {
            None => "none (the app's own identity: client credentials)",
            Some(_) => "present (a delegated grant)",
        }
    );
    let requests = stack.emulator.requests();
    println!(
        "  Entra requests      : {}",
        requests
            .iter()
            .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(())
}

/// The import: a first full sync of a small organisation, a few changes in
/// Entra ID, then a delta tick and an idle one, through the real
/// sync-scheduler and sync-worker binaries.
async fn import(stack: &LocalStack) -> anyhow::Result<()> {
    organisation::seed(&stack.emulator, CONTOSO, 60, 5);
    stack.emulator.set_knobs(Knobs {
        page_size: Some(25),
        ..Knobs::default()
    });
    stack
        .update_config(
            AM_TENANT,
            serde_json::json!({"domains": ["contoso.com", "federated.contoso.com"]}),
        )
        .await?;
    // The worker keeps Graph subscriptions whose notifications reach
    // graph-notifications through a local API Gateway.
    let (mut functions, _gateway) = stack.start_realtime_sync_functions().await?;
    println!(
        "\n6. Contoso has 62 users over contoso.com (managed), federated.contoso.com (federated)"
    );
    println!(
        "   and contoso.onmicrosoft.com (not in the tenant's Domains), and 5 groups (two nested)."
    );
    println!("   The scheduler ticks; the worker runs a first, full import:");
    tick(stack, &mut functions).await?;

    println!(
        "\n7. In Entra ID: a rename, a disabled account, a deletion, a new hire, a membership change."
    );
    change_in_entra(stack);
    println!("   The next tick runs a delta sync:");
    tick(stack, &mut functions).await?;
    print_changed_users(stack).await?;

    println!("\n8. Nothing changes; the next tick is an idle poll:");
    tick(stack, &mut functions).await?;

    export(stack, &mut functions).await?;
    realtime(stack, &mut functions).await?;

    print_status(stack).await
}

/// Step 7: a rename, a disabled account, a deletion, a new hire, a membership change.
fn change_in_entra(stack: &LocalStack) {
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&user_id(0), |u| {
            u.display_name = Some("Ada Lovelace".into())
        });
        t.update_user(&user_id(3), |u| u.account_enabled = false);
        t.soft_delete_user(&user_id(4));
        t.upsert_user(User {
            id: user_id(500),
            user_principal_name: "grace.hopper@contoso.com".into(),
            display_name: Some("Grace Hopper".into()),
            account_enabled: true,
            ..User::default()
        });
        t.add_member(&group_id(0), &user_id(500));
    });
}

async fn print_changed_users(stack: &LocalStack) -> anyhow::Result<()> {
    let users = stack.directory_of(AM_TENANT, "USER#").await?;
    let shown = [user_id(0), user_id(3), user_id(500)];
    for item in users
        .iter()
        .filter(|u| shown.iter().any(|id| u["user_id"] == id.as_str()))
    {
        println!(
            "   {:<28} display_name={:<14} enabled={:<5} password_mode={}",
            show(item.get("user_name")),
            show(item.get("display_name")),
            show(item.get("enabled")),
            show(item.get("password_mode"))
        );
    }
    let gone = !users.iter().any(|u| u["user_id"] == user_id(4).as_str());
    println!(
        "   {} (deleted in Entra ID) is gone from AM: {gone}",
        organisation::user_upn(4)
    );
    Ok(())
}

async fn print_status(stack: &LocalStack) -> anyhow::Result<()> {
    println!("\nSync status (ENTRA#STATUS) of tenant {AM_TENANT}:");
    let status = stack.status_item(AM_TENANT).await?;
    for field in [
        "last_sync_started_at",
        "last_sync_completed_at",
        "last_sync_result",
        "last_sync_mode",
        "last_sync_counts",
        "realtime",
        "last_notification_at",
    ] {
        println!("  {field:<23}: {}", show(status.get(field)));
    }
    Ok(())
}

/// The export: the platform creates a user and edits an imported one; the
/// real export-stream binary, fed from the directory table's stream, pushes
/// both to Entra ID; the next import tick writes nothing back.
async fn export(stack: &LocalStack, functions: &mut SyncFunctions) -> anyhow::Result<()> {
    stack
        .update_config(
            AM_TENANT,
            serde_json::json!({"export_users": true, "export_groups": true}),
        )
        .await?;
    let mut exporter = LambdaFunction::start("export-stream", &stack.function_env()).await?;
    let mut cursor = StreamCursor::start(stack).await?;
    println!(
        "\n9. Export is switched on. On the platform, an admin creates a user and edits an imported one:"
    );
    platform_changes(stack).await?;
    let before = stack.emulator.requests().len();
    let report = export_pending(&mut cursor, &mut exporter, 5).await?;
    let writes = graph_writes_since(stack, before);
    println!(
        "   export-stream read {} stream records and sent:",
        report.records
    );
    for write in &writes {
        println!("     {}", &write[..write.len().min(170)]);
    }
    let katherine = stack.emulator.with_tenant(CONTOSO, |t| {
        t.user_by_upn("katherine.johnson@contoso.com")
            .map(|u| (u.id.clone(), u.display_name.clone()))
    });
    println!("   In Entra ID now: katherine.johnson@contoso.com = {katherine:?}");
    println!(
        "   {} in Entra ID: job title {:?}",
        organisation::user_upn(6),
        stack
            .emulator
            .with_tenant(CONTOSO, |t| t.users[&user_id(6)].job_title.clone())
    );

    println!(
        "\n10. The next import tick sees those changes come back from Entra ID and writes nothing:"
    );
    tick(stack, functions).await?;
    let before = stack.emulator.requests().len();
    let report = export_pending(&mut cursor, &mut exporter, 5).await?;
    let echoes = stack.emulator.requests()[before..]
        .iter()
        .filter(|r| r.is_graph_write())
        .count();
    println!(
        "   and export-stream, given the {} records since, sends {echoes} Graph writes (no echo).",
        report.records
    );
    Ok(())
}

/// Step 9's platform edits: a local user created, an imported one's job title changed.
async fn platform_changes(stack: &LocalStack) -> anyhow::Result<()> {
    let put = |item: serde_json::Value| async move {
        let item: std::collections::HashMap<String, AttributeValue> = serde_dynamo::to_item(item)?;
        stack
            .aws
            .dynamodb
            .put_item()
            .table_name(&stack.tables.directory)
            .set_item(Some(item))
            .send()
            .await?;
        anyhow::Ok(())
    };
    put(serde_json::json!({
        "pk": format!("TENANT#{AM_TENANT}"), "sk": "USER#am-1001", "user_id": "am-1001",
        "user_name": "katherine.johnson@contoso.com", "display_name": "Katherine Johnson",
        "given_name": "Katherine", "surname": "Johnson", "enabled": true, "source": "local"
    }))
    .await?;
    stack
        .aws
        .dynamodb
        .update_item()
        .table_name(&stack.tables.directory)
        .key("pk", AttributeValue::S(format!("TENANT#{AM_TENANT}")))
        .key("sk", AttributeValue::S(format!("USER#{}", user_id(6))))
        .update_expression("SET job_title = :t")
        .expression_attribute_values(":t", AttributeValue::S("Head of Research".into()))
        .send()
        .await?;
    Ok(())
}

/// The Graph writes since request `before`, bodies shown with the temporary
/// password redacted.
fn graph_writes_since(stack: &LocalStack, before: usize) -> Vec<String> {
    stack.emulator.requests()[before..]
        .iter()
        .filter(|r| r.is_graph_write())
        .map(|r| {
            format!(
                "{} {} {}",
                r.method,
                r.path,
                r.body
                    .as_ref()
                    .map(|b| {
                        // The temporary password is shown to no one.
                        let mut shown = b.clone();
                        if let Some(profile) = shown.get_mut("passwordProfile") {
                            profile["password"] = "[redacted]".into();
                        }
                        shown.to_string()
                    })
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// Entra → AM in seconds: a change in Entra ID, Graph's notification to
/// graph-notifications, the job it queues, and the worker's delta run.
async fn realtime(stack: &LocalStack, functions: &mut SyncFunctions) -> anyhow::Result<()> {
    let subscriptions = stack.emulator.subscriptions();
    println!(
        "\n11. Real time: the worker keeps {} Graph subscriptions ({}) for Contoso.",
        subscriptions.len(),
        subscriptions
            .iter()
            .map(|s| s.resource.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // What earlier steps' own writes made Graph notify about.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stack.deliver(&mut functions.worker).await?;
    println!("    In Entra ID, Ada Lovelace becomes \"Analyst\"; no scheduler tick follows.");
    let changed = std::time::Instant::now();
    stack.emulator.with_tenant(CONTOSO, |t| {
        t.update_user(&user_id(0), |u| u.job_title = Some("Analyst".into()))
    });
    let arrived = async |stack: &LocalStack, _| {
        stack
            .directory_of(AM_TENANT, "USER#")
            .await
            .is_ok_and(|users| {
                users
                    .iter()
                    .any(|u| u["user_id"] == user_id(0).as_str() && u["job_title"] == "Analyst")
            })
    };
    let jobs = stack
        .deliver_until(
            &mut functions.worker,
            std::time::Duration::from_secs(30),
            arrived,
        )
        .await?;
    println!(
        "    -> in AM after {} ms: Graph notified graph-notifications, which queued {jobs} job(s) for the worker",
        changed.elapsed().as_millis()
    );
    Ok(())
}

/// One schedule interval, with what it cost.
async fn tick(stack: &LocalStack, functions: &mut SyncFunctions) -> anyhow::Result<()> {
    let mut cursor = StreamCursor::start(stack).await?;
    let before = stack.emulator.graph_requests().len();
    let report = stack.tick(functions).await?;
    anyhow::ensure!(
        report.failed_message_ids.is_empty(),
        "the worker failed: {report:?}"
    );
    let writes = cursor.read().await?.len();
    let status = stack.status_item(AM_TENANT).await?;
    let count = |prefix: &'static str| async move {
        stack.directory_of(AM_TENANT, prefix).await.map(|v| v.len())
    };
    let (users, groups, members) = (
        count("USER#").await?,
        count("GROUP#").await?,
        count("MEMBER#").await?,
    );
    println!(
        "   -> {} sync, result {}: {} Graph requests, {writes} directory writes; AM holds {users} users, {groups} groups, {members} memberships",
        show(status.get("last_sync_mode")),
        show(status.get("last_sync_result")),
        stack.emulator.graph_requests().len() - before,
    );
    Ok(())
}

fn show(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "(absent)".into(),
    }
}
