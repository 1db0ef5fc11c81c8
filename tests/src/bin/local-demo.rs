//! The main job, locally (README's first command): a simulated Global
//! Administrator authorises the integration through the real
//! `oauth-callback` binary against the Entra emulator, and the resulting
//! integration status is printed. Needs moto (run via tests/scripts/run-local.sh).

use anyhow::Context;
use entra_sync_tests::stack::{CONTOSO_ADMIN, LocalStack, PORTAL_RETURN_URL};
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

    println!("\n1. The platform saves the tenant's Entra ID settings (no Entra tenant id yet).");
    stack.put_config(AM_TENANT, None).await?;

    println!("2. The admin clicks \"Authorise\": POST /tenants/{AM_TENANT}/entra/authorize");
    let start = stack.authorize(AM_TENANT).await?;
    let body = start.json();
    let authorize_url = body["authorize_url"].as_str().context("no authorize_url")?;
    println!(
        "   -> {} authorize_url={}...",
        start.status,
        &authorize_url[..authorize_url.len().min(90)]
    );
    println!(
        "      expires_at={}",
        body["expires_at"].as_str().unwrap_or("?")
    );

    println!("3. {CONTOSO_ADMIN} signs in to Microsoft (the emulator) and grants consent.");
    let back = stack.emulator.browse(authorize_url).await?.redirect();
    let query = url::Url::parse(&back)?.query().unwrap_or("").to_owned();
    println!("   -> Microsoft redirects the browser to the callback with a code and the state.");

    println!("4. GET /entra/callback (the real oauth-callback binary)");
    let done = stack.callback(&query).await?;
    let location = done.headers.get("location").cloned().unwrap_or_default();
    println!("   -> {} Location: {location}", done.status);
    anyhow::ensure!(
        location.starts_with(PORTAL_RETURN_URL) && location.contains("status=authorised"),
        "the authorisation failed"
    );

    println!("5. The same callback replayed (a reused state) is refused:");
    let replay = stack.callback(&query).await?;
    println!("   -> {} {}", replay.status, replay.body);

    println!("\nIntegration status of tenant {AM_TENANT}:");
    let config = stack
        .config_item(AM_TENANT)
        .await?
        .context("config item is gone")?;
    for field in [
        "authorisation",
        "authorised_at",
        "authorised_by",
        "entra_tenant_id",
        "sync_enabled",
    ] {
        println!("  {field:<16}: {}", show(config.get(field)));
    }
    let secret = stack
        .tenant_secret(AM_TENANT)
        .await?
        .context("no tenant secret")?;
    let mut keys: Vec<_> = secret
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    println!(
        "  secret           : {}tenants/{AM_TENANT} with fields {} (values not shown)",
        stack.secret_prefix,
        keys.join(", ")
    );
    let requests = stack.emulator.requests();
    println!(
        "  Entra requests   : {}",
        requests
            .iter()
            .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
            .collect::<Vec<_>>()
            .join("; ")
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
