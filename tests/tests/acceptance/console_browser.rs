//! The live stack and a headless Chromium driving its console, shared by
//! the console's browser tests: the real `local-stack` binary (what
//! `run-local.sh --serve` runs), and Debian's Chromium through
//! chromedriver (WebDriver). Screenshots go to `target/console-screenshots/`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
/// `session` on the live stack in a browser; then, whatever happened (a
/// failed assertion too), no browser, driver or stack is left behind.
pub(crate) async fn in_live_console(session: impl AsyncFnOnce(&mut LiveProcess, &Browser)) {
    use futures::FutureExt;
    let mut live = LiveProcess::start().await.unwrap();
    let browser = match Browser::start().await {
        Ok(browser) => browser,
        Err(error) => {
            // The stack's function processes go with it, not left running.
            let _ = live.interrupt().await;
            panic!("starting the browser: {error:#}");
        }
    };
    let outcome = std::panic::AssertUnwindSafe(session(&mut live, &browser))
        .catch_unwind()
        .await;
    let _ = browser.client.clone().close().await;
    let mut driver = browser.driver;
    let _ = driver.kill().await;
    let _ = live.interrupt().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The live stack as a process: its URLs and function processes, read
/// from what it prints.
pub(crate) struct LiveProcess {
    pub(crate) child: Child,
    pub(crate) console: String,
    pub(crate) api: String,
    pub(crate) emulator: String,
    pub(crate) functions: Vec<u32>,
    /// The integrations table in moto, where the console writes the config.
    pub(crate) integrations: String,
    /// The directory table in moto.
    pub(crate) directory: String,
}

fn url_after(line: &str, label: &str) -> Option<String> {
    line.contains(label)
        .then(|| line.split_whitespace().find(|w| w.starts_with("http://")))
        .flatten()
        .map(|u| u.trim_end_matches('/').to_owned())
}

impl LiveProcess {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let binary = entra_sync_tests::lambda_runtime_api::binary_path("local-stack")?;
        let mut child = Command::new(binary)
            // No scheduled tick during the test: what arrives without the
            // console's "Run the schedule now" came by a notification.
            .args(["--interval", "10m"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let (mut console, mut api, mut emulator) = (None, None, None);
        let mut tables: Option<(String, String)> = None;
        let functions = loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .context("the stack did not start within a minute")??
                .context("the stack exited while starting")?;
            console = console.or_else(|| url_after(&line, "console"));
            api = api.or_else(|| url_after(&line, "API Gateway"));
            emulator = emulator.or_else(|| url_after(&line, "Entra ID emulator"));
            // "  tables: <integrations>, <directory>"
            tables = tables.or_else(|| {
                let (integrations, directory) =
                    line.trim().strip_prefix("tables: ")?.split_once(',')?;
                Some((integrations.trim().to_owned(), directory.trim().to_owned()))
            });
            if let Some(pids) = line.strip_prefix("function processes: ") {
                break pids
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
            }
        };
        // Keep reading, so that the stack never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (integrations, directory) = tables.context("no tables")?;
        Ok(Self {
            child,
            console: console.context("no console URL")?,
            api: api.context("no API URL")?,
            emulator: emulator.context("no emulator URL")?,
            functions,
            integrations,
            directory,
        })
    }

    /// The processes the stack started (its function sandboxes), now.
    pub(crate) fn children(&self) -> Vec<u32> {
        let Some(pid) = self.child.id() else {
            return Vec::new();
        };
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten();
        tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
            .flat_map(|ids| {
                ids.split_whitespace()
                    .filter_map(|id| id.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect()
    }

    /// Ctrl-C, as a person stops it.
    pub(crate) async fn interrupt(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("already exited")?;
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()?;
        Ok(tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await??)
    }
}

/// chromedriver on a free port, and a headless Chromium session.
pub(crate) struct Browser {
    pub(crate) driver: Child,
    pub(crate) client: Client,
    pub(crate) shots: std::path::PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("chromedriver is not installed (Debian's chromium-driver; the test script installs it)")?;
        let profile = tempfile::tempdir()?;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1600",
                    format!("--user-data-dir={}", profile.path().display())
                ]
            }),
        );
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(err) => bail!("no WebDriver session: {err}"),
            }
        };
        let exe = std::env::current_exe()?;
        let target = exe
            .ancestors()
            .find(|p| p.file_name().is_some_and(|n| n == "target"))
            .context("the test runs from target/")?;
        let shots = target.join("console-screenshots");
        std::fs::create_dir_all(&shots)?;
        Ok(Self {
            driver,
            client,
            shots,
            _profile: profile,
        })
    }

    pub(crate) async fn shot(&self, name: &str) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        std::fs::write(self.shots.join(format!("{name}.png")), png)?;
        Ok(())
    }

    pub(crate) async fn click(&self, id: &str) -> anyhow::Result<()> {
        let Ok(element) = self.client.find(Locator::Id(id)).await else {
            bail!("no #{id} on {}", self.url().await);
        };
        element.click().await?;
        Ok(())
    }

    /// Waits for the page a form's answer leads to (one with `#id`).
    pub(crate) async fn settle(&self, id: &str) -> anyhow::Result<()> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Id(id))
            .await?;
        Ok(())
    }

    pub(crate) async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub(crate) async fn text_of(&self, id: &str) -> anyhow::Result<String> {
        Ok(self.client.find(Locator::Id(id)).await?.text().await?)
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let input = self.client.find(Locator::Css(css)).await?;
        input.clear().await?;
        input.send_keys(text).await?;
        Ok(())
    }

    /// Chooses `value` in the `<select>` at `css`.
    pub(crate) async fn choose(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let select = self.client.find(Locator::Css(css)).await?;
        select.select_by_value(value).await?;
        Ok(())
    }

    /// The current value of the input at `css`.
    pub(crate) async fn value_of(&self, css: &str) -> anyhow::Result<String> {
        let input = self.client.find(Locator::Css(css)).await?;
        Ok(input.prop("value").await?.unwrap_or_default())
    }

    /// Reloads `url` until its page shows `text`.
    pub(crate) async fn wait_for_text(
        &self,
        url: &str,
        text: &str,
        within: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            self.client.goto(url).await?;
            if self.client.source().await?.contains(text) {
                return Ok(());
            }
            if started.elapsed() > within {
                bail!("{url} did not show {text:?} within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }
}

pub(crate) fn port_of(url: &str) -> u16 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(0)
}

pub(crate) fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}
