//! docs/behaviour.md 2.11: in a stream batch, one tenant never holds up another —
//! a throttled tenant's changes are parked once its share of the
//! invocation is spent, and an AWS failure of one tenant asks for only
//! that tenant's records again. Time is tokio's, paused and advanced by
//! the runtime (`start_paused`).

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::export::batch::{ExportBatch, TenantWriters};
use crate::model::entra::TenantDomains;
use crate::problems::{Code, Direction, ProblemStore};
use crate::testing::tenant_stores::{MemoryConfigs, MemoryProblems};

const SLOW: &str = "acme";
const QUICK: &str = "globex";

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// Each tenant's Graph: a throttled tenant's calls are retried until the
/// writer's deadline and then given up, as the retry policy does.
#[derive(Default)]
pub(super) struct Graphs {
    pub(super) entra: RecordingEntra,
    throttled: Vec<String>,
    /// (tenant, call, when)
    calls: Mutex<Vec<(String, String, Instant)>>,
}

pub(super) struct TenantGraph<'a> {
    graphs: &'a Graphs,
    tenant: String,
    deadline: Option<Instant>,
}

impl TenantWriters for Graphs {
    type Writer<'a> = TenantGraph<'a>;
    fn for_tenant(&self, config: &TenantConfig, deadline: Option<Instant>) -> TenantGraph<'_> {
        TenantGraph {
            graphs: self,
            tenant: config.tenant_id.to_string(),
            deadline,
        }
    }
}

impl TenantGraph<'_> {
    /// Notes the call; a throttled one waits out the deadline and fails.
    async fn call(&self, what: &str) -> Result<&RecordingEntra, GraphError> {
        let at = Instant::now();
        let record = (self.tenant.clone(), what.to_owned(), at);
        self.graphs.calls.lock().unwrap().push(record);
        if !self.graphs.throttled.contains(&self.tenant) {
            return Ok(&self.graphs.entra);
        }
        // No deadline would mean throttled for ever: the test would hang.
        tokio::time::sleep_until(self.deadline.unwrap_or(at + Duration::from_secs(3600))).await;
        Err(GraphError::Exhausted {
            attempts: 8,
            last: "429 TooManyRequests".into(),
        })
    }
}

impl EntraWriter for TenantGraph<'_> {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        self.call("GET domains").await?.domains().await
    }
    async fn user_by_upn(&self, upn: &str) -> Result<Option<ExistingEntraUser>, GraphError> {
        self.call("GET user").await?.user_by_upn(upn).await
    }
    async fn user_by_mark(
        &self,
        mark: &ExportMark,
    ) -> Result<Option<ExistingEntraUser>, GraphError> {
        self.call("GET user by mark")
            .await?
            .user_by_mark(mark)
            .await
    }
    async fn group_by_mark(&self, mark: &ExportMark) -> Result<Option<String>, GraphError> {
        self.call("GET group by mark")
            .await?
            .group_by_mark(mark)
            .await
    }
    async fn directory_roles(&self, id: &str) -> Result<Vec<String>, GraphError> {
        self.call("GET roles").await?.directory_roles(id).await
    }
    async fn role_assignable_group(&self, id: &str) -> Result<Option<String>, GraphError> {
        self.call("GET group roles")
            .await?
            .role_assignable_group(id)
            .await
    }
    async fn mark_of(
        &self,
        kind: EntraObjectKind,
        id: &str,
    ) -> Result<Option<ExportMark>, GraphError> {
        self.call("GET mark").await?.mark_of(kind, id).await
    }
    async fn write_mark(
        &self,
        kind: EntraObjectKind,
        id: &str,
        mark: &ExportMark,
    ) -> Result<(), GraphError> {
        self.call("PATCH mark")
            .await?
            .write_mark(kind, id, mark)
            .await
    }
    async fn create_user(&self, user: &NewEntraUser) -> Result<String, GraphError> {
        self.call("POST user").await?.create_user(user).await
    }
    async fn update_user(&self, id: &str, patch: &EntraPatch) -> Result<(), GraphError> {
        self.call("PATCH user").await?.update_user(id, patch).await
    }
    async fn delete_user(&self, id: &str) -> Result<(), GraphError> {
        self.call("DELETE user").await?.delete_user(id).await
    }
    async fn restore_user(&self, id: &str) -> Result<EntraUser, GraphError> {
        self.call("RESTORE user").await?.restore_user(id).await
    }
    async fn create_group(&self, group: &NewEntraGroup) -> Result<String, GraphError> {
        self.call("POST group").await?.create_group(group).await
    }
    async fn update_group(&self, id: &str, patch: &EntraPatch) -> Result<(), GraphError> {
        self.call("PATCH group")
            .await?
            .update_group(id, patch)
            .await
    }
    async fn delete_group(&self, id: &str) -> Result<(), GraphError> {
        self.call("DELETE group").await?.delete_group(id).await
    }
    async fn add_member(&self, group: &str, member: &str) -> Result<(), GraphError> {
        self.call("ADD").await?.add_member(group, member).await
    }
    async fn remove_member(&self, group: &str, member: &str) -> Result<(), GraphError> {
        self.call("REMOVE")
            .await?
            .remove_member(group, member)
            .await
    }
    async fn set_manager(&self, user: &str, manager: Option<&str>) -> Result<(), GraphError> {
        self.call("MANAGER").await?.set_manager(user, manager).await
    }
}

/// A platform user of `tenant` created (ids are unique across tenants here:
/// the memory directory keys items by sort key alone).
fn created(directory: &MemoryItemDirectory, tenant: &str, user_id: &str) -> DirectoryChange {
    let item = json!({"user_id": user_id, "user_name": format!("{user_id}@contoso.com"), "source": "local"});
    let sk = format!("USER#{user_id}");
    directory
        .0
        .lock()
        .unwrap()
        .insert(sk.clone(), obj(item.clone()));
    DirectoryChange::parse(
        "INSERT",
        &obj(json!({"pk": format!("TENANT#{tenant}"), "sk": sk})),
        Map::new(),
        obj(item),
        format!("{tenant}-{user_id}"),
        None,
    )
    .unwrap()
    .unwrap()
}

fn configs() -> MemoryConfigs {
    MemoryConfigs(vec![
        exporting().tenant_id(SLOW).build(),
        exporting().tenant_id(QUICK).build(),
    ])
}

#[tokio::test(start_paused = true)]
async fn given_a_throttled_tenant_then_past_its_budget_its_changes_are_parked_and_the_other_tenant_is_not_held_up()
 {
    let directory = MemoryItemDirectory::default();
    // More of the slow tenant's lanes than go out at once, then one more
    // change in its first lane, then the quick tenant's user.
    let mut changes: Vec<DirectoryChange> = (0..20)
        .map(|n| created(&directory, SLOW, &format!("s{n}")))
        .collect();
    let mut again = created(&directory, SLOW, "s0");
    again.sequence_number = "acme-s0-again".into();
    changes.push(again);
    changes.push(created(&directory, QUICK, "q1"));
    let graphs = Graphs {
        throttled: vec![SLOW.into()],
        ..Graphs::default()
    };
    let (configs, problems, domains) = (
        configs(),
        MemoryProblems::default(),
        TenantDomains::default(),
    );
    let batch = ExportBatch::new(&configs, &directory, &graphs, &domains, &problems);
    let start = Instant::now();
    let budget = Duration::from_millis(13_500); // (60 s - a 6 s margin) / 4

    let retried = batch
        .export_all(
            &changes,
            chrono::Utc::now(),
            Some(start + Duration::from_secs(60)),
        )
        .await;

    assert!(retried.is_empty(), "a throttled tenant is no AWS failure");
    assert_eq!(directory.0.lock().unwrap()["USER#q1"]["entra_id"], "e-new");
    let calls = graphs.calls.lock().unwrap().clone();
    let quick_post = calls
        .iter()
        .find(|(t, c, _)| t == QUICK && c == "POST user");
    assert!(
        quick_post.is_some_and(|(_, _, at)| *at - start < Duration::from_secs(1)),
        "the quick tenant went out at once: {calls:?}"
    );
    let slow: Vec<&Instant> = calls
        .iter()
        .filter(|(t, _, _)| t == SLOW)
        .map(|(_, _, at)| at)
        .collect();
    // One call in each of the 16 lanes in flight; the 4 lanes behind them
    // start past the budget and are parked without one.
    assert_eq!(slow.len(), 16, "{calls:?}");
    assert!(slow.iter().all(|at| **at - start < budget));
    assert!(Instant::now() - start <= budget + Duration::from_secs(1));
    let parked = problems
        .open(&tenant(SLOW), Direction::Export)
        .await
        .unwrap();
    assert_eq!(parked.len(), 20, "{parked:?}");
    assert!(
        parked
            .iter()
            .all(|p| p.code == Code::RetriesExhausted && p.next_attempt_at.is_some())
    );
    let s0 = parked.iter().find(|p| p.key.object_id == "s0").unwrap();
    assert_eq!(
        s0.attempts, 2,
        "its second change was parked too, without a call"
    );
}

#[tokio::test]
async fn given_an_aws_failure_of_one_tenant_then_only_its_records_from_the_first_failed_one_are_retried()
 {
    let directory = MemoryItemDirectory::default();
    let changes = vec![
        created(&directory, QUICK, "q1"), // 0: exported
        created(&directory, SLOW, "s1"),  // 1
        created(&directory, QUICK, "q2"), // 2: its write-back fails
        created(&directory, SLOW, "s2"),  // 3
        created(&directory, QUICK, "q3"), // 4: after the failure
    ];
    directory.1.lock().unwrap().push("USER#q2".into());
    let (configs, graphs, problems) = (configs(), Graphs::default(), MemoryProblems::default());
    let domains = TenantDomains::default();
    let batch = ExportBatch::new(&configs, &directory, &graphs, &domains, &problems);

    let retried = batch.export_all(&changes, chrono::Utc::now(), None).await;

    assert_eq!(
        retried,
        vec![2, 4],
        "the failing tenant's records from its first failure on"
    );
    let items = directory.0.lock().unwrap();
    for exported in ["USER#q1", "USER#s1", "USER#s2", "USER#q3"] {
        assert!(items[exported].contains_key("entra_id"), "{exported}");
    }
}

/// q1 as the create left it, its job title changed by the platform.
fn retitled(directory: &MemoryItemDirectory, sequence_number: &str) -> DirectoryChange {
    let old = directory.0.lock().unwrap()["USER#q1"].clone();
    let mut new = old.clone();
    new.insert("job_title".into(), json!("Lead"));
    directory
        .0
        .lock()
        .unwrap()
        .insert("USER#q1".into(), new.clone());
    let keys = obj(json!({"pk": format!("TENANT#{QUICK}"), "sk": "USER#q1"}));
    DirectoryChange::parse("MODIFY", &keys, old, new, sequence_number.into(), None)
        .unwrap()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn given_a_batch_then_each_exported_change_writes_one_event_with_its_stream_record_and_a_parked_one_none()
 {
    use crate::events::{EventAction, EventCause};
    use crate::testing::change_events::MemoryChangeEvents;
    let directory = MemoryItemDirectory::default();
    let changes = vec![
        created(&directory, SLOW, "s1"),
        created(&directory, QUICK, "q1"),
    ];
    let graphs = Graphs {
        throttled: vec![SLOW.into()],
        ..Graphs::default()
    };
    let (configs, problems, domains) = (
        configs(),
        MemoryProblems::default(),
        TenantDomains::default(),
    );
    let store = MemoryChangeEvents::default();
    let deadline = Some(Instant::now() + Duration::from_secs(60));
    let batch = ExportBatch::new(&configs, &directory, &graphs, &domains, &problems);
    batch
        .export_all(&changes, chrono::Utc::now(), deadline)
        .await;
    assert_eq!(
        batch.write_events(&store).await,
        1,
        "the parked s1 has none"
    );
    let batch = ExportBatch::new(&configs, &directory, &graphs, &domains, &problems);
    let update = retitled(&directory, "globex-q1-retitled");
    batch
        .export_all(&[update], chrono::Utc::now(), deadline)
        .await;
    batch.write_events(&store).await;

    let events = store.events.lock().unwrap().clone();
    let seen: Vec<(&str, EventAction, &str)> = events
        .iter()
        .map(|(t, e)| (t.as_str(), e.action, e.object_id.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (QUICK, EventAction::Create, "q1"),
            (QUICK, EventAction::Update, "q1")
        ]
    );
    let (create, update) = (&events[0].1, &events[1].1);
    assert_eq!(create.direction, Direction::Export);
    assert_eq!(
        create.cause,
        EventCause::Stream {
            sequence_number: "globex-q1".into()
        }
    );
    assert_eq!(
        update.cause,
        EventCause::Stream {
            sequence_number: "globex-q1-retitled".into()
        }
    );
    let changed: Vec<(&str, &Value, &Value)> = update
        .modified
        .iter()
        .map(|c| (c.attribute.as_str(), &c.old, &c.new))
        .collect();
    assert_eq!(changed, vec![("jobTitle", &Value::Null, &json!("Lead"))]);
    assert_eq!(*store.writes.lock().unwrap(), 2, "one write per batch");
}
