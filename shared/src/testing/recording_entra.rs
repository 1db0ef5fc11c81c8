//! A recording Entra ID for the export engine (its `EntraWriter` port):
//! every call logged, the bodies sent, users by UPN and marks by id, with
//! switches for the failures Graph answers with.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::fixtures::tenant_domains;
use crate::export::{EntraWriter, ExistingEntraUser, ExportMark};
use crate::model::entra::GraphValue;
use crate::model::entra::{
    DomainInfo, EntraObjectKind, EntraPatch, EntraUser, GraphError, NewEntraGroup, NewEntraUser,
};

/// Graph's answer to a create whose UPN is taken (docs/graph.md 3.1).
fn conflict() -> GraphError {
    GraphError::ObjectConflict {
        code: "Request_BadRequest".into(),
        message:
            "Another object with the same value for property userPrincipalName already exists."
                .into(),
    }
}

/// The mark's property, as the Graph adapter names it for the test app.
pub(crate) const MARK: &str = "extension_test_entraSyncCreatedFor";

#[derive(Default)]
pub(crate) struct RecordingEntra {
    pub(crate) calls: Mutex<Vec<String>>,
    pub(crate) bodies: Mutex<Vec<Value>>,
    /// Users by UPN, as Graph returns them (the mark under `MARK`).
    pub(crate) existing_upns: Mutex<HashMap<String, Map<String, Value>>>,
    /// Marks written on objects by id (created, adopted, or set by a test).
    pub(crate) marks: Mutex<HashMap<String, String>>,
    /// Entra ids of users holding a directory role.
    pub(crate) administrators: Mutex<Vec<String>>,
    /// Entra ids of role-assignable groups.
    pub(crate) role_assignable: Mutex<Vec<String>>,
    /// Graph keeps failing the administrator check.
    pub(crate) roles_unanswered: bool,
    /// The create succeeds in Entra, but its answer is lost (a conflict
    /// follows when it is sent again).
    pub(crate) lose_create_answer: bool,
    /// Adding a member meets throttling past the retries.
    pub(crate) members_throttled: Mutex<bool>,
    /// Updates find no such object (a create not visible yet).
    pub(crate) updates_not_found: bool,
    /// Graph refuses to create a group (a value it will not take).
    pub(crate) group_create_refused: bool,
    /// Users in deleted items, by id, as a restore answers them.
    pub(crate) deleted_users: Mutex<HashMap<String, Map<String, Value>>>,
    /// A restore meets a UPN another user took meanwhile.
    pub(crate) restore_conflicts: bool,
    /// Users mastered on premises (`onPremisesSyncEnabled`), by id.
    pub(crate) mastered_on_premises: Mutex<Vec<String>>,
    /// Each user's manager, by Entra id, as the manager writes left it.
    pub(crate) managers: Mutex<HashMap<String, String>>,
}

impl RecordingEntra {
    /// Sets entra-sync's mark for an AM object on an Entra object.
    pub(crate) fn mark_as_ours(&self, entra_id: &str, mark: &str) {
        self.marks
            .lock()
            .unwrap()
            .insert(entra_id.to_owned(), mark.to_owned());
    }

    pub(crate) fn log(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl EntraWriter for RecordingEntra {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        self.log("GET domains".into());
        Ok(tenant_domains())
    }
    async fn user_by_upn(&self, upn: &str) -> Result<Option<ExistingEntraUser>, GraphError> {
        self.log(format!("GET user {upn}"));
        let found = self.existing_upns.lock().unwrap().get(upn).cloned();
        found
            .map(|user| {
                Ok(ExistingEntraUser {
                    mark: crate::graph::bodies::export_mark(&user, MARK)?,
                    user: EntraUser::parse(&user)?,
                })
            })
            .transpose()
    }
    async fn user_by_mark(
        &self,
        mark: &ExportMark,
    ) -> Result<Option<ExistingEntraUser>, GraphError> {
        self.log(format!("GET user by mark {mark}"));
        let found = self
            .existing_upns
            .lock()
            .unwrap()
            .values()
            .find(|u| u.get(MARK).and_then(Value::as_str) == Some(mark.as_str()))
            .cloned();
        found
            .map(|user| {
                Ok(ExistingEntraUser {
                    mark: Some(mark.clone()),
                    user: EntraUser::parse(&user)?,
                })
            })
            .transpose()
    }
    async fn group_by_mark(&self, mark: &ExportMark) -> Result<Option<String>, GraphError> {
        self.log(format!("GET group by mark {mark}"));
        let marks = self.marks.lock().unwrap();
        Ok(marks
            .iter()
            .find(|(id, m)| id.starts_with('g') && m.as_str() == mark.as_str())
            .map(|(id, _)| id.clone()))
    }
    async fn directory_roles(&self, user_id: &str) -> Result<Vec<String>, GraphError> {
        self.log(format!("GET roles {user_id}"));
        if self.roles_unanswered {
            return Err(GraphError::Exhausted {
                attempts: 8,
                last: "503 ServiceUnavailable".into(),
            });
        }
        let admin = self
            .administrators
            .lock()
            .unwrap()
            .iter()
            .any(|a| a == user_id);
        Ok(if admin {
            vec!["Global Administrator".into()]
        } else {
            Vec::new()
        })
    }
    async fn role_assignable_group(&self, group_id: &str) -> Result<Option<String>, GraphError> {
        self.log(format!("GET group roles {group_id}"));
        let assignable = self
            .role_assignable
            .lock()
            .unwrap()
            .contains(&group_id.into());
        Ok(assignable.then(|| format!("Admins {group_id}")))
    }
    async fn mark_of(
        &self,
        kind: EntraObjectKind,
        id: &str,
    ) -> Result<Option<ExportMark>, GraphError> {
        self.log(format!("GET {} mark {id}", kind.noun()));
        // Not visible yet to any read, as to the update.
        if self.updates_not_found {
            return Err(GraphError::NotFound);
        }
        let set = self.marks.lock().unwrap().get(id).cloned();
        let by_upn = self.existing_upns.lock().unwrap().values().find_map(|u| {
            (u["id"] == id).then(|| u.get(MARK).and_then(Value::as_str).map(str::to_owned))?
        });
        Ok(set.or(by_upn).map(|m| ExportMark::from_graph(&m)))
    }
    async fn write_mark(
        &self,
        kind: EntraObjectKind,
        id: &str,
        mark: &ExportMark,
    ) -> Result<(), GraphError> {
        self.log(format!("PATCH {} mark {id}", kind.noun()));
        self.marks
            .lock()
            .unwrap()
            .insert(id.into(), mark.to_string());
        Ok(())
    }
    async fn create_user(&self, user: &NewEntraUser) -> Result<String, GraphError> {
        self.log("POST user".into());
        let body = crate::graph::bodies::new_user_body(user, MARK);
        self.bodies.lock().unwrap().push(body.clone());
        let upn = body["userPrincipalName"].as_str().unwrap_or_default();
        if self.existing_upns.lock().unwrap().contains_key(upn) {
            return Err(conflict());
        }
        if self.lose_create_answer {
            let mut created = body.as_object().unwrap().clone();
            created.insert("id".into(), json!("e-lost"));
            created.remove("passwordProfile");
            self.existing_upns
                .lock()
                .unwrap()
                .insert(upn.to_owned(), created);
            return Err(GraphError::Exhausted {
                attempts: 1,
                last: "504 GatewayTimeout".into(),
            });
        }
        let mark = user.mark.to_string();
        self.marks.lock().unwrap().insert("e-new".into(), mark);
        // Visible at once to later reads (no replication lag here).
        let mut created = body.as_object().unwrap().clone();
        created.insert("id".into(), json!("e-new"));
        created.remove("passwordProfile");
        self.existing_upns
            .lock()
            .unwrap()
            .insert(upn.to_owned(), created);
        Ok("e-new".into())
    }
    async fn update_user(&self, id: &str, patch: &EntraPatch) -> Result<(), GraphError> {
        self.log(format!("PATCH user {id}"));
        if self.updates_not_found {
            return Err(GraphError::NotFound);
        }
        let mastered = self
            .mastered_on_premises
            .lock()
            .unwrap()
            .contains(&id.into());
        if mastered && !patch.split_on_premises_mastered().1.is_empty() {
            return Err(GraphError::OnPremisesMastered {
                code: "Request_BadRequest".into(),
                message: "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.".into(),
            });
        }
        let renamed = patch
            .properties
            .iter()
            .find_map(|(name, value)| match value {
                GraphValue::Text(upn) if name == "userPrincipalName" => Some(upn),
                _ => None,
            });
        let holders = self.existing_upns.lock().unwrap();
        if let Some(holder) = renamed.and_then(|upn| holders.get(upn))
            && holder["id"] != id
        {
            return Err(conflict());
        }
        self.bodies
            .lock()
            .unwrap()
            .push(crate::graph::bodies::patch_body(patch));
        Ok(())
    }
    async fn delete_user(&self, id: &str) -> Result<(), GraphError> {
        self.log(format!("DELETE user {id}"));
        Err(GraphError::NotFound)
    }
    async fn restore_user(&self, id: &str) -> Result<EntraUser, GraphError> {
        self.log(format!("RESTORE user {id}"));
        if self.restore_conflicts {
            return Err(conflict());
        }
        let restored = self.deleted_users.lock().unwrap().remove(id);
        let Some(user) = restored else {
            return Err(GraphError::NotFound);
        };
        let upn = user["userPrincipalName"].as_str().unwrap_or_default();
        self.existing_upns
            .lock()
            .unwrap()
            .insert(upn.to_owned(), user.clone());
        EntraUser::parse(&user)
    }
    async fn create_group(&self, group: &NewEntraGroup) -> Result<String, GraphError> {
        self.log("POST group".into());
        if self.group_create_refused {
            return Err(GraphError::Rejected {
                status: 400,
                code: "Request_BadRequest".into(),
                message: "Invalid value specified for property 'mailNickname' of resource 'Group'."
                    .into(),
            });
        }
        let mark = group.mark.to_string();
        self.marks.lock().unwrap().insert("g-new".into(), mark);
        self.bodies
            .lock()
            .unwrap()
            .push(crate::graph::bodies::new_group_body(group, MARK));
        Ok("g-new".into())
    }
    async fn update_group(&self, id: &str, _: &EntraPatch) -> Result<(), GraphError> {
        self.log(format!("PATCH group {id}"));
        Ok(())
    }
    async fn delete_group(&self, id: &str) -> Result<(), GraphError> {
        self.log(format!("DELETE group {id}"));
        Ok(())
    }
    async fn add_member(&self, group: &str, member: &str) -> Result<(), GraphError> {
        self.log(format!("ADD {group} {member}"));
        if *self.members_throttled.lock().unwrap() {
            return Err(GraphError::Exhausted {
                attempts: 5,
                last: "429 TooManyRequests".into(),
            });
        }
        Ok(())
    }
    async fn remove_member(&self, group: &str, member: &str) -> Result<(), GraphError> {
        self.log(format!("REMOVE {group} {member}"));
        Ok(())
    }
    async fn set_manager(&self, user: &str, manager: Option<&str>) -> Result<(), GraphError> {
        let mut managers = self.managers.lock().unwrap();
        match manager {
            Some(manager) => {
                self.log(format!("PUT MANAGER {user} {manager}"));
                managers.insert(user.to_owned(), manager.to_owned());
            }
            None => {
                self.log(format!("DELETE MANAGER {user}"));
                // Graph's 404 for a user without a manager.
                managers.remove(user).ok_or(GraphError::NotFound)?;
            }
        }
        Ok(())
    }
}
