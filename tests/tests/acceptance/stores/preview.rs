//! `DynamoPreviewStore`: the preview's own lease and progress on
//! `ENTRA#PREVIEW#RUN` (TTL 7 days), apart from the sync's `ENTRA#STATUS`,
//! and the report the portal reads, `ENTRA#PREVIEW` (docs/contract.md 1.3).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use entra_sync::import::LeaseError;
use entra_sync::import::preview::{Change, PreviewProgress, PreviewReport, PreviewRuns, Sample};
use entra_sync::import::state::RunResult;
use entra_sync::store::preview::DynamoPreviewStore;
use serde_json::json;

use super::{Fresh, Item, checkpoint, counts, text};

const RUN: &str = "ENTRA#PREVIEW#RUN";
const REQUEST: &str = "2026-12-01T10:00:00Z";

fn store(fresh: &Fresh) -> DynamoPreviewStore {
    DynamoPreviewStore::new(
        fresh.aws.dynamodb.clone(),
        fresh.tables.integrations.clone(),
    )
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn samples() -> Vec<Sample> {
    vec![
        Sample {
            change: Change::UserCreate,
            object_id: "e-1".into(),
            display: "ann@contoso.com".into(),
        },
        Sample {
            change: Change::MemberRemove,
            object_id: "g-1#e-2".into(),
            display: "Team / bob@contoso.com".into(),
        },
    ]
}

async fn begin(
    store: &DynamoPreviewStore,
    fresh: &Fresh,
    run_id: &str,
    requested_at: Option<&str>,
    now: DateTime<Utc>,
) -> Option<PreviewProgress> {
    store
        .begin_preview(
            &fresh.tenant,
            run_id,
            requested_at,
            now,
            now + Duration::minutes(5),
        )
        .await
        .unwrap()
}

async fn run_item(fresh: &Fresh) -> Option<Item> {
    fresh.get(&fresh.tables.integrations, RUN).await
}

#[tokio::test]
async fn given_the_preview_lease_when_runs_begin_then_a_free_expired_or_own_lease_is_taken_and_a_held_one_refused()
 {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    let now = Utc::now();

    let first = begin(&store, &fresh, "run-1", Some(REQUEST), now).await;
    let held = begin(&store, &fresh, "run-2", Some(REQUEST), now).await;
    let again = begin(&store, &fresh, "run-1", Some(REQUEST), now).await;
    let after_expiry = begin(
        &store,
        &fresh,
        "run-2",
        Some(REQUEST),
        now + Duration::minutes(6),
    )
    .await;

    assert_eq!(first, Some(PreviewProgress::default()));
    assert_eq!(held, None);
    // Its own lease, taken again: the run item names it already.
    assert!(again.unwrap().previous_run_died);
    assert!(after_expiry.unwrap().previous_run_died);
    let item = run_item(&fresh).await.unwrap();
    assert_eq!(text(&item, "lease_owner"), Some("run-2"));
    assert_eq!(
        number(&item, "lease_until_ms"),
        Some((now + Duration::minutes(11)).timestamp_millis())
    );
    assert_eq!(text(&item, "requested_at"), Some(REQUEST));
    // The run item expires a week after it was last taken.
    let ttl = number(&item, "expires_at_epoch").unwrap();
    let week = (now + Duration::minutes(6) + Duration::days(7)).timestamp();
    assert!((week - 5..=week + 5).contains(&ttl), "{ttl} vs {week}");
    // The sync's status item is not the preview's.
    assert!(
        fresh
            .get(&fresh.tables.integrations, "ENTRA#STATUS")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn given_two_preview_runs_beginning_at_once_then_exactly_one_takes_the_lease() {
    let fresh = Fresh::tables().await;
    let client = fresh.serialised_client().await;
    let table = fresh.tables.integrations.clone();
    let a = DynamoPreviewStore::new(client.clone(), table.clone());
    let b = DynamoPreviewStore::new(client, table);
    let now = Utc::now();

    let (first, second) = tokio::join!(
        begin(&a, &fresh, "run-a", Some(REQUEST), now),
        begin(&b, &fresh, "run-b", Some(REQUEST), now)
    );

    assert_eq!(
        [first.is_some(), second.is_some()]
            .iter()
            .filter(|taken| **taken)
            .count(),
        1
    );
    let owner = text(&run_item(&fresh).await.unwrap(), "lease_owner").map(str::to_owned);
    let winner = if first.is_some() { "run-a" } else { "run-b" };
    assert_eq!(owner.as_deref(), Some(winner));
}

#[tokio::test]
async fn given_a_checkpointed_preview_when_paused_and_begun_again_for_the_same_request_then_it_resumes()
 {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    let now = Utc::now();
    let cp = checkpoint("preview-round", 4);
    begin(&store, &fresh, "run-1", Some(REQUEST), now)
        .await
        .unwrap();

    store
        .checkpoint_preview(
            &fresh.tenant,
            "run-1",
            &cp,
            &samples(),
            now + Duration::minutes(9),
        )
        .await
        .unwrap();
    let item = run_item(&fresh).await.unwrap();
    assert_eq!(
        number(&item, "lease_until_ms"),
        Some((now + Duration::minutes(9)).timestamp_millis())
    );
    store.pause_preview(&fresh.tenant, "run-1").await.unwrap();
    let paused = run_item(&fresh).await.unwrap();
    assert!(!paused.contains_key("lease_owner"), "{paused:?}");
    assert!(!paused.contains_key("lease_until_ms"), "{paused:?}");
    let resumed = begin(&store, &fresh, "run-2", Some(REQUEST), now).await;

    assert_eq!(
        resumed,
        Some(PreviewProgress {
            checkpoint: Some(cp),
            samples: samples(),
            previous_run_died: false,
        })
    );
}

#[tokio::test]
async fn given_progress_of_an_earlier_request_when_a_new_request_begins_then_it_starts_over() {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    let now = Utc::now();
    begin(&store, &fresh, "run-1", Some(REQUEST), now)
        .await
        .unwrap();
    store
        .checkpoint_preview(
            &fresh.tenant,
            "run-1",
            &checkpoint("old-round", 2),
            &samples(),
            now + Duration::minutes(5),
        )
        .await
        .unwrap();
    store.pause_preview(&fresh.tenant, "run-1").await.unwrap();

    let newer = "2026-12-02T08:00:00Z";
    let fresh_start = begin(&store, &fresh, "run-2", Some(newer), now).await;
    let item = run_item(&fresh).await.unwrap();
    let unrequested = begin(&store, &fresh, "run-2", None, now).await;

    assert_eq!(fresh_start, Some(PreviewProgress::default()));
    assert_eq!(text(&item, "requested_at"), Some(newer));
    assert!(!item.contains_key("checkpoint"), "{item:?}");
    assert!(!item.contains_key("samples"), "{item:?}");
    assert_eq!(
        unrequested,
        Some(PreviewProgress {
            previous_run_died: true,
            ..PreviewProgress::default()
        })
    );
    let item = run_item(&fresh).await.unwrap();
    assert!(!item.contains_key("requested_at"), "{item:?}");
}

#[tokio::test]
async fn given_unreadable_progress_when_begun_then_the_preview_starts_from_scratch() {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    fresh
        .put(
            &fresh.tables.integrations,
            RUN,
            json!({"requested_at": REQUEST, "checkpoint": "{not json", "samples": "[1, 2]"}),
        )
        .await;

    let progress = begin(&store, &fresh, "run-1", Some(REQUEST), Utc::now()).await;

    assert_eq!(progress, Some(PreviewProgress::default()));
}

#[tokio::test]
async fn given_a_preview_run_without_the_lease_when_it_checkpoints_pauses_or_finishes_then_the_holder_keeps_it()
 {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    let now = Utc::now();
    begin(&store, &fresh, "holder", Some(REQUEST), now)
        .await
        .unwrap();

    let checkpointed = store
        .checkpoint_preview(
            &fresh.tenant,
            "intruder",
            &checkpoint("r", 1),
            &samples(),
            now + Duration::hours(1),
        )
        .await;
    store
        .pause_preview(&fresh.tenant, "intruder")
        .await
        .unwrap();
    let finished = store
        .finish_preview(&fresh.tenant, "intruder", &report(now))
        .await;

    assert!(
        matches!(checkpointed, Err(LeaseError::Lost)),
        "{checkpointed:?}"
    );
    assert!(matches!(finished, Err(LeaseError::Lost)), "{finished:?}");
    let item = run_item(&fresh).await.unwrap();
    assert_eq!(text(&item, "lease_owner"), Some("holder"));
    assert!(!item.contains_key("checkpoint"), "{item:?}");
    assert!(
        fresh
            .get(&fresh.tables.integrations, "ENTRA#PREVIEW")
            .await
            .is_none()
    );
}

fn report(now: DateTime<Utc>) -> PreviewReport {
    let now = now.trunc_subsecs(0);
    PreviewReport {
        requested_at: Some(REQUEST.into()),
        started_at: now - Duration::minutes(2),
        completed_at: now,
        result: RunResult::Ok,
        error: None,
        counts: counts(),
        would_hold: true,
        samples: samples(),
    }
}

#[tokio::test]
async fn given_a_finished_preview_then_its_run_item_is_gone_and_the_report_holds_what_the_portal_reads()
 {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    let now = Utc::now();
    begin(&store, &fresh, "run-1", Some(REQUEST), now)
        .await
        .unwrap();
    let mut failed = report(now);
    failed.result = RunResult::Error;
    failed.error = Some("Graph refused the request".into());
    failed.requested_at = None;

    store
        .finish_preview(&fresh.tenant, "run-1", &report(now))
        .await
        .unwrap();
    let item = fresh
        .get(&fresh.tables.integrations, "ENTRA#PREVIEW")
        .await
        .expect("the report");
    // Finishing again (no run item any more) replaces the report.
    store
        .finish_preview(&fresh.tenant, "run-2", &failed)
        .await
        .unwrap();
    let replaced = fresh
        .get(&fresh.tables.integrations, "ENTRA#PREVIEW")
        .await
        .unwrap();

    assert!(run_item(&fresh).await.is_none());
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let report = report(now);
    assert_eq!(text(&item, "tenant_id"), Some("acme"));
    assert_eq!(text(&item, "requested_at"), Some(REQUEST));
    assert_eq!(
        text(&item, "started_at"),
        Some(at(report.started_at).as_str())
    );
    assert_eq!(
        text(&item, "completed_at"),
        Some(at(report.completed_at).as_str())
    );
    assert_eq!(text(&item, "result"), Some("ok"));
    assert!(!item.contains_key("error"), "{item:?}");
    assert_eq!(item["would_hold"].as_bool().ok(), Some(&true));
    let counts = item["counts"].as_m().unwrap();
    assert_eq!(counts.len(), 8);
    assert_eq!(counts["users_created"].as_n().unwrap(), "1");
    assert_eq!(counts["members_removed"].as_n().unwrap(), "8");
    let listed: Vec<Vec<&str>> = item["samples"]
        .as_l()
        .unwrap()
        .iter()
        .map(|sample| {
            let sample = sample.as_m().unwrap();
            ["change", "object_id", "display"]
                .iter()
                .map(|k| sample[*k].as_s().unwrap().as_str())
                .collect()
        })
        .collect();
    assert_eq!(
        listed,
        [
            ["user_create", "e-1", "ann@contoso.com"],
            ["member_remove", "g-1#e-2", "Team / bob@contoso.com"],
        ]
    );
    assert_eq!(text(&replaced, "result"), Some("error"));
    assert_eq!(text(&replaced, "error"), Some("Graph refused the request"));
    assert!(!replaced.contains_key("requested_at"), "{replaced:?}");
}

#[tokio::test]
async fn given_an_expired_preview_lease_when_another_run_finishes_then_its_report_is_written() {
    let fresh = Fresh::tables().await;
    let store = store(&fresh);
    let long_ago = Utc::now() - Duration::hours(1);
    begin(&store, &fresh, "died", Some(REQUEST), long_ago)
        .await
        .unwrap();

    store
        .finish_preview(&fresh.tenant, "run-2", &report(Utc::now()))
        .await
        .unwrap();

    assert!(run_item(&fresh).await.is_none());
    assert!(
        fresh
            .get(&fresh.tables.integrations, "ENTRA#PREVIEW")
            .await
            .is_some()
    );
}
