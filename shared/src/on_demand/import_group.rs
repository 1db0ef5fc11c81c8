//! One group, Entra ID → AM: read, scope (`import_groups`, the import
//! groups and the groups nested in them), match, act — the import's own
//! `group_upsert`, and its group deletion choice for a group Entra ID no
//! longer has. Memberships are left to the sync (a group's members are a
//! round of their own).

use serde_json::{Value, json};

use super::OnDemandError;
use super::answer::{StepName, StepStatus, SyncObjectAnswer, SyncResult};
use super::import_user::{AmUsers, OnDemandImport};
use crate::events::AttributeChange;
use crate::import::records::DirectoryWrite;
use crate::import::state::Counts;
use crate::import::{DirectoryStore, EntraDirectory};
use crate::model::directory::{GROUP_FIELDS, GroupAttributes, GroupItem, Source, SyncedObject};
use crate::model::entra::EntraGroup;
use crate::model::tenant_config::GroupAction;
use crate::problems::ProblemStore;

impl<D: DirectoryStore + AmUsers, E: EntraDirectory, P: ProblemStore> OnDemandImport<'_, D, E, P> {
    /// Synchronises (or, with `dry_run`, explains) the group `object`
    /// names: its Entra id, or the AM id of a group linked to one.
    pub async fn sync_group(
        &self,
        object: &str,
        dry_run: bool,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let answer = SyncObjectAnswer::new(dry_run);
        let entra_id = match self.directory.am_group(self.tenant(), object).await? {
            Some(group) => match group.entra_object_id() {
                Some(id) => id.to_owned(),
                None => {
                    let why = format!(
                        "AM group '{}' is a platform group not linked to Entra ID: there is nothing to import",
                        group.attributes.name
                    );
                    return Ok(answer.skip(StepName::Read, why, json!({"object": object})));
                }
            },
            None => object.to_owned(),
        };
        match self.entra.group(&entra_id).await? {
            Some(group) => {
                // By the id Graph gave: the caller's text may differ in case.
                let current = self.current_group(group.id.as_str()).await?;
                self.group_found(group, current, answer).await
            }
            None => {
                let current = self.current_group(&entra_id).await?;
                self.group_missing(entra_id, current, answer).await
            }
        }
    }

    async fn current_group(&self, entra_id: &str) -> Result<Option<GroupItem>, OnDemandError> {
        let ids = [entra_id.to_owned()];
        let mut found = self
            .directory
            .groups_by_entra_id(self.tenant(), &ids)
            .await?;
        Ok(found.remove(entra_id))
    }

    async fn group_found(
        &self,
        group: EntraGroup,
        current: Option<GroupItem>,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let name = group.attributes.name.clone();
        answer.object_id = Some(group.id.to_string());
        answer.display = Some(name.clone());
        answer.step(
            StepName::Read,
            StepStatus::Success,
            format!("Read group '{name}' from Entra ID"),
            json!({"id": group.id.to_string(), "name": name}),
        );
        let (in_scope, why, decided_by) = self.group_in_scope(&group).await?;
        let status = if in_scope {
            StepStatus::Success
        } else {
            StepStatus::Skipped
        };
        let details = json!({"in_scope": in_scope, "decided_by": decided_by});
        answer.step(StepName::Scope, status, why, details);
        if !in_scope {
            // The sync deletes an imported group that left the scope as it
            // deletes one Entra ID deleted.
            return self.group_removed(current, answer).await;
        }
        answer.step(
            StepName::Match,
            StepStatus::Success,
            group_match(current.as_ref()),
            json!({"am_group_id": current.as_ref().map(|c| c.group_id.clone())}),
        );
        if let Some(current) = current.as_ref().filter(|c| c.pending_export()) {
            let why = format!(
                "Not updated now: the platform changed AM group '{}' and that change is not exported to Entra ID yet; the import updates the group after the export",
                current.attributes.name
            );
            return Ok(answer.skip(StepName::Act, why, json!({"rule": "pending_export"})));
        }
        let upsert = crate::import::group_upsert(&group, current.as_ref(), &mut Counts::default());
        let Some(write) = upsert else {
            answer.result = SyncResult::NoChange;
            let why = "No change: the AM group already agrees with Entra ID";
            answer.step(StepName::Act, StepStatus::Success, why, json!({}));
            return Ok(answer);
        };
        let result = match &write {
            DirectoryWrite::CreateGroup(_) => SyncResult::Create,
            _ => SyncResult::Update,
        };
        let old = current.as_ref().map(|c| &c.attributes);
        answer.modified = group_changes(old, &group.attributes);
        self.act(answer, vec![write], result, "group").await
    }

    /// The import's group scope: `import_groups`, then the import groups
    /// and the groups nested in them (all groups when there are none).
    async fn group_in_scope(
        &self,
        group: &EntraGroup,
    ) -> Result<(bool, String, Option<&'static str>), OnDemandError> {
        if !self.config.import_groups {
            let why = "Out of scope: Import Groups is off: the sync imports no group";
            return Ok((false, why.into(), Some("import_groups")));
        }
        let Some(scope) = self.group_scope().await? else {
            return Ok((
                true,
                "In scope: the tenant imports every group".into(),
                None,
            ));
        };
        let configured: Vec<String> = self
            .config
            .import_group_ids
            .iter()
            .map(|g| g.to_string())
            .collect();
        let configured = configured.join(", ");
        Ok(match scope.groups.contains(group.id.as_str()) {
            true => (
                true,
                format!("In scope: an import group ({configured}) or nested in one"),
                None,
            ),
            false => (
                false,
                format!("Out of scope: neither an import group ({configured}) nor nested in one"),
                Some("import_group_ids"),
            ),
        })
    }

    async fn group_missing(
        &self,
        entra_id: String,
        current: Option<GroupItem>,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        answer.object_id = Some(entra_id.clone());
        let Some(current) = current else {
            let why = format!("No group '{entra_id}' in Entra ID, and none in AM");
            return Ok(answer.skip(StepName::Read, why, json!({"id": entra_id})));
        };
        answer.display = Some(current.attributes.name.clone());
        answer.step(
            StepName::Read,
            StepStatus::Success,
            format!("The Entra group {entra_id} is not in Entra ID any more"),
            json!({"id": entra_id, "deleted": true}),
        );
        answer.step(
            StepName::Scope,
            StepStatus::Skipped,
            "Out of scope: a deleted group is not imported",
            json!({"in_scope": false}),
        );
        self.group_removed(Some(current), answer).await
    }

    /// A group out of scope or deleted: the tenant's group deletion choice.
    async fn group_removed(
        &self,
        current: Option<GroupItem>,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        answer.step(
            StepName::Match,
            StepStatus::Success,
            group_match(current.as_ref()),
            json!({"am_group_id": current.as_ref().map(|c| c.group_id.clone())}),
        );
        let Some(current) = current else {
            return Ok(answer.skip(
                StepName::Act,
                "Not imported, and nothing to delete",
                json!({}),
            ));
        };
        if current.source != Source::Entra {
            let why = "Left as it is: the import never deletes a platform group";
            return Ok(answer.skip(StepName::Act, why, json!({})));
        }
        if !self.config.import_groups
            || self.config.deprovisioning.import_group_delete == GroupAction::Keep
        {
            let why = "Left as it is: the tenant keeps groups Entra ID no longer shows (or Import Groups is off)";
            return Ok(answer.skip(StepName::Act, why, json!({})));
        }
        let groups = std::collections::HashSet::from([current.group_id.clone()]);
        let memberships = self
            .directory
            .memberships_involving(self.tenant(), &Default::default(), &groups)
            .await?;
        let mut writes: Vec<DirectoryWrite> = memberships
            .into_iter()
            .map(DirectoryWrite::RemoveMembership)
            .collect();
        writes.push(DirectoryWrite::DeleteGroup {
            group_id: current.group_id.clone(),
        });
        answer.modified = vec![AttributeChange {
            attribute: "group".into(),
            old: json!(current.attributes.name),
            new: Value::Null,
        }];
        self.act(answer, writes, SyncResult::Delete, "group").await
    }
}

fn group_match(current: Option<&GroupItem>) -> String {
    match current {
        Some(group) if group.source == Source::Entra => {
            format!(
                "Matched AM group '{}', imported from this Entra group",
                group.attributes.name
            )
        }
        Some(group) => format!(
            "Matched platform group '{}' ({}), linked to this Entra group",
            group.attributes.name, group.group_id
        ),
        None => "No AM group is linked to it".into(),
    }
}

fn group_changes(old: Option<&GroupAttributes>, new: &GroupAttributes) -> Vec<AttributeChange> {
    let empty = GroupAttributes::default();
    let before = old.unwrap_or(&empty);
    GROUP_FIELDS
        .iter()
        .map(|f| (f.am, (f.read)(before), (f.read)(new)))
        .filter(|(_, was, now)| was != now)
        .map(|(name, was, now)| AttributeChange {
            attribute: name.to_owned(),
            old: super::explain::field_json(was),
            new: super::explain::field_json(now),
        })
        .collect()
}
