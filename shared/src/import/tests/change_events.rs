//! Change events of the import's runs (docs/behaviour.md 2.14): each change
//! applied, old → new, with its run's cause; one summary per page of a
//! full round's first import; none for an idle poll, a preview, or a
//! write that failed.

use serde_json::json;

use super::*;
use crate::events::{ChangeEvent, EventAction, EventCause};
use crate::problems::{Direction, ObjectKind};
use crate::testing::import_stores::MemoryPreviews;

impl World {
    fn events(&self) -> Vec<ChangeEvent> {
        self.state.events.lock().unwrap().clone()
    }

    fn forget_events(&self) {
        self.state.events.lock().unwrap().clear();
    }
}

fn caused_by(run_id: &str, trigger: &str) -> EventCause {
    EventCause::Run {
        run_id: run_id.into(),
        trigger: trigger.into(),
    }
}

fn renamed_ann() -> EntraUser {
    let mut ann = user("u1", "ann@contoso.com");
    ann.attributes.display_name = Some("Ann Renamed".into());
    ann
}

#[tokio::test]
async fn given_a_first_import_then_each_page_writes_one_summary_and_no_event_per_object() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;

    let events = world.events();
    let summaries: Vec<(ObjectKind, &str, &str)> = events
        .iter()
        .map(|e| (e.object_kind, e.object_id.as_str(), e.display.as_str()))
        .collect();
    assert_eq!(
        summaries,
        vec![
            (ObjectKind::User, "page:1", "Page 1: 2 users created"),
            (ObjectKind::User, "page:2", "Page 2: 1 user created"),
            (
                ObjectKind::Group,
                "page:1",
                "Page 1: 1 group created, 2 members added"
            ),
        ]
    );
    for event in &events {
        assert_eq!(event.action, EventAction::Create);
        assert_eq!(event.direction, Direction::Import);
        assert!(event.modified.is_empty());
        assert_eq!(event.cause, caused_by("run-first-import", "schedule"));
    }
}

#[tokio::test]
async fn given_a_delta_run_that_updates_a_user_then_its_event_has_the_old_and_new_value_and_the_runs_cause()
 {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.forget_events();
    world.script_delta(vec![DeltaItem::Upsert(renamed_ann())], vec![]);

    world.run(&config, "run-delta").await;

    let events = world.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(
        (event.object_kind, event.object_id.as_str(), event.action),
        (ObjectKind::User, "u1", EventAction::Update)
    );
    assert_eq!(event.display, "ann@contoso.com");
    let changes: Vec<(&str, &serde_json::Value, &serde_json::Value)> = event
        .modified
        .iter()
        .map(|c| (c.attribute.as_str(), &c.old, &c.new))
        .collect();
    assert_eq!(
        changes,
        vec![("display_name", &json!("User u1"), &json!("Ann Renamed"))]
    );
    assert_eq!(event.cause, caused_by("run-delta", "schedule"));
}

#[tokio::test]
async fn given_a_delta_run_then_creates_deletes_disables_and_memberships_each_write_one_event() {
    let world = World::new();
    let config = importing()
        .deprovisioning(&[("import_user_soft_delete_action", json!("disable"))])
        .build();
    world.imported(&config).await;
    world.forget_events();
    world.script_delta(
        vec![
            DeltaItem::Upsert(user("u4", "dee@contoso.com")),
            DeltaItem::Removed {
                id: "u2".into(),
                permanent: false,
            },
        ],
        vec![group("g1", &["u4"])],
    );

    world.run(&config, "run-delta").await;

    let mut seen: Vec<(EventAction, String)> = world
        .events()
        .iter()
        .map(|e| (e.action, e.object_id.clone()))
        .collect();
    seen.sort_by_key(|(action, id)| (action.as_str(), id.clone()));
    assert_eq!(
        seen,
        vec![
            (EventAction::AddMember, "g1".into()),
            (EventAction::Create, "u4".into()),
            (EventAction::Disable, "u2".into()),
        ]
    );
    let disabled = world.events().into_iter().find(|e| e.object_id == "u2");
    let disabled = disabled.unwrap();
    assert!(
        disabled
            .modified
            .iter()
            .any(|c| c.attribute == "enabled" && c.old == json!(true) && c.new == json!(false)),
        "{:?}",
        disabled.modified
    );
}

#[tokio::test]
async fn given_an_idle_poll_then_no_event() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.forget_events();
    world.script_delta(vec![], vec![]);

    world.run(&config, "run-idle").await;

    assert!(world.events().is_empty());
}

#[tokio::test]
async fn given_a_preview_then_no_event() {
    let world = World::new();
    let previews = MemoryPreviews::default();
    let config = importing().sync_enabled(false).build();
    world.script_first_import();

    let outcome = world.preview(&previews, &config, None).await;

    assert!(matches!(outcome, RunOutcome::Completed(_)), "{outcome:?}");
    assert!(world.events().is_empty());
}

#[tokio::test]
async fn given_a_directory_write_that_fails_then_no_event_for_it() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.forget_events();
    world.script_delta(vec![DeltaItem::Upsert(renamed_ann())], vec![]);
    *world.directory.failing_applies.lock().unwrap() = 1;

    let failed = world
        .try_run(&config, "run-fails", None, MAX_DEADLINE_MARGIN)
        .await;

    assert!(
        !matches!(failed, Ok(RunOutcome::Completed(_))),
        "{failed:?}"
    );
    assert!(world.events().is_empty(), "{:?}", world.events());
}

#[tokio::test]
async fn given_events_whose_write_fails_then_the_runs_next_write_carries_them() {
    let world = World::new();
    let config = importing().build();
    world.imported(&config).await;
    world.forget_events();
    world.script_delta(vec![DeltaItem::Upsert(renamed_ann())], vec![]);
    // The users page's events fail; the run's end writes them.
    *world.state.failing_event_writes.lock().unwrap() = 1;

    world.run(&config, "run-delta").await;

    let events = world.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].object_id, "u1");
}

#[tokio::test]
async fn given_a_resync_then_its_creates_are_summed_up_and_its_update_keeps_its_own_event() {
    let world = World::new();
    world.imported(&importing().build()).await;
    world.forget_events();
    let users = vec![
        DeltaItem::Upsert(renamed_ann()),
        DeltaItem::Upsert(user("u2", "bob@fed.contoso.com")),
        DeltaItem::Upsert(user("u3", "cy@other.org")),
        DeltaItem::Upsert(user("u4", "dee@contoso.com")),
    ];
    world.entra.users("", users_page(users, done("u-d9")));
    world.entra.groups(
        "",
        groups_page(vec![group("g1", &["u1", "u2"])], done("g-d9")),
    );

    world.run(&config_resync(), "run-resync").await;

    let events = world.events();
    let seen: Vec<(EventAction, &str, &str)> = events
        .iter()
        .map(|e| (e.action, e.object_id.as_str(), e.display.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (EventAction::Create, "page:1", "Page 1: 1 user created"),
            (EventAction::Update, "u1", "ann@contoso.com"),
        ]
    );
    assert_eq!(events[1].modified[0].attribute, "display_name");
    assert_eq!(events[1].cause, caused_by("run-resync", "resync"));
}
