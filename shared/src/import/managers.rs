//! Each imported user's manager (DESIGN 2.13): Entra ID's `manager`, a
//! reference, becomes `manager_id`, the manager's AM user id, once the
//! manager is in the AM directory. Until then the user carries only the
//! manager's Entra id (`sync_manager_entra_id`), and the end of a round
//! links the reports of managers it brought in, and unlinks those of
//! managers it deleted (the `by-manager` index finds them).

use std::collections::{HashMap, HashSet};

use super::records::{DeprovisionMark, DirectoryWrite, ManagerWrite};
use super::state::{Counts, Mode, NumberedRecord};
use super::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Interruption};
use crate::model::directory::{EntraHash, UserItem};
use crate::model::entra::{EntraUser, ManagerLink};
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

/// Managers whose reports are read and written together.
const RELINK_CHUNK: usize = 100;

/// A user's manager as this page decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManagerDecision {
    /// The manager's Entra id; `None`: no manager.
    pub(super) entra_id: Option<String>,
    /// Its AM user id, when the directory holds it (or this page creates it).
    pub(super) am_id: Option<String>,
}

impl ManagerDecision {
    /// Sets `manager_id` on attributes about to be written, and says what
    /// the write does to the manager; with no decision the user keeps
    /// what it has (`current`'s).
    pub(super) fn apply(
        decision: Option<&Self>,
        attributes: &mut crate::model::directory::UserAttributes,
        current: Option<&UserItem>,
    ) -> ManagerWrite {
        match decision {
            Some(decision) => {
                attributes.manager_id = decision.am_id.clone();
                ManagerWrite::Set {
                    entra_id: decision.entra_id.clone(),
                }
            }
            None => {
                attributes.manager_id = current.and_then(|c| c.attributes.manager_id.clone());
                ManagerWrite::Unchanged
            }
        }
    }

    /// Whether writing it would change the user's manager bookkeeping.
    pub(super) fn differs_from(write: &ManagerWrite, current: &UserItem) -> bool {
        match write {
            ManagerWrite::Unchanged => false,
            ManagerWrite::Set { entra_id } => entra_id != &current.sync.manager_entra_id,
        }
    }
}

/// The managers these users' items state, by user id: a full round states
/// every user's (no `manager@delta`: none), a delta round only changes.
pub(super) fn stated_managers<'u>(
    users: &[&'u EntraUser],
    mode: Mode,
) -> Vec<(&'u str, Option<String>)> {
    users
        .iter()
        .filter_map(|user| {
            let manager = match user.manager_link() {
                Some(ManagerLink::Manager(id)) => Some(id),
                Some(ManagerLink::None) => None,
                None if mode == Mode::Full => None,
                None => return None,
            };
            Some((user.id.as_str(), manager))
        })
        .collect()
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// The manager of each of these users, when the tenant imports it and
    /// the items state it. `created` are the users this page creates (an
    /// imported user's AM id is its Entra id). Managers not in the AM
    /// directory are returned apart: the finish links them later.
    pub(super) async fn managers_of(
        &self,
        users: &[&EntraUser],
        created: &HashSet<&str>,
        mode: Option<Mode>,
    ) -> Result<(HashMap<String, ManagerDecision>, Vec<String>), Interruption> {
        let Some(mode) = mode.filter(|_| self.flows().imports_manager()) else {
            return Ok(Default::default());
        };
        let stated = stated_managers(users, mode);
        let mut wanted: Vec<String> = stated.iter().filter_map(|(_, m)| m.clone()).collect();
        wanted.sort();
        wanted.dedup();
        let mut known = self
            .directory
            .user_ids_by_entra_id(self.tenant(), &wanted)
            .await?;
        for id in &wanted {
            if created.contains(id.as_str()) {
                known.insert(id.clone(), id.clone());
            }
        }
        let waiting = wanted
            .iter()
            .filter(|id| !known.contains_key(*id))
            .cloned()
            .collect();
        let decisions = stated
            .into_iter()
            .map(|(user, manager)| {
                let am_id = manager.as_ref().and_then(|m| known.get(m).cloned());
                let decision = ManagerDecision {
                    entra_id: manager,
                    am_id,
                };
                (user.to_owned(), decision)
            })
            .collect();
        Ok((decisions, waiting))
    }

    /// The end of a round: the reports of managers a page could not
    /// resolve, and of those the round deleted, get `manager_id` as the
    /// directory now has them.
    pub(super) async fn relink_waiting_managers(
        &self,
        user_records: &[NumberedRecord],
        deleted: &[String],
        counts: &mut Counts,
    ) -> Result<(), Interruption> {
        if !self.flows().imports_manager() {
            return Ok(());
        }
        let mut waits: Vec<String> = user_records
            .iter()
            .flat_map(|(_, record)| record.manager_waits.iter().cloned())
            .collect();
        waits.sort();
        waits.dedup();
        // Only managers imported since have reports to link: those still
        // out of the directory leave theirs waiting, untouched.
        let imported = self
            .directory
            .user_ids_by_entra_id(self.tenant(), &waits)
            .await?;
        let candidates = deleted.iter().cloned().chain(imported.into_keys());
        self.relink_reports(candidates.collect(), counts).await
    }

    /// The reports of these users (Entra ids), when they name one as
    /// manager, get `manager_id` as the directory now has it.
    pub(super) async fn relink_reports(
        &self,
        mut candidates: Vec<String>,
        counts: &mut Counts,
    ) -> Result<(), Interruption> {
        if !self.flows().imports_manager() {
            return Ok(());
        }
        candidates.sort();
        candidates.dedup();
        // A chunk of managers at a time: their reports are read, then
        // written, so memory stays bounded by a chunk's reports.
        for managers in candidates.chunks(RELINK_CHUNK) {
            self.relink_chunk(managers, counts).await?;
        }
        Ok(())
    }

    async fn relink_chunk(
        &self,
        candidates: &[String],
        counts: &mut Counts,
    ) -> Result<(), Interruption> {
        let reports = self.directory.reports_of(self.tenant(), candidates).await?;
        let managers: Vec<String> = reports
            .iter()
            .filter_map(|r| r.sync.manager_entra_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let known = self
            .directory
            .user_ids_by_entra_id(self.tenant(), &managers)
            .await?;
        let writes: Vec<DirectoryWrite> = reports
            .iter()
            .filter_map(|report| relinked(report, &known))
            .collect();
        counts.users_updated += writes.len() as u64;
        self.changes.remember_users(&reports, &writes);
        self.write(writes).await
    }
}

/// The update that gives `report` the manager the directory now holds,
/// if that is not the one it names.
fn relinked(report: &UserItem, known: &HashMap<String, String>) -> Option<DirectoryWrite> {
    let manager = report.sync.manager_entra_id.as_ref()?;
    if super::pages::awaits_export(report) {
        // Its own page comes after the export's: the platform's change first.
        return None;
    }
    let am_id = known.get(manager).cloned();
    if report.attributes.manager_id == am_id {
        return None;
    }
    let mut attributes = report.attributes.clone();
    attributes.manager_id = am_id;
    // A linked platform user is written as one (its own `attributes`
    // map stays the platform's).
    let entra_link = match report.source {
        crate::model::directory::Source::Entra => None,
        _ => report.sync.entra_id.clone(),
    };
    Some(DirectoryWrite::UpdateUser {
        user_id: report.user_id.clone(),
        entra_link,
        hash: EntraHash::of_user(&attributes),
        attributes,
        password_mode: None,
        deprovision: DeprovisionMark::Unchanged,
        manager: ManagerWrite::Set {
            entra_id: Some(manager.clone()),
        },
    })
}
