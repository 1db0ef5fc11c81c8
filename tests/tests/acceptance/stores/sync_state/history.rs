//! The run history item (`ENTRA#RUN#<started_at>#<run_id>`): each
//! invocation of a run one update, what replaces set, what adds up added.

use chrono::{Duration, Utc};
use entra_sync::graph_tally::GraphTally;
use entra_sync::import::RunHistory;
use entra_sync::import::history::{RunRecord, RunRef, Trigger};
use entra_sync::import::state::{Counts, Mode, RunResult};
use entra_sync::problems::Direction;
use entra_sync::store::layout::run_sk;

use super::Item;
use crate::stores::{Fresh, text};

fn number(item: &Item, name: &str) -> i64 {
    item[name].as_n().unwrap().parse().unwrap()
}

#[tokio::test]
async fn given_a_run_of_two_invocations_then_its_one_item_adds_up_their_requests_and_ends_with_the_last()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let run = RunRef {
        run_id: "run-a".into(),
        started_at: Utc::now() - Duration::minutes(3),
        trigger: Trigger::Schedule,
    };
    let paused = RunRecord {
        run: run.clone(),
        mode: Mode::Full,
        result: None,
        completed_at: None,
        error: None,
        counts: Counts {
            users_created: 700,
            ..Counts::default()
        },
        problems_opened: 1,
        problems_closed: 0,
        graph: GraphTally {
            requests: 5,
            throttled: 1,
        },
        began_here: true,
        direction: Direction::Import,
    };
    store.record_run(&fresh.tenant, &paused).await.unwrap();
    let sk = run_sk(run.started_at, "run-a");
    let item = fresh.get(&fresh.tables.integrations, &sk).await.unwrap();
    assert!(!item.contains_key("result"), "running: {item:?}");
    assert_eq!(number(&item, "invocations"), 1);

    let completed = RunRecord {
        result: Some(RunResult::Ok),
        completed_at: Some(Utc::now()),
        counts: Counts {
            users_created: 1_000,
            members_added: 40,
            ..Counts::default()
        },
        problems_opened: 0,
        problems_closed: 2,
        graph: GraphTally {
            requests: 3,
            throttled: 0,
        },
        began_here: false,
        ..paused
    };
    store.record_run(&fresh.tenant, &completed).await.unwrap();

    let item = fresh.get(&fresh.tables.integrations, &sk).await.unwrap();
    assert_eq!(text(&item, "trigger"), Some("schedule"));
    assert_eq!(text(&item, "mode"), Some("full"));
    assert_eq!(text(&item, "direction"), Some("import"));
    assert_eq!(text(&item, "result"), Some("ok"));
    assert_eq!(text(&item, "run_id"), Some("run-a"));
    assert!(item.contains_key("completed_at") && !item.contains_key("error"));
    assert_eq!(number(&item, "invocations"), 2);
    assert_eq!(
        number(&item, "users_created"),
        1_000,
        "the run's, not a sum"
    );
    assert_eq!(number(&item, "members_added"), 40);
    assert_eq!(number(&item, "users_deleted"), 0);
    assert_eq!(
        (
            number(&item, "problems_opened"),
            number(&item, "problems_closed"),
            number(&item, "graph_requests"),
            number(&item, "throttled")
        ),
        (1, 2, 8, 1),
        "the invocations' added up"
    );
    let in_30_days = (Utc::now() + Duration::days(30)).timestamp();
    let expires = number(&item, "expires_at_epoch");
    assert!(
        (in_30_days - 60..=in_30_days).contains(&expires),
        "{expires}"
    );
    assert!(
        sk.starts_with("ENTRA#RUN#") && sk.ends_with("#run-a"),
        "{sk}"
    );
}

#[tokio::test]
async fn given_a_completed_run_when_a_paused_invocation_writes_late_then_the_run_stays_complete() {
    let fresh = Fresh::tables().await;
    let store = fresh.sync_state();
    let run = RunRef {
        run_id: "run-b".into(),
        started_at: Utc::now() - Duration::minutes(3),
        trigger: Trigger::Schedule,
    };
    let paused = RunRecord {
        run: run.clone(),
        mode: Mode::Full,
        result: None,
        completed_at: None,
        error: None,
        counts: Counts {
            users_created: 10,
            ..Counts::default()
        },
        problems_opened: 0,
        problems_closed: 0,
        graph: GraphTally::default(),
        began_here: true,
        direction: Direction::Import,
    };
    let completed = RunRecord {
        result: Some(RunResult::Ok),
        completed_at: Some(Utc::now()),
        counts: Counts {
            users_created: 30,
            ..Counts::default()
        },
        began_here: false,
        ..paused.clone()
    };
    store.record_run(&fresh.tenant, &paused).await.unwrap();
    store.record_run(&fresh.tenant, &completed).await.unwrap();
    // The first invocation, paused and slow, records again after the end.
    store.record_run(&fresh.tenant, &paused).await.unwrap();

    let item = fresh
        .get(&fresh.tables.integrations, &run_sk(run.started_at, "run-b"))
        .await
        .unwrap();
    assert_eq!(text(&item, "result"), Some("ok"), "{item:?}");
    assert!(item.contains_key("completed_at"), "{item:?}");
    assert_eq!(number(&item, "users_created"), 30);
    assert_eq!(number(&item, "invocations"), 2);
}
