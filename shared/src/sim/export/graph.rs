//! The export's Entra ports over the model, with Graph's faults: retries
//! that ran out (nothing applied), a write applied whose answer was lost,
//! and a just-created object not visible for a few calls.

use serde_json::json;
use tokio::time::Instant;

use super::entra::{EntraObject, conflict};
use super::world::{DOMAINS, World};
use crate::export::{
    EntraObjectKind, EntraPatch, EntraWriter, ExistingEntraUser, ExportMark, NewEntraGroup,
    NewEntraUser, TenantWriters,
};
use crate::model::entra::GraphError;
use crate::model::entra::GraphValue;
use crate::model::entra::{DomainInfo, EntraUser};
use crate::sim::faults::{graph_exhausted, yield_point};

pub struct SimEntra<'w> {
    pub world: &'w World,
}

pub struct SimWriters<'w> {
    pub world: &'w World,
}

impl TenantWriters for SimWriters<'_> {
    type Writer<'a>
        = SimEntra<'a>
    where
        Self: 'a;
    fn for_tenant(&self, _: &crate::model::TenantConfig, _: Option<Instant>) -> SimEntra<'_> {
        SimEntra { world: self.world }
    }
}

fn lost_answer() -> GraphError {
    GraphError::Exhausted {
        attempts: 5,
        last: "504 GatewayTimeout (simulated; the write was applied)".into(),
    }
}

impl SimEntra<'_> {
    /// A call reaching Graph, or its retries running out first.
    async fn reach(&self) -> Result<(), GraphError> {
        yield_point().await;
        let now = self.world.now();
        self.world.entra.lock().unwrap().tick(now);
        let exhausted = self.world.faults().graph_exhausted;
        match self.world.chance(exhausted) {
            true => Err(graph_exhausted()),
            false => Ok(()),
        }
    }

    /// A write's answer, or its loss after the write was applied.
    fn answer<T>(&self, result: Result<T, GraphError>) -> Result<T, GraphError> {
        let lost = self.world.faults().graph_lost_answer;
        match result {
            Ok(_) if self.world.chance(lost) => Err(lost_answer()),
            other => other,
        }
    }

    /// How many calls a new object stays invisible.
    fn lag(&self) -> u64 {
        match self.world.faults().replication_lag {
            0 => 0,
            max => self.world.roll(max + 1),
        }
    }

    fn write(
        &self,
        group: bool,
        id: &str,
        what: &str,
        change: impl FnOnce(&mut EntraObject) -> Result<(), GraphError>,
    ) -> Result<(), GraphError> {
        let mut entra = self.world.entra.lock().unwrap();
        change(entra.object_mut(group, id)?)?;
        entra.note_write(group, id, what);
        Ok(())
    }

    fn create(
        &self,
        group: bool,
        name: Option<String>,
        upn: &str,
        enabled: bool,
        mark: &ExportMark,
    ) -> Result<String, GraphError> {
        let hidden_for = self.lag();
        let mut entra = self.world.entra.lock().unwrap();
        if !group && entra.holder(upn).is_some() {
            return Err(conflict());
        }
        let id = entra.fresh_id(if group { "eg" } else { "eu" });
        let object = EntraObject {
            upn: upn.to_owned(),
            name,
            enabled,
            mark: Some(mark.to_string()),
            admin: false,
            tenants_own: false,
            members: Default::default(),
            hidden_for,
            visible_by: Some(self.world.now() + super::entra::MAX_LAG),
        };
        match group {
            true => entra.groups.insert(id.clone(), object),
            false => entra.users.insert(id.clone(), object),
        };
        entra.creates.push(mark.to_string());
        entra.log.push(format!("create {id} {upn} for {mark}"));
        Ok(id)
    }

    fn patch(&self, group: bool, id: &str, patch: &EntraPatch) -> Result<(), GraphError> {
        let mut entra = self.world.entra.lock().unwrap();
        for (property, value) in &patch.properties {
            if let ("userPrincipalName", GraphValue::Text(upn)) = (property.as_str(), value)
                && entra.holder(upn).is_some_and(|holder| holder != id)
            {
                return Err(conflict());
            }
        }
        let object = entra.object_mut(group, id)?;
        for (property, value) in &patch.properties {
            match (property.as_str(), value) {
                ("userPrincipalName", GraphValue::Text(upn)) => object.upn = upn.clone(),
                ("userPrincipalName", GraphValue::Null) => object.upn = String::new(),
                ("displayName", GraphValue::Text(name)) => object.name = Some(name.clone()),
                ("displayName", GraphValue::Null) => object.name = None,
                ("accountEnabled", GraphValue::Flag(enabled)) => object.enabled = *enabled,
                _ => {}
            }
        }
        entra.note_write(group, id, &format!("patch {:?}", patch.properties));
        Ok(())
    }

    fn delete(&self, group: bool, id: &str) -> Result<(), GraphError> {
        let mut entra = self.world.entra.lock().unwrap();
        entra.object_mut(group, id)?;
        entra.note_write(group, id, "delete");
        match group {
            true => entra.groups.remove(id),
            false => entra.users.remove(id),
        };
        entra.forget_member(id);
        Ok(())
    }

    fn members(&self, group: &str, member: &str, add: bool) -> Result<(), GraphError> {
        let mut entra = self.world.entra.lock().unwrap();
        entra.visible_user(member)?;
        entra.log.push(format!("member {add} {group} {member}"));
        let members = &mut entra.object_mut(true, group)?.members;
        match (add, members.contains(member)) {
            (true, true) => Err(GraphError::AlreadyMember {
                code: "Request_BadRequest".into(),
                message: "One or more added object references already exist for the following modified properties: 'members'.".into(),
            }),
            (true, false) => {
                members.insert(member.to_owned());
                Ok(())
            }
            (false, true) => {
                members.remove(member);
                Ok(())
            }
            (false, false) => Err(GraphError::NotFound),
        }
    }
}

impl EntraWriter for SimEntra<'_> {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        self.reach().await?;
        Ok(DOMAINS
            .iter()
            .enumerate()
            .map(|(i, name)| DomainInfo {
                name: (*name).into(),
                federated: i == 1,
                verified: i < 2,
            })
            .collect())
    }

    async fn user_by_upn(&self, upn: &str) -> Result<Option<ExistingEntraUser>, GraphError> {
        self.reach().await?;
        let entra = self.world.entra.lock().unwrap();
        let Some(id) = entra.holder(upn) else {
            return Ok(None);
        };
        let Ok(user) = entra.visible_user(id) else {
            return Ok(None);
        };
        let attributes =
            json!({"user_name": user.upn, "display_name": user.name, "enabled": user.enabled});
        Ok(Some(ExistingEntraUser {
            user: EntraUser {
                guest: false,
                properties: Default::default(),
                id: id.as_str().into(),
                attributes: serde_json::from_value(attributes).expect("user attributes"),
            },
            mark: user.mark.as_deref().map(ExportMark::from_graph),
        }))
    }

    /// The `$filter` on the mark: like any read, it does not see an object
    /// replication has not brought yet (Microsoft: a read right after a
    /// write may not find it).
    async fn user_by_mark(
        &self,
        mark: &ExportMark,
    ) -> Result<Option<ExistingEntraUser>, GraphError> {
        self.reach().await?;
        let entra = self.world.entra.lock().unwrap();
        let found = entra
            .users
            .iter()
            .find(|(_, u)| u.hidden_for == 0 && u.mark.as_deref() == Some(mark.as_str()));
        Ok(found.map(|(id, user)| {
            let attributes =
                json!({"user_name": user.upn, "display_name": user.name, "enabled": user.enabled});
            ExistingEntraUser {
                user: EntraUser {
                    guest: false,
                    properties: Default::default(),
                    id: id.as_str().into(),
                    attributes: serde_json::from_value(attributes).expect("user attributes"),
                },
                mark: Some(mark.clone()),
            }
        }))
    }

    async fn group_by_mark(&self, mark: &ExportMark) -> Result<Option<String>, GraphError> {
        self.reach().await?;
        let entra = self.world.entra.lock().unwrap();
        Ok(entra
            .groups
            .iter()
            .find(|(_, g)| g.hidden_for == 0 && g.mark.as_deref() == Some(mark.as_str()))
            .map(|(id, _)| id.clone()))
    }

    async fn directory_roles(&self, user_id: &str) -> Result<Vec<String>, GraphError> {
        self.reach().await?;
        let entra = self.world.entra.lock().unwrap();
        let admin = entra.visible_user(user_id)?.admin;
        Ok(admin
            .then(|| "Global Administrator".to_owned())
            .into_iter()
            .collect())
    }

    /// The simulated tenant has no role-assignable groups (the export
    /// tests and acceptance cover them), and the answer draws no fault:
    /// the seeds' draws stay those of the known failures.
    async fn role_assignable_group(&self, _group_id: &str) -> Result<Option<String>, GraphError> {
        Ok(None)
    }

    async fn mark_of(
        &self,
        kind: EntraObjectKind,
        id: &str,
    ) -> Result<Option<ExportMark>, GraphError> {
        self.reach().await?;
        let mut entra = self.world.entra.lock().unwrap();
        let object = entra.object_mut(kind == EntraObjectKind::Group, id)?;
        Ok(object.mark.as_deref().map(ExportMark::from_graph))
    }

    async fn write_mark(
        &self,
        kind: EntraObjectKind,
        id: &str,
        mark: &ExportMark,
    ) -> Result<(), GraphError> {
        self.reach().await?;
        let group = kind == EntraObjectKind::Group;
        self.answer(self.write(group, id, "mark", |o| {
            o.mark = Some(mark.to_string());
            Ok(())
        }))
    }

    async fn create_user(&self, user: &NewEntraUser) -> Result<String, GraphError> {
        self.reach().await?;
        let a = &user.attributes;
        let created = self.create(
            false,
            a.display_name.clone(),
            &a.user_name,
            a.enabled,
            &user.mark,
        );
        self.answer(created)
    }

    async fn update_user(&self, id: &str, patch: &EntraPatch) -> Result<(), GraphError> {
        self.reach().await?;
        self.answer(self.patch(false, id, patch))
    }

    async fn delete_user(&self, id: &str) -> Result<(), GraphError> {
        self.reach().await?;
        self.answer(self.delete(false, id))
    }

    /// The simulated Entra ID deletes users for good (its invariants count
    /// the objects it holds): a restore finds nothing, as after a purge.
    async fn restore_user(&self, _id: &str) -> Result<EntraUser, GraphError> {
        self.reach().await?;
        Err(GraphError::NotFound)
    }

    async fn create_group(&self, group: &NewEntraGroup) -> Result<String, GraphError> {
        self.reach().await?;
        let name = Some(group.attributes.name.clone());
        self.answer(self.create(true, name, "", true, &group.mark))
    }

    async fn update_group(&self, id: &str, patch: &EntraPatch) -> Result<(), GraphError> {
        self.reach().await?;
        self.answer(self.patch(true, id, patch))
    }

    async fn delete_group(&self, id: &str) -> Result<(), GraphError> {
        self.reach().await?;
        self.answer(self.delete(true, id))
    }

    async fn add_member(&self, group_id: &str, member_id: &str) -> Result<(), GraphError> {
        self.reach().await?;
        self.answer(self.members(group_id, member_id, true))
    }

    async fn remove_member(&self, group_id: &str, member_id: &str) -> Result<(), GraphError> {
        self.reach().await?;
        self.answer(self.members(group_id, member_id, false))
    }

    /// The simulated tenants map no manager: nothing to keep, but the
    /// call still meets the simulated outages.
    async fn set_manager(
        &self,
        _user_id: &str,
        _manager_id: Option<&str>,
    ) -> Result<(), GraphError> {
        self.reach().await
    }
}
