//! The act of an on-demand import: a user in scope written as the
//! import's `user_upsert` writes it, a user out of scope or deleted
//! deprovisioned as the tenant chose — or, in a dry run, neither.

use chrono::Utc;
use serde_json::json;

use super::OnDemandError;
use super::answer::{ProblemNote, StepName, StepStatus, SyncObjectAnswer, SyncResult};
use super::explain::changes_of;
use super::import_user::{AmUsers, OnDemandImport};
use crate::import::flows::ImportFlows;
use crate::import::records::{DeprovisionMark, DirectoryWrite, RemovalCause};
use crate::import::state::Counts;
use crate::import::{DirectoryStore, EntraDirectory, deprovision, needs_check};
use crate::model::directory::{Source, SyncedObject, UserItem};
use crate::model::entra::EntraUser;
use crate::model::tenant_config::UserAction;
use crate::ports::StoreError;
use crate::problems::{Code, Direction, ObjectKind, Operation, Problem, ProblemKey, ProblemStore};

/// The matching step's sentence for the AM user the Entra user is.
fn matched(current: &UserItem) -> String {
    let name = &current.attributes.user_name;
    match current.source {
        Source::Entra => format!("Matched AM user '{name}', imported from this Entra user"),
        Source::Local => format!(
            "Matched platform user '{name}' ({}), linked to this Entra user",
            current.user_id
        ),
    }
}

impl<D: DirectoryStore + AmUsers, E: EntraDirectory, P: ProblemStore> OnDemandImport<'_, D, E, P> {
    /// A user in scope: mapped, matched, then written as the import would;
    /// in a real run its import problem recorded or cleared as a sync
    /// would.
    pub(super) async fn in_scope(
        &self,
        user: EntraUser,
        flows: &ImportFlows,
        current: Option<UserItem>,
        answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let imported = current.is_some();
        let answer = self.in_scope_decided(user, flows, current, answer).await?;
        if !answer.dry_run {
            self.settle_problem(&answer, imported).await?;
        }
        Ok(answer)
    }

    /// The user's import problem after the act: recorded when there is
    /// one, cleared when the user now agrees with Entra ID.
    async fn settle_problem(
        &self,
        answer: &SyncObjectAnswer,
        imported: bool,
    ) -> Result<(), StoreError> {
        let Some(entra_id) = answer.object_id.clone() else {
            return Ok(());
        };
        let key = ProblemKey {
            direction: Direction::Import,
            kind: ObjectKind::User,
            object_id: entra_id,
        };
        match (&answer.problem, answer.result) {
            (Some(note), _) => {
                let Some(code) = Code::parse(&note.code) else {
                    return Ok(());
                };
                let operation = if imported {
                    Operation::Update
                } else {
                    Operation::Create
                };
                let display = answer
                    .display
                    .clone()
                    .unwrap_or_else(|| key.object_id.clone());
                let problem =
                    Problem::new(key, operation, code, note.message.clone()).displayed_as(display);
                self.problems.record(self.tenant(), &problem).await?;
            }
            (
                None,
                SyncResult::Create
                | SyncResult::Update
                | SyncResult::Restore
                | SyncResult::NoChange,
            ) => {
                self.problems.resolve(self.tenant(), &key).await?;
            }
            (None, _) => {}
        }
        Ok(())
    }

    async fn in_scope_decided(
        &self,
        user: EntraUser,
        flows: &ImportFlows,
        current: Option<UserItem>,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let mapped = match flows.attributes_of(&user, current.as_ref()) {
            Ok(attributes) => EntraUser { attributes, ..user },
            Err(error) => {
                answer.problem = Some(ProblemNote {
                    code: "invalid_object".into(),
                    message: error.to_string(),
                });
                let why =
                    format!("Not imported: the tenant's mappings cannot map this user: {error}");
                return Ok(answer.skip(StepName::Match, why, json!({})));
            }
        };
        if let Some(refusal) = self.refusal(&mapped, current.as_ref()).await? {
            return Ok(refusal.apply(answer));
        }
        let description = match &current {
            Some(current) => matched(current),
            None => format!(
                "No AM user is linked to it, and no platform user is named '{}'",
                mapped.attributes.user_name
            ),
        };
        answer.step(
            StepName::Match,
            StepStatus::Success,
            description,
            json!({
                "am_user_id": current.as_ref().map(|c| c.user_id.clone()),
                "match": if current.is_some() { "link" } else { "none" },
            }),
        );
        self.upsert(mapped, current.as_ref(), answer).await
    }

    /// The import's own write for a user in scope, unless the echo rule
    /// holds it back.
    async fn upsert(
        &self,
        mapped: EntraUser,
        current: Option<&UserItem>,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        if let Some(current) = current.filter(|c| c.pending_export()) {
            let details = json!({"rule": "pending_export"});
            return Ok(answer.skip(StepName::Act, echo_sentence(current), details));
        }
        let domains = self.entra.domains().await?;
        let reactivate = self.config.deprovisioning.reactivate_on_restore;
        let upsert = crate::import::user_upsert(
            std::borrow::Cow::Borrowed(&mapped),
            current,
            (&domains, None),
            reactivate,
            &mut Counts::default(),
        );
        let Some(write) = upsert else {
            answer.result = SyncResult::NoChange;
            let why = "No change: the AM user already agrees with Entra ID";
            answer.step(StepName::Act, StepStatus::Success, why, json!({}));
            return Ok(answer);
        };
        let result = match &write {
            DirectoryWrite::CreateUser(_) => SyncResult::Create,
            DirectoryWrite::UpdateUser {
                deprovision: DeprovisionMark::Clear,
                ..
            } => SyncResult::Restore,
            _ => SyncResult::Update,
        };
        self.act_user(answer, current, vec![write], result).await
    }

    /// Why the user is not written although in scope (a name conflict, or
    /// its AM user deleted by the platform), if it is not.
    async fn refusal(
        &self,
        mapped: &EntraUser,
        current: Option<&UserItem>,
    ) -> Result<Option<Refusal>, StoreError> {
        let id = mapped.id.to_string();
        if current.is_none() {
            let released = self
                .directory
                .released_by_platform(self.tenant(), std::slice::from_ref(&id))
                .await?;
            if released.contains(&id) {
                return Ok(Some(Refusal {
                    description: "Not imported: the platform deleted the AM user this Entra user was linked to, and the import does not bring it back".into(),
                    problem: None,
                }));
            }
        }
        if !needs_check(mapped, current) {
            return Ok(None);
        }
        let name = &mapped.attributes.user_name;
        let owners = self
            .directory
            .platform_users_named(self.tenant(), name)
            .await?;
        let current_id = current.map(|c| c.user_id.as_str());
        if owners
            .iter()
            .all(|p| Some(p.user_id.as_str()) == current_id)
        {
            return Ok(None);
        }
        let message = format!(
            "the UPN {name} is already the user name of a platform user that is not linked to this Entra user (compared case-insensitively); neither is changed: rename one of them, or link the platform user to this Entra user"
        );
        Ok(Some(Refusal {
            description: format!("Name conflict: {message}"),
            problem: Some(ProblemNote {
                code: "user_name_conflict".into(),
                message,
            }),
        }))
    }

    /// A user out of scope or deleted: the tenant's deprovisioning choice.
    pub(super) async fn deprovisioned(
        &self,
        cause: RemovalCause,
        current: Option<UserItem>,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        if !self.config.import_users {
            // The sync reads no user then: it leaves them as they are.
            let why = "Left as it is: Import Users is off, so the sync neither imports nor deprovisions users";
            return Ok(answer.skip(StepName::Act, why, json!({"decided_by": "import_users"})));
        }
        let Some(current) = current else {
            answer.step(
                StepName::Match,
                StepStatus::Success,
                "No AM user is linked to it",
                json!({"match": "none"}),
            );
            return Ok(answer.skip(
                StepName::Act,
                "Not imported, and nothing to deprovision",
                json!({}),
            ));
        };
        answer.step(
            StepName::Match,
            StepStatus::Success,
            matched(&current),
            json!({"am_user_id": current.user_id, "match": "link"}),
        );
        if current.source != Source::Entra {
            let why = "Left as it is: the import never deprovisions a platform user";
            return Ok(answer.skip(StepName::Act, why, json!({})));
        }
        let now = Utc::now();
        let choices = &self.config.deprovisioning;
        let Some(action) = deprovision::decide(choices, cause, &current, now) else {
            answer.result = SyncResult::NoChange;
            let reason = current.sync.deprovisioned_reason.as_deref().unwrap_or("");
            answer.step(
                StepName::Act,
                StepStatus::Success,
                format!("No change: the AM user is already deprovisioned ({reason})"),
                json!({}),
            );
            return Ok(answer);
        };
        let (writes, result) = match action {
            UserAction::Delete => (self.deletion(&current).await?, SyncResult::Delete),
            UserAction::Disable => (
                vec![deprovision::deprovision_write(&current, action, cause, now)],
                SyncResult::Disable,
            ),
            UserAction::Keep => (
                vec![deprovision::deprovision_write(&current, action, cause, now)],
                SyncResult::Keep,
            ),
        };
        self.act_user(answer, Some(&current), writes, result).await
    }

    /// Deleting an imported user takes its memberships along.
    async fn deletion(&self, current: &UserItem) -> Result<Vec<DirectoryWrite>, StoreError> {
        let users = std::collections::HashSet::from([current.user_id.clone()]);
        let memberships = self
            .directory
            .memberships_involving(self.tenant(), &users, &Default::default())
            .await?;
        let mut writes: Vec<DirectoryWrite> = memberships
            .into_iter()
            .map(DirectoryWrite::RemoveMembership)
            .collect();
        writes.push(DirectoryWrite::DeleteUser {
            user_id: current.user_id.clone(),
        });
        Ok(writes)
    }

    /// Applies the writes (not in a dry run) and says what they do to
    /// the AM object (`noun`: "user", "group").
    pub(super) async fn act(
        &self,
        mut answer: SyncObjectAnswer,
        writes: Vec<DirectoryWrite>,
        result: SyncResult,
        noun: &str,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        answer.result = result;
        let (verb, done) = verbs_of(result);
        let description = match answer.dry_run {
            true => format!("Dry run: would {verb} the AM {noun}; nothing was written"),
            false => {
                self.directory.apply(self.tenant(), writes).await?;
                answer.written = true;
                format!("{done} the AM {noun}")
            }
        };
        answer.step(
            StepName::Act,
            StepStatus::Success,
            description,
            json!({"action": result}),
        );
        Ok(answer)
    }

    /// `act` for a user: what the user's write changes, then the writes.
    async fn act_user(
        &self,
        mut answer: SyncObjectAnswer,
        current: Option<&UserItem>,
        writes: Vec<DirectoryWrite>,
        result: SyncResult,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let user_write = writes.last().expect("an act writes the user");
        answer.modified = changes_of(current, user_write);
        self.act(answer, writes, result, "user").await
    }
}

/// The action, as to be done and as done.
pub(super) fn verbs_of(result: SyncResult) -> (&'static str, &'static str) {
    match result {
        SyncResult::Create => ("create", "Created"),
        SyncResult::Update => ("update", "Updated"),
        SyncResult::Restore => ("restore", "Restored"),
        SyncResult::Disable => ("disable", "Disabled"),
        SyncResult::Delete => ("delete", "Deleted"),
        SyncResult::Keep => (
            "mark as deprovisioned (kept as it is)",
            "Marked as deprovisioned",
        ),
        SyncResult::NoChange | SyncResult::Skipped => ("leave", "Left"),
    }
}

/// The echo rule (DESIGN 2.3), as the import applies it.
fn echo_sentence(current: &UserItem) -> String {
    format!(
        "Not updated now: the platform changed AM user '{}' and that change is not exported to Entra ID yet; the import updates the user after the export, so that neither side's change is lost",
        current.attributes.user_name
    )
}

/// A user in scope that is not written.
struct Refusal {
    description: String,
    problem: Option<ProblemNote>,
}

impl Refusal {
    fn apply(self, mut answer: SyncObjectAnswer) -> SyncObjectAnswer {
        answer.problem = self.problem;
        let mut answer = answer.skip(StepName::Match, self.description, json!({}));
        if let Some(step) = answer.steps.last_mut() {
            step.status = StepStatus::Failure;
        }
        answer
    }
}
