//! The export engine against an in-memory directory and a recording Entra.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::*;
use crate::model::directory::{
    ENTRA_HASH, ENTRA_ORIGIN, FieldValue, GroupItem, ItemKey, LinkOrigin, SyncedObject, UserItem,
};
use crate::model::entra::EntraUser;
use crate::model::{TenantConfig, TenantId};

mod batch;
mod found_by_simulation;
mod idempotent;
mod ownership;

/// Items as the table holds them, by sort key; writing back the Entra state
/// of an item whose key is in the second list fails as AWS may; the
/// intents to create, by the item's sort key.
#[derive(Default)]
struct MemoryDirectory(
    Mutex<HashMap<String, Map<String, Value>>>,
    Mutex<Vec<String>>,
    Mutex<HashMap<String, chrono::DateTime<chrono::Utc>>>,
);

impl MemoryDirectory {
    fn typed<T: serde::de::DeserializeOwned>(&self, key: ItemKey) -> Option<T> {
        let item = self.0.lock().unwrap().get(&key.sk()).cloned()?;
        Some(serde_json::from_value(Value::Object(item)).unwrap())
    }
}

impl ExportDirectory for MemoryDirectory {
    async fn user(&self, tenant: &TenantId, user_id: &str) -> Result<Option<UserItem>, StoreError> {
        Ok(self.typed(ItemKey::user(tenant, user_id)))
    }
    async fn group(
        &self,
        tenant: &TenantId,
        group_id: &str,
    ) -> Result<Option<GroupItem>, StoreError> {
        Ok(self.typed(ItemKey::group(tenant, group_id)))
    }
    async fn has_membership(
        &self,
        _tenant: &TenantId,
        key: &crate::model::directory::MembershipKey,
    ) -> Result<bool, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .contains_key(&format!("MEMBER#{}", key.encode())))
    }
    /// The memory directory finds linked items by their `entra_id`
    /// itself; a link needs no record of its own here.
    async fn record_link(&self, _key: &ItemKey, _entra_id: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn begin_create(
        &self,
        key: &ItemKey,
        at: chrono::DateTime<chrono::Utc>,
        unless_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let mut intents = self.2.lock().unwrap();
        if intents
            .get(&key.sk())
            .is_some_and(|began| *began > unless_after)
        {
            return Ok(false);
        }
        intents.insert(key.sk(), at);
        Ok(true)
    }
    async fn create_begun(
        &self,
        key: &ItemKey,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Ok(self.2.lock().unwrap().get(&key.sk()).copied())
    }
    async fn forget_create(
        &self,
        key: &ItemKey,
        began: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let mut intents = self.2.lock().unwrap();
        if intents.get(&key.sk()) == Some(&began) {
            intents.remove(&key.sk());
        }
        Ok(())
    }
    async fn record_entra_state(
        &self,
        key: &ItemKey,
        entra_id: &str,
        hash: &EntraHash,
        origin: Option<LinkOrigin>,
    ) -> Result<(), StoreError> {
        if self.1.lock().unwrap().contains(&key.sk()) {
            return Err(StoreError::Unavailable {
                operation: "recording the Entra state",
                detail: "ProvisionedThroughputExceededException".into(),
            });
        }
        if let Some(item) = self.0.lock().unwrap().get_mut(&key.sk()) {
            item.insert("entra_id".into(), json!(entra_id));
            item.insert(ENTRA_HASH.into(), json!(hash.as_str()));
            if let Some(origin) = origin {
                item.insert(ENTRA_ORIGIN.into(), json!(origin.as_str()));
            }
        }
        Ok(())
    }
}

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
const MARK: &str = "extension_test_entraSyncCreatedFor";

#[derive(Default)]
struct RecordingEntra {
    calls: Mutex<Vec<String>>,
    bodies: Mutex<Vec<Value>>,
    /// Users by UPN, as Graph returns them (the mark under `MARK`).
    existing_upns: Mutex<HashMap<String, Map<String, Value>>>,
    /// Marks written on objects by id (created, adopted, or set by a test).
    marks: Mutex<HashMap<String, String>>,
    /// Entra ids of users holding a directory role.
    administrators: Mutex<Vec<String>>,
    /// Entra ids of role-assignable groups.
    role_assignable: Mutex<Vec<String>>,
    /// Graph keeps failing the administrator check.
    roles_unanswered: bool,
    /// The create succeeds in Entra, but its answer is lost (a conflict
    /// follows when it is sent again).
    lose_create_answer: bool,
    /// Adding a member meets throttling past the retries.
    members_throttled: Mutex<bool>,
    /// Updates find no such object (a create not visible yet).
    updates_not_found: bool,
    /// Graph refuses to create a group (a value it will not take).
    group_create_refused: bool,
}

impl RecordingEntra {
    /// Sets entra-sync's mark for an AM object on an Entra object.
    pub(super) fn mark_as_ours(&self, entra_id: &str, mark: &str) {
        self.marks
            .lock()
            .unwrap()
            .insert(entra_id.to_owned(), mark.to_owned());
    }

    fn log(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl EntraWriter for RecordingEntra {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        self.log("GET domains".into());
        Ok(vec![
            DomainInfo {
                name: "contoso.com".into(),
                federated: false,
                verified: true,
            },
            DomainInfo {
                name: "fed.contoso.com".into(),
                federated: true,
                verified: true,
            },
            DomainInfo {
                name: "pending.contoso.com".into(),
                federated: false,
                verified: false,
            },
        ])
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
        let renamed = patch
            .properties
            .iter()
            .find_map(|(name, value)| match value {
                FieldValue::Text(Some(upn)) if *name == "userPrincipalName" => Some(upn),
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
}

fn config(extra: Value) -> TenantConfig {
    let mut item = json!({"tenant_id": "acme", "export_users": true, "export_groups": true, "authorisation": "authorised"});
    for (k, v) in extra.as_object().unwrap() {
        item[k] = v.clone();
    }
    TenantConfig::from_attributes(item.as_object().unwrap()).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn insert(directory: &MemoryDirectory, sk: &str, item: Value) -> DirectoryChange {
    directory
        .0
        .lock()
        .unwrap()
        .insert(sk.into(), obj(item.clone()));
    DirectoryChange::parse(
        "INSERT",
        &obj(json!({"pk": "TENANT#acme", "sk": sk})),
        Map::new(),
        obj(item),
        "1".into(),
        Some(chrono::Utc::now()),
    )
    .unwrap()
    .unwrap()
}

fn platform_user() -> Value {
    json!({"user_id": "p1", "user_name": "ann@contoso.com", "display_name": "Ann", "enabled": true, "source": "local"})
}

#[tokio::test]
async fn given_a_platform_user_then_it_is_created_with_a_temporary_password_linked_and_joins_the_export_group()
 {
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    let config = config(json!({"export_group_id": "11111111-1111-4111-8111-111111111111"}));
    let change = insert(&directory, "USER#p1", platform_user());
    let outcome = ExportRun::new(&directory, &entra, &config)
        .apply(&change)
        .await
        .unwrap();
    assert_eq!(outcome, ExportOutcome::Exported("user created"));
    assert_eq!(
        entra.calls(),
        vec![
            "GET user by mark acme/USER#p1",
            "GET domains",
            "POST user",
            "GET group roles 11111111-1111-4111-8111-111111111111",
            "ADD 11111111-1111-4111-8111-111111111111 e-new"
        ]
    );
    let body = entra.bodies.lock().unwrap()[0].clone();
    assert_eq!(
        body["passwordProfile"]["forceChangePasswordNextSignIn"],
        true
    );
    assert!(body["passwordProfile"]["password"].as_str().unwrap().len() >= 16);
    assert_eq!(body["mailNickname"], "ann");
    assert_eq!(body["accountEnabled"], true);
    assert_eq!(
        body[MARK], "acme/USER#p1",
        "marked as ours in the create itself"
    );
    let item = directory.0.lock().unwrap()["USER#p1"].clone();
    assert_eq!(item["entra_id"], "e-new");
    assert_eq!(item[ENTRA_ORIGIN], "created");
    assert!(item.contains_key(ENTRA_HASH));

    // The same record again: nothing is created twice.
    let outcome = ExportRun::new(&directory, &entra, &config)
        .apply(&change)
        .await
        .unwrap();
    assert!(matches!(outcome, ExportOutcome::Ignored(_)));
    assert_eq!(
        entra.calls().iter().filter(|c| *c == "POST user").count(),
        1
    );
}

#[tokio::test]
async fn given_an_unverified_or_unlisted_domain_then_the_record_fails_for_good_with_the_reason() {
    use crate::problems::Code;
    for (upn, config, expected, code) in [
        (
            "bob@pending.contoso.com",
            config(json!({})),
            "pending.contoso.com is not a verified domain",
            Code::UnverifiedDomain,
        ),
        (
            "bob@elsewhere.org",
            config(json!({})),
            "elsewhere.org is not a verified domain",
            Code::UnverifiedDomain,
        ),
        (
            "bob@fed.contoso.com",
            config(json!({"domains": ["contoso.com"]})),
            "fed.contoso.com is not among the domains this tenant synchronises",
            Code::DomainNotInScope,
        ),
    ] {
        let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
        let change = insert(
            &directory,
            "USER#p2",
            json!({"user_id": "p2", "user_name": upn}),
        );
        let err = ExportRun::new(&directory, &entra, &config)
            .apply(&change)
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{err:?}");
        assert_eq!(err.problem(), Some((code, false)), "waits for a change");
        let reason = err.to_string();
        assert!(reason.contains(expected), "{reason}");
        assert!(!entra.calls().contains(&"POST user".to_owned()));
    }
}

#[tokio::test]
async fn given_a_federated_domain_then_the_immutable_id_is_set() {
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    let change = insert(
        &directory,
        "USER#p3",
        json!({"user_id": "p3", "user_name": "cy@fed.contoso.com"}),
    );
    ExportRun::new(&directory, &entra, &config(json!({})))
        .apply(&change)
        .await
        .unwrap();
    let body = entra.bodies.lock().unwrap()[0].clone();
    let anchor = body["onPremisesImmutableId"].as_str().unwrap();
    assert!(!anchor.contains('$') && !anchor.contains('_'));
}

#[tokio::test]
async fn given_a_membership_whose_user_is_not_exported_yet_then_it_is_a_problem_that_passes_by_itself()
 {
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    entra.mark_as_ours("eg1", "acme/GROUP#g1");
    entra.mark_as_ours("eu1", "acme/USER#p1");
    directory.0.lock().unwrap().insert(
        "GROUP#g1".into(),
        obj(json!({"group_id": "g1", "entra_id": "eg1"})),
    );
    directory
        .0
        .lock()
        .unwrap()
        .insert("USER#p1".into(), obj(json!({"user_id": "p1"})));
    let change = insert(
        &directory,
        "MEMBER#g1#p1",
        json!({"group_id": "g1", "user_id": "p1"}),
    );
    let config = config(json!({}));
    let run = ExportRun::new(&directory, &entra, &config);
    let err = run.apply(&change).await.unwrap_err();
    assert_eq!(
        err.problem(),
        Some((crate::problems::Code::DependencyMissing, true))
    );
    assert!(
        err.to_string()
            .contains("the user p1 is not in Entra ID yet"),
        "{err}"
    );
    directory
        .0
        .lock()
        .unwrap()
        .get_mut("USER#p1")
        .unwrap()
        .insert("entra_id".into(), json!("eu1"));
    assert_eq!(
        run.apply(&change).await.unwrap(),
        ExportOutcome::Exported("member added")
    );
    assert!(entra.calls().contains(&"ADD eg1 eu1".to_owned()));
}

#[tokio::test]
async fn given_export_switched_off_then_nothing_is_sent() {
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    let change = insert(&directory, "USER#p1", platform_user());
    let outcome = ExportRun::new(&directory, &entra, &config(json!({"export_users": false})))
        .apply(&change)
        .await
        .unwrap();
    assert!(matches!(outcome, ExportOutcome::Ignored(_)));
    assert!(entra.calls().is_empty());
}

#[tokio::test]
async fn given_a_parked_edit_of_an_imported_user_then_its_replay_exports_it() {
    use crate::problems::{Direction, ObjectKind, Operation, Problem, ProblemKey};
    let (directory, entra) = (MemoryDirectory::default(), RecordingEntra::default());
    let imported = json!({"user_id": "e1", "user_name": "bo@contoso.com", "source": "entra"});
    let item: UserItem = serde_json::from_value(imported.clone()).unwrap();
    let mut edited = imported;
    edited["job_title"] = json!("Platform title");
    edited[ENTRA_HASH] = json!(EntraHash::of_user(&item.attributes).as_str());
    insert(&directory, "USER#e1", edited);
    let problem = Problem::new(
        ProblemKey {
            direction: Direction::Export,
            kind: ObjectKind::User,
            object_id: "e1".into(),
        },
        Operation::Update,
        crate::problems::Code::RetriesExhausted,
        "throttled".into(),
    );
    let config = config(json!({}));
    let (_, outcome) = ExportRun::new(&directory, &entra, &config)
        .replay(&TenantId::parse("acme").unwrap(), &problem)
        .await
        .unwrap();
    assert_eq!(outcome, ExportOutcome::Exported("user updated"));
    assert_eq!(
        entra.calls(),
        vec!["GET domains", "GET roles e1", "PATCH user e1"]
    );
}
