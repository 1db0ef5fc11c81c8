//! Run history (docs/behaviour.md 2.14): each run's item says why it ran,
//! what it did and how it ended; a round spanning invocations is one run
//! whose `invocations` grow; a scheduled poll that changed nothing keeps
//! no item.

use super::history::{RunRecord, Trigger};
use super::*;
use crate::testing::import_stores::MemoryPreviews;

impl World {
    /// The history items, oldest first, with their invocations.
    fn history(&self) -> Vec<(RunRecord, u32)> {
        self.state.history()
    }

    fn runs_as(&self, trigger: Trigger) {
        *self.trigger.lock().unwrap() = trigger;
    }
}

#[tokio::test]
async fn given_a_delta_run_that_changed_a_user_then_its_item_has_its_trigger_counts_and_result() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    let mut renamed = user("u1", "ann@contoso.com");
    renamed.attributes.display_name = Some("Ann Renamed".into());
    world.script_delta(vec![DeltaItem::Upsert(renamed)], vec![]);

    let outcome = world.run(&config, "run-delta").await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let history = world.history();
    assert_eq!(history.len(), 2, "the first import and the delta run");
    let (delta, invocations) = &history[1];
    assert_eq!(delta.run.run_id, "run-delta");
    assert_eq!(delta.run.trigger, Trigger::Schedule);
    assert_eq!(delta.mode, Mode::Delta);
    assert_eq!(delta.result, Some(RunResult::Ok));
    assert!(delta.completed_at.is_some() && delta.error.is_none());
    assert_eq!(delta.counts.users_updated, 1);
    assert_eq!(*invocations, 1);
    let (first, _) = &history[0];
    assert_eq!((first.mode, first.counts.users_created), (Mode::Full, 3));
}

#[tokio::test]
async fn given_a_scheduled_poll_that_changed_nothing_then_no_item_but_a_notified_one_keeps_its_item()
 {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.script_delta(vec![], vec![]);
    world.run(&config, "run-idle").await;
    assert_eq!(world.history().len(), 1, "only the first import");

    world.runs_as(Trigger::Notification);
    world.entra.users("u-d2", users_page(vec![], done("u-d3")));
    world
        .entra
        .groups("g-d2", groups_page(vec![], done("g-d3")));
    world.run(&config, "run-notified").await;

    let history = world.history();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].0.run.trigger, Trigger::Notification);
    assert_eq!(history[1].0.result, Some(RunResult::Ok));
}

#[tokio::test]
async fn given_a_round_that_spans_two_invocations_then_it_is_one_run_with_two_invocations() {
    let world = World::new();
    let config = importing().build();
    world.entra.users("", ann_alone(done("u-d1")));
    world
        .entra
        .groups("", groups_page(vec![group("g1", &["u1"])], done("g-d1")));
    *world.state.ran.lock().unwrap() = true;
    assert_eq!(world.run_late(&config, "run-1").await, RunOutcome::Paused);

    let paused = world.history();
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0].0.result, None, "still running");
    assert_eq!(paused[0].0.counts.users_created, 1);
    world.runs_as(Trigger::Continuation);
    let second = world.run_late(&config, "run-2").await;

    assert!(matches!(second, RunOutcome::Completed(_)), "{second:?}");
    let history = world.history();
    assert_eq!(history.len(), 1, "{history:?}");
    let (run, invocations) = &history[0];
    assert_eq!(*invocations, 2);
    assert_eq!(
        run.run.run_id, "run-1",
        "named by the invocation that began it"
    );
    assert_eq!(run.run.trigger, Trigger::Schedule, "why the run began");
    assert_eq!(run.result, Some(RunResult::Ok));
    assert_eq!((run.counts.users_created, run.counts.members_added), (1, 1));
}

#[tokio::test]
async fn given_a_run_that_fails_then_its_item_says_error_and_why() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.entra.users("u-d1", Err(graph_exhausted()));

    let outcome = world.run(&config, "run-failed").await;

    assert!(matches!(outcome, RunOutcome::Failed(_)), "{outcome:?}");
    let (failed, _) = world.history().pop().unwrap();
    assert_eq!(failed.run.run_id, "run-failed");
    assert_eq!(failed.result, Some(RunResult::Error));
    assert!(failed.completed_at.is_none());
    assert!(
        failed.error.as_deref().unwrap_or("").contains("users"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn given_a_resync_request_then_the_full_run_says_resync() {
    let world = World::new();
    world.imported(&importing().build()).await;
    world.script_first_import();

    world.run(&config_resync(), "run-resync").await;

    let (resync, _) = world.history().pop().unwrap();
    assert_eq!(
        (resync.run.trigger, resync.mode),
        (Trigger::Resync, Mode::Full)
    );
}

#[tokio::test]
async fn given_a_name_conflict_opened_then_resolved_then_each_run_counts_its_problems() {
    let world = World::new();
    let config = importing().build();
    world.platform_writes_user("p-1", "Ann@Contoso.com");
    world.entra.users("", ann_and_bob(done("u-d1")));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config, "run-1").await;
    world.platform_writes_user("p-1", "ann.local@contoso.com");
    world.entra.user_lookup(user("u1", "ann@contoso.com"));
    world.script_delta(vec![], vec![]);
    world.run(&config, "run-2").await;

    let history = world.history();
    let problems = |i: usize| (history[i].0.problems_opened, history[i].0.problems_closed);
    assert_eq!(problems(0), (1, 0));
    assert_eq!(problems(1), (0, 1));
}

#[tokio::test]
async fn given_a_preview_then_its_run_is_recorded_with_trigger_preview() {
    let world = World::new();
    let previews = MemoryPreviews::default();
    let config = importing().sync_enabled(false).build();
    world.script_first_import();

    world.preview(&previews, &config, None).await;

    let history = world.history();
    assert_eq!(history.len(), 1);
    let (preview, _) = &history[0];
    assert_eq!(preview.run.trigger, Trigger::Preview);
    assert_eq!(
        (preview.mode, preview.result),
        (Mode::Full, Some(RunResult::Ok))
    );
    assert_eq!(preview.counts.users_created, 3, "what a sync would do");
}

#[tokio::test]
async fn given_a_failed_run_when_the_next_one_resumes_its_round_then_that_is_a_run_of_its_own() {
    let world = World::new();
    let config = importing().build();
    world.entra.users("", ann_alone(next("u-p2")));
    world.entra.users("u-p2", Err(graph_exhausted()));
    let failed = world.run(&config, "run-failed").await;
    assert!(matches!(failed, RunOutcome::Failed(_)), "{failed:?}");
    world.entra.users("u-p2", ann_alone(done("u-d1")));
    world.entra.groups("", groups_page(vec![], done("g-d1")));

    let retried = world.run(&config, "run-retry").await;

    assert!(matches!(retried, RunOutcome::Completed(_)), "{retried:?}");
    let history = world.history();
    let runs: Vec<_> = history
        .iter()
        .map(|(r, n)| (r.run.run_id.as_str(), r.result, *n))
        .collect();
    assert_eq!(
        runs,
        [
            ("run-failed", Some(RunResult::Error), 1),
            ("run-retry", Some(RunResult::Ok), 1)
        ]
    );
    assert_eq!(history[1].0.counts.users_created, 1, "the round's counts");
}
