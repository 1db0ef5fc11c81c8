//! The console in the seed's words (issue 23 §5, DESIGN 2.14) in a real
//! browser: the status and the run history after a first import, one
//! user's dry run (steps shown, nothing written) and "Sync now" (its event
//! old → new on the user's page), the unsaved mapping tested on a user,
//! and a first import's progress bar.

use aws_sdk_dynamodb::types::AttributeValue;
use entra_sync_tests::live::TENANT;
use entra_sync_tests::local_aws::LocalAws;
use entra_sync_tests::organisation::{user_id, user_upn};
use fantoccini::Locator;
use serde_json::{Map, Value};
use std::time::Duration;

use super::console_browser::{Browser, LiveProcess, in_live_console};
use super::console_flows::authorise;

#[tokio::test]
async fn given_the_live_console_when_an_admin_syncs_and_opens_a_user_then_status_history_and_events_read_in_words()
 {
    in_live_console(async |live: &mut LiveProcess, b: &Browser| read_the_history(live, b).await)
        .await;
}

async fn item(aws: &LocalAws, table: &str, sk: &str) -> Map<String, Value> {
    let output = aws
        .dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    serde_dynamo::from_item(output.item.unwrap()).unwrap()
}

/// The text of every `<li>` of the list `#id`.
async fn list_items(b: &Browser, id: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let items = b
        .client
        .find_all(Locator::Css(&format!("#{id} li")))
        .await
        .unwrap();
    for item in items {
        texts.push(item.text().await.unwrap());
    }
    texts
}

/// Waits until `#id` reads `expected` (a form's answer may take a
/// moment, and the page before it had the same ids); its last text.
async fn wait_for_id_text(b: &Browser, id: &str, expected: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let text = b.text_of(id).await.unwrap_or_default();
        if text == expected || started.elapsed() > Duration::from_secs(20) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn read_the_history(live: &LiveProcess, b: &Browser) {
    let aws = LocalAws::from_env().await.unwrap();
    let console = format!("{}/", live.console);
    b.client.goto(&console).await.unwrap();
    authorise(b).await;
    let authorised = b.text_of("authorised_line").await.unwrap();
    assert!(
        authorised.starts_with("Authorised by admin@contoso.com on "),
        "{authorised}"
    );
    assert_eq!(
        b.text_of("last_sync").await.unwrap(),
        "Not synchronised yet"
    );

    status_and_history_after_a_first_import(b, &console).await;
    let user = user_id(0);
    a_dry_run_writes_nothing_and_sync_now_leaves_an_event(&aws, live, b, &user).await;
    a_synced_change_is_in_the_users_history(live, b, &user).await;
    an_unsaved_mapping_is_tested_on_a_user(&aws, live, b).await;
    the_run_history_pages_through_30_days(&aws, live, b, &console).await;
    a_first_import_shows_its_progress(&aws, live, b, &console).await;
}

/// 25 runs of yesterday and one of 31 days ago beside the test's 3: the
/// newest 20 first, "Older runs" for the 8 after them, the old one gone.
async fn the_run_history_pages_through_30_days(
    aws: &LocalAws,
    live: &LiveProcess,
    b: &Browser,
    console: &str,
) {
    let now = chrono::Utc::now();
    // Noon yesterday onwards: "Yesterday" whatever the time of the test.
    let noon = now.date_naive().pred_opt().unwrap().and_hms_opt(12, 0, 0);
    let noon = noon.unwrap().and_utc();
    let mut started: Vec<chrono::DateTime<chrono::Utc>> = (0..25)
        .map(|i| noon + chrono::Duration::minutes(i))
        .collect();
    started.push(now - chrono::Duration::days(31));
    for (i, at) in started.iter().enumerate() {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let run: std::collections::HashMap<String, AttributeValue> = [
            ("pk", format!("TENANT#{TENANT}")),
            ("sk", format!("ENTRA#RUN#{at}#run-{i}")),
            ("started_at", at),
            ("trigger", "notification".to_owned()),
            ("result", "ok".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
        .collect();
        aws.dynamodb
            .put_item()
            .table_name(&live.integrations)
            .set_item(Some(run))
            .send()
            .await
            .unwrap();
    }
    b.client.goto(console).await.unwrap();
    let first = list_items(b, "runs").await;
    assert_eq!(first.len(), 20, "{first:?}");
    // The test's own three (the first import, the admin's, the synced
    // change), newest first, then yesterday's.
    let today = first.iter().take_while(|r| r.starts_with("Today ")).count();
    assert_eq!(today, 3, "{first:?}");
    assert!(first[1].contains("synchronised by an admin"), "{first:?}");
    assert!(first[2].contains("25 users created"), "{first:?}");
    let yesterday = "Yesterday ";
    assert!(
        first[3..].iter().all(|r| r.starts_with(yesterday)),
        "{first:?}"
    );
    b.click("older_runs").await.unwrap();
    b.settle("console_link").await.unwrap();
    let older = list_items(b, "runs").await;
    assert_eq!(older.len(), 8, "{older:?}");
    assert!(older.iter().all(|r| r.starts_with(yesterday)), "{older:?}");
    assert!(
        older.iter().all(|r| r.contains("change notification")),
        "{older:?}"
    );
    assert!(b.client.find(Locator::Id("older_runs")).await.is_err());
}

async fn status_and_history_after_a_first_import(b: &Browser, console: &str) {
    // A platform user with the name of an Entra user the import brings:
    // a name conflict, the problem an admin is told to solve.
    b.type_into("#am_user_name", &user_upn(6)).await.unwrap();
    b.type_into("#am_display_name", "Platform Six")
        .await
        .unwrap();
    b.click("create_am_user").await.unwrap();
    b.settle("am_users").await.unwrap();
    for id in ["import_users", "sync_enabled"] {
        b.click(id).await.unwrap();
    }
    b.click("save").await.unwrap();
    b.settle("tick").await.unwrap();
    b.click("tick").await.unwrap();
    b.wait_for_text(console, "Last synchronised ", Duration::from_secs(60))
        .await
        .unwrap();
    // Contoso's 24 seeded people, its admin and Megan, but user 6.
    assert_eq!(
        b.text_of("last_sync").await.unwrap(),
        "Last synchronised just now — 25 users created"
    );
    assert_eq!(
        b.text_of("problems_summary").await.unwrap(),
        "1 object could not be synchronised:"
    );
    let problem = b.text_of("problems").await.unwrap();
    assert!(
        problem.contains(&format!("user {} from Entra ID", user_upn(6))),
        "{problem}"
    );
    assert!(
        problem.contains(
            "Rename one of the two users, or link the platform user to the Entra ID user."
        ),
        "{problem}"
    );
    assert_eq!(b.text_of("running").await.unwrap(), "No sync running");
    assert!(b.client.find(Locator::Id("failures")).await.is_err());
    let runs = list_items(b, "runs").await;
    let first_import = runs.last().unwrap();
    assert!(first_import.starts_with("Today "), "{runs:?}");
    assert!(
        first_import.ends_with(" — scheduled sync — 25 users created — ok"),
        "{runs:?}"
    );
    b.shot("history-1-status").await.unwrap();
}

/// Directory Sync off, so that the change waits for the admin: a dry run
/// shows it and writes nothing, "Sync now" applies it and its event is on
/// the user's page.
async fn a_dry_run_writes_nothing_and_sync_now_leaves_an_event(
    aws: &LocalAws,
    live: &LiveProcess,
    b: &Browser,
    user: &str,
) {
    b.click("sync_enabled").await.unwrap();
    b.click("save").await.unwrap();
    b.settle("tick").await.unwrap();
    b.client
        .goto(&format!("{}/entra", live.console))
        .await
        .unwrap();
    let form = format!("#edit-{user}");
    b.type_into(&format!("{form} input[name=job_title]"), "Lead")
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

    b.client.goto(&format!("{}/", live.console)).await.unwrap();
    b.client
        .find(Locator::LinkText("user00000@contoso.com"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.settle("dry_run").await.unwrap();
    assert_eq!(
        b.text_of("events_none").await.unwrap(),
        "No change in the last 30 days."
    );
    b.click("dry_run").await.unwrap();
    b.settle("sync_answer").await.unwrap();
    assert_eq!(
        b.text_of("sync_result").await.unwrap(),
        "Dry run: a sync would update it (nothing written)"
    );
    let steps = list_items(b, "steps").await;
    for (step, name) in steps
        .iter()
        .zip(["Read from Entra ID", "Scope", "Match", "Action"])
    {
        assert!(step.starts_with(name), "{steps:?}");
    }
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert_eq!(
        list_items(b, "modified").await,
        ["Job title changed from Engineer to Lead"]
    );
    let sk = format!("USER#{user}");
    assert_eq!(
        item(aws, &live.directory, &sk).await["job_title"],
        "Engineer"
    );
    assert!(
        b.client.find(Locator::Id("events")).await.is_err(),
        "no event"
    );
    b.shot("history-2-dry-run").await.unwrap();

    b.click("sync_now").await.unwrap();
    assert_eq!(
        wait_for_id_text(b, "sync_result", "Synchronised: updated").await,
        "Synchronised: updated"
    );
    assert_eq!(item(aws, &live.directory, &sk).await["job_title"], "Lead");
    let events = list_items(b, "events").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].ends_with(
            " Job title changed from Engineer to Lead — synchronised by an admin (one object)"
        ),
        "{events:?}"
    );
    b.shot("history-3-sync-now").await.unwrap();
    // The on-demand run is the newest of the history.
    b.client.goto(&format!("{}/", live.console)).await.unwrap();
    let newest = list_items(b, "runs").await.remove(0);
    assert!(
        newest.ends_with(" — synchronised by an admin (one object) — 1 user updated — ok"),
        "{newest}"
    );
    // The picture of README's console paragraph (docs/console.png): a
    // 1280×900 viewport (the window adds its frame).
    b.client.set_window_size(1280, 1043).await.unwrap();
    b.shot("history-home").await.unwrap();
    b.client.set_window_size(1280, 1600).await.unwrap();
}

/// Directory Sync on again: a change in Entra ID reaches AM by a sync
/// run, and the user's page tells it with the run's cause.
async fn a_synced_change_is_in_the_users_history(live: &LiveProcess, b: &Browser, user: &str) {
    b.client.goto(&format!("{}/", live.console)).await.unwrap();
    b.click("sync_enabled").await.unwrap();
    b.click("save").await.unwrap();
    b.settle("tick").await.unwrap();
    b.client
        .goto(&format!("{}/entra", live.console))
        .await
        .unwrap();
    let form = format!("#edit-{user}");
    b.type_into(&format!("{form} input[name=job_title]"), "Director")
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
    b.client.goto(&format!("{}/", live.console)).await.unwrap();
    b.click("tick").await.unwrap();
    b.settle("tick").await.unwrap();
    let page = format!("{}/objects/user/{user}", live.console);
    let arrived = b
        .wait_for_text(
            &page,
            "Job title changed from Lead to Director",
            Duration::from_secs(60),
        )
        .await;
    b.shot("history-3b-synced-change").await.unwrap();
    arrived.unwrap();
    let events = list_items(b, "events").await;
    assert_eq!(events.len(), 2, "{events:?}");
    // A change notification woke the run, or the schedule did.
    assert!(
        events[0].ends_with(
            " Job title changed from Lead to Director — change notification from Entra ID"
        ) || events[0].ends_with(" Job title changed from Lead to Director — scheduled sync"),
        "{events:?}"
    );
    assert!(
        events[1].contains("Engineer to Lead"),
        "newest first: {events:?}"
    );
    b.shot("history-3b-synced-change").await.unwrap();
}

/// "Test on a user" with an unsaved mapping: the mapped attribute old →
/// new, and nothing saved.
async fn an_unsaved_mapping_is_tested_on_a_user(aws: &LocalAws, live: &LiveProcess, b: &Browser) {
    b.client
        .goto(&format!("{}/flows", live.console))
        .await
        .unwrap();
    b.type_into(r#"input[name="m0.target"]"#, "attributes.team")
        .await
        .unwrap();
    b.choose(r#"select[name="m0.source_type"]"#, "expression")
        .await
        .unwrap();
    b.type_into(r#"input[name="m0.source"]"#, "ToLower([department])")
        .await
        .unwrap();
    b.type_into("#test_user", &user_upn(3)).await.unwrap();
    b.click("test_flows").await.unwrap();
    b.settle("sync_answer").await.unwrap();
    b.shot("history-4-test-on-a-user").await.unwrap();
    assert_eq!(
        b.text_of("sync_result").await.unwrap(),
        "Dry run: a sync would update it (nothing written)",
        "{:?}",
        list_items(b, "steps").await
    );
    assert_eq!(
        list_items(b, "modified").await,
        ["team (mapped attribute) set to dept 3"]
    );
    // The rows typed are still there, and none of them was saved.
    let source = r#"input[name="m0.source"]"#;
    assert_eq!(b.value_of(source).await.unwrap(), "ToLower([department])");
    let config = item(aws, &live.integrations, "ENTRA#CONFIG").await;
    assert!(!config.contains_key("user_mappings"), "{config:?}");
    let user = item(aws, &live.directory, &format!("USER#{}", user_id(3))).await;
    assert!(!user.contains_key("attributes"), "{user:?}");
}

/// The status a first import of a large tenant leaves between two
/// invocations, after two failed runs: the bar and the failures in words.
async fn a_first_import_shows_its_progress(
    aws: &LocalAws,
    live: &LiveProcess,
    b: &Browser,
    console: &str,
) {
    let progress = AttributeValue::M(
        [
            ("phase", AttributeValue::S("users".into())),
            ("users_read", AttributeValue::N("40000".into())),
            ("groups_read", AttributeValue::N("0".into())),
            ("pages", AttributeValue::N("400".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    );
    aws.dynamodb
        .update_item()
        .table_name(&live.integrations)
        .key("pk", AttributeValue::S(format!("TENANT#{TENANT}")))
        .key("sk", AttributeValue::S("ENTRA#STATUS".into()))
        .update_expression(
            "SET running = :yes, progress = :progress, consecutive_failures = :two, last_sync_error = :error",
        )
        .expression_attribute_values(":yes", AttributeValue::Bool(true))
        .expression_attribute_values(":progress", progress)
        .expression_attribute_values(":two", AttributeValue::N("2".into()))
        .expression_attribute_values(":error", AttributeValue::S("Graph answered 503".into()))
        .send()
        .await
        .unwrap();
    b.client.goto(console).await.unwrap();
    let bar = b.client.find(Locator::Id("progress")).await.unwrap();
    assert_eq!(bar.attr("value").await.unwrap().as_deref(), Some("1"));
    assert_eq!(bar.attr("max").await.unwrap().as_deref(), Some("3"));
    assert_eq!(
        b.text_of("running").await.unwrap(),
        "A sync is running — Reading users from Entra ID: 40000 users and 0 groups read, page 400 of this phase"
    );
    assert_eq!(
        b.text_of("failures").await.unwrap(),
        "The last 2 runs failed: Graph answered 503"
    );
    let last_sync = b.text_of("last_sync").await.unwrap();
    assert!(
        last_sync.starts_with("Last synchronised "),
        "kept: {last_sync}"
    );
    b.shot("history-5-progress").await.unwrap();
}
