//! A platform group gone from AM whose Entra group carries entra-sync's
//! mark for it (its deletion not exported yet): the tenant's
//! `export_group_delete_action`, through the export's own deletion plan.

use serde_json::{Value, json};

use super::OnDemandError;
use super::answer::{StepName, StepStatus, SyncObjectAnswer, SyncResult};
use super::export_user::{ExportLookups, OnDemandExport};
use crate::events::AttributeChange;
use crate::export::{EntraWriter, ExportDirectory, ExportPlan};
use crate::import::EntraDirectory;
use crate::model::TenantId;
use crate::model::directory::ItemKey;
use crate::model::entra::{EntraObjectKind, ExportMark};
use crate::model::tenant_config::GroupAction;
use crate::problems::ProblemStore;

/// The AM group id an export mark names in this tenant (`acme/GROUP#g-1`).
fn marked_group_id(tenant: &TenantId, mark: &ExportMark) -> Option<String> {
    let prefix = format!("{tenant}/GROUP#");
    mark.as_str().strip_prefix(&prefix).map(str::to_owned)
}

impl<D, W, R, P> OnDemandExport<'_, D, W, R, P>
where
    D: ExportDirectory + ExportLookups,
    W: EntraWriter,
    R: EntraDirectory,
    P: ProblemStore,
{
    /// `object` names no AM group: the Entra group that carries the mark of
    /// a gone one (by its Entra id or the AM id), if any.
    pub(super) async fn group_gone(
        &self,
        object: &str,
        answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let Some((group_id, entra_id)) = self.gone_group(object).await? else {
            let why = format!(
                "No AM group '{object}' (by AM id or linked Entra id), and no Entra group carries entra-sync's mark for one"
            );
            return Ok(answer.skip(StepName::Read, why, json!({"object": object})));
        };
        let name = match self.entra.group(&entra_id).await? {
            Some(group) => group.attributes.name,
            None => entra_id.clone(),
        };
        self.retire_group(group_id, entra_id, name, answer).await
    }

    async fn gone_group(&self, object: &str) -> Result<Option<(String, String)>, OnDemandError> {
        let tenant = self.tenant();
        let mark = self.mark_on(EntraObjectKind::Group, object).await?;
        if let Some(group_id) = mark.and_then(|m| marked_group_id(tenant, &m)) {
            let gone = self.directory.group(tenant, &group_id).await?.is_none();
            return Ok(gone.then(|| (group_id, object.to_owned())));
        }
        let key = ItemKey::group(tenant, object);
        let found = self.writer.group_by_mark(&ExportMark::of(&key)).await?;
        Ok(found.map(|entra_id| (object.to_owned(), entra_id)))
    }

    async fn retire_group(
        &self,
        group_id: String,
        entra_id: String,
        name: String,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        answer.display = Some(name.clone());
        answer.object_id = Some(entra_id.clone());
        answer.am_id = Some(group_id.clone());
        answer.step(
            StepName::Read,
            StepStatus::Success,
            format!("AM group {group_id} is deleted; Entra group '{name}' carries entra-sync's mark for it"),
            json!({"am_group_id": group_id, "entra_id": entra_id, "deleted": true}),
        );
        if !self.config.export_groups {
            let why = "Out of scope: Export Groups is off: the export sends no deletion";
            return Ok(answer.skip(StepName::Scope, why, json!({"decided_by": "export_groups"})));
        }
        let keep = self.config.deprovisioning.export_group_delete == GroupAction::Keep;
        answer.step(
            StepName::Scope,
            StepStatus::Success,
            "In scope: the deletion of a platform group the export created",
            json!({"in_scope": true, "export_group_delete_action": if keep { "keep" } else { "delete" }}),
        );
        answer.step(
            StepName::Match,
            StepStatus::Success,
            format!("Matched Entra group '{name}' by entra-sync's mark"),
            json!({"match": "mark", "entra_id": entra_id}),
        );
        if keep {
            answer.result = SyncResult::NoChange;
            let why =
                "No change: export_group_delete_action is keep: Entra ID keeps the group as it is";
            answer.step(StepName::Act, StepStatus::Success, why, json!({}));
            return Ok(answer);
        }
        answer.modified = vec![AttributeChange {
            attribute: "group".into(),
            old: json!(name),
            new: Value::Null,
        }];
        let key = ItemKey::group(self.tenant(), &group_id);
        let plan = ExportPlan::DeleteGroup { entra_id };
        self.export_plan(answer, &key, plan, SyncResult::Delete, "group")
            .await
    }
}
