//! The Entra ID emulator as a standalone server, for local experiments and
//! other processes: `entra-emulator [--port N] [--users N] [--groups N]`.
//!
//! It registers one app (ENTRA_CLIENT_ID, client secret EMULATOR_CLIENT_SECRET,
//! redirect URI ENTRA_REDIRECT_URI; test defaults otherwise), seeds the
//! Contoso and Fabrikam organisations, signs the browser in as Contoso's
//! admin, prints its base URL and serves until Ctrl-C. Knobs, the request
//! log and the directory are under `/_emulator/*`.

use entra_sync_tests::emulator::{AppRegistration, Browser, Emulator};
use entra_sync_tests::organisation;
use entra_sync_tests::stack::{
    CLIENT_ID, CONTOSO, CONTOSO_ADMIN, REDIRECT_URI, seed_organisations,
};

fn arg(args: &[String], name: &str, default: usize) -> anyhow::Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("{name} needs a number"))?
            .parse()?),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = u16::try_from(arg(&args, "--port", 0)?)?;
    let users = arg(&args, "--users", 50)?;
    let groups = arg(&args, "--groups", 5)?;
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let emulator = Emulator::start_on(port).await?;
    emulator.register_app(AppRegistration {
        client_id: env("ENTRA_CLIENT_ID", CLIENT_ID),
        client_secret: env("EMULATOR_CLIENT_SECRET", "emulator-client-secret"),
        redirect_uris: vec![env("ENTRA_REDIRECT_URI", REDIRECT_URI)],
        federated_credentials: Vec::new(),
    });
    seed_organisations(&emulator);
    organisation::seed(&emulator, CONTOSO, users, groups);
    emulator.set_browser(Browser {
        user_principal_name: Some(CONTOSO_ADMIN.into()),
        declines_consent: false,
        interactive: false,
    });
    println!("Entra ID emulator on {}", emulator.base_url);
    println!(
        "  Contoso tenant {CONTOSO}: {users} users, {groups} groups; the browser is signed in as {CONTOSO_ADMIN}"
    );
    println!(
        "  ENTRA_LOGIN_BASE_URL and GRAPH_BASE_URL = {}",
        emulator.base_url
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
