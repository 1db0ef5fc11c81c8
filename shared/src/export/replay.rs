//! Export problems (docs/behaviour.md 2.3, 2.8): a change that cannot be exported
//! now is parked as a problem item, and exported again later from the
//! object's *current* state, so that a later change supersedes the parked
//! one and the changes of one object stay in order.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{
    EntraObjectKind, EntraWriter, ExportDirectory, ExportFailure, ExportOutcome, ExportPlan,
    ExportRun,
};
use crate::model::directory::{
    GROUP_FIELDS, GroupItem, ItemKey, MembershipKey, SyncedObject, USER_FIELDS, UserItem,
};
use crate::model::{TenantConfig, TenantId};
use crate::ports::StoreError;
use crate::problems::{
    Code, Direction, ObjectKind, Operation, Problem, ProblemKey, ProblemStore, backoff,
};

/// The export problem item of the object a directory key names.
pub fn problem_key(key: &ItemKey) -> ProblemKey {
    let (kind, object_id) = match key {
        ItemKey::User { user_id, .. } => (ObjectKind::User, user_id.clone()),
        ItemKey::Group { group_id, .. } => (ObjectKind::Group, group_id.clone()),
        ItemKey::Membership { key, .. } => (ObjectKind::Membership, key.encode()),
    };
    ProblemKey {
        direction: Direction::Export,
        kind,
        object_id,
    }
}

/// The directory key a problem's object has in the tenant.
fn item_key(tenant: &TenantId, key: &ProblemKey) -> Option<ItemKey> {
    Some(match key.kind {
        ObjectKind::User => ItemKey::user(tenant, &key.object_id),
        ObjectKind::Group => ItemKey::group(tenant, &key.object_id),
        ObjectKind::Membership => ItemKey::Membership {
            tenant: tenant.clone(),
            key: MembershipKey::decode(&key.object_id)?,
        },
    })
}

pub fn operation_of(plan: &ExportPlan) -> Operation {
    match plan {
        ExportPlan::CreateUser { .. } | ExportPlan::CreateGroup { .. } => Operation::Create,
        ExportPlan::DeleteUser { .. }
        | ExportPlan::DeleteGroup { .. }
        | ExportPlan::DeleteMarked(_) => Operation::Delete,
        ExportPlan::AddMember { .. } => Operation::AddMember,
        ExportPlan::RemoveMember { .. } => Operation::RemoveMember,
        ExportPlan::Ignore(_) | ExportPlan::UpdateUser { .. } | ExportPlan::UpdateGroup { .. } => {
            Operation::Update
        }
    }
}

/// The Entra object a delete needs once the AM item is gone.
fn deleted_entra_id(plan: &ExportPlan) -> Option<String> {
    match plan {
        ExportPlan::DeleteUser { entra_id } | ExportPlan::DeleteGroup { entra_id } => {
            Some(entra_id.clone())
        }
        _ => None,
    }
}

/// What to park for a failure: `None` when the stream must retry the
/// record instead (AWS itself failed; nothing could be written about it).
pub fn parked(
    key: ProblemKey,
    plan: &ExportPlan,
    failure: &ExportFailure,
    previous_attempts: u32,
    now: DateTime<Utc>,
) -> Option<Problem> {
    let (code, passes_by_itself) = failure.problem()?;
    let next = passes_by_itself.then(|| backoff(previous_attempts + 1, now));
    let reason = format!("{failure}{}", permission_hint(failure, key.kind));
    Some(
        Problem::new(key, operation_of(plan), code, reason)
            .retried_at(next)
            .linked_to(deleted_entra_id(plan))
            .write_unconfirmed(failure.may_have_written()),
    )
}

/// For a 403: the Graph permission the write needs, so that the admin can
/// grant it.
fn permission_hint(failure: &ExportFailure, kind: ObjectKind) -> String {
    let forbidden = matches!(
        failure,
        ExportFailure::Graph {
            source: crate::model::entra::GraphError::Forbidden { .. },
            ..
        }
    );
    if !forbidden {
        return String::new();
    }
    let permission = match kind {
        ObjectKind::User => "User.ReadWrite.All",
        ObjectKind::Group => "Group.ReadWrite.All",
        ObjectKind::Membership => "GroupMember.ReadWrite.All",
    };
    format!(
        "; the integration lacks the Microsoft Graph permission {permission}: grant it (with admin consent) on the app registration, then authorise the integration again"
    )
}

/// A change of a tenant whose integration is not authorised, parked until
/// it is authorised again.
pub fn not_authorised(key: ProblemKey, plan: &ExportPlan) -> Problem {
    Problem::new(
        key,
        operation_of(plan),
        Code::NotAuthorised,
        "the tenant's Entra ID integration is not authorised; a Global Administrator must authorise it again".into(),
    )
    .linked_to(deleted_entra_id(plan))
}

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// Exports the object's current state: what a problem's replay does.
    pub async fn replay(
        &self,
        tenant: &TenantId,
        problem: &Problem,
    ) -> Result<(ExportPlan, ExportOutcome), ExportFailure> {
        let Some(key) = item_key(tenant, &problem.key) else {
            return Ok((
                ExportPlan::Ignore("not a directory object"),
                ExportOutcome::Ignored("the problem names no directory object"),
            ));
        };
        let plan = self.current_plan(tenant, &key, problem).await?;
        let outcome = self.apply_plan(tenant, &key, plan.clone()).await?;
        Ok((plan, outcome))
    }

    /// The plan that makes Entra ID agree with the object as it is now.
    pub async fn current_plan(
        &self,
        tenant: &TenantId,
        key: &ItemKey,
        problem: &Problem,
    ) -> Result<ExportPlan, ExportFailure> {
        // Gone from AM: what Entra still has of it goes too.
        let deleted = match &problem.entra_id {
            Some(entra_id) if problem.operation == Operation::Delete => Some(entra_id.clone()),
            _ => None,
        };
        Ok(match key {
            ItemKey::User { user_id, .. } => match self.directory.user(tenant, user_id).await? {
                Some(item) => user_plan(user_id, item, problem),
                None => deleted.map_or(gone_unlinked(problem, EntraObjectKind::User), |entra_id| {
                    ExportPlan::DeleteUser { entra_id }
                }),
            },
            ItemKey::Group { group_id, .. } => {
                match self.directory.group(tenant, group_id).await? {
                    Some(item) => group_plan(group_id, item, problem),
                    None => deleted
                        .map_or(gone_unlinked(problem, EntraObjectKind::Group), |entra_id| {
                            ExportPlan::DeleteGroup { entra_id }
                        }),
                }
            }
            ItemKey::Membership { key, .. } => {
                let (group_id, user_id) = (key.group_id.clone(), key.user_id.clone());
                if self.directory.has_membership(tenant, key).await? {
                    ExportPlan::AddMember { group_id, user_id }
                } else {
                    ExportPlan::RemoveMember { group_id, user_id }
                }
            }
        })
    }
}

/// A gone object never linked: a parked create (or delete) may have gone
/// through with its answer lost, so what carries its mark goes too.
fn gone_unlinked(problem: &Problem, kind: EntraObjectKind) -> ExportPlan {
    match problem.operation {
        Operation::Create | Operation::Delete => ExportPlan::DeleteMarked(kind),
        _ => ExportPlan::Ignore("the object is gone and was never exported"),
    }
}

fn user_plan(user_id: &str, item: UserItem, parked: &Problem) -> ExportPlan {
    match object_plan(&item, USER_FIELDS.iter().map(|f| f.am), parked) {
        Current::Create => ExportPlan::CreateUser {
            user_id: user_id.to_owned(),
            item,
        },
        Current::Update { entra_id, changed } => ExportPlan::UpdateUser {
            user_id: user_id.to_owned(),
            entra_id,
            changed,
            before: None,
            item,
        },
        Current::Nothing(why) => ExportPlan::Ignore(why),
    }
}

fn group_plan(group_id: &str, item: GroupItem, parked: &Problem) -> ExportPlan {
    match object_plan(&item, GROUP_FIELDS.iter().map(|f| f.am), parked) {
        Current::Create => ExportPlan::CreateGroup {
            group_id: group_id.to_owned(),
            item,
        },
        Current::Update { entra_id, changed } => ExportPlan::UpdateGroup {
            group_id: group_id.to_owned(),
            entra_id,
            changed,
            before: None,
            item,
        },
        Current::Nothing(why) => ExportPlan::Ignore(why),
    }
}

/// Whether a parked update may have been applied with its answer lost
/// (retries or time ran out); a refused one never was.
fn may_have_reached_entra(parked: &Problem) -> bool {
    match parked.write_unconfirmed {
        Some(unconfirmed) => unconfirmed,
        // Kept before the problem said so: any update that ran out.
        None => parked.operation == Operation::Update && parked.code == Code::RetriesExhausted,
    }
}

/// What a user or group as it is now asks of Entra ID.
enum Current {
    Create,
    Update {
        entra_id: String,
        changed: Vec<&'static str>,
    },
    Nothing(&'static str),
}

fn object_plan<T: SyncedObject>(
    item: &T,
    fields: impl Iterator<Item = &'static str>,
    parked: &Problem,
) -> Current {
    // An imported object the platform edited since the import wrote it
    // still has that edit to export (a parked update must not be lost);
    // one set back since, after an update whose answer was lost, has the
    // set-back to export (found by the export simulation, seed 24819).
    if item.source() == crate::model::directory::Source::Entra
        && !item.pending_export()
        && !may_have_reached_entra(parked)
    {
        return Current::Nothing("an imported object, as Entra ID has it");
    }
    match item.entra_object_id() {
        None => Current::Create,
        // A parked update may have reached Entra ID (its answer lost): what
        // Entra has is unknown, whatever the stored hash says, and the
        // platform may have set the values back since. One refused never
        // reached it.
        Some(_) if item.agrees_with_entra() && !may_have_reached_entra(parked) => {
            Current::Nothing("Entra ID has its values already")
        }
        Some(entra_id) => Current::Update {
            entra_id: entra_id.to_owned(),
            changed: fields.collect(),
        },
    }
}

/// How a tenant's due export problems went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    pub exported: u32,
    pub still_failing: u32,
}

/// Replays a tenant's due export problems (users, then groups, then
/// memberships, each oldest first), until `until`.
pub async fn replay_due<D: ExportDirectory, W: EntraWriter, P: ProblemStore>(
    run: &ExportRun<'_, D, W>,
    problems: &P,
    now: DateTime<Utc>,
    until: Option<Instant>,
) -> Result<Replayed, StoreError> {
    let config: &TenantConfig = run.config;
    let tenant = &config.tenant_id;
    if !config.is_authorised() {
        return Ok(Replayed::default());
    }
    let resync = config.resync_requested_raw.is_some();
    let mut due: Vec<Problem> = problems
        .open(tenant, Direction::Export)
        .await?
        .into_iter()
        .filter(|p| p.due_in_sync_run(true, resync, now))
        .collect();
    // Users before the groups and memberships that need them; within a
    // kind, the longest waiting first (a run out of time leaves the
    // others to the next, which they then lead).
    due.sort_by_key(|p| (kind_order(p.key.kind), p.next_attempt_at, p.first_seen_at));
    let mut replayed = Replayed::default();
    for problem in due {
        if until.is_some_and(|until| Instant::now() >= until) {
            break;
        }
        match run.replay(tenant, &problem).await {
            Ok(_) => {
                problems.resolve(tenant, &problem.key).await?;
                replayed.exported += 1;
            }
            Err(failure) => {
                replayed.still_failing += 1;
                let plan = ExportPlan::Ignore("replayed");
                let Some(again) =
                    parked(problem.key.clone(), &plan, &failure, problem.attempts, now)
                else {
                    return Err(store_failure(failure));
                };
                let again = Problem {
                    operation: problem.operation,
                    display: problem.display.clone(),
                    entra_id: problem.entra_id.clone(),
                    ..again
                };
                problems.record(tenant, &again).await?;
                if again.code == Code::NotAuthorised {
                    // The grant is refused: the others would each try it again.
                    break;
                }
            }
        }
    }
    Ok(replayed)
}

fn store_failure(failure: ExportFailure) -> StoreError {
    match failure {
        ExportFailure::Store(err) => err,
        other => StoreError::Unavailable {
            operation: "replaying an export problem",
            detail: other.to_string(),
        },
    }
}

fn kind_order(kind: ObjectKind) -> u8 {
    match kind {
        ObjectKind::User => 0,
        ObjectKind::Group => 1,
        ObjectKind::Membership => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entra::GraphError;

    #[test]
    fn a_403_names_the_permission_the_write_needs() {
        let key = |kind| ProblemKey {
            direction: Direction::Export,
            kind,
            object_id: "x".into(),
        };
        let failure = ExportFailure::Graph {
            action: "adding the member",
            write: true,
            source: GraphError::Forbidden {
                code: "Authorization_RequestDenied".into(),
                message: "Insufficient privileges to complete the operation.".into(),
            },
        };
        let plan = ExportPlan::AddMember {
            group_id: "g".into(),
            user_id: "u".into(),
        };
        let problem = parked(key(ObjectKind::Membership), &plan, &failure, 0, Utc::now()).unwrap();
        assert_eq!(problem.code, Code::GraphRejected);
        assert!(
            problem.reason.contains("Insufficient privileges"),
            "{}",
            problem.reason
        );
        assert!(
            problem.reason.contains("GroupMember.ReadWrite.All"),
            "{}",
            problem.reason
        );
        assert_eq!(problem.next_attempt_at, None, "waits for the grant");

        let throttled = ExportFailure::Graph {
            action: "creating the user",
            write: true,
            source: GraphError::Exhausted {
                attempts: 5,
                last: "429".into(),
            },
        };
        let plan = ExportPlan::Ignore("x");
        let problem = parked(key(ObjectKind::User), &plan, &throttled, 2, Utc::now()).unwrap();
        assert_eq!(problem.code, Code::RetriesExhausted);
        assert!(problem.next_attempt_at.is_some());
        assert!(!problem.reason.contains("permission"));
    }

    #[test]
    fn an_app_that_lost_its_access_or_permissions_parks_the_change_until_authorised_again() {
        let key = ProblemKey {
            direction: Direction::Export,
            kind: ObjectKind::User,
            object_id: "x".into(),
        };
        let plan = ExportPlan::Ignore("x");
        let failure = |source| ExportFailure::Graph {
            action: "updating the user",
            write: true,
            source,
        };
        let missing = failure(GraphError::PermissionsMissing(
            crate::model::entra::PermissionCheck {
                granted: vec![],
                missing: vec!["User.ReadWrite.All".into()],
            },
        ));
        let problem = parked(key.clone(), &plan, &missing, 0, Utc::now()).unwrap();
        assert_eq!(problem.code, Code::NotAuthorised);
        assert!(
            problem.reason.contains("User.ReadWrite.All")
                && problem.reason.contains("grant admin consent again"),
            "{}",
            problem.reason
        );
        for reason in [
            crate::model::entra::ReauthorisationReason::ConsentRevoked,
            crate::model::entra::ReauthorisationReason::AppDisabled,
        ] {
            let ended = failure(GraphError::Token(
                crate::model::entra::TokenError::AppAccessEnded(reason),
            ));
            let problem = parked(key.clone(), &plan, &ended, 0, Utc::now()).unwrap();
            assert_eq!(problem.code, Code::NotAuthorised, "{reason:?}");
            assert_eq!(problem.next_attempt_at, None);
        }
    }
}
