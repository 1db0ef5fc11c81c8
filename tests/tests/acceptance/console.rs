//! The live stack and its admin console, as a person uses them: the real
//! `local-stack` binary (what `run-local.sh --serve` runs), driven in
//! Debian's Chromium, headless, through chromedriver (WebDriver). A
//! screenshot of each step is written to `target/console-screenshots/`.

use std::time::Duration;

use entra_sync_tests::organisation::user_id;
use fantoccini::Locator;

use super::console_browser::{Browser, LiveProcess, in_live_console, port_is_free, port_of};

#[tokio::test]
async fn given_the_live_stack_when_an_admin_uses_the_console_then_authorise_import_change_and_export_all_work()
 {
    in_live_console(use_the_console).await;
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
    let realtime = b.text_of("realtime_line").await.unwrap();
    assert!(realtime.contains("last change notification"), "{realtime}");

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
        r#"<p id="running">No sync running</p>"#,
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
