//! Memberships deferred to the end of the round: a page named users the
//! directory did not hold yet; those who entered the scope since are
//! there now.

use std::collections::{HashMap, HashSet};

use crate::import::state::{Counts, NumberedRecord};
use crate::import::{DirectoryStore, EntraDirectory, ImportRun, ImportState, Interruption};
use crate::model::directory::MembershipKey;
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// The round's membership changes of users the directory did not hold
    /// when their page was applied, for those it holds now (users who
    /// entered the scope). Returns the memberships present afterwards.
    pub(super) async fn apply_deferred_memberships(
        &self,
        group_records: &[NumberedRecord],
        counts: &mut Counts,
    ) -> Result<HashSet<String>, Interruption> {
        let mut last: HashMap<(&str, &str), bool> = HashMap::new();
        let deferred_memberships = group_records
            .iter()
            .flat_map(|(_, r)| &r.deferred_memberships);
        for deferred in deferred_memberships {
            last.insert(
                (deferred.group_id.as_str(), deferred.user_entra_id.as_str()),
                deferred.present,
            );
        }
        if last.is_empty() {
            return Ok(HashSet::new());
        }
        let mut entra_ids: Vec<String> = last.keys().map(|(_, u)| (*u).to_owned()).collect();
        entra_ids.sort();
        entra_ids.dedup();
        let users = self
            .directory
            .user_ids_by_entra_id(self.tenant(), &entra_ids)
            .await?;
        let wanted: HashMap<MembershipKey, bool> = last
            .into_iter()
            .filter_map(|((group_id, user_entra_id), present)| {
                let key = MembershipKey {
                    group_id: group_id.to_owned(),
                    user_id: users.get(user_entra_id)?.clone(),
                };
                Some((key, present))
            })
            .collect();
        let present = wanted
            .iter()
            .filter(|(_, present)| **present)
            .map(|(key, _)| key.encode())
            .collect();
        self.apply_memberships(wanted, counts).await?;
        Ok(present)
    }
}
