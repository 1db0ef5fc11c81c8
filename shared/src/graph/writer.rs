//! Entra ID's write side for the export engine, through the Graph client,
//! for one tenant (`tenants`: the writers of each).

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::batch::GraphBatcher;
use super::bodies;
use super::model;
use super::privileges;
use super::{AccessTokenSource, GraphClient, GraphError, Repeat};
use crate::model::entra::{
    DomainInfo, EntraObjectKind, EntraPatch, EntraUser, ExistingEntraUser, ExportMark,
    NewEntraGroup, NewEntraUser,
};

pub struct GraphEntraWriter<'a, T> {
    client: &'a GraphClient,
    tokens: T,
    deadline: Option<Instant>,
    /// Requests go out in `$batch`es shared with the tenant's other writers.
    batcher: Option<Arc<GraphBatcher>>,
    /// The directory extension holding the export's mark
    /// (`bodies::export_mark_property`).
    mark_property: &'a str,
}

impl<'a, T: AccessTokenSource> GraphEntraWriter<'a, T> {
    pub fn new(
        client: &'a GraphClient,
        tokens: T,
        mark_property: &'a str,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            client,
            tokens,
            deadline,
            batcher: None,
            mark_property,
        }
    }

    /// Sends through `batcher`, with every other writer that shares it.
    pub fn batched(mut self, batcher: Arc<GraphBatcher>) -> Self {
        self.batcher = Some(batcher);
        self
    }

    /// `/v1.0/<segments...>`, each segment percent-encoded (a UPN may hold `#` or `'`).
    fn url(&self, segments: &[&str]) -> String {
        let mut url = url::Url::parse(&self.client.url("")).expect("the Graph base is a URL");
        url.path_segments_mut()
            .expect("an http URL has segments")
            .pop_if_empty()
            .extend(segments);
        url.to_string()
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, GraphError> {
        self.send_repeating(method, url, body, Repeat::Always).await
    }

    /// A `POST` that creates an object: never sent again after a failure
    /// Graph may have applied (a second POST would make a second object).
    async fn send_create(&self, url: &str, body: &Value) -> Result<Value, GraphError> {
        self.send_repeating(Method::POST, url, Some(body), Repeat::UnappliedOnly)
            .await
    }

    async fn send_repeating(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        repeat: Repeat,
    ) -> Result<Value, GraphError> {
        Ok(self
            .client
            .send_through(
                &self.tokens,
                (method, url, body),
                self.deadline,
                self.batcher.as_deref(),
                repeat,
            )
            .await?
            .body)
    }

    /// Pages of `url` through `parse` until a privilege shows (or none is left).
    async fn first_privileges(
        &self,
        mut url: String,
        parse: fn(&Value) -> Result<privileges::PrivilegePage, GraphError>,
    ) -> Result<Vec<String>, GraphError> {
        let mut first = true;
        loop {
            let page = match self.send(Method::GET, &url, None).await {
                // Only the first page's 404 says the user is gone; a later
                // one must not read as "gone", hence "no role".
                Err(GraphError::NotFound) if !first => {
                    return Err(unanswered("a privileges page link answered 404"));
                }
                other => other?,
            };
            first = false;
            let (found, next) = parse(&page)?;
            match next {
                Some(next) if found.is_empty() => url = next,
                _ => return Ok(found),
            }
        }
    }

    /// `GET /users/{id}/transitiveMemberOf`: roles held directly or through
    /// a group, and role-assignable groups (docs/graph.md 3.8).
    async fn held_privileges(&self, user_id: &str) -> Result<Vec<String>, GraphError> {
        let url = format!(
            "{}?$select=id,displayName,isAssignableToRole",
            self.url(&["users", user_id, "transitiveMemberOf"])
        );
        self.first_privileges(url, privileges::parse_memberships)
            .await
    }

    /// `GET /roleManagement/directory/roleAssignments` for the user: roles
    /// assigned to it directly at any scope, custom ones too (a role held
    /// through a group names the group: `transitiveMemberOf` finds it).
    async fn assignments(&self, user_id: &str) -> Result<Vec<String>, GraphError> {
        let url = format!(
            "{}?$filter={}&$select=id,principalId,roleDefinitionId,directoryScopeId",
            self.url(&["roleManagement", "directory", "roleAssignments"]),
            query_value(&privileges::principal_filter(user_id))
        );
        match self
            .first_privileges(url, privileges::parse_assignments)
            .await
        {
            // A collection, not the user (as for the eligibilities).
            Err(GraphError::NotFound) => {
                Err(unanswered("the role assignments answered 404 Not Found"))
            }
            other => other,
        }
    }

    /// `GET /roleManagement/directory/roleEligibilityScheduleInstances`
    /// for the user (PIM); a tenant without PIM's licence has none.
    async fn eligibilities(&self, user_id: &str) -> Result<Vec<String>, GraphError> {
        let url = format!(
            "{}?$filter={}&$select=id,principalId,roleDefinitionId",
            self.url(&[
                "roleManagement",
                "directory",
                "roleEligibilityScheduleInstances"
            ]),
            query_value(&privileges::principal_filter(user_id))
        );
        match self
            .first_privileges(url, privileges::parse_eligibilities)
            .await
        {
            Err(GraphError::Rejected {
                status: 400, code, ..
            }) if code == privileges::PIM_NOT_LICENSED => Ok(Vec::new()),
            // A collection, not the user: its 404 says nothing of the
            // user, and must not pass as "the user is gone".
            Err(GraphError::NotFound) => {
                Err(unanswered("the PIM eligibilities answered 404 Not Found"))
            }
            other => other,
        }
    }

    /// `GET /{users|groups}?$filter=<mark property> eq '<mark>'&$select=…`:
    /// the objects whose mark is exactly this one (Graph compares strings
    /// without regard to case). `eq` on a directory extension needs no
    /// advanced query (docs/graph.md 3.7).
    async fn marked(
        &self,
        kind: EntraObjectKind,
        mark: &ExportMark,
        select: &str,
    ) -> Result<Vec<serde_json::Map<String, Value>>, GraphError> {
        let filter = format!("{} eq {}", self.mark_property, odata_string(mark.as_str()));
        let url = format!(
            "{}?$filter={}&$select={select},{}",
            self.url(&[kind.collection()]),
            query_value(&filter),
            self.mark_property
        );
        let body = self.send(Method::GET, &url, None).await?;
        let Some(found) = body["value"].as_array() else {
            return Err(GraphError::Malformed("a list has no value array".into()));
        };
        let mut exact = Vec::new();
        for object in found {
            let Value::Object(object) = object else {
                return Err(GraphError::Malformed(
                    "an object is not a JSON object".into(),
                ));
            };
            if bodies::export_mark(object, self.mark_property)?.as_ref() == Some(mark) {
                exact.push(object.clone());
            }
        }
        Ok(exact)
    }

    fn new_id(body: Value) -> Result<String, GraphError> {
        body["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| GraphError::Malformed("a created object has no id".into()))
    }
}

impl<T: AccessTokenSource> crate::export::EntraWriter for GraphEntraWriter<'_, T> {
    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        model::parse_domains(
            &self
                .send(Method::GET, &self.url(&["domains"]), None)
                .await?,
        )
    }

    async fn user_by_upn(&self, upn: &str) -> Result<Option<ExistingEntraUser>, GraphError> {
        let url = format!(
            "{}?$select={},{}",
            self.url(&["users", upn]),
            model::user_select(&[]),
            self.mark_property
        );
        match self.send(Method::GET, &url, None).await {
            Ok(Value::Object(user)) => Ok(Some(ExistingEntraUser {
                mark: bodies::export_mark(&user, self.mark_property)?,
                user: EntraUser::parse(&user)?,
            })),
            Ok(_) => Err(GraphError::Malformed("a user is not a JSON object".into())),
            Err(GraphError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn user_by_mark(
        &self,
        mark: &ExportMark,
    ) -> Result<Option<ExistingEntraUser>, GraphError> {
        let found = self
            .marked(EntraObjectKind::User, mark, &model::user_select(&[]))
            .await?;
        found
            .first()
            .map(|user| {
                Ok(ExistingEntraUser {
                    mark: Some(mark.clone()),
                    user: EntraUser::parse(user)?,
                })
            })
            .transpose()
    }

    async fn group_by_mark(&self, mark: &ExportMark) -> Result<Option<String>, GraphError> {
        let found = self.marked(EntraObjectKind::Group, mark, "id").await?;
        Ok(found
            .first()
            .and_then(|group| group["id"].as_str().map(str::to_owned)))
    }

    /// `transitiveMemberOf` and the PIM eligibilities, asked at once (they
    /// share a `$batch`): the user's privileges, none for a plain user.
    async fn directory_roles(&self, user_id: &str) -> Result<Vec<String>, GraphError> {
        // `/users/{upn}/…` resolves a UPN, but `principalId eq '<upn>'`
        // answers an empty list: a role assigned at a narrower scope, or an
        // eligibility, would pass unseen (found by review). Only an object
        // id is asked about, in its one form (a braced, URN or uppercase
        // form might resolve in a path and match no filter).
        let Ok(id) = uuid::Uuid::try_parse(user_id) else {
            return Err(GraphError::Malformed(format!(
                "{user_id:?} is not an Entra object id, so whether it is an administrator cannot be asked"
            )));
        };
        let user_id = id.hyphenated().to_string();
        let user_id = user_id.as_str();
        let (held, assigned, eligible) = tokio::join!(
            self.held_privileges(user_id),
            self.assignments(user_id),
            self.eligibilities(user_id)
        );
        // The user's own 404 (gone) speaks first; then a role found is an
        // answer whatever the other reads met, and none found is one only
        // when every read answered.
        let mut found = held?;
        let mut unanswered = None;
        for read in [assigned, eligible] {
            match read {
                Ok(roles) => found.extend(roles),
                Err(e) => unanswered = unanswered.or(Some(e)),
            }
        }
        match unanswered {
            Some(e) if found.is_empty() => Err(e),
            _ => Ok(found),
        }
    }

    /// `GET /groups/{id}?$select=id,displayName,isAssignableToRole`.
    async fn role_assignable_group(&self, group_id: &str) -> Result<Option<String>, GraphError> {
        let url = format!(
            "{}?$select=id,displayName,isAssignableToRole",
            self.url(&["groups", group_id])
        );
        privileges::role_assignable_group(&self.send(Method::GET, &url, None).await?)
    }

    /// `GET /users/{id}?$select=id,<mark>` (or `/groups/{id}`).
    async fn mark_of(
        &self,
        kind: EntraObjectKind,
        id: &str,
    ) -> Result<Option<ExportMark>, GraphError> {
        let url = format!(
            "{}?$select=id,{}",
            self.url(&[kind.collection(), id]),
            self.mark_property
        );
        match self.send(Method::GET, &url, None).await? {
            Value::Object(object) => bodies::export_mark(&object, self.mark_property),
            _ => Err(GraphError::Malformed(
                "an object is not a JSON object".into(),
            )),
        }
    }

    async fn write_mark(
        &self,
        kind: EntraObjectKind,
        id: &str,
        mark: &ExportMark,
    ) -> Result<(), GraphError> {
        let mut body = serde_json::Map::new();
        body.insert(self.mark_property.to_owned(), json!(mark.as_str()));
        let body = Value::Object(body);
        self.send(
            Method::PATCH,
            &self.url(&[kind.collection(), id]),
            Some(&body),
        )
        .await
        .map(drop)
    }

    async fn create_user(&self, user: &NewEntraUser) -> Result<String, GraphError> {
        let body = bodies::new_user_body(user, self.mark_property);
        Self::new_id(self.send_create(&self.url(&["users"]), &body).await?)
    }

    async fn update_user(&self, id: &str, patch: &EntraPatch) -> Result<(), GraphError> {
        let body = bodies::patch_body(patch);
        self.send(Method::PATCH, &self.url(&["users", id]), Some(&body))
            .await
            .map(drop)
    }

    async fn delete_user(&self, id: &str) -> Result<(), GraphError> {
        self.send(Method::DELETE, &self.url(&["users", id]), None)
            .await
            .map(drop)
    }

    /// A lost answer is safe to ask again: the second finds nothing to
    /// restore (404), and the engine then finds the restored user by its
    /// UPN and mark.
    async fn restore_user(&self, id: &str) -> Result<EntraUser, GraphError> {
        let url = self.url(&["directory", "deletedItems", id, "restore"]);
        match self.send(Method::POST, &url, None).await? {
            Value::Object(user) => EntraUser::parse(&user),
            _ => Err(GraphError::Malformed(
                "a restored user is not a JSON object".into(),
            )),
        }
    }

    async fn create_group(&self, group: &NewEntraGroup) -> Result<String, GraphError> {
        let body = bodies::new_group_body(group, self.mark_property);
        Self::new_id(self.send_create(&self.url(&["groups"]), &body).await?)
    }

    async fn update_group(&self, id: &str, patch: &EntraPatch) -> Result<(), GraphError> {
        let body = bodies::patch_body(patch);
        self.send(Method::PATCH, &self.url(&["groups", id]), Some(&body))
            .await
            .map(drop)
    }

    async fn delete_group(&self, id: &str) -> Result<(), GraphError> {
        self.send(Method::DELETE, &self.url(&["groups", id]), None)
            .await
            .map(drop)
    }

    async fn add_member(&self, group_id: &str, member_id: &str) -> Result<(), GraphError> {
        let reference = json!({ "@odata.id": self.url(&["directoryObjects", member_id]) });
        self.send(
            Method::POST,
            &self.url(&["groups", group_id, "members", "$ref"]),
            Some(&reference),
        )
        .await
        .map(drop)
    }

    async fn remove_member(&self, group_id: &str, member_id: &str) -> Result<(), GraphError> {
        self.send(
            Method::DELETE,
            &self.url(&["groups", group_id, "members", member_id, "$ref"]),
            None,
        )
        .await
        .map(drop)
    }

    /// `PUT /users/{id}/manager/$ref` with the manager's URL on this
    /// client's Graph host (a national cloud's own), or `DELETE` it: both
    /// answer 204; no PATCH sets a navigation property (WAVE3 §0 fact 3).
    async fn set_manager(&self, user_id: &str, manager_id: Option<&str>) -> Result<(), GraphError> {
        let reference = self.url(&["users", user_id, "manager", "$ref"]);
        let (method, body) = match manager_id {
            Some(manager) => (
                Method::PUT,
                Some(json!({ "@odata.id": self.url(&["users", manager]) })),
            ),
            None => (Method::DELETE, None),
        };
        self.send(method, &reference, body.as_ref()).await.map(drop)
    }
}

/// An OData string literal: quoted, a quote inside doubled.
fn odata_string(raw: &str) -> String {
    format!("'{}'", raw.replace('\'', "''"))
}

/// A query parameter's value, percent-encoded (RFC 3986 unreserved kept).
fn query_value(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A read whose answer cannot decide a privilege check: the change waits
/// (docs/behaviour.md 2.11: never applied blind).
fn unanswered(what: &str) -> GraphError {
    GraphError::Exhausted {
        attempts: 1,
        last: what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{odata_string, query_value};

    #[test]
    fn a_mark_is_an_odata_literal_with_its_quotes_doubled_then_percent_encoded() {
        assert_eq!(odata_string("acme/USER#o'brien"), "'acme/USER#o''brien'");
        let filter = format!("extension_abc_mark eq {}", odata_string("acme/USER#o'b"));
        assert_eq!(
            query_value(&filter),
            "extension_abc_mark%20eq%20%27acme%2FUSER%23o%27%27b%27"
        );
    }
}
