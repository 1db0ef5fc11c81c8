//! Graph's read side over the Entra model, with Graph's faults: throttling
//! and 5xx that outlasted the client's retries, expired delta state,
//! repeated items, and changes that land while a run reads.

use super::entra::{self, PagePlan};
use super::faults::{graph_exhausted, yield_point};
use super::world::{World, entra_change};
use crate::import::EntraDirectory;
use crate::model::EntraObjectId;
use crate::model::entra::GraphError;
use crate::model::entra::{DeltaPage, DomainInfo, EntraGroup, EntraUser, GroupDelta, MemberKind};

pub struct SimGraph<'w> {
    pub world: &'w World,
}

impl SimGraph<'_> {
    /// Every call: a point where a run can be killed, an Entra change that
    /// may land, and a fault that may strike.
    async fn call(&self) -> Result<(), GraphError> {
        yield_point().await;
        let faults = *self.world.faults.lock().unwrap();
        let mut rng = self.world.rng.lock().unwrap();
        if rng.chance(faults.entra_change_mid_run) {
            let kind = rng.below(12);
            entra_change(&mut self.world.entra.lock().unwrap(), &mut rng, kind);
        }
        if rng.chance(faults.graph_exhausted) {
            return Err(graph_exhausted());
        }
        Ok(())
    }

    fn delta_expired(&self) -> bool {
        let percent = self.world.faults.lock().unwrap().delta_expired;
        self.world.chance(percent)
    }

    fn duplicates(&self) -> u64 {
        self.world.faults.lock().unwrap().duplicate_items
    }
}

fn link_gone(link: &str) -> GraphError {
    GraphError::Rejected {
        status: 400,
        code: "Directory_ExpiredPageToken".into(),
        message: format!("unknown page link {link}"),
    }
}

impl SimGraph<'_> {
    /// One delta request, users and groups alike: a round's first page (or
    /// a delta link's changes), or a later page of the round as fixed when
    /// it started; `gone` is what Graph says when the delta state expired.
    async fn delta<T>(
        &self,
        link: Option<&str>,
        gone: &str,
        page: fn(&entra::EntraModel, &str) -> Option<DeltaPage<T>>,
        round: fn(&mut entra::EntraModel, Option<u64>, &mut PagePlan) -> DeltaPage<T>,
    ) -> Result<DeltaPage<T>, GraphError> {
        self.call().await?;
        let since = match link {
            None => None,
            Some(l) if l.starts_with("delta/") => {
                if self.delta_expired() {
                    return Err(GraphError::SyncStateGone(gone.into()));
                }
                entra::delta_since(l)
            }
            Some(l) => {
                let model = self.world.entra.lock().unwrap();
                return page(&model, l).ok_or_else(|| link_gone(l));
            }
        };
        let duplicate_percent = self.duplicates();
        let mut rng = self.world.rng.lock().unwrap();
        let mut plan = PagePlan {
            rng: &mut rng,
            duplicate_percent,
        };
        Ok(round(
            &mut self.world.entra.lock().unwrap(),
            since,
            &mut plan,
        ))
    }
}

impl EntraDirectory for SimGraph<'_> {
    async fn users_delta(&self, link: Option<&str>) -> Result<DeltaPage<EntraUser>, GraphError> {
        let page = entra::EntraModel::user_page;
        self.delta(
            link,
            "syncStateNotFound",
            page,
            entra::EntraModel::users_round,
        )
        .await
    }

    async fn groups_delta(&self, link: Option<&str>) -> Result<DeltaPage<GroupDelta>, GraphError> {
        let page = entra::EntraModel::group_page;
        self.delta(
            link,
            "resyncRequired",
            page,
            entra::EntraModel::groups_round,
        )
        .await
    }

    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        self.call().await?;
        Ok(entra::domain_infos())
    }

    async fn transitive_members(
        &self,
        group_id: &str,
    ) -> Result<Vec<(EntraObjectId, MemberKind)>, GraphError> {
        self.call().await?;
        let model = self.world.entra.lock().unwrap();
        if !model.group_exists(group_id) {
            return Err(GraphError::NotFound);
        }
        Ok(model
            .transitive(group_id)
            .into_iter()
            .map(|(id, kind)| (id.as_str().into(), kind))
            .collect())
    }

    async fn user(&self, id: &str) -> Result<Option<EntraUser>, GraphError> {
        self.call().await?;
        Ok(self.world.entra.lock().unwrap().entra_user(id))
    }

    async fn is_soft_deleted_user(&self, id: &str) -> Result<bool, GraphError> {
        self.call().await?;
        let model = self.world.entra.lock().unwrap();
        Ok(model.user_is(id, super::entra::Life::SoftDeleted))
    }

    async fn groups_of_user(&self, id: &str) -> Result<Vec<String>, GraphError> {
        self.call().await?;
        let model = self.world.entra.lock().unwrap();
        if !model.user_is(id, super::entra::Life::Active) {
            return Ok(Vec::new());
        }
        let groups = model.live_groups().into_iter();
        let member = |g: &String| model.groups[g].members.get(id).is_some_and(|m| m.present);
        Ok(groups.filter(member).collect())
    }

    async fn group(&self, id: &str) -> Result<Option<EntraGroup>, GraphError> {
        self.call().await?;
        Ok(self.world.entra.lock().unwrap().entra_group(id))
    }
}
