//! One user, Entra ID → AM: read, scope, match, act — through the import's
//! own rules (mappings, scope, name conflicts, the echo rule, the password
//! mode and hash of `user_upsert`, the deprovisioning choices), so that
//! the user ends exactly as a sync would leave it.

use std::future::Future;

use chrono::Utc;
use serde_json::json;

use super::OnDemandError;
use super::answer::{ProblemNote, StepName, StepStatus, SyncObjectAnswer, SyncResult};
use super::explain::{changes_of, scope_of};
use crate::import::flows::ImportFlows;
use crate::import::records::{DeprovisionMark, DirectoryWrite, RemovalCause};
use crate::import::scope::group_scope;
use crate::import::state::{Counts, GroupScope};
use crate::import::{DirectoryStore, EntraDirectory, PlatformNames, deprovision, needs_check};
use crate::model::directory::{Source, SyncedObject, UserItem};
use crate::model::entra::{EntraUser, GraphError, MemberKind};
use crate::model::tenant_config::UserAction;
use crate::model::{EntraObjectId, TenantConfig, TenantId};
use crate::ports::StoreError;

/// An AM user by its AM id (an `object` may name one).
pub trait AmUsers: Send + Sync {
    fn am_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<UserItem>, StoreError>> + Send;
}

/// The on-demand import of one user, over the import's ports. `config` is
/// the saved config with the request's draft applied.
pub struct OnDemandImport<'a, D, E> {
    pub directory: &'a D,
    pub entra: &'a E,
    pub config: &'a TenantConfig,
}

/// What Entra ID says of the user asked for.
enum Read {
    Found(Box<EntraUser>),
    /// Not among the users: soft-deleted (restorable) or gone for good.
    Missing {
        entra_id: String,
        soft: bool,
    },
}

impl<D: DirectoryStore + AmUsers, E: EntraDirectory> OnDemandImport<'_, D, E> {
    fn tenant(&self) -> &TenantId {
        &self.config.tenant_id
    }

    /// Synchronises (or, with `dry_run`, explains) the user `object` names.
    pub async fn sync_user(
        &self,
        object: &str,
        dry_run: bool,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let answer = SyncObjectAnswer::new(dry_run);
        let flows = match ImportFlows::compile(self.config) {
            Ok(flows) => flows,
            Err(error) => {
                let why =
                    format!("The tenant's mappings or scoping filters cannot be used: {error}");
                return Ok(answer.skip(StepName::Read, why, json!({"error": error.to_string()})));
            }
        };
        let lookup = match self.resolve(object).await? {
            Ok(lookup) => lookup,
            Err(why) => return Ok(answer.skip(StepName::Read, why, json!({"object": object}))),
        };
        match self.read(&lookup).await? {
            Some(Read::Found(user)) => self.found(*user, &flows, answer).await,
            Some(Read::Missing { entra_id, soft }) => self.missing(entra_id, soft, answer).await,
            None => Ok(answer.skip(
                StepName::Read,
                format!("No user '{object}' in Entra ID, nor among its deleted users"),
                json!({"object": object}),
            )),
        }
    }

    /// The Entra id or UPN to read: `object` itself, or the Entra user of
    /// the AM user it names (`Err`: why there is none).
    async fn resolve(&self, object: &str) -> Result<Result<String, String>, OnDemandError> {
        if object.contains('@') {
            // A guest's UPN holds `#EXT#`: in a URL path it must be escaped.
            return Ok(Ok(object.replace('#', "%23")));
        }
        let Some(am_user) = self.directory.am_user(self.tenant(), object).await? else {
            return Ok(Ok(object.to_owned()));
        };
        match am_user.entra_object_id() {
            Some(entra_id) => Ok(Ok(entra_id.to_owned())),
            None => Ok(Err(format!(
                "AM user '{}' is a platform user not linked to Entra ID: there is nothing to import",
                am_user.attributes.user_name
            ))),
        }
    }

    async fn read(&self, lookup: &str) -> Result<Option<Read>, GraphError> {
        if let Some(user) = self.entra.user(lookup).await? {
            return Ok(Some(Read::Found(Box::new(user))));
        }
        if EntraObjectId::parse(lookup).is_err() {
            return Ok(None);
        }
        let soft = self.entra.is_soft_deleted_user(lookup).await?;
        Ok(Some(Read::Missing {
            entra_id: lookup.to_owned(),
            soft,
        }))
    }

    /// The group scope, when the tenant imports from groups: every member
    /// below its import groups (the import's own computation).
    async fn group_scope(&self) -> Result<Option<GroupScope>, GraphError> {
        if self.config.import_group_ids.is_empty() {
            return Ok(None);
        }
        let configured: Vec<String> = self
            .config
            .import_group_ids
            .iter()
            .map(|g| g.to_string())
            .collect();
        let mut members = Vec::new();
        for group in &configured {
            match self.entra.transitive_members(group).await {
                Ok(found) => members.extend(
                    found
                        .into_iter()
                        .filter(|(_, kind)| *kind != MemberKind::Other)
                        .map(|(id, kind)| (id.to_string(), kind == MemberKind::Group)),
                ),
                Err(GraphError::NotFound) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(Some(group_scope(&configured, members)))
    }

    async fn found(
        &self,
        user: EntraUser,
        flows: &ImportFlows,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let upn = user
            .properties
            .get("userPrincipalName")
            .and_then(|v| v.as_str())
            .unwrap_or(&user.attributes.user_name)
            .to_owned();
        answer.object_id = Some(user.id.to_string());
        answer.display = Some(upn.clone());
        let disabled = if user.attributes.enabled {
            ""
        } else {
            " (disabled there)"
        };
        answer.step(
            StepName::Read,
            StepStatus::Success,
            format!("Read '{upn}' from Entra ID{disabled}"),
            json!({"id": user.id.to_string(), "user_principal_name": upn,
                   "account_enabled": user.attributes.enabled, "guest": user.guest}),
        );
        let groups = self.group_scope().await?;
        let verdict = scope_of(self.config, flows, groups.as_ref(), &user);
        let status = match verdict.in_scope {
            true => StepStatus::Success,
            false => StepStatus::Skipped,
        };
        answer.step(
            StepName::Scope,
            status,
            verdict.description,
            verdict.details,
        );
        let id = user.id.to_string();
        let current = self.current(&id).await?;
        if !verdict.in_scope {
            return self
                .deprovisioned(RemovalCause::LeftScope, current, answer)
                .await;
        }
        self.in_scope(user, flows, current, answer).await
    }

    async fn current(&self, entra_id: &str) -> Result<Option<UserItem>, StoreError> {
        let ids = [entra_id.to_owned()];
        let mut found = self
            .directory
            .users_by_entra_id(self.tenant(), &ids)
            .await?;
        Ok(found.remove(entra_id))
    }

    async fn missing(
        &self,
        entra_id: String,
        soft: bool,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let current = self.current(&entra_id).await?;
        answer.object_id = Some(entra_id.clone());
        answer.display = current.as_ref().map(|c| c.attributes.user_name.clone());
        let (cause, sentence) = match soft {
            true => (
                RemovalCause::SoftDeleted,
                "is deleted in Entra ID and restorable (among its deleted users)",
            ),
            false => (
                RemovalCause::Purged,
                "is not in Entra ID any more, nor among its deleted users",
            ),
        };
        if current.is_none() && !soft {
            return Ok(answer.skip(
                StepName::Read,
                format!("No user '{entra_id}' in Entra ID, nor among its deleted users"),
                json!({"id": entra_id}),
            ));
        }
        answer.step(
            StepName::Read,
            StepStatus::Success,
            format!("The Entra user {entra_id} {sentence}"),
            json!({"id": entra_id, "deleted": cause.as_str()}),
        );
        answer.step(
            StepName::Scope,
            StepStatus::Skipped,
            "Out of scope: a deleted user is not imported",
            json!({"in_scope": false, "decided_by": cause.as_str()}),
        );
        self.deprovisioned(cause, current, answer).await
    }
}

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

impl<D: DirectoryStore + AmUsers, E: EntraDirectory> OnDemandImport<'_, D, E> {
    async fn in_scope(
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
        if let Some(current) = current.as_ref().filter(|c| c.pending_export()) {
            return Ok(answer.skip(
                StepName::Act,
                echo_sentence(current),
                json!({"rule": "pending_export"}),
            ));
        }
        let domains = self.entra.domains().await?;
        let reactivate = self.config.deprovisioning.reactivate_on_restore;
        let upsert = crate::import::user_upsert(
            &mapped,
            current.as_ref(),
            (&domains, None),
            reactivate,
            &mut Counts::default(),
        );
        let Some(write) = upsert else {
            answer.result = SyncResult::NoChange;
            answer.step(
                StepName::Act,
                StepStatus::Success,
                "No change: the AM user already agrees with Entra ID",
                json!({}),
            );
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
        self.act(answer, current.as_ref(), vec![write], result)
            .await
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
        let names = PlatformNames::of(self.directory.platform_user_names(self.tenant()).await?);
        let name = &mapped.attributes.user_name;
        if !names.taken(name, current.map(|c| c.user_id.as_str())) {
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
    async fn deprovisioned(
        &self,
        cause: RemovalCause,
        current: Option<UserItem>,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
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
        self.act(answer, Some(&current), writes, result).await
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

    /// Applies the writes (not in a dry run) and says what they change.
    async fn act(
        &self,
        mut answer: SyncObjectAnswer,
        current: Option<&UserItem>,
        writes: Vec<DirectoryWrite>,
        result: SyncResult,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let user_write = writes.last().expect("an act writes the user");
        answer.modified = changes_of(current, user_write);
        answer.result = result;
        let (verb, done) = verbs_of(result);
        let description = match answer.dry_run {
            true => format!("Dry run: would {verb} the AM user; nothing was written"),
            false => {
                self.directory.apply(self.tenant(), writes).await?;
                answer.written = true;
                format!("{done} the AM user")
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
}

/// The action, as to be done and as done.
fn verbs_of(result: SyncResult) -> (&'static str, &'static str) {
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
