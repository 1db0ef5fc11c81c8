//! The export engine (DESIGN.md 2.3): one directory change at a time,
//! reflected in Entra ID. Loop-free by state (see `crate::directory`) and
//! safe to replay: creates look for what an earlier attempt made.

pub mod change;
pub mod naming;
pub mod ports;

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

pub use change::{ChangeAction, ChangeError, DirectoryChange, ExportPlan};
pub use ports::{EntraWriter, ExportDirectory};

use crate::directory::{GROUP_ATTRIBUTES, ItemKey, USER_ATTRIBUTES, entra_hash};
use crate::graph::GraphError;
use crate::graph::model::DomainInfo;
use crate::model::TenantConfig;
use crate::ports::StoreError;

/// A membership whose user or group is not in Entra ID yet is retried until
/// its record is this old, then given up (logged).
pub const DEPENDENCY_WAIT: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
/// Right after our own create, Entra may answer 404 for a while (GRAPH.md 2.6).
const REPLICATION_RETRIES: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    /// Entra ID now reflects the change (what was done).
    Exported(&'static str),
    /// Nothing to do (why).
    Ignored(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportFailure {
    /// Try this record again later (the batch stops here).
    #[error("retryable: {0}")]
    Retry(String),
    /// This record can never succeed: logged and skipped.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<StoreError> for ExportFailure {
    fn from(err: StoreError) -> Self {
        if err.is_retryable() {
            Self::Retry(err.to_string())
        } else {
            Self::Permanent(err.to_string())
        }
    }
}

fn graph_failure(what: &str, err: GraphError) -> ExportFailure {
    match err {
        e if e.is_retryable() => ExportFailure::Retry(format!("{what}: {e}")),
        e => ExportFailure::Permanent(format!("{what}: {e}")),
    }
}

fn is_conflict(err: &GraphError) -> bool {
    matches!(err, GraphError::Rejected { status: 400, details, .. } if details.iter().any(|d| d == "ObjectConflict"))
}

/// Read-after-write lag: the object we just made is not visible yet.
fn not_visible_yet(err: &GraphError) -> bool {
    match err {
        GraphError::NotFound => true,
        GraphError::Rejected {
            status: 400,
            message,
            ..
        } => message.contains("do not exist"),
        _ => false,
    }
}

fn text<'a>(item: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// AM attribute -> Graph property.
const USER_PROPERTIES: &[(&str, &str)] = &[
    ("user_name", "userPrincipalName"),
    ("display_name", "displayName"),
    ("given_name", "givenName"),
    ("surname", "surname"),
    ("email", "mail"),
    ("mobile_phone", "mobilePhone"),
    ("job_title", "jobTitle"),
    ("department", "department"),
    ("enabled", "accountEnabled"),
];
const GROUP_PROPERTIES: &[(&str, &str)] =
    &[("name", "displayName"), ("description", "description")];

/// A Graph body with the given AM attributes (absent -> null, which clears).
fn graph_body(
    item: &Map<String, Value>,
    properties: &[(&str, &str)],
    only: Option<&[&str]>,
) -> Map<String, Value> {
    properties
        .iter()
        .filter(|(am, _)| only.is_none_or(|only| only.contains(am)))
        .map(|(am, graph)| {
            let value = match item.get(*am) {
                Some(Value::String(s)) if s.is_empty() => Value::Null,
                Some(v) => v.clone(),
                None => Value::Null,
            };
            ((*graph).to_owned(), value)
        })
        .collect()
}

/// One end of a membership: the AM object, and whether it is in Entra ID.
enum MembershipEnd {
    Gone,
    NotInEntra,
    InEntra(String),
}

pub struct ExportRun<'a, D, W> {
    pub directory: &'a D,
    pub writer: &'a W,
    pub config: &'a TenantConfig,
    /// Fetched on first need, once per run.
    pub domains: tokio::sync::OnceCell<Vec<DomainInfo>>,
}

impl<'a, D: ExportDirectory, W: EntraWriter> ExportRun<'a, D, W> {
    pub fn new(directory: &'a D, writer: &'a W, config: &'a TenantConfig) -> Self {
        Self {
            directory,
            writer,
            config,
            domains: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn apply(
        &self,
        change: &DirectoryChange,
        now: DateTime<Utc>,
    ) -> Result<ExportOutcome, ExportFailure> {
        let plan = change.plan();
        let enabled = match &plan {
            ExportPlan::Ignore(why) => return Ok(ExportOutcome::Ignored(why)),
            ExportPlan::CreateUser { .. }
            | ExportPlan::UpdateUser { .. }
            | ExportPlan::DeleteUser { .. } => self.config.export_users,
            _ => self.config.export_groups,
        };
        if !enabled {
            return Ok(ExportOutcome::Ignored(
                "export of this kind is off for the tenant",
            ));
        }
        match plan {
            ExportPlan::Ignore(why) => Ok(ExportOutcome::Ignored(why)),
            ExportPlan::CreateUser { user_id, item } => {
                self.create_user(&change.key, &user_id, &item).await
            }
            ExportPlan::UpdateUser {
                entra_id,
                changed,
                item,
                ..
            } => {
                if changed.contains(&"user_name") {
                    self.check_upn(text(&item, "user_name").unwrap_or(""), "renamed")
                        .await?;
                }
                let patch = graph_body(&item, USER_PROPERTIES, Some(&changed));
                self.writer
                    .update_user(&entra_id, &Value::Object(patch))
                    .await
                    .map_err(|e| graph_failure("updating the user", e))?;
                self.record(&change.key, &entra_id, USER_ATTRIBUTES).await?;
                Ok(ExportOutcome::Exported("user updated"))
            }
            ExportPlan::DeleteUser { entra_id } => match self.writer.delete_user(&entra_id).await {
                Ok(()) | Err(GraphError::NotFound) => Ok(ExportOutcome::Exported("user deleted")),
                Err(e) => Err(graph_failure("deleting the user", e)),
            },
            ExportPlan::CreateGroup { group_id, item } => {
                self.create_group(&change.key, &group_id, &item).await
            }
            ExportPlan::UpdateGroup {
                entra_id,
                changed,
                item,
                ..
            } => {
                let patch = graph_body(&item, GROUP_PROPERTIES, Some(&changed));
                self.writer
                    .update_group(&entra_id, &Value::Object(patch))
                    .await
                    .map_err(|e| graph_failure("updating the group", e))?;
                self.record(&change.key, &entra_id, GROUP_ATTRIBUTES)
                    .await?;
                Ok(ExportOutcome::Exported("group updated"))
            }
            ExportPlan::DeleteGroup { entra_id } => match self.writer.delete_group(&entra_id).await
            {
                Ok(()) | Err(GraphError::NotFound) => Ok(ExportOutcome::Exported("group deleted")),
                Err(e) => Err(graph_failure("deleting the group", e)),
            },
            ExportPlan::AddMember { group_id, user_id } => {
                let Some((group, user)) = self.member_ids(change, &group_id, &user_id, now).await?
                else {
                    return Ok(ExportOutcome::Ignored(
                        "the user or the group no longer exists",
                    ));
                };
                self.add_member(&group, &user).await?;
                Ok(ExportOutcome::Exported("member added"))
            }
            ExportPlan::RemoveMember { group_id, user_id } => {
                let (MembershipEnd::InEntra(group), MembershipEnd::InEntra(user)) =
                    self.membership_ends(change, &group_id, &user_id).await?
                else {
                    // A deleted user or group takes its memberships with it.
                    return Ok(ExportOutcome::Ignored(
                        "the user or the group is not in Entra ID",
                    ));
                };
                match self.writer.remove_member(&group, &user).await {
                    Ok(()) | Err(GraphError::NotFound) => {
                        Ok(ExportOutcome::Exported("member removed"))
                    }
                    Err(e) => Err(graph_failure("removing the member", e)),
                }
            }
        }
    }

    async fn record(
        &self,
        key: &ItemKey,
        entra_id: &str,
        attributes: &[&str],
    ) -> Result<(), ExportFailure> {
        // The hash of the item as it is now, not as the record saw it: a
        // later platform edit already on the stream keeps its own record.
        let Some(current) = self.directory.item(key).await? else {
            return Ok(());
        };
        self.directory
            .record_entra_state(key, entra_id, &entra_hash(&current, attributes))
            .await?;
        Ok(())
    }

    async fn domains(&self) -> Result<&Vec<DomainInfo>, ExportFailure> {
        self.domains
            .get_or_try_init(|| async {
                self.writer
                    .domains()
                    .await
                    .map_err(|e| graph_failure("reading the tenant's domains", e))
            })
            .await
    }

    /// The UPN's domain must be a verified domain of the tenant and, when the
    /// tenant lists domains, one of them.
    async fn check_upn(&self, upn: &str, what: &str) -> Result<Option<DomainInfo>, ExportFailure> {
        let Some((_, domain)) = upn.rsplit_once('@') else {
            return Err(ExportFailure::Permanent(format!(
                "the user to be {what} has no valid user_name ({upn:?})"
            )));
        };
        let domain = domain.to_ascii_lowercase();
        if !self.config.domains.is_empty() && !self.config.domains.contains(&domain) {
            return Err(ExportFailure::Permanent(format!(
                "the UPN domain {domain} is not among the tenant's synchronised domains"
            )));
        }
        match self.domains().await?.iter().find(|d| d.name == domain) {
            Some(d) if d.verified => Ok(Some(d.clone())),
            _ => Err(ExportFailure::Permanent(format!(
                "the UPN domain {domain} is not a verified domain of the Entra tenant"
            ))),
        }
    }

    async fn create_user(
        &self,
        key: &ItemKey,
        user_id: &str,
        record_item: &Map<String, Value>,
    ) -> Result<ExportOutcome, ExportFailure> {
        // A replayed record: an earlier attempt may have linked it already.
        let Some(item) = self.directory.item(key).await? else {
            return Ok(ExportOutcome::Ignored("the user no longer exists"));
        };
        if crate::directory::entra_id_of(&item, user_id).is_some() {
            return Ok(ExportOutcome::Ignored("already linked to Entra ID"));
        }
        let upn = text(&item, "user_name")
            .or_else(|| text(record_item, "user_name"))
            .unwrap_or("")
            .to_owned();
        let domain = self.check_upn(&upn, "created").await?;
        let entra_id = match self
            .writer
            .user_by_upn(&upn)
            .await
            .map_err(|e| graph_failure("looking up the UPN", e))?
        {
            Some(existing) => self.adopt_user(&existing, &item).await?,
            None => {
                let mut body = graph_body(&item, USER_PROPERTIES, None);
                body.retain(|_, v| !v.is_null());
                body.insert(
                    "accountEnabled".into(),
                    json!(item.get("enabled").and_then(Value::as_bool).unwrap_or(true)),
                );
                body.entry("displayName")
                    .or_insert_with(|| json!(upn.split('@').next().unwrap_or(&upn)));
                body.insert(
                    "mailNickname".into(),
                    json!(naming::mail_nickname(
                        upn.split('@').next().unwrap_or(""),
                        &format!("am-{user_id}")
                    )),
                );
                if domain.is_some_and(|d| d.federated) {
                    // Required for federated domains; must not contain `$` or `_`.
                    let anchor = base64::engine::general_purpose::STANDARD.encode(user_id);
                    body.insert("onPremisesImmutableId".into(), json!(anchor));
                }
                let password = naming::temporary_password();
                body.insert(
                    "passwordProfile".into(),
                    json!({"forceChangePasswordNextSignIn": true, "password": password.expose_secret()}),
                );
                let created = self.writer.create_user(&Value::Object(body)).await;
                drop(password);
                match created {
                    Ok(id) => id,
                    // A retried create that had succeeded, or a race: adopt.
                    Err(e) if is_conflict(&e) => match self
                        .writer
                        .user_by_upn(&upn)
                        .await
                        .map_err(|e| graph_failure("looking up the UPN", e))?
                    {
                        Some(existing) => self.adopt_user(&existing, &item).await?,
                        None => {
                            return Err(ExportFailure::Retry(
                                "the UPN is taken but not visible yet".into(),
                            ));
                        }
                    },
                    Err(e) => return Err(graph_failure("creating the user", e)),
                }
            }
        };
        self.record(key, &entra_id, USER_ATTRIBUTES).await?;
        if let Some(group) = &self.config.export_group_id {
            self.add_member(group.as_str(), &entra_id).await?;
        }
        Ok(ExportOutcome::Exported("user created"))
    }

    /// Links to an existing Entra user and patches what the platform has
    /// different.
    async fn adopt_user(
        &self,
        existing: &Map<String, Value>,
        item: &Map<String, Value>,
    ) -> Result<String, ExportFailure> {
        let id = text(existing, "id")
            .ok_or_else(|| ExportFailure::Permanent("Graph returned a user without an id".into()))?
            .to_owned();
        let wanted = graph_body(item, USER_PROPERTIES, None);
        let patch: Map<String, Value> = wanted
            .into_iter()
            .filter(|(k, v)| {
                k != "userPrincipalName" && existing.get(k).unwrap_or(&Value::Null) != v
            })
            .filter(|(k, v)| !(k == "accountEnabled" && v.is_null()))
            .collect();
        if !patch.is_empty() {
            self.writer
                .update_user(&id, &Value::Object(patch))
                .await
                .map_err(|e| graph_failure("updating the adopted user", e))?;
        }
        tracing::info!(tenant_id = %self.config.tenant_id, entra_id = %id, "linked to an existing Entra user with the same UPN");
        Ok(id)
    }

    async fn create_group(
        &self,
        key: &ItemKey,
        group_id: &str,
        record_item: &Map<String, Value>,
    ) -> Result<ExportOutcome, ExportFailure> {
        let Some(item) = self.directory.item(key).await? else {
            return Ok(ExportOutcome::Ignored("the group no longer exists"));
        };
        if crate::directory::entra_id_of(&item, group_id).is_some() {
            return Ok(ExportOutcome::Ignored("already linked to Entra ID"));
        }
        let name = text(&item, "name")
            .or_else(|| text(record_item, "name"))
            .unwrap_or(group_id)
            .to_owned();
        let mut body = json!({
            "displayName": name,
            "mailEnabled": false,
            "securityEnabled": true,
            "mailNickname": naming::mail_nickname(&format!("am-{group_id}"), "am-group"),
        });
        if let Some(description) = text(&item, "description") {
            body["description"] = json!(description);
        }
        let entra_id = self
            .writer
            .create_group(&body)
            .await
            .map_err(|e| graph_failure("creating the group", e))?;
        self.record(key, &entra_id, GROUP_ATTRIBUTES).await?;
        Ok(ExportOutcome::Exported("group created"))
    }

    /// The Entra ids of a membership's group and user; retried while either
    /// is not exported yet, for a bounded time.
    /// Where a membership's group and user stand.
    async fn membership_ends(
        &self,
        change: &DirectoryChange,
        group_id: &str,
        user_id: &str,
    ) -> Result<(MembershipEnd, MembershipEnd), ExportFailure> {
        let tenant = change.key.tenant().clone();
        let group = self
            .directory
            .item(&ItemKey::Group {
                tenant: tenant.clone(),
                group_id: group_id.to_owned(),
            })
            .await?;
        let user = self
            .directory
            .item(&ItemKey::User {
                tenant,
                user_id: user_id.to_owned(),
            })
            .await?;
        let end = |item: Option<Map<String, Value>>, id: &str| match item {
            None => MembershipEnd::Gone,
            Some(item) => match crate::directory::entra_id_of(&item, id) {
                Some(entra_id) => MembershipEnd::InEntra(entra_id.to_owned()),
                None => MembershipEnd::NotInEntra,
            },
        };
        Ok((end(group, group_id), end(user, user_id)))
    }

    /// The Entra ids to add a membership with; retried while either end is
    /// not exported yet, for a bounded time.
    async fn member_ids(
        &self,
        change: &DirectoryChange,
        group_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, String)>, ExportFailure> {
        match self.membership_ends(change, group_id, user_id).await? {
            (MembershipEnd::InEntra(group), MembershipEnd::InEntra(user)) => {
                Ok(Some((group, user)))
            }
            (MembershipEnd::Gone, _) | (_, MembershipEnd::Gone) => Ok(None),
            _ => {
                let waited = change.recorded_at.map(|t| now - t).unwrap_or_default();
                let what = format!("group {group_id} or user {user_id} is not in Entra ID yet");
                if waited > DEPENDENCY_WAIT {
                    Err(ExportFailure::Permanent(format!(
                        "{what}, after {} minutes; giving up",
                        waited.num_minutes()
                    )))
                } else {
                    Err(ExportFailure::Retry(what))
                }
            }
        }
    }

    async fn add_member(&self, group: &str, member: &str) -> Result<(), ExportFailure> {
        for (attempt, wait) in REPLICATION_RETRIES.iter().enumerate() {
            match self.writer.add_member(group, member).await {
                Ok(()) => return Ok(()),
                Err(GraphError::Rejected {
                    status: 400,
                    message,
                    ..
                }) if message.contains("already exist") => return Ok(()),
                Err(e) if not_visible_yet(&e) && attempt + 1 < REPLICATION_RETRIES.len() => {
                    tokio::time::sleep(*wait).await
                }
                Err(e) if not_visible_yet(&e) => {
                    return Err(ExportFailure::Retry(format!("adding the member: {e}")));
                }
                Err(e) => return Err(graph_failure("adding the member", e)),
            }
        }
        Err(ExportFailure::Retry(
            "adding the member: not visible yet".into(),
        ))
    }
}

#[cfg(test)]
mod tests;
