//! Previews (docs/behaviour.md 2.9) against the same in-memory stores: what a full
//! sync would do, with nothing written but the preview's own items.

use tokio::time::Instant;

use super::*;
use crate::import::preview::{
    Change, PreviewDirectory, PreviewOverlay, PreviewProblems, PreviewReport, PreviewState,
};
use crate::testing::import_stores::MemoryPreviews;

impl World {
    /// A preview run as the worker runs one (`TenantImport::preview`).
    pub(super) async fn preview(
        &self,
        previews: &MemoryPreviews,
        config: &TenantConfig,
        deadline: Option<(Instant, Duration)>,
    ) -> RunOutcome {
        self.preview_for(previews, config, deadline, "asked").await
    }

    async fn preview_for(
        &self,
        previews: &MemoryPreviews,
        config: &TenantConfig,
        deadline: Option<(Instant, Duration)>,
        requested_at: &str,
    ) -> RunOutcome {
        let overlay = PreviewOverlay::default();
        let directory = PreviewDirectory {
            inner: &self.directory,
            overlay: &overlay,
        };
        let state = PreviewState::new(
            &self.state,
            previews,
            &overlay,
            Some(requested_at.into()),
            super::scope::fingerprint(config),
        );
        let problems = PreviewProblems {
            inner: &self.state,
            overlay: &overlay,
        };
        let mut run = ImportRun::new(
            &directory,
            &state,
            &problems,
            &self.state,
            &self.entra,
            config,
            None,
        )
        .previewing();
        if let Some((at, margin)) = deadline {
            run.deadline = Some(at);
            run.deadline_margin = margin;
        }
        run.run().await.unwrap()
    }

    fn directory_writes(&self) -> u64 {
        *self.directory.writes.lock().unwrap()
    }
}

fn report(previews: &MemoryPreviews) -> PreviewReport {
    previews.report.lock().unwrap().clone().expect("a report")
}

#[tokio::test]
async fn given_a_new_tenant_when_previewed_then_the_counts_are_the_first_imports_and_nothing_is_written()
 {
    let world = World::new();
    let previews = MemoryPreviews::default();
    let config = importing().sync_enabled(false).build();
    world.script_first_import();
    let outcome = world.preview(&previews, &config, None).await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert_eq!(world.directory_writes(), 0, "no directory write");
    assert!(world.directory.users.lock().unwrap().is_empty());
    let sync_state = world.state.state.lock().unwrap().clone();
    assert_eq!(
        sync_state,
        SyncState::default(),
        "no delta link, no checkpoint"
    );
    assert!(
        world.state.status.lock().unwrap().is_none(),
        "no sync status"
    );
    assert!(
        world.state.cleared.lock().unwrap().is_empty(),
        "no request answered"
    );

    let preview = report(&previews);
    assert_eq!(preview.result, RunResult::Ok);
    assert!(!preview.would_hold);
    assert_eq!(preview.requested_at.as_deref(), Some("asked"));
    let samples: Vec<(Change, &str, &str)> = preview
        .samples
        .iter()
        .map(|s| (s.change, s.object_id.as_str(), s.display.as_str()))
        .collect();
    assert!(samples.contains(&(Change::UserCreate, "u1", "ann@contoso.com")));
    assert!(samples.contains(&(Change::GroupCreate, "g1", "Group g1")));
    assert!(
        samples.contains(&(Change::MemberAdd, "g1#u2", "Group g1 / bob@fed.contoso.com")),
        "{samples:?}"
    );

    // The import then does exactly what the preview said.
    world.script_first_import();
    let sync = config_with_sync();
    let RunOutcome::Completed(status) = world.run(&sync, "run-first-import").await else {
        panic!()
    };
    assert_eq!(preview.counts, status.counts);
    assert_eq!(
        (preview.counts.users_created, preview.counts.members_added),
        (3, 2)
    );
}

fn config_with_sync() -> TenantConfig {
    importing().build()
}

#[tokio::test]
async fn given_a_scope_change_that_deletes_most_users_then_the_preview_would_hold_and_deletes_nothing()
 {
    let world = World::new();
    let previews = MemoryPreviews::default();
    let users: Vec<_> = (0..20)
        .map(|i| {
            let domain = if i < 12 { "old.example" } else { "contoso.com" };
            DeltaItem::Upsert(user(&format!("m{i:02}"), &format!("m{i}@{domain}")))
        })
        .collect();
    world
        .entra
        .users("", users_page(users.clone(), done("u-d1")));
    world.entra.groups("", groups_page(vec![], done("g-d1")));
    world.run(&config_with_sync(), "run-first").await;
    let state_before = world.state.state.lock().unwrap().clone();
    let writes_before = world.directory_writes();

    // The admin narrows `domains`: 12 of 20 users would go.
    let narrowed = importing().domains(&["contoso.com"]).build();
    world.entra.users("", users_page(users, done("u-d2")));
    world.entra.groups("", groups_page(vec![], done("g-d2")));
    world.preview(&previews, &narrowed, None).await;
    let preview = report(&previews);
    assert!(preview.would_hold, "60% is above the 20% threshold");
    assert_eq!(preview.counts.users_deleted, 12, "counted as if approved");
    let deletes = preview
        .samples
        .iter()
        .filter(|s| s.change == Change::UserDelete)
        .count();
    assert_eq!(deletes, 12);
    assert_eq!(
        world.directory.users.lock().unwrap().len(),
        20,
        "nothing deleted"
    );
    assert_eq!(world.directory_writes(), writes_before);
    assert_eq!(*world.state.state.lock().unwrap(), state_before);
    assert!(
        world.state.held.lock().unwrap().is_empty(),
        "nothing held for the sync"
    );
}

#[tokio::test]
async fn given_a_preview_paused_between_pages_when_resumed_then_memberships_of_users_from_before_still_count()
 {
    let world = World::new();
    let previews = MemoryPreviews::default();
    let config = importing().sync_enabled(false).build();
    world.script_first_import();
    // Half a second left: the first page is read, then the preview pauses.
    let late = (
        Instant::now() + Duration::from_millis(600),
        Duration::from_millis(500),
    );
    let outcome = world.preview(&previews, &config, Some(late)).await;
    assert_eq!(outcome, RunOutcome::Paused);
    assert!(previews.report.lock().unwrap().is_none());
    assert!(previews.progress.lock().unwrap().checkpoint.is_some());

    // The continuation knows u1 and u2 only from the round's seen ids.
    let outcome = world.preview(&previews, &config, None).await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let preview = report(&previews);
    assert_eq!(
        (
            preview.counts.users_created,
            preview.counts.groups_created,
            preview.counts.members_added
        ),
        (3, 1, 2)
    );
    assert_eq!(world.directory_writes(), 0);
}

#[tokio::test]
async fn given_an_unauthorised_tenant_then_the_preview_is_reported_as_an_error() {
    let world = World::new();
    let previews = MemoryPreviews::default();
    let config = importing()
        .authorisation(Authorisation::ReauthorisationRequired)
        .build();
    let overlay = PreviewOverlay::default();
    let state = PreviewState::new(
        &world.state,
        &previews,
        &overlay,
        Some("asked".into()),
        super::scope::fingerprint(&config),
    );
    let outcome = world.preview(&previews, &config, None).await;
    let RunOutcome::Skipped(why) = outcome else {
        panic!("{outcome:?}")
    };
    state
        .unrunnable(&config.tenant_id, "run-x", why)
        .await
        .unwrap();
    let preview = report(&previews);
    assert_eq!(preview.result, RunResult::Error);
    assert!(
        preview.error.as_deref().unwrap().contains("not authorised"),
        "{preview:?}"
    );
    assert_eq!(world.entra.request_count(), 0);
}

#[tokio::test]
async fn given_a_paused_preview_when_a_new_request_comes_then_it_starts_over() {
    let world = World::new();
    let previews = MemoryPreviews::default();
    let config = importing().sync_enabled(false).build();
    world.script_first_import();
    let late = (
        Instant::now() + Duration::from_millis(600),
        Duration::from_millis(500),
    );
    let outcome = world
        .preview_for(&previews, &config, Some(late), "first")
        .await;
    assert_eq!(outcome, RunOutcome::Paused);

    // Another request: the old round's progress is not this one's.
    world.script_first_import();
    let outcome = world.preview_for(&previews, &config, None, "second").await;
    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    let preview = report(&previews);
    assert_eq!(preview.requested_at.as_deref(), Some("second"));
    assert_eq!(preview.counts.users_created, 3, "{:?}", preview.counts);
    let initial_requests = world
        .entra
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.as_str() == "users ")
        .count();
    assert_eq!(
        initial_requests, 2,
        "the second request read from the start"
    );
}

#[tokio::test]
async fn given_a_user_the_sync_would_not_create_then_the_preview_counts_none_of_its_memberships() {
    let world = World::new();
    let previews = MemoryPreviews::default();
    let config = importing().sync_enabled(false).build();
    // A platform user holds u1's UPN: the sync would not create u1.
    world.platform_writes_user("p-1", "ANN@contoso.com");
    world.script_first_import();
    world.preview(&previews, &config, None).await;
    let preview = report(&previews);
    assert!(
        world.state.problems.lock().unwrap().is_empty(),
        "no problem written"
    );

    world.script_first_import();
    let RunOutcome::Completed(status) = world.run(&config_with_sync(), "run-import").await else {
        panic!()
    };
    assert_eq!(preview.counts, status.counts);
    assert_eq!(
        (status.counts.users_created, status.counts.members_added),
        (2, 1)
    );
}
