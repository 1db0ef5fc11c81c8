//! The Entra user's manager (DESIGN 2.13): a reference of its own, not a
//! property of the PATCH, written after the user's other values with
//! `PUT`/`DELETE …/manager/$ref`. The manager must be in Entra ID first:
//! until it is, the write waits as a `dependency_missing` problem that
//! passes by itself (as a member not exported yet does), and the user's
//! hash does not claim the manager.

use super::members::Write;
use super::{
    EntraObjectKind, EntraWriter, ExportDirectory, ExportFailure, ExportRun, REPLICATION_RETRIES,
    graph_failure, mappings::ManagerWrite, not_visible_yet,
};
use crate::model::TenantId;
use crate::model::directory::{ItemKey, LinkOrigin, SyncedObject};
use crate::model::entra::GraphError;

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// Writes the manager (when `manager` says to), then records that the
    /// user agrees with Entra ID: with its manager when that was written,
    /// without it when not (the user's other values went already, and the
    /// failure, a problem, brings the manager later).
    pub(super) async fn finish_user(
        &self,
        key: &ItemKey,
        entra_id: &str,
        origin: Option<LinkOrigin>,
        manager: Option<&ManagerWrite>,
    ) -> Result<(), ExportFailure> {
        let written = match manager {
            Some(write) => self.write_manager(key.tenant(), entra_id, write).await,
            None => Ok(()),
        };
        match written {
            Ok(()) => self.record(key, entra_id, origin).await,
            Err(failure) => {
                self.record_with(key, entra_id, origin, false).await?;
                Err(failure)
            }
        }
    }

    /// Sets or removes the manager of the Entra user `entra_id`, waiting
    /// out Graph's read-after-write lag for a user or manager created
    /// moments ago (docs/graph.md 2.6).
    async fn write_manager(
        &self,
        tenant: &TenantId,
        entra_id: &str,
        write: &ManagerWrite,
    ) -> Result<(), ExportFailure> {
        let manager = match write {
            ManagerWrite::Set(manager_id) => Some(self.manager_entra_id(tenant, manager_id).await?),
            ManagerWrite::Remove => None,
        };
        for (attempt, wait) in REPLICATION_RETRIES.iter().enumerate() {
            match self.writer.set_manager(entra_id, manager.as_deref()).await {
                Ok(()) => return Ok(()),
                // No manager to remove: the end state is right.
                Err(GraphError::NotFound) if manager.is_none() => return Ok(()),
                Err(e) if not_visible_yet(&e) && attempt + 1 < REPLICATION_RETRIES.len() => {
                    tokio::time::sleep(*wait).await
                }
                Err(e) if not_visible_yet(&e) => {
                    return Err(ExportFailure::NotYet(format!(
                        "setting the manager: {e}; the user or its manager was created moments ago and is not visible yet, or it was deleted in Entra ID"
                    )));
                }
                Err(e) => return Err(graph_failure("writing the manager", e)),
            }
        }
        Err(ExportFailure::NotYet(
            "setting the manager: not visible yet".into(),
        ))
    }

    /// The Entra user of the AM user `manager_id`. Not in AM, or not
    /// exported yet: the manager waits for it. A platform manager's link
    /// must carry entra-sync's mark, as a membership's ends must
    /// (docs/behaviour.md 2.11): a forged `entra_id` must not make the
    /// user report to an account entra-sync never made.
    async fn manager_entra_id(
        &self,
        tenant: &TenantId,
        manager_id: &str,
    ) -> Result<String, ExportFailure> {
        let Some(manager) = self.directory.user(tenant, manager_id).await? else {
            return Err(ExportFailure::NotYet(format!(
                "the manager {manager_id} is not in the AM directory; the manager is written once it is there and exported"
            )));
        };
        let Some(manager_entra_id) = manager.entra_object_id() else {
            return Err(ExportFailure::NotYet(format!(
                "the manager {manager_id} ({}) is not in Entra ID yet; the manager is written once it is exported",
                manager.attributes.user_name
            )));
        };
        let manager_entra_id = manager_entra_id.to_owned();
        let key = ItemKey::user(tenant, manager_id);
        self.refuse_unowned_end(EntraObjectKind::User, key, &manager, Write::Add)
            .await?;
        Ok(manager_entra_id)
    }
}
