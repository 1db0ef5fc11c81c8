//! One platform user, AM → Entra ID: read, scope, match, act — through the
//! export engine's own plans (`ExportRun::apply_plan`), so that the user
//! ends exactly as the export stream would leave it. A dry run reads Entra
//! ID and the AM directory and writes neither.

use std::future::Future;

use serde_json::json;

use super::OnDemandError;
use super::answer::{StepName, StepStatus, SyncObjectAnswer, SyncResult};
use crate::export::{EntraWriter, ExportDirectory, ExportMappings, ExportPlan};
use crate::import::EntraDirectory;
use crate::model::TenantConfig;
use crate::model::TenantId;
use crate::model::directory::{GroupItem, ItemKey, MembershipKey, Source, SyncedObject, UserItem};
use crate::model::entra::{EntraObjectKind, ExportMark, GraphError};
use crate::model::tenant_config::UserAction;
use crate::ports::StoreError;
use crate::problems::{Direction, ObjectKind, ProblemKey, ProblemStore};

/// The AM look-ups an on-demand export needs besides the export's own.
pub trait ExportLookups: Send + Sync {
    /// The AM user linked to (or imported as) this Entra user.
    fn user_linked_to(
        &self,
        tenant: &TenantId,
        entra_id: &str,
    ) -> impl Future<Output = Result<Option<UserItem>, StoreError>> + Send;

    /// The platform user with this user name (case-insensitive).
    fn platform_user_named(
        &self,
        tenant: &TenantId,
        user_name: &str,
    ) -> impl Future<Output = Result<Option<UserItem>, StoreError>> + Send;

    /// The AM group linked to (or imported as) this Entra group.
    fn group_linked_to(
        &self,
        tenant: &TenantId,
        entra_id: &str,
    ) -> impl Future<Output = Result<Option<GroupItem>, StoreError>> + Send;

    /// The group's memberships (an index look-up).
    fn memberships_of(
        &self,
        tenant: &TenantId,
        group_id: &str,
    ) -> impl Future<Output = Result<Vec<MembershipKey>, StoreError>> + Send;
}

/// The on-demand export of one object. `entra` reads the Entra object with
/// the export mappings' properties (to tell old from new); `writer` is the
/// export's own Graph port.
pub struct OnDemandExport<'a, D, W, R, P> {
    pub directory: &'a D,
    pub writer: &'a W,
    pub entra: &'a R,
    /// The object's open export problem is cleared once a real call has
    /// left it agreeing with Entra ID, as the stream clears it.
    pub problems: &'a P,
    pub config: &'a TenantConfig,
}

/// The AM user asked for, or what is left of a deleted one in Entra ID.
pub(super) enum Located {
    User(Box<UserItem>),
    /// A platform user gone from AM whose Entra user carries the export's
    /// mark for it (its deletion not exported yet, or not as chosen).
    Gone {
        user_id: String,
        entra_id: String,
        upn: String,
        enabled: bool,
    },
}

/// The AM user id an export mark names in this tenant (`acme/USER#p-1`).
pub(super) fn marked_user_id(tenant: &TenantId, mark: &ExportMark) -> Option<String> {
    let prefix = format!("{tenant}/USER#");
    mark.as_str().strip_prefix(&prefix).map(str::to_owned)
}

/// The Graph properties an on-demand export reads the Entra user with:
/// what the tenant's export mappings write (none when they do not compile:
/// the call then says so before reading).
pub fn export_read_properties(config: &TenantConfig) -> Vec<String> {
    ExportMappings::compile(config)
        .map(|mappings| mappings.targets())
        .unwrap_or_default()
}

impl<D, W, R, P> OnDemandExport<'_, D, W, R, P>
where
    D: ExportDirectory + ExportLookups,
    W: EntraWriter,
    R: EntraDirectory,
    P: ProblemStore,
{
    pub(super) fn tenant(&self) -> &TenantId {
        &self.config.tenant_id
    }

    /// Exports (or, with `dry_run`, explains) the user `object` names: an
    /// AM id, a user name, or the Entra id of the user it is linked to.
    pub async fn sync_user(
        &self,
        object: &str,
        dry_run: bool,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let answer = self.user_answer(object, dry_run).await?;
        self.settle_problem(&answer, ObjectKind::User).await?;
        Ok(answer)
    }

    /// A real call that left the object agreeing with Entra ID clears its
    /// open export problem (a failure's problem stays the stream's: it
    /// keeps the retry schedule).
    pub(super) async fn settle_problem(
        &self,
        answer: &SyncObjectAnswer,
        kind: ObjectKind,
    ) -> Result<(), StoreError> {
        let settled = !matches!(answer.result, SyncResult::Skipped | SyncResult::Keep);
        let Some(am_id) = answer.am_id.clone() else {
            return Ok(());
        };
        if answer.dry_run || answer.problem.is_some() || !settled {
            return Ok(());
        }
        let key = ProblemKey {
            direction: Direction::Export,
            kind,
            object_id: am_id,
        };
        self.problems.resolve(self.tenant(), &key).await.map(drop)
    }

    async fn user_answer(
        &self,
        object: &str,
        dry_run: bool,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let answer = SyncObjectAnswer::new(dry_run);
        let mappings = match ExportMappings::compile(self.config) {
            Ok(mappings) => mappings,
            Err(error) => {
                let why = format!("The tenant's export mappings cannot be used: {error}");
                return Ok(answer.skip(StepName::Read, why, json!({"error": error.to_string()})));
            }
        };
        match self.locate(object).await? {
            Some(Located::User(item)) => self.user_found(*item, &mappings, answer).await,
            Some(gone @ Located::Gone { .. }) => self.user_gone(gone, answer).await,
            None => Ok(answer.skip(
                StepName::Read,
                format!(
                    "No AM user '{object}' (by AM id, user name or linked Entra id), and no Entra user carries entra-sync's mark for one"
                ),
                json!({"object": object}),
            )),
        }
    }

    async fn locate(&self, object: &str) -> Result<Option<Located>, OnDemandError> {
        let tenant = self.tenant();
        if let Some(item) = self.directory.user(tenant, object).await? {
            return Ok(Some(Located::User(Box::new(item))));
        }
        if object.contains('@') {
            return self.locate_by_name(object).await;
        }
        if let Some(item) = self.directory.user_linked_to(tenant, object).await? {
            return Ok(Some(Located::User(Box::new(item))));
        }
        // An Entra id whose mark names a gone AM user, or the AM id of one.
        let mark = self.mark_on(EntraObjectKind::User, object).await?;
        if let Some(user_id) = mark.and_then(|m| marked_user_id(tenant, &m)) {
            return self.gone_user(user_id, object).await;
        }
        let key = ItemKey::user(tenant, object);
        let found = self.writer.user_by_mark(&ExportMark::of(&key)).await?;
        Ok(found.map(|found| Located::Gone {
            user_id: object.to_owned(),
            entra_id: found.user.id.to_string(),
            upn: found.user.attributes.user_name.clone(),
            enabled: found.user.attributes.enabled,
        }))
    }

    /// The export's mark on the Entra object `object`, when that is an
    /// Entra id (a GUID: anything else is only an AM id to look for) of an
    /// object Graph has.
    pub(super) async fn mark_on(
        &self,
        kind: EntraObjectKind,
        object: &str,
    ) -> Result<Option<ExportMark>, OnDemandError> {
        if uuid::Uuid::try_parse(object).is_err() {
            return Ok(None);
        }
        match self.writer.mark_of(kind, object).await {
            Ok(mark) => Ok(mark),
            Err(GraphError::NotFound | GraphError::InvalidObjectId { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A user name: the AM user linked to the Entra user of that UPN, else
    /// the platform user of that name.
    async fn locate_by_name(&self, name: &str) -> Result<Option<Located>, OnDemandError> {
        let tenant = self.tenant();
        if let Some(existing) = self.writer.user_by_upn(name).await? {
            let entra_id = existing.user.id.to_string();
            if let Some(item) = self.directory.user_linked_to(tenant, &entra_id).await? {
                return Ok(Some(Located::User(Box::new(item))));
            }
            let marked = existing.mark.and_then(|m| marked_user_id(tenant, &m));
            if let Some(user_id) = marked
                && self.directory.user(tenant, &user_id).await?.is_none()
            {
                return self.gone_user(user_id, &entra_id).await;
            }
        }
        let named = self.directory.platform_user_named(tenant, name).await?;
        Ok(named.map(|item| Located::User(Box::new(item))))
    }

    /// The Entra user `entra_id` of the AM user `user_id`, when that AM
    /// user is gone.
    async fn gone_user(
        &self,
        user_id: String,
        entra_id: &str,
    ) -> Result<Option<Located>, OnDemandError> {
        if let Some(item) = self.directory.user(self.tenant(), &user_id).await? {
            return Ok(Some(Located::User(Box::new(item))));
        }
        let Some(user) = self.entra.user(entra_id).await? else {
            return Ok(None);
        };
        Ok(Some(Located::Gone {
            user_id,
            entra_id: user.id.to_string(),
            upn: user.attributes.user_name.clone(),
            enabled: user.attributes.enabled,
        }))
    }

    async fn user_found(
        &self,
        item: UserItem,
        mappings: &ExportMappings,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let name = item.attributes.user_name.clone();
        answer.display = Some(name.clone());
        answer.object_id = item.entra_object_id().map(str::to_owned);
        answer.am_id = Some(item.user_id.clone());
        answer.step(
            StepName::Read,
            StepStatus::Success,
            format!("Read AM user '{name}' ({})", item.user_id),
            json!({"am_user_id": item.user_id, "user_name": name,
                   "source": item.source, "entra_id": item.linked_entra_id()}),
        );
        if let Some(answer) = self.user_out_of_scope(&item, answer.clone()) {
            return Ok(answer);
        }
        let group = self.config.export_group_id.as_ref().map(|g| g.to_string());
        let joins = match &group {
            Some(group) => format!("; it joins the export group {group}"),
            None => String::new(),
        };
        answer.step(
            StepName::Scope,
            StepStatus::Success,
            format!("In scope: Export Users is on, and it is a platform user{joins}"),
            json!({"in_scope": true, "export_group_id": group}),
        );
        match item.linked_entra_id().map(str::to_owned) {
            Some(entra_id) => self.linked(item, &entra_id, mappings, answer).await,
            None => self.unlinked(item, mappings, answer).await,
        }
    }

    /// Why the export does not send the user, if it does not.
    fn user_out_of_scope(
        &self,
        item: &UserItem,
        answer: SyncObjectAnswer,
    ) -> Option<SyncObjectAnswer> {
        if !self.config.export_users {
            let why = "Out of scope: Export Users is off: the export sends no user";
            return Some(answer.skip(
                StepName::Scope,
                why,
                json!({"in_scope": false, "decided_by": "export_users"}),
            ));
        }
        if item.source == Source::Entra {
            let why = "Not exported: the import wrote this user from Entra ID, and the export never sends an imported object back (its values are Entra ID's own)";
            return Some(answer.skip(
                StepName::Scope,
                why,
                json!({"in_scope": false, "rule": "imported", "decided_by": "source"}),
            ));
        }
        None
    }

    /// A platform user gone from AM: the tenant's `export_user_delete_action`.
    async fn user_gone(
        &self,
        gone: Located,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let Located::Gone {
            user_id,
            entra_id,
            upn,
            enabled,
        } = gone
        else {
            unreachable!("a gone user")
        };
        answer.display = Some(upn.clone());
        answer.object_id = Some(entra_id.clone());
        answer.am_id = Some(user_id.clone());
        answer.step(
            StepName::Read,
            StepStatus::Success,
            format!(
                "AM user {user_id} is deleted; Entra user '{upn}' carries entra-sync's mark for it"
            ),
            json!({"am_user_id": user_id, "entra_id": entra_id, "deleted": true}),
        );
        if !self.config.export_users {
            let why = "Out of scope: Export Users is off: the export sends no deletion";
            return Ok(answer.skip(StepName::Scope, why, json!({"decided_by": "export_users"})));
        }
        let action = self.config.deprovisioning.export_user_delete;
        answer.step(
            StepName::Scope,
            StepStatus::Success,
            "In scope: the deletion of a platform user the export created or adopted",
            json!({"in_scope": true, "export_user_delete_action": action.as_str()}),
        );
        answer.step(
            StepName::Match,
            StepStatus::Success,
            format!("Matched Entra user '{upn}' by entra-sync's mark"),
            json!({"match": "mark", "entra_id": entra_id}),
        );
        let result = match retirement(action, enabled) {
            Ok(result) => result,
            Err(why) => {
                answer.result = SyncResult::NoChange;
                answer.step(StepName::Act, StepStatus::Success, why, json!({}));
                return Ok(answer);
            }
        };
        answer.modified = super::export_act::retirement_changes(result, &upn);
        let key = ItemKey::user(self.tenant(), &user_id);
        let plan = ExportPlan::DeleteUser { entra_id };
        self.export_plan(answer, &key, plan, result, "user").await
    }
}

/// What the tenant's choice does to the Entra user of a deleted platform
/// user (`Err`: nothing, and why).
fn retirement(action: UserAction, enabled: bool) -> Result<SyncResult, &'static str> {
    match action {
        UserAction::Delete => Ok(SyncResult::Delete),
        UserAction::Disable if enabled => Ok(SyncResult::Disable),
        UserAction::Disable => Err(
            "No change: the Entra user is disabled already (export_user_delete_action is disable)",
        ),
        UserAction::Keep => {
            Err("No change: export_user_delete_action is keep: Entra ID keeps the user as it is")
        }
    }
}
