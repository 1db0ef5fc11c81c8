//! The end of a run: scope changes, the sweep of a full round, deletion
//! safety, and the new state. Reached only when both rounds were read to
//! their delta links: a failed or partial read never deletes anything.

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use super::records::{DirectoryWrite, MembershipKey, Source};
use super::state::{Checkpoint, Mode, PageRecord, Phase, RunResult, RunStatus, SyncState};
use super::{
    DirectoryStore, EntraDirectory, HeldDeletions, ImportRun, Interruption, ObjectKind,
    SyncStateStore,
};
use crate::graph::GraphError;
use crate::graph::model::{Continuation, DeltaItem, DeltaPage};

/// Deletions that need no approval: at most this many per kind and run.
pub const ALWAYS_ALLOWED_DELETIONS: usize = 10;

/// The final state of each id across a round's pages: true = present.
fn final_states(records: &[PageRecord]) -> HashMap<String, bool> {
    let mut states = HashMap::new();
    for record in records {
        for id in &record.removed {
            states.insert(id.clone(), false);
        }
        for id in &record.present {
            states.insert(id.clone(), true);
        }
    }
    states
}

struct Deletions {
    users: Vec<String>,
    groups: Vec<String>,
}

impl<D: DirectoryStore, S: SyncStateStore, E: EntraDirectory> ImportRun<'_, D, S, E> {
    pub(super) async fn finish(
        &self,
        state: &mut SyncState,
        mut checkpoint: Checkpoint,
        fingerprint: String,
    ) -> Result<RunStatus, Interruption> {
        let tenant = self.tenant().clone();
        let full = checkpoint.mode == Mode::Full;
        let mut extra_removals: Vec<String> = Vec::new();
        let mut extra_group_removals: Vec<String> = Vec::new();
        let mut groups_need_full_round = false;

        if checkpoint.scope_changed && !self.config.import_group_ids.is_empty() {
            let before = self.state.group_scope(&tenant).await?.unwrap_or_default();
            let after = self.compute_group_scope().await?;
            self.state.save_group_scope(&tenant, &after).await?;
            if self.config.import_users {
                let entering: Vec<String> =
                    after.users.difference(&before.users).cloned().collect();
                extra_removals.extend(before.users.difference(&after.users).cloned());
                let mut items = Vec::new();
                for id in &entering {
                    match self.entra.user(id).await {
                        Ok(Some(user)) => items.push(DeltaItem::Upsert(user)),
                        Ok(None) | Err(GraphError::NotFound) => {}
                        Err(err) => return Err(err.into()),
                    }
                }
                if !items.is_empty() {
                    let page = DeltaPage {
                        items,
                        continuation: Continuation::Done {
                            delta_link: String::new(),
                        },
                    };
                    let scope = super::scope::Scope {
                        domains: &self.config.domains,
                        groups: Some(&after),
                    };
                    let mut domains = None;
                    checkpoint.page = u32::MAX;
                    let phase_page = std::mem::replace(&mut checkpoint.phase, Phase::Users);
                    self.apply_users_page(&page, &scope, &mut domains, &mut checkpoint)
                        .await?;
                    checkpoint.phase = phase_page;
                }
            }
            extra_group_removals.extend(before.groups.difference(&after.groups).cloned());
            groups_need_full_round = after.groups.difference(&before.groups).next().is_some();
            tracing::info!(tenant_id = %tenant, users_in_scope = after.users.len(), groups_in_scope = after.groups.len(), "the import scope changed");
        }

        let (user_records, group_records) = if checkpoint.recorded_pages > 0 {
            (
                self.state
                    .page_records(&tenant, &checkpoint.round_id, Phase::Users)
                    .await?,
                self.state
                    .page_records(&tenant, &checkpoint.round_id, Phase::Groups)
                    .await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let user_states = final_states(&user_records);
        let group_states = final_states(&group_records);

        let mut imported_users: Option<Vec<String>> = None;
        let mut imported_groups: Option<Vec<String>> = None;
        let mut candidates = Deletions {
            users: Vec::new(),
            groups: Vec::new(),
        };
        if full && self.config.import_users {
            let imported = self
                .directory
                .imported_ids(&tenant, ObjectKind::User)
                .await?;
            candidates.users = imported
                .iter()
                .filter(|id| user_states.get(*id) != Some(&true))
                .cloned()
                .collect();
            imported_users = Some(imported);
        } else {
            let gone: Vec<String> = user_states
                .iter()
                .filter(|(_, present)| !**present)
                .map(|(id, _)| id.clone())
                .chain(extra_removals)
                .collect();
            candidates.users = self.imported_among(ObjectKind::User, gone).await?;
        }
        if full && self.config.import_groups {
            let imported = self
                .directory
                .imported_ids(&tenant, ObjectKind::Group)
                .await?;
            candidates.groups = imported
                .iter()
                .filter(|id| group_states.get(*id) != Some(&true))
                .cloned()
                .collect();
            imported_groups = Some(imported);
        } else {
            let gone: Vec<String> = group_states
                .iter()
                .filter(|(_, present)| !**present)
                .map(|(id, _)| id.clone())
                .chain(extra_group_removals)
                .collect();
            candidates.groups = self.imported_among(ObjectKind::Group, gone).await?;
        }

        // Held deletions: objects seen again are no longer to be deleted; the
        // admin's approval releases the rest.
        let mut held = if state.holding_deletions {
            self.state.held_deletions(&tenant).await?
        } else {
            HeldDeletions::default()
        };
        let held_before = held.clone();
        held.users.retain(|id| user_states.get(id) != Some(&true));
        held.groups.retain(|id| group_states.get(id) != Some(&true));
        let approved = self.config.approve_held_deletions && !held.is_empty();
        let mut approved_deletions = Deletions {
            users: Vec::new(),
            groups: Vec::new(),
        };
        if approved {
            approved_deletions.users = std::mem::take(&mut held.users);
            approved_deletions.groups = std::mem::take(&mut held.groups);
            tracing::info!(tenant_id = %tenant, users = approved_deletions.users.len(), groups = approved_deletions.groups.len(), "the admin approved the held deletions");
        }

        let mut hold_reasons = Vec::new();
        if let Some(reason) = self
            .hold_if_too_many(
                "user",
                &mut candidates.users,
                &mut held.users,
                imported_users,
            )
            .await?
        {
            hold_reasons.push(reason);
        }
        if let Some(reason) = self
            .hold_if_too_many(
                "group",
                &mut candidates.groups,
                &mut held.groups,
                imported_groups,
            )
            .await?
        {
            hold_reasons.push(reason);
        }
        candidates.users.extend(approved_deletions.users);
        candidates.groups.extend(approved_deletions.groups);
        self.delete(&candidates, &mut checkpoint).await?;

        if full && self.config.import_groups {
            self.sweep_memberships(&group_records, &candidates, &mut checkpoint)
                .await?;
        }

        if held != held_before {
            self.state.save_held_deletions(&tenant, &held).await?;
        }
        let result = if held.is_empty() {
            RunResult::Ok
        } else {
            RunResult::Held
        };
        let error = match result {
            RunResult::Held if hold_reasons.is_empty() => Some(format!(
                "{} user and {} group deletions are held back; set approve_held_deletions to apply them",
                held.users.len(),
                held.groups.len()
            )),
            RunResult::Held => Some(format!(
                "{}; set approve_held_deletions to apply them",
                hold_reasons.join("; ")
            )),
            _ => None,
        };
        state.users_delta_link = if self.config.import_users {
            checkpoint.users_delta_link.clone()
        } else {
            None
        };
        state.groups_delta_link = if self.config.import_groups && !groups_need_full_round {
            checkpoint.groups_delta_link.clone()
        } else {
            None
        };
        state.scope_fingerprint = Some(fingerprint);
        state.checkpoint = None;
        state.holding_deletions = !held.is_empty();
        let status = RunStatus {
            completed_at: Some(Utc::now()),
            result,
            error,
            mode: checkpoint.mode,
            counts: checkpoint.counts,
        };
        self.state
            .finish_run(&tenant, &self.run_id, state, &status)
            .await?;
        if full && let Some(requested) = &self.config.resync_requested_raw {
            self.state.clear_resync_request(&tenant, requested).await?;
        }
        if approved || (self.config.approve_held_deletions && held.is_empty()) {
            self.state.clear_deletion_approval(&tenant).await?;
        }
        tracing::info!(
            tenant_id = %tenant,
            mode = status.mode.as_str(),
            result = status.result.as_str(),
            users_created = status.counts.users_created,
            users_updated = status.counts.users_updated,
            users_deleted = status.counts.users_deleted,
            groups_created = status.counts.groups_created,
            groups_updated = status.counts.groups_updated,
            groups_deleted = status.counts.groups_deleted,
            members_added = status.counts.members_added,
            members_removed = status.counts.members_removed,
            "sync run completed"
        );
        Ok(status)
    }

    /// The ids among `entra_ids` that are imported objects in AM.
    async fn imported_among(
        &self,
        kind: ObjectKind,
        mut entra_ids: Vec<String>,
    ) -> Result<Vec<String>, Interruption> {
        entra_ids.sort();
        entra_ids.dedup();
        if entra_ids.is_empty() {
            return Ok(entra_ids);
        }
        let tenant = self.tenant();
        Ok(match kind {
            ObjectKind::User => {
                let found = self.directory.users_by_entra_id(tenant, &entra_ids).await?;
                entra_ids.retain(|id| found.get(id).is_some_and(|u| u.source == Source::Entra));
                entra_ids
            }
            ObjectKind::Group => {
                let found = self
                    .directory
                    .groups_by_entra_id(tenant, &entra_ids)
                    .await?;
                entra_ids.retain(|id| found.get(id).is_some_and(|g| g.source == Source::Entra));
                entra_ids
            }
        })
    }

    /// Deletion safety: more than the threshold share of the imported
    /// objects, and more than ten, are held back instead of deleted.
    async fn hold_if_too_many(
        &self,
        noun: &str,
        candidates: &mut Vec<String>,
        held: &mut Vec<String>,
        imported: Option<Vec<String>>,
    ) -> Result<Option<String>, Interruption> {
        if candidates.len() <= ALWAYS_ALLOWED_DELETIONS {
            return Ok(None);
        }
        let total = match imported {
            Some(ids) => ids.len(),
            None => {
                let kind = if noun == "user" {
                    ObjectKind::User
                } else {
                    ObjectKind::Group
                };
                self.directory
                    .imported_ids(self.tenant(), kind)
                    .await?
                    .len()
            }
        };
        let threshold = u64::from(self.config.deletion_threshold_percent);
        if (candidates.len() as u64) * 100 <= threshold * (total as u64) {
            return Ok(None);
        }
        let percent = (candidates.len() * 100).checked_div(total).unwrap_or(100);
        let reason = format!(
            "held back {} {noun} deletions: {}% of the {total} imported {noun}s, above the {threshold}% threshold",
            candidates.len(),
            percent
        );
        tracing::warn!(tenant_id = %self.tenant(), reason = %reason, "deletion safety engaged");
        let mut merged: HashSet<String> = held.drain(..).collect();
        merged.extend(candidates.drain(..));
        let mut merged: Vec<String> = merged.into_iter().collect();
        merged.sort();
        *held = merged;
        Ok(Some(reason))
    }

    /// Deletes imported users and groups (their Entra ids are their AM ids)
    /// with every membership they have.
    async fn delete(
        &self,
        deletions: &Deletions,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), Interruption> {
        if deletions.users.is_empty() && deletions.groups.is_empty() {
            return Ok(());
        }
        let users: HashSet<String> = deletions.users.iter().cloned().collect();
        let groups: HashSet<String> = deletions.groups.iter().cloned().collect();
        let memberships = self
            .directory
            .memberships_involving(self.tenant(), &users, &groups)
            .await?;
        let mut writes: Vec<DirectoryWrite> = Vec::new();
        checkpoint.counts.members_removed += memberships.len() as u64;
        writes.extend(
            memberships
                .into_iter()
                .map(DirectoryWrite::RemoveMembership),
        );
        checkpoint.counts.users_deleted += users.len() as u64;
        writes.extend(
            users
                .into_iter()
                .map(|user_id| DirectoryWrite::DeleteUser { user_id }),
        );
        checkpoint.counts.groups_deleted += groups.len() as u64;
        writes.extend(
            groups
                .into_iter()
                .map(|group_id| DirectoryWrite::DeleteGroup { group_id }),
        );
        self.directory.apply(self.tenant(), writes).await?;
        Ok(())
    }

    /// After a full groups round: imported memberships it did not show.
    async fn sweep_memberships(
        &self,
        group_records: &[PageRecord],
        deleted: &Deletions,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), Interruption> {
        let seen: HashSet<&str> = group_records
            .iter()
            .flat_map(|r| r.memberships.iter().map(String::as_str))
            .collect();
        let stale: Vec<MembershipKey> = self
            .directory
            .imported_memberships(self.tenant())
            .await?
            .into_iter()
            .filter(|m| !seen.contains(m.encode().as_str()))
            .filter(|m| {
                !deleted.users.contains(&m.user_id) && !deleted.groups.contains(&m.group_id)
            })
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        checkpoint.counts.members_removed += stale.len() as u64;
        self.directory
            .apply(
                self.tenant(),
                stale
                    .into_iter()
                    .map(DirectoryWrite::RemoveMembership)
                    .collect(),
            )
            .await?;
        Ok(())
    }
}
