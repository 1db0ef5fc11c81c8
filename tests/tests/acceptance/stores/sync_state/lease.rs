//! The run lease: begun, checkpointed, finished or abandoned on `ENTRA#STATUS`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use entra_sync::import::state::{Counts, Mode, RunResult, RunStatus, SyncState};
use entra_sync::import::{LeaseError, RunLease};

use super::{count_map, status};
use crate::stores::{Fresh, checkpoint, counts, text};

#[tokio::test]
async fn given_the_lease_when_runs_begin_then_a_free_expired_or_own_lease_is_taken_and_a_held_one_refused()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let now = Utc::now();
    let lease = Duration::seconds(90);

    let first = store
        .begin_run(&fresh.tenant, "run-a", now, now + lease)
        .await
        .unwrap();
    assert_eq!(first, Some(SyncState::default()), "a free lease");
    let item = fresh.status_item().await;
    assert_eq!(text(&item, "lease_owner"), Some("run-a"));
    assert_eq!(
        text(&item, "last_sync_started_at"),
        Some(
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str()
        )
    );

    let refused = store
        .begin_run(
            &fresh.tenant,
            "run-b",
            now + Duration::seconds(30),
            now + Duration::seconds(120),
        )
        .await
        .unwrap();
    assert_eq!(refused, None, "held by run-a");
    assert_eq!(
        text(&fresh.status_item().await, "lease_owner"),
        Some("run-a")
    );

    let again = store
        .begin_run(
            &fresh.tenant,
            "run-a",
            now + Duration::seconds(40),
            now + Duration::seconds(130),
        )
        .await
        .unwrap();
    assert!(again.is_some(), "its own lease");
    assert!(
        again.unwrap().ran_before,
        "a run had begun before: the directory may hold its imports"
    );

    let later = now + Duration::seconds(131);
    let taken = store
        .begin_run(&fresh.tenant, "run-b", later, later + lease)
        .await
        .unwrap();
    assert!(taken.is_some(), "an expired lease");
    assert_eq!(
        text(&fresh.status_item().await, "lease_owner"),
        Some("run-b")
    );
    assert_eq!(
        store
            .begin_run(&fresh.tenant, "run-a", later, later + lease)
            .await
            .unwrap(),
        None,
        "run-a lost it"
    );
}

#[tokio::test]
async fn given_a_run_without_the_lease_when_it_checkpoints_or_finishes_then_the_lease_is_lost() {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let now = Utc::now();
    let cp = checkpoint("round-1", 1);
    let state = SyncState::default();
    let ok = status(RunResult::Ok, None);

    // No status item at all.
    assert!(matches!(
        store
            .checkpoint(&fresh.tenant, "run-b", &cp, now + Duration::seconds(90))
            .await,
        Err(LeaseError::Lost)
    ));
    assert!(matches!(
        store.finish_run(&fresh.tenant, "run-b", &state, &ok).await,
        Err(LeaseError::Lost)
    ));

    store
        .begin_run(&fresh.tenant, "run-a", now, now + Duration::seconds(90))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        store
            .checkpoint(&fresh.tenant, "run-b", &cp, now + Duration::seconds(900))
            .await,
        Err(LeaseError::Lost)
    ));
    assert!(matches!(
        store.finish_run(&fresh.tenant, "run-b", &state, &ok).await,
        Err(LeaseError::Lost)
    ));
    let item = fresh.status_item().await;
    assert_eq!(text(&item, "lease_owner"), Some("run-a"));
    assert!(!item.contains_key("checkpoint"), "{item:?}");
    assert!(!item.contains_key("last_sync_result"), "{item:?}");
    assert_eq!(
        item.get("lease_until_ms"),
        Some(&AttributeValue::N(
            (now + Duration::seconds(90)).timestamp_millis().to_string()
        )),
        "run-b renewed nothing"
    );
    // The holder still can.
    store
        .checkpoint(&fresh.tenant, "run-a", &cp, now + Duration::seconds(100))
        .await
        .unwrap();
}

#[tokio::test]
async fn given_a_checkpointed_run_when_abandoned_then_the_lease_is_free_and_the_next_run_resumes_the_checkpoint()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let now = Utc::now();
    let cp = checkpoint("round-7", 4);
    store
        .begin_run(&fresh.tenant, "run-a", now, now + Duration::seconds(90))
        .await
        .unwrap()
        .unwrap();
    store
        .checkpoint(&fresh.tenant, "run-a", &cp, now + Duration::seconds(90))
        .await
        .unwrap();
    // Where the round is, as the console shows it (docs/behaviour.md 2.14).
    let item = fresh.status_item().await;
    let progress = item["progress"].as_m().unwrap();
    assert_eq!(progress["phase"], AttributeValue::S("groups".into()));
    assert_eq!(progress["users_read"], AttributeValue::N("250".into()));
    assert_eq!(progress["groups_read"], AttributeValue::N("7".into()));
    assert_eq!(progress["pages"], AttributeValue::N("4".into()));
    assert!(progress.contains_key("started_at"));

    // Someone else's abandon changes nothing.
    store
        .abandon_run(&fresh.tenant, "run-x", None)
        .await
        .unwrap();
    assert_eq!(
        text(&fresh.status_item().await, "lease_owner"),
        Some("run-a")
    );

    let failed = RunStatus::failed("Graph answered 503".into(), &cp);
    store
        .abandon_run(&fresh.tenant, "run-a", Some(&failed))
        .await
        .unwrap();

    let item = fresh.status_item().await;
    assert!(!item.contains_key("lease_owner"), "{item:?}");
    assert!(!item.contains_key("lease_until_ms"), "{item:?}");
    assert!(
        !item.contains_key("progress"),
        "a failed run has no progress"
    );
    assert_eq!(text(&item, "last_sync_result"), Some("error"));
    assert_eq!(text(&item, "last_sync_error"), Some("Graph answered 503"));
    assert_eq!(text(&item, "last_sync_mode"), Some("full"));
    let resumed = store
        .begin_run(
            &fresh.tenant,
            "run-b",
            now + Duration::seconds(1),
            now + Duration::seconds(91),
        )
        .await
        .unwrap()
        .expect("the lease is free at once");
    assert_eq!(resumed.checkpoint, Some(cp));
}

#[tokio::test]
async fn given_runs_that_finish_then_the_delta_links_and_status_are_stored_and_the_lease_released()
{
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let now = Utc::now();
    let lease = Duration::seconds(90);
    store
        .begin_run(&fresh.tenant, "run-a", now, now + lease)
        .await
        .unwrap()
        .unwrap();
    store
        .checkpoint(&fresh.tenant, "run-a", &checkpoint("r", 1), now + lease)
        .await
        .unwrap();
    let state = SyncState {
        users_delta_link: Some("https://graph/users/delta?$deltatoken=U1".into()),
        groups_delta_link: Some("https://graph/groups/delta?$deltatoken=G1".into()),
        scope_fingerprint: Some("fp-9".into()),
        checkpoint: None,
        holding_deletions: true,
        // What begin_run reports afterwards: run-a had begun.
        ran_before: true,
        previous_run_died: false,
        round_paused: false,
    };
    let held = status(RunResult::Held, Some("12 users would be deleted"));
    store
        .finish_run(&fresh.tenant, "run-a", &state, &held)
        .await
        .unwrap();

    let item = fresh.status_item().await;
    for gone in ["lease_owner", "lease_until_ms", "checkpoint"] {
        assert!(!item.contains_key(gone), "{gone}: {item:?}");
    }
    assert_eq!(text(&item, "last_sync_result"), Some("held"));
    assert_eq!(
        text(&item, "last_sync_error"),
        Some("12 users would be deleted")
    );
    assert_eq!(text(&item, "last_sync_mode"), Some("delta"));
    assert_eq!(
        text(&item, "last_sync_completed_at"),
        Some(
            held.completed_at
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str()
        )
    );
    let expected_counts: HashMap<String, String> = counts()
        .as_pairs()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(count_map(&item), expected_counts);
    assert_eq!(expected_counts.len(), 8);

    let next = store
        .begin_run(&fresh.tenant, "run-b", now, now + lease)
        .await
        .unwrap()
        .expect("released");
    assert_eq!(next, state);

    // An ok run without a groups link: the error and that link are removed.
    let state = SyncState {
        groups_delta_link: None,
        holding_deletions: false,
        ..state
    };
    let ok = RunStatus {
        counts: Counts::default(),
        mode: Mode::Full,
        ..status(RunResult::Ok, None)
    };
    store
        .finish_run(&fresh.tenant, "run-b", &state, &ok)
        .await
        .unwrap();
    let item = fresh.status_item().await;
    assert_eq!(text(&item, "last_sync_result"), Some("ok"));
    assert_eq!(text(&item, "last_sync_mode"), Some("full"));
    assert!(!item.contains_key("last_sync_error"), "{item:?}");
    assert!(!item.contains_key("groups_delta_link"), "{item:?}");
    assert!(count_map(&item).values().all(|v| v == "0"));
    let next = store
        .begin_run(&fresh.tenant, "run-c", now, now + lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, state);
}

#[tokio::test]
async fn given_refused_app_tokens_then_the_first_refusal_is_kept_until_a_run_finishes_or_it_is_cleared()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let now = Utc::now();
    let first = now - Duration::minutes(70);
    let since = |item: &HashMap<String, AttributeValue>| {
        text(item, "reauthorisation_suspected_since").map(str::to_owned)
    };
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    let gap = Duration::minutes(15);
    let recorded = store
        .suspect_reauthorisation(&fresh.tenant, first, first - gap)
        .await
        .unwrap();
    assert_eq!(at(recorded), at(first));
    // Refusals met without a gap keep the first one's time.
    let mut seen = first;
    while seen < now {
        seen += Duration::minutes(3);
        let later = store
            .suspect_reauthorisation(&fresh.tenant, seen, seen - gap)
            .await
            .unwrap();
        assert_eq!(at(later), at(first));
    }
    assert_eq!(since(&fresh.status_item().await), Some(at(first)));
    // After a gap, a refusal starts a window of its own.
    let after_gap = seen + Duration::minutes(40);
    let restarted = store
        .suspect_reauthorisation(&fresh.tenant, after_gap, after_gap - gap)
        .await
        .unwrap();
    assert_eq!(at(restarted), at(after_gap));
    assert_eq!(since(&fresh.status_item().await), Some(at(after_gap)));

    store
        .clear_reauthorisation_suspicion(&fresh.tenant)
        .await
        .unwrap();
    assert_eq!(since(&fresh.status_item().await), None);

    // A finished run removes it as well.
    store
        .suspect_reauthorisation(&fresh.tenant, now, now - gap)
        .await
        .unwrap();
    store
        .begin_run(&fresh.tenant, "run-a", now, now + Duration::seconds(90))
        .await
        .unwrap();
    store
        .finish_run(
            &fresh.tenant,
            "run-a",
            &SyncState::default(),
            &status(RunResult::Ok, None),
        )
        .await
        .unwrap();
    assert_eq!(since(&fresh.status_item().await), None);
}

#[tokio::test]
async fn given_failures_between_successes_then_the_last_success_stays_and_failures_are_counted() {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let number = |item: &HashMap<String, AttributeValue>, name: &str| {
        item.get(name).and_then(|v| v.as_n().ok()).cloned()
    };
    let run = |id: &'static str| {
        let store = &store;
        let tenant = &fresh.tenant;
        async move {
            let now = Utc::now();
            store
                .begin_run(tenant, id, now, now + Duration::seconds(90))
                .await
                .unwrap();
        }
    };
    run("run-ok").await;
    let ok = status(RunResult::Ok, None);
    store
        .finish_run(&fresh.tenant, "run-ok", &SyncState::default(), &ok)
        .await
        .unwrap();
    let item = fresh.status_item().await;
    assert_eq!(item["running"], AttributeValue::Bool(false));
    let succeeded_at = text(&item, "last_successful_sync_at").map(str::to_owned);
    assert!(succeeded_at.is_some(), "{item:?}");
    assert_eq!(number(&item, "consecutive_failures").as_deref(), Some("0"));

    for (i, id) in ["run-f1", "run-f2"].into_iter().enumerate() {
        run(id).await;
        let failed = RunStatus {
            completed_at: None,
            ..status(RunResult::Error, Some("Graph is down"))
        };
        store
            .abandon_run(&fresh.tenant, id, Some(&failed))
            .await
            .unwrap();
        let item = fresh.status_item().await;
        let expected = (i + 1).to_string();
        assert_eq!(number(&item, "consecutive_failures"), Some(expected));
        assert_eq!(
            text(&item, "last_successful_sync_at").map(str::to_owned),
            succeeded_at,
            "a failure never clears the last success"
        );
    }
    // A paused run (no status) changes neither, and is still running.
    run("run-paused").await;
    assert_eq!(
        fresh.status_item().await["running"],
        AttributeValue::Bool(true)
    );
    store
        .abandon_run(&fresh.tenant, "run-paused", None)
        .await
        .unwrap();
    let item = fresh.status_item().await;
    assert_eq!(number(&item, "consecutive_failures").as_deref(), Some("2"));
    assert_eq!(item["running"], AttributeValue::Bool(true));

    run("run-ok-2").await;
    store
        .finish_run(&fresh.tenant, "run-ok-2", &SyncState::default(), &ok)
        .await
        .unwrap();
    let item = fresh.status_item().await;
    assert_eq!(number(&item, "consecutive_failures").as_deref(), Some("0"));
}

#[tokio::test]
async fn given_runs_that_die_holding_the_lease_then_each_takeover_counts_a_failure_until_one_finishes()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let lease = Duration::seconds(90);
    let failures = |item: &HashMap<String, AttributeValue>| {
        item.get("consecutive_failures")
            .and_then(|v| v.as_n().ok())
            .cloned()
    };
    let start = Utc::now();
    // run-a crashes (never gives the lease back); run-b takes over after
    // the lease expired, and crashes too; run-c takes over and finishes.
    for (n, id) in ["run-a", "run-b", "run-c"].into_iter().enumerate() {
        let now = start + Duration::seconds(100 * n as i64);
        let state = store
            .begin_run(&fresh.tenant, id, now, now + lease)
            .await
            .unwrap()
            .expect("a free or expired lease");
        assert_eq!(state.previous_run_died, n > 0);
        let item = fresh.status_item().await;
        assert_eq!(failures(&item), (n > 0).then(|| n.to_string()), "{id}");
        assert_eq!(text(&item, "lease_owner"), Some(id), "{id} holds it");
        if n > 0 {
            let error = text(&item, "last_sync_error").unwrap_or_default();
            assert!(error.contains("stopped without finishing"), "{error}");
        }
    }
    // The same run taking its own lease again is no death.
    let later = start + Duration::seconds(210);
    store
        .begin_run(&fresh.tenant, "run-c", later, later + lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failures(&fresh.status_item().await).as_deref(), Some("2"));
    let ok = status(RunResult::Ok, None);
    store
        .finish_run(&fresh.tenant, "run-c", &SyncState::default(), &ok)
        .await
        .unwrap();
    let item = fresh.status_item().await;
    assert_eq!(failures(&item).as_deref(), Some("0"));
    assert_eq!(text(&item, "last_sync_error"), None);
    assert_eq!(item["running"], AttributeValue::Bool(false));
}
