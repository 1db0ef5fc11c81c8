//! Exporting platform groups: create (idempotent by the export's mark),
//! update. Their deletion is in `ownership`, their members in `members`.

use super::intent::made_nothing;
use super::{
    EntraObjectKind, EntraPatch, EntraWriter, ExportDirectory, ExportFailure, ExportMark,
    ExportOutcome, ExportRun, NewEntraGroup, graph_failure, naming, to_send, update_failure,
};
use super::{Exported, events};
use crate::events::EventAction;
use crate::model::directory::{
    Field, GROUP_FIELDS, GroupAttributes, GroupItem, ItemKey, LinkOrigin, SyncedObject,
};
use crate::model::entra::GraphValue;

/// The group's fields that have a value (what `POST /groups` sends of them).
fn present(attributes: &GroupAttributes) -> Vec<&'static Field<GroupAttributes>> {
    let valued =
        |f: &&Field<GroupAttributes>| GraphValue::from((f.read)(attributes)) != GraphValue::Null;
    GROUP_FIELDS.iter().filter(valued).collect()
}

/// The value of the field Graph names `property`, as Graph's JSON.
fn field_value(attributes: &GroupAttributes, property: &str) -> serde_json::Value {
    GROUP_FIELDS
        .iter()
        .find(|f| f.graph == property)
        .map_or(serde_json::Value::Null, |f| {
            GraphValue::from((f.read)(attributes)).to_json()
        })
}

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// Sends the group's values as it has them now (see `to_send`).
    pub(super) async fn update_group(
        &self,
        key: &ItemKey,
        group_id: &str,
        entra_id: &str,
        (changed, (before, seen)): (&[&str], (Option<&GroupItem>, &GroupItem)),
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
        let old = |property: &str| match before {
            Some(before) => field_value(&before.attributes, property),
            None => serde_json::Value::Null,
        };
        let sent = events::patched(&patch, old);
        Ok(Exported::new("group updated", EventAction::Update)
            .with(sent)
            .into())
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
        let mut posted = EntraPatch::of(&present(&group.attributes), &group.attributes);
        posted.set(
            "mailNickname",
            GraphValue::Text(group.mail_nickname.clone()),
        );
        let sent = events::posted(&posted);
        Ok(Exported::new("group created", EventAction::Create)
            .with(sent)
            .into())
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
        // Made by an attempt whose answer was lost: this record's create.
        let linked = Exported::new("group found by its mark and linked", EventAction::Create);
        Ok(Some(linked.with(events::posted(&patch)).into()))
    }
}
