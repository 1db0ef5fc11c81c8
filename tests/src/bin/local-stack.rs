//! The live local stack (`tests/scripts/run-local.sh --serve`): the whole
//! integration running, with the admin console, until Ctrl-C. Needs moto
//! (the script starts it).
//!
//! Options: `--interval 10s` (the schedule; default 3m), `--port N` (the
//! console's; default any free one), `--api-port N`.

use std::time::Duration;

use anyhow::{Context, bail};
use entra_sync_tests::live::{LiveOptions, LiveStack};

fn duration(text: &str) -> anyhow::Result<Duration> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .with_context(|| format!("{text}: not a duration like 10s or 3m"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "ms" => Ok(Duration::from_millis(n)),
        _ => bail!("{text}: the unit must be ms, s or m"),
    }
}

fn options() -> anyhow::Result<LiveOptions> {
    let mut options = LiveOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--interval" => options.interval = duration(&value()?)?,
            "--port" => options.console_port = value()?.parse().context("--port")?,
            "--api-port" => options.api_port = value()?.parse().context("--api-port")?,
            other => bail!("unknown option {other} (use --interval, --port, --api-port)"),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let stack = LiveStack::start(options).await.context(
        "starting the live stack (is moto running? use tests/scripts/run-local.sh --serve)",
    )?;
    println!("{}", stack.describe());
    let processes: Vec<String> = stack
        .function_processes()
        .await
        .iter()
        .map(u32::to_string)
        .collect();
    println!("function processes: {}", processes.join(" "));
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    stack.stop();
    // The function processes are killed as their handles drop with the process.
    Ok(())
}
