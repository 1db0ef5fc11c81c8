//! The live stack and its admin console, as a person uses them: the real
//! `local-stack` binary (what `run-local.sh --serve` runs), driven in
//! Debian's Chromium, headless, through chromedriver (WebDriver). A
//! screenshot of each step is written to `target/console-screenshots/`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use entra_sync_tests::organisation::user_id;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The live stack as a process: its URLs and function processes, read
/// from what it prints.
struct LiveProcess {
    child: Child,
    console: String,
    api: String,
    emulator: String,
    functions: Vec<u32>,
}

fn url_after(line: &str, label: &str) -> Option<String> {
    line.contains(label)
        .then(|| line.split_whitespace().find(|w| w.starts_with("http://")))
        .flatten()
        .map(|u| u.trim_end_matches('/').to_owned())
}

impl LiveProcess {
    async fn start() -> anyhow::Result<Self> {
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
        let functions = loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .context("the stack did not start within a minute")??
                .context("the stack exited while starting")?;
            console = console.or_else(|| url_after(&line, "console"));
            api = api.or_else(|| url_after(&line, "API Gateway"));
            emulator = emulator.or_else(|| url_after(&line, "Entra ID emulator"));
            if let Some(pids) = line.strip_prefix("function processes: ") {
                break pids
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
            }
        };
        // Keep reading, so that the stack never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            console: console.context("no console URL")?,
            api: api.context("no API URL")?,
            emulator: emulator.context("no emulator URL")?,
            functions,
        })
    }

    /// The processes the stack started (its function sandboxes), now.
    fn children(&self) -> Vec<u32> {
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
    async fn interrupt(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("already exited")?;
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()?;
        Ok(tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await??)
    }
}

/// chromedriver on a free port, and a headless Chromium session.
struct Browser {
    driver: Child,
    client: Client,
    shots: std::path::PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> anyhow::Result<Self> {
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

    async fn shot(&self, name: &str) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        std::fs::write(self.shots.join(format!("{name}.png")), png)?;
        Ok(())
    }

    async fn click(&self, id: &str) -> anyhow::Result<()> {
        let Ok(element) = self.client.find(Locator::Id(id)).await else {
            bail!("no #{id} on {}", self.url().await);
        };
        element.click().await?;
        Ok(())
    }

    /// Waits for the page a form's answer leads to (one with `#id`).
    async fn settle(&self, id: &str) -> anyhow::Result<()> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Id(id))
            .await?;
        Ok(())
    }

    async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    async fn text_of(&self, id: &str) -> anyhow::Result<String> {
        Ok(self.client.find(Locator::Id(id)).await?.text().await?)
    }

    async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let input = self.client.find(Locator::Css(css)).await?;
        input.clear().await?;
        input.send_keys(text).await?;
        Ok(())
    }

    /// Reloads `url` until its page shows `text`.
    async fn wait_for_text(&self, url: &str, text: &str, within: Duration) -> anyhow::Result<()> {
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

fn port_of(url: &str) -> u16 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(0)
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[tokio::test]
async fn given_the_live_stack_when_an_admin_uses_the_console_then_authorise_import_change_and_export_all_work()
 {
    use futures::FutureExt;
    let mut live = LiveProcess::start().await.unwrap();
    let browser = Browser::start().await.unwrap();
    let outcome = std::panic::AssertUnwindSafe(use_the_console(&mut live, &browser))
        .catch_unwind()
        .await;
    // Whatever happened: no browser, driver or stack left behind.
    let _ = browser.client.clone().close().await;
    let mut driver = browser.driver;
    let _ = driver.kill().await;
    let _ = live.interrupt().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn use_the_console(live: &mut LiveProcess, browser: &Browser) {
    let console = format!("{}/", live.console);
    let b = browser;

    // 1. The console, not authorised yet.
    b.client.goto(&console).await.unwrap();
    assert_eq!(b.text_of("authorisation").await.unwrap(), "Not authorised");
    b.shot("1-console").await.unwrap();

    // 2. Authorise: the real route, then the emulator's sign-in page.
    b.click("authorise").await.unwrap();
    b.settle("account").await.unwrap();
    assert!(
        b.url().await.starts_with(&live.emulator),
        "{}",
        b.url().await
    );
    b.client
        .find(Locator::Id("account"))
        .await
        .unwrap()
        .select_by_value("admin@contoso.com")
        .await
        .unwrap();
    b.shot("2-sign-in").await.unwrap();
    b.click("accept").await.unwrap();
    // Back in the console: the admin confirms what they started.
    b.settle("confirm").await.unwrap();
    b.shot("2b-confirm").await.unwrap();
    b.click("confirm").await.unwrap();
    b.settle("authorisation").await.unwrap();
    assert!(
        b.url().await.contains("status=authorised"),
        "{}",
        b.url().await
    );
    assert_eq!(b.text_of("authorisation").await.unwrap(), "Authorised");
    assert_eq!(b.text_of("auth_mode").await.unwrap(), "application");
    assert_eq!(
        b.text_of("authorised_by").await.unwrap(),
        "admin@contoso.com"
    );
    assert!(!b.text_of("entra_tenant_id").await.unwrap().is_empty());
    b.shot("3-authorised").await.unwrap();

    // 3. Import on, Directory Sync on: the first import's users are listed.
    for id in ["import_users", "import_groups", "sync_enabled"] {
        b.click(id).await.unwrap();
    }
    b.click("save").await.unwrap();
    b.settle("tick").await.unwrap();
    b.click("tick").await.unwrap();
    b.wait_for_text(&console, "user00000@contoso.com", Duration::from_secs(60))
        .await
        .unwrap();
    b.shot("4-first-import").await.unwrap();

    // 4. A change in the emulated Entra ID arrives.
    b.client
        .goto(&format!("{}/entra", live.console))
        .await
        .unwrap();
    let form = format!("#edit-{}", user_id(0));
    b.type_into(
        &format!("{form} input[name=display_name]"),
        "Renamed In Entra",
    )
    .await
    .unwrap();
    b.client
        .find(Locator::Css(&format!("{form} button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.settle("entra_users").await.unwrap();
    b.shot("5-entra-edit").await.unwrap();
    b.wait_for_text(&console, "Renamed In Entra", Duration::from_secs(60))
        .await
        .unwrap();
    b.shot("6-change-arrived").await.unwrap();
    // It came by a Graph change notification to graph-notifications.
    let source = b.client.source().await.unwrap();
    assert!(
        source.contains("POST /entra/notifications -&gt; graph-notifications 202"),
        "no notification reached graph-notifications"
    );
    assert!(source.contains("<td>last_notification_at</td><td>2"));

    // 5. Export on: a user created on the platform appears in Entra ID.
    b.client.goto(&console).await.unwrap();
    b.click("export_users").await.unwrap();
    b.click("save").await.unwrap();
    b.settle("am_user_name").await.unwrap();
    b.type_into("#am_user_name", "ada.lovelace@contoso.com")
        .await
        .unwrap();
    b.type_into("#am_display_name", "Ada Lovelace")
        .await
        .unwrap();
    b.click("create_am_user").await.unwrap();
    b.settle("am_users").await.unwrap();
    b.wait_for_text(
        &format!("{}/entra", live.console),
        "ada.lovelace@contoso.com",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    b.shot("7-exported").await.unwrap();

    // 6. Every function process killed: each is replaced at its next
    // invocation, as Lambda would, and a new Entra user still arrives.
    // Killed between runs: a run killed holding the tenant's lease blocks
    // the tenant until the lease expires (90 s), as it would in Lambda.
    b.wait_for_text(
        &console,
        "<td>sync running</td><td>no</td>",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    for pid in &live.functions {
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
    }
    b.client
        .goto(&format!("{}/entra", live.console))
        .await
        .unwrap();
    b.type_into("#new_upn", "grace.hopper@contoso.com")
        .await
        .unwrap();
    b.type_into("#new_display_name", "Grace Hopper")
        .await
        .unwrap();
    b.click("add_entra_user").await.unwrap();
    b.settle("entra_users").await.unwrap();
    // Within a lease's expiry, should a job have started just before.
    b.wait_for_text(
        &console,
        "grace.hopper@contoso.com",
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    let source = b.client.source().await.unwrap();
    // Killed idle, or in the middle of a job the last step's export
    // caused: either way the crash is shown.
    assert!(
        source.contains("sync-worker: CRASHED"),
        "the crash is shown"
    );
    assert!(source.contains("sync-worker: starting a new execution environment"));
    b.shot("8-after-a-crash").await.unwrap();

    // 7. Ctrl-C: everything stops, every port is free.
    let children = live.children();
    assert!(
        !children.is_empty(),
        "the function sandboxes run as its children"
    );
    let status = live.interrupt().await.unwrap();
    assert!(status.success(), "{status:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for pid in children {
        // Gone, or a zombie its new parent has not reaped yet.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .map(|(_, rest)| &rest[..1])
            .unwrap_or("");
        assert!(
            matches!(state, "" | "Z" | "X"),
            "process {pid} still runs: {stat}"
        );
    }
    for url in [&live.console, &live.api] {
        assert!(port_is_free(port_of(url)), "{url} still bound");
    }
}
