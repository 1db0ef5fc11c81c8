//! One user, Entra ID → AM: read, scope, match, act — through the import's
//! own rules (mappings, scope, name conflicts, the echo rule, the password
//! mode and hash of `user_upsert`, the deprovisioning choices), so that
//! the user ends exactly as a sync would leave it.

use std::future::Future;

use serde_json::json;

use super::OnDemandError;
use super::answer::{StepName, StepStatus, SyncObjectAnswer};
use super::explain::scope_of;
use crate::import::flows::ImportFlows;
use crate::import::records::RemovalCause;
use crate::import::state::GroupScope;
use crate::import::{DirectoryStore, EntraDirectory, PlatformUser};
use crate::model::directory::{GroupItem, SyncedObject, UserItem};
use crate::model::entra::{EntraUser, GraphError};
use crate::model::{EntraObjectId, TenantConfig, TenantId};
use crate::ports::StoreError;
use crate::problems::ProblemStore;

/// An AM user by its AM id (an `object` may name one).
pub trait AmUsers: Send + Sync {
    fn am_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<UserItem>, StoreError>> + Send;

    /// An AM group by its AM id.
    fn am_group(
        &self,
        tenant: &TenantId,
        group_id: &str,
    ) -> impl Future<Output = Result<Option<GroupItem>, StoreError>> + Send;

    /// The tenant's platform users (`source` not `entra`) whose user name
    /// is `user_name`, compared case-insensitively (DESIGN 2.2): one
    /// object's name-conflict check, without reading every user.
    fn platform_users_named(
        &self,
        tenant: &TenantId,
        user_name: &str,
    ) -> impl Future<Output = Result<Vec<PlatformUser>, StoreError>> + Send;
}

/// The on-demand import of one user, over the import's ports. `config` is
/// the saved config with the request's draft applied.
pub struct OnDemandImport<'a, D, E, P> {
    pub directory: &'a D,
    pub entra: &'a E,
    /// Where a real run records (or clears) the import problem a sync
    /// would record for the user.
    pub problems: &'a P,
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

impl<D: DirectoryStore + AmUsers, E: EntraDirectory, P: ProblemStore> OnDemandImport<'_, D, E, P> {
    pub(super) fn tenant(&self) -> &TenantId {
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
    pub(super) async fn group_scope(&self) -> Result<Option<GroupScope>, GraphError> {
        if self.config.import_group_ids.is_empty() {
            return Ok(None);
        }
        let scope = crate::import::scope::read_group_scope(self.entra, self.config).await?;
        Ok(Some(scope))
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

    pub(super) async fn current(&self, entra_id: &str) -> Result<Option<UserItem>, StoreError> {
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
