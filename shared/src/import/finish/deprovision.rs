//! Deprovisioning (DESIGN 2.13): what becomes of an imported user Entra
//! ID no longer shows, by why it went and what the tenant chose. Deletes
//! and disables both pass deletion safety; a kept user is only marked,
//! so that a later restore links it again and its memberships stay.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::import::records::{DeprovisionMark, DirectoryWrite, ManagerWrite, RemovalCause};
use crate::import::state::NumberedRecord;
use crate::import::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Interruption};
use crate::model::directory::{EntraHash, UserItem};
use crate::model::tenant_config::{Deprovisioning, UserAction};
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

/// Entra ID keeps a soft-deleted user restorable this long; a user
/// deprovisioned for a soft delete (or unseen) longer than that is gone
/// for good, and the purge choice applies.
pub const RESTORABLE_FOR: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// Deleted-items look-ups one run makes for users a full round did not
/// show (beyond them, the soft-delete choice applies, as it cannot tell).
pub const MAX_DELETED_LOOKUPS: usize = 100;
const DELETED_LOOKUP_CONCURRENCY: usize = 4;

/// Why each removed user went, by the last page that removed it; a page's
/// specific cause (soft delete, left the scope) beats its plain removal.
/// Users who left the group scope at the end of the run left the scope.
pub(super) fn removal_causes(
    records: &[NumberedRecord],
    left_group_scope: &[String],
) -> HashMap<String, RemovalCause> {
    let mut causes: HashMap<String, (u32, RemovalCause)> = HashMap::new();
    let mut note = |id: &String, page: u32, cause: RemovalCause| {
        let newer = match causes.get(id) {
            Some(&(last, known)) => page > last || (page == last && known == RemovalCause::Purged),
            None => true,
        };
        if newer {
            causes.insert(id.clone(), (page, cause));
        }
    };
    for (page, record) in records {
        for id in &record.removed {
            note(id, *page, RemovalCause::Purged);
        }
        for id in &record.soft_deleted {
            note(id, *page, RemovalCause::SoftDeleted);
        }
        for id in &record.left_scope {
            note(id, *page, RemovalCause::LeftScope);
        }
    }
    // Users who left the group scope and no page showed may be deleted
    // too (a purge during a scope change): `user_fates` asks.
    for id in left_group_scope {
        // Deleted on a page of the round: it left the scope by going.
        let cause = causes
            .entry(id.clone())
            .or_insert((u32::MAX, RemovalCause::LeftScope));
        if !matches!(cause.1, RemovalCause::Purged | RemovalCause::SoftDeleted) {
            *cause = (u32::MAX, RemovalCause::LeftScope);
        }
    }
    causes.into_iter().map(|(id, (_, c))| (id, c)).collect()
}

/// Of the users who left the group scope, those no page of the round
/// showed: still in Entra ID (out of scope) or deleted, Graph tells.
pub(super) fn unconfirmed_leavers(
    records: &[NumberedRecord],
    left_group_scope: &[String],
) -> HashSet<String> {
    let shown: HashSet<&String> = records
        .iter()
        .flat_map(|(_, r)| r.removed.iter().chain(&r.left_scope))
        .collect();
    left_group_scope
        .iter()
        .filter(|id| !shown.contains(id))
        .cloned()
        .collect()
}

/// The tenant's choice for a cause. A full round cannot tell a soft
/// delete from a purge or a scope change: the gentler soft-delete choice
/// applies, and a purge Entra ID reports later applies the purge choice.
pub fn action_for(choices: &Deprovisioning, cause: RemovalCause) -> UserAction {
    match cause {
        RemovalCause::SoftDeleted | RemovalCause::NotSeen => choices.import_user_soft_delete,
        RemovalCause::Purged => choices.import_user_purge,
        RemovalCause::LeftScope => choices.import_user_out_of_scope,
    }
}

/// What to do now with one removed user, given how it stands. A user
/// deprovisioned before is settled, unless it is now to be deleted: purged
/// since, or soft-deleted longer ago than Entra ID keeps it.
pub fn decide(
    choices: &Deprovisioning,
    cause: RemovalCause,
    current: &UserItem,
    now: DateTime<Utc>,
) -> Option<UserAction> {
    let Some(since) = &current.sync.deprovisioned_at else {
        return Some(action_for(choices, cause));
    };
    let marked_for = current.sync.deprovisioned_reason.as_deref();
    let gone = matches!(cause, RemovalCause::SoftDeleted | RemovalCause::NotSeen);
    if gone && marked_for == Some(RemovalCause::LeftScope.as_str()) {
        // Out of scope, then deleted: marked again for the deletion, so
        // that its 30 days count from now.
        return Some(action_for(choices, cause));
    }
    let expired = DateTime::parse_from_rfc3339(since)
        .map(|at| now - at.with_timezone(&Utc) > RESTORABLE_FOR)
        .unwrap_or(false);
    let purged = match cause {
        RemovalCause::Purged => true,
        RemovalCause::SoftDeleted | RemovalCause::NotSeen => expired,
        RemovalCause::LeftScope => false,
    };
    (purged && choices.import_user_purge == UserAction::Delete).then_some(UserAction::Delete)
}

/// Whether a user deprovisioned for this reason keeps the memberships a
/// full round does not show: Entra ID lists a deleted member nowhere yet
/// restores its memberships with it; a user out of scope is still listed,
/// and its memberships are Entra ID's.
pub fn keeps_unseen_memberships(reason: Option<&str>) -> bool {
    [
        RemovalCause::SoftDeleted,
        RemovalCause::NotSeen,
        RemovalCause::Purged,
    ]
    .iter()
    .any(|cause| reason == Some(cause.as_str()))
}

/// The removed users' fates: those deletion safety judges (deletes and
/// disables), and those only marked (kept).
#[derive(Debug, Default)]
pub(super) struct UserFates {
    /// By id: what happens, and why.
    pub(super) actions: HashMap<String, (UserAction, RemovalCause)>,
}

impl UserFates {
    /// The ids deletion safety counts: deletes and disables.
    pub(super) fn judged(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .actions
            .iter()
            .filter(|(_, (action, _))| *action != UserAction::Keep)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    pub(super) fn kept(&self) -> Vec<(String, RemovalCause)> {
        let mut kept: Vec<(String, RemovalCause)> = self
            .actions
            .iter()
            .filter(|(_, (action, _))| *action == UserAction::Keep)
            .map(|(id, (_, cause))| (id.clone(), *cause))
            .collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        kept
    }
}

/// Held user deletions are stored as their ids; a held disable as
/// `disable:<cause>:<id>` (object ids hold no colon), so that its approval
/// disables, for the cause it was held for, instead of deleting.
const HELD_DISABLE: &str = "disable:";

/// What a held user is to become once approved.
pub(super) type HeldFate = (UserAction, RemovalCause);

fn cause_named(name: &str) -> Option<RemovalCause> {
    [
        RemovalCause::SoftDeleted,
        RemovalCause::Purged,
        RemovalCause::LeftScope,
        RemovalCause::NotSeen,
    ]
    .into_iter()
    .find(|c| c.as_str() == name)
}

pub(super) fn decode_held(raw: &[String]) -> (Vec<String>, HashMap<String, HeldFate>) {
    let mut fates = HashMap::new();
    let ids = raw
        .iter()
        .map(|entry| match entry.strip_prefix(HELD_DISABLE) {
            Some(rest) => {
                let (cause, id) = match rest.split_once(':') {
                    Some((cause, id)) => (cause_named(cause).unwrap_or(RemovalCause::NotSeen), id),
                    None => (RemovalCause::NotSeen, rest),
                };
                fates.insert(id.to_owned(), (UserAction::Disable, cause));
                id.to_owned()
            }
            None => entry.clone(),
        })
        .collect();
    (ids, fates)
}

pub(super) fn encode_held(ids: &[String], fates: &HashMap<String, HeldFate>) -> Vec<String> {
    ids.iter()
        .map(|id| match fates.get(id) {
            Some((UserAction::Disable, cause)) => format!("{HELD_DISABLE}{}:{id}", cause.as_str()),
            _ => id.clone(),
        })
        .collect()
}

/// The update that deprovisions `user` (disabled unless kept), agreeing
/// at its new values so that the export leaves Entra ID alone.
pub fn deprovision_write(
    user: &UserItem,
    action: UserAction,
    cause: RemovalCause,
    now: DateTime<Utc>,
) -> DirectoryWrite {
    let mut attributes = user.attributes.clone();
    if action == UserAction::Disable {
        attributes.enabled = false;
    }
    DirectoryWrite::UpdateUser {
        user_id: user.user_id.clone(),
        entra_link: None,
        hash: EntraHash::of_user(&attributes),
        attributes,
        password_mode: None,
        deprovision: DeprovisionMark::Set { at: now, cause },
        manager: ManagerWrite::Unchanged,
    }
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// The fates of the removed imported users `candidates`.
    pub(super) async fn user_fates(
        &self,
        candidates: Vec<String>,
        (causes, leavers): (&HashMap<String, RemovalCause>, &HashSet<String>),
    ) -> Result<UserFates, Interruption> {
        let mut fates = UserFates::default();
        if candidates.is_empty() {
            return Ok(fates);
        }
        let items = self
            .directory
            .users_by_entra_id(self.tenant(), &candidates)
            .await?;
        // Those not yet deprovisioned first: their fate depends on it.
        let mut unseen: Vec<&String> = candidates
            .iter()
            .filter(|id| items.contains_key(*id) && !causes.contains_key(*id))
            .collect();
        unseen.sort_by_key(|id| items[*id].sync.deprovisioned_at.is_some());
        let mut seen_deleted = self.soft_or_purged(&unseen).await?;
        let mut leaving: Vec<&String> = candidates
            .iter()
            .filter(|id| items.contains_key(*id) && leavers.contains(*id))
            .collect();
        leaving.sort_by_key(|id| items[*id].sync.deprovisioned_at.is_some());
        seen_deleted.extend(self.deleted_leavers(&leaving).await?);
        let now = Utc::now();
        let choices = &self.config.deprovisioning;
        for id in candidates {
            let Some(current) = items.get(&id) else {
                continue;
            };
            let cause = seen_deleted
                .get(&id)
                .filter(|_| leavers.contains(&id))
                .or_else(|| causes.get(&id))
                .or_else(|| seen_deleted.get(&id))
                .copied()
                .unwrap_or(RemovalCause::NotSeen);
            if let Some(action) = decide(choices, cause, current, now) {
                fates.actions.insert(id, (action, cause));
            }
        }
        Ok(fates)
    }

    /// Why users a full round did not show went: Entra ID's deleted items
    /// tell a soft delete from a purge (a full round reads every user
    /// there is, so an unseen one is deleted). At most
    /// [`MAX_DELETED_LOOKUPS`] a run (the rest stay `not_seen`), a few at
    /// a time.
    async fn soft_or_purged(
        &self,
        unseen: &[&String],
    ) -> Result<HashMap<String, RemovalCause>, Interruption> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let looked_up = unseen.iter().take(MAX_DELETED_LOOKUPS);
        let found: Vec<(String, bool)> = stream::iter(looked_up)
            .map(|id| async move {
                let soft = self.entra.is_soft_deleted_user(id).await?;
                Ok::<_, Interruption>(((*id).clone(), soft))
            })
            .buffer_unordered(DELETED_LOOKUP_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .map(|(id, soft)| {
                let cause = match soft {
                    true => RemovalCause::SoftDeleted,
                    false => RemovalCause::Purged,
                };
                (id, cause)
            })
            .collect())
    }

    /// Of users who left the group scope unseen, those Entra ID no longer
    /// has, and whether softly: at most [`MAX_DELETED_LOOKUPS`] a run.
    async fn deleted_leavers(
        &self,
        leaving: &[&String],
    ) -> Result<HashMap<String, RemovalCause>, Interruption> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let looked_up = leaving.iter().take(MAX_DELETED_LOOKUPS);
        let gone: Vec<Option<&String>> = stream::iter(looked_up)
            .map(|id| async move {
                let live = self.entra.user(id).await?.is_some();
                Ok::<_, Interruption>((!live).then_some(*id))
            })
            .buffer_unordered(DELETED_LOOKUP_CONCURRENCY)
            .try_collect()
            .await?;
        let gone: Vec<&String> = gone.into_iter().flatten().collect();
        self.soft_or_purged(&gone).await
    }

    /// Disables and marks the users deprovisioned now (memberships stay);
    /// returns their ids.
    pub(super) async fn deprovision(
        &self,
        users: &[(String, UserAction, RemovalCause)],
        counts: &mut crate::import::state::Counts,
    ) -> Result<Vec<String>, Interruption> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = users.iter().map(|(id, _, _)| id.clone()).collect();
        let items = self
            .directory
            .users_by_entra_id(self.tenant(), &ids)
            .await?;
        let now = Utc::now();
        let writes: Vec<DirectoryWrite> = users
            .iter()
            .filter_map(|(id, action, cause)| {
                let item = items.get(id)?;
                tracing::info!(user_id = %id, action = action.as_str(), cause = cause.as_str(), "deprovisioning the user as the tenant chose");
                if *action == UserAction::Disable {
                    counts.users_updated += 1;
                }
                Some(deprovision_write(item, *action, *cause, now))
            })
            .collect();
        self.changes.remember_users(items.values(), &writes);
        self.write(writes).await?;
        Ok(ids)
    }
}
