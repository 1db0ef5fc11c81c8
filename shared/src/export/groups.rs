//! Exporting platform groups: create (idempotent by the export's mark),
//! update. Their deletion is in `ownership`, their members in `members`.

use super::intent::made_nothing;
use super::{
    EntraObjectKind, EntraPatch, EntraWriter, ExportDirectory, ExportFailure, ExportMark,
    ExportOutcome, ExportRun, NewEntraGroup, graph_failure, naming, to_send, update_failure,
};
use crate::model::directory::{GROUP_FIELDS, GroupItem, ItemKey, LinkOrigin, SyncedObject};

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// Sends the group's values as it has them now (see `to_send`).
    pub(super) async fn update_group(
        &self,
        key: &ItemKey,
        group_id: &str,
        entra_id: &str,
        (changed, seen): (&[&str], &GroupItem),
    ) -> Result<ExportOutcome, ExportFailure> {
        let Some(item) = self.directory.group(key.tenant(), group_id).await? else {
            return Ok(ExportOutcome::Ignored("the group no longer exists"));
        };
        self.refuse_unowned(EntraObjectKind::Group, key, &item, entra_id)
            .await?;
        let fields = to_send(GROUP_FIELDS, changed, &seen.attributes, &item.attributes);
        let patch = EntraPatch::of(&fields, &item.attributes);
        self.writer
            .update_group(entra_id, &patch)
            .await
            .map_err(|e| update_failure("updating the group", e))?;
        self.record(key, entra_id, None).await?;
        Ok(ExportOutcome::Exported("group updated"))
    }

    pub(super) async fn create_group(
        &self,
        tenant: &crate::model::TenantId,
        group_id: &str,
        record_item: &GroupItem,
    ) -> Result<ExportOutcome, ExportFailure> {
        let Some(item) = self.directory.group(tenant, group_id).await? else {
            return Ok(ExportOutcome::Ignored("the group no longer exists"));
        };
        if item.entra_object_id().is_some() {
            return Ok(ExportOutcome::Ignored("already linked to Entra ID"));
        }
        let mut attributes = item.attributes.clone();
        if attributes.name.is_empty() {
            attributes.name = Some(record_item.attributes.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| group_id.to_owned());
        }
        let key = ItemKey::group(tenant, group_id);
        let group = NewEntraGroup {
            attributes,
            mail_nickname: naming::mail_nickname(&format!("am-{group_id}"), "am-group"),
            mark: ExportMark::of(&key),
        };
        if let Some(linked) = self.link_marked_group(&key, &group).await? {
            return Ok(linked);
        }
        self.begin_create(&key).await?;
        let entra_id = match self.writer.create_group(&group).await {
            Ok(id) => id,
            Err(e) if made_nothing(&e) => {
                let failure = graph_failure("creating the group", e);
                return Err(self.create_refused(&key, failure).await);
            }
            // Graph may have made it: if it shows already, it is linked now.
            Err(e) => {
                return match self.link_marked_group(&key, &group).await {
                    Ok(Some(linked)) => Ok(linked),
                    _ => Err(graph_failure("creating the group", e)),
                };
            }
        };
        self.record(&key, &entra_id, Some(LinkOrigin::Created))
            .await?;
        Ok(ExportOutcome::Exported("group created"))
    }

    /// Links the group that carries the mark, if one is visible (a create
    /// whose answer was lost made it), with the group's values as they are
    /// now. One GET.
    async fn link_marked_group(
        &self,
        key: &ItemKey,
        group: &NewEntraGroup,
    ) -> Result<Option<ExportOutcome>, ExportFailure> {
        let Some(entra_id) = self.group_by_mark(&group.mark).await? else {
            return Ok(None);
        };
        let patch = EntraPatch::of(&GROUP_FIELDS.iter().collect::<Vec<_>>(), &group.attributes);
        self.writer
            .update_group(&entra_id, &patch)
            .await
            .map_err(|e| update_failure("updating the group found by its mark", e))?;
        self.record(key, &entra_id, Some(LinkOrigin::Created))
            .await?;
        Ok(Some(ExportOutcome::Exported(
            "group found by its mark and linked",
        )))
    }
}
