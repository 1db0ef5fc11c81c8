//! A platform user back in AM (the same `user_id`) within the 30 days
//! Entra keeps the user the export deleted for it: that user is restored
//! from deleted items, the same object id, and linked (DESIGN 2.13),
//! instead of a new one created. Users only: security groups cannot be
//! restored (GRAPH.md 3.3), and the export makes only those.

use super::{
    EntraWriter, ExportDirectory, ExportFailure, ExportOutcome, ExportRun, Exported, graph_failure,
    is_conflict,
};
use crate::events::EventAction;
use crate::model::directory::{ItemKey, UserItem};
use crate::model::entra::GraphError;

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// `None`: nothing to restore, and a create goes on as ever.
    pub(super) async fn restore_deleted(
        &self,
        key: &ItemKey,
        item: &UserItem,
    ) -> Result<Option<ExportOutcome>, ExportFailure> {
        let Some(deleted) = self.directory.deleted_user(key).await? else {
            return Ok(None);
        };
        // The table's TTL removes the record days late, if ever.
        if !deleted.restorable_at(self.clock()) {
            return Ok(None);
        }
        let restored = match self.writer.restore_user(&deleted.entra_id).await {
            Ok(restored) => restored,
            // Purged (or restored and deleted by someone else): a new one.
            Err(GraphError::NotFound) => {
                self.directory.forget_deleted_user(key).await?;
                return Ok(None);
            }
            // Another user holds its UPN now: the create meets the same
            // holder and names it (or links the export's own).
            Err(e) if is_conflict(&e) => return Ok(None),
            Err(e) => return Err(graph_failure("restoring the deleted user", e)),
        };
        tracing::info!(entra_id = %restored.id, "restored from Entra ID's deleted items");
        // Forgotten before the link: a retry then finds it by its mark.
        self.directory.forget_deleted_user(key).await?;
        self.join_export_group(restored.id.as_str()).await?;
        let linked = self.link_marked_user(key, &restored, item).await?;
        // What the link sent (the platform's values Entra did not have).
        let sent = match linked {
            ExportOutcome::Exported(linked) => linked.modified,
            ExportOutcome::Ignored(_) => Vec::new(),
        };
        let what = "user restored from Entra ID's deleted items";
        Ok(Some(
            Exported::new(what, EventAction::Restore).with(sent).into(),
        ))
    }
}
