//! One platform group, AM → Entra ID, with its members: the group created
//! or updated by the export engine's plans, then each AM membership whose
//! user is in Entra ID and not yet a member added as the stream adds it.
//! A member not exported yet waits for its user, as in the stream.

use serde_json::json;

use super::OnDemandError;
use super::answer::{StepName, StepStatus, SyncObjectAnswer, SyncResult};
use super::explain::field_json;
use super::export_user::{ExportLookups, OnDemandExport};
use crate::events::AttributeChange;
use crate::export::{EntraWriter, ExportDirectory, ExportOutcome, ExportPlan, ExportRun};
use crate::import::EntraDirectory;
use crate::model::directory::{
    GROUP_FIELDS, GroupAttributes, GroupItem, ItemKey, Source, SyncedObject,
};
use crate::model::entra::ExportMark;
use crate::problems::{ObjectKind, ProblemStore};

/// The group's members as the act finds them.
#[derive(Default)]
struct Members {
    /// AM user id and user name of each member to add.
    to_add: Vec<(String, String)>,
    /// Members whose user is not in Entra ID yet.
    waiting: Vec<String>,
    /// AM memberships beyond the ones a call looks at (the stream exports them).
    beyond: usize,
}

/// The AM memberships one call looks at: each costs a read and maybe a
/// Graph write, and the call must answer within API Gateway's 30 s.
const MEMBERS_PER_CALL: usize = 100;

impl Members {
    /// Each member added (or, in a dry run, to add), as a change of the group.
    fn additions<'m>(names: impl Iterator<Item = &'m String>) -> Vec<AttributeChange> {
        names
            .map(|name| AttributeChange {
                attribute: "member".into(),
                old: serde_json::Value::Null,
                new: json!(name),
            })
            .collect()
    }

    fn details(&self) -> serde_json::Value {
        json!({"waiting": self.waiting, "not_looked_at": self.beyond})
    }

    /// The sentence for a group with no member to add.
    fn all_there(&self) -> String {
        let mut sentence = match self.waiting.is_empty() {
            true => "Members: Entra ID has every member the AM group has".to_owned(),
            false => format!(
                "Members: the others are in Entra ID; these wait for their user to be exported: {}",
                self.waiting.join(", ")
            ),
        };
        if self.beyond > 0 {
            sentence += &format!(
                " (the first {MEMBERS_PER_CALL} members looked at; {} more are left to the export)",
                self.beyond
            );
        }
        sentence
    }
}

fn group_changes(old: Option<&GroupAttributes>, new: &GroupAttributes) -> Vec<AttributeChange> {
    GROUP_FIELDS
        .iter()
        .map(|f| AttributeChange {
            attribute: f.graph.to_owned(),
            old: old.map_or(serde_json::Value::Null, |o| field_json((f.read)(o))),
            new: field_json((f.read)(new)),
        })
        .filter(|c| c.old != c.new)
        .collect()
}

impl<D, W, R, P> OnDemandExport<'_, D, W, R, P>
where
    D: ExportDirectory + ExportLookups,
    W: EntraWriter,
    R: EntraDirectory,
    P: ProblemStore,
{
    /// Exports (or, with `dry_run`, explains) the group `object` names: its
    /// AM id, or the Entra id it is linked to.
    pub async fn sync_group(
        &self,
        object: &str,
        dry_run: bool,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let answer = self.group_answer(object, dry_run).await?;
        self.settle_problem(&answer, ObjectKind::Group).await?;
        Ok(answer)
    }

    async fn group_answer(
        &self,
        object: &str,
        dry_run: bool,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let mut answer = SyncObjectAnswer::new(dry_run);
        let tenant = self.tenant();
        let item = match self.directory.group(tenant, object).await? {
            Some(item) => item,
            None => match self.directory.group_linked_to(tenant, object).await? {
                Some(item) => item,
                None => return self.group_gone(object, answer).await,
            },
        };
        let name = item.attributes.name.clone();
        answer.display = Some(name.clone());
        answer.object_id = item.entra_object_id().map(str::to_owned);
        answer.am_id = Some(item.group_id.clone());
        answer.step(
            StepName::Read,
            StepStatus::Success,
            format!("Read AM group '{name}' ({})", item.group_id),
            json!({"am_group_id": item.group_id, "source": item.source,
                   "entra_id": item.linked_entra_id()}),
        );
        if !self.config.export_groups {
            let why = "Out of scope: Export Groups is off: the export sends no group";
            return Ok(answer.skip(StepName::Scope, why, json!({"decided_by": "export_groups"})));
        }
        if item.source == Source::Entra {
            let why = "Not exported: the import wrote this group from Entra ID, and the export never sends an imported object back";
            return Ok(answer.skip(StepName::Scope, why, json!({"rule": "imported"})));
        }
        answer.step(
            StepName::Scope,
            StepStatus::Success,
            "In scope: Export Groups is on, and it is a platform group",
            json!({"in_scope": true}),
        );
        let answer = self.group_act(item.clone(), answer).await?;
        self.members_act(&item, answer).await
    }

    /// The group itself: linked (updated where Entra ID differs, unless
    /// the echo rule holds), or created (or linked by its mark).
    async fn group_act(
        &self,
        item: GroupItem,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        let key = ItemKey::group(self.tenant(), &item.group_id);
        let Some(entra_id) = item.linked_entra_id().map(str::to_owned) else {
            let marked = self.writer.group_by_mark(&ExportMark::of(&key)).await?;
            let (why, result) = match &marked {
                Some(id) => (
                    format!(
                        "Matched Entra group {id} by entra-sync's mark for this group: it is linked, not made again"
                    ),
                    SyncResult::Update,
                ),
                None => (
                    "No Entra group carries entra-sync's mark for this group".into(),
                    SyncResult::Create,
                ),
            };
            answer.step(
                StepName::Match,
                StepStatus::Success,
                why,
                json!({"match": if marked.is_some() { "mark" } else { "none" }}),
            );
            answer.modified = group_changes(None, &item.attributes);
            let plan = ExportPlan::CreateGroup {
                group_id: item.group_id.clone(),
                item,
            };
            return self.export_plan(answer, &key, plan, result, "group").await;
        };
        let entra_group = self.entra.group(&entra_id).await?;
        let old = entra_group.as_ref().map(|g| &g.attributes);
        answer.step(
            StepName::Match,
            StepStatus::Success,
            format!("Matched Entra group {entra_id} by its link"),
            json!({"match": "link", "entra_id": entra_id, "found": entra_group.is_some()}),
        );
        let differences = group_changes(old, &item.attributes);
        if item.agrees_with_entra() || differences.is_empty() {
            answer.result = SyncResult::NoChange;
            let why = "No change to the group: Entra ID has its values, or they are the ones the export last sent (echo rule)";
            answer.step(StepName::Act, StepStatus::Success, why, json!({}));
            return Ok(answer);
        }
        answer.modified = differences;
        let plan = ExportPlan::UpdateGroup {
            group_id: item.group_id.clone(),
            entra_id,
            changed: GROUP_FIELDS.iter().map(|f| f.am).collect(),
            before: None,
            item,
        };
        self.export_plan(answer, &key, plan, SyncResult::Update, "group")
            .await
    }

    /// Its AM members in Entra ID: those not there yet are added.
    async fn members_act(
        &self,
        item: &GroupItem,
        mut answer: SyncObjectAnswer,
    ) -> Result<SyncObjectAnswer, OnDemandError> {
        if answer.result == SyncResult::Skipped {
            return Ok(answer);
        }
        // A group this call created has no members in Entra ID yet (and
        // Graph may not list it until it has replicated).
        let in_entra = match answer.result {
            SyncResult::Create => None,
            _ => answer.object_id.as_deref(),
        };
        let members = self.members(item, in_entra).await?;
        if members.to_add.is_empty() {
            answer.step(
                StepName::Act,
                StepStatus::Success,
                members.all_there(),
                members.details(),
            );
            return Ok(answer);
        }
        if answer.result == SyncResult::NoChange {
            answer.result = SyncResult::Update;
        }
        let names: Vec<&str> = members.to_add.iter().map(|(_, n)| n.as_str()).collect();
        let names = names.join(", ");
        if answer.dry_run {
            let why = format!(
                "Dry run: would add {} member(s): {names}; nothing was written",
                members.to_add.len()
            );
            let names = members.to_add.iter().map(|(_, n)| n);
            answer.modified.extend(Members::additions(names));
            answer.step(StepName::Act, StepStatus::Success, why, members.details());
            return Ok(answer);
        }
        let (added, failures) = self.add_members(item, &members, &mut answer).await;
        answer.modified.extend(Members::additions(added.iter()));
        let (status, why) = match failures.is_empty() {
            true => (
                StepStatus::Success,
                format!("Added {} member(s): {names}", members.to_add.len()),
            ),
            false => (
                StepStatus::Failure,
                format!("Members not added: {}", failures.join("; ")),
            ),
        };
        answer.step(StepName::Act, status, why, members.details());
        Ok(answer)
    }

    /// Adds each member through the export's plan: the names added, and
    /// what could not be added, and why.
    async fn add_members(
        &self,
        item: &GroupItem,
        members: &Members,
        answer: &mut SyncObjectAnswer,
    ) -> (Vec<String>, Vec<String>) {
        let run = ExportRun::new(self.directory, self.writer, self.config);
        let key = ItemKey::group(self.tenant(), &item.group_id);
        let (mut added, mut failures) = (Vec::new(), Vec::new());
        for (user_id, name) in &members.to_add {
            let plan = ExportPlan::AddMember {
                group_id: item.group_id.clone(),
                user_id: user_id.clone(),
            };
            match run.apply_plan(self.tenant(), &key, plan).await {
                Ok(ExportOutcome::Exported(_)) => {
                    answer.written = true;
                    added.push(name.clone());
                }
                Ok(ExportOutcome::Ignored(why)) => failures.push(format!("{name}: {why}")),
                Err(failure) => failures.push(format!("{name}: {failure}")),
            }
        }
        (added, failures)
    }

    /// The AM memberships whose user is in Entra ID and not (yet) among
    /// the Entra group's members.
    async fn members(
        &self,
        item: &GroupItem,
        entra_id: Option<&str>,
    ) -> Result<Members, OnDemandError> {
        let tenant = self.tenant();
        let present: std::collections::HashSet<String> = match entra_id {
            Some(id) => self
                .entra
                .transitive_members(id)
                .await?
                .into_iter()
                .map(|(id, _)| id.to_string())
                .collect(),
            None => Default::default(),
        };
        let mut members = Members::default();
        let memberships = self
            .directory
            .memberships_of(tenant, &item.group_id)
            .await?;
        members.beyond = memberships.len().saturating_sub(MEMBERS_PER_CALL);
        for membership in memberships.into_iter().take(MEMBERS_PER_CALL) {
            let Some(user) = self.directory.user(tenant, &membership.user_id).await? else {
                continue;
            };
            let name = user.attributes.user_name.clone();
            match user.entra_object_id() {
                Some(id) if present.contains(id) => {}
                Some(_) => members.to_add.push((user.user_id.clone(), name)),
                None => members.waiting.push(name),
            }
        }
        Ok(members)
    }
}
