//! Entra ID for the import engine: delta rounds, domains and scope look-ups
//! through the Graph client, for one tenant (`tenants`: the reader of each).

use tokio::time::Instant;

use super::model;
use super::{AccessTokenSource, GraphClient, GraphError};
use crate::model::EntraObjectId;
use crate::model::entra::{DeltaPage, DomainInfo, EntraGroup, EntraUser, GroupDelta, MemberKind};

pub struct GraphEntraDirectory<'a, T> {
    client: &'a GraphClient,
    tokens: T,
    deadline: Option<Instant>,
    /// The users `$select`: the built-in properties and what the tenant's
    /// mappings and scoping filters read.
    user_select: String,
}

impl<'a, T: AccessTokenSource> GraphEntraDirectory<'a, T> {
    pub fn new(client: &'a GraphClient, tokens: T, deadline: Option<Instant>) -> Self {
        Self {
            client,
            tokens,
            deadline,
            user_select: model::user_select(&[]),
        }
    }

    /// Users are read with these properties too (Graph property names).
    pub fn selecting(self, extra: Vec<String>) -> Self {
        Self {
            user_select: model::user_select(&extra),
            ..self
        }
    }

    async fn get(&self, url: &str) -> Result<serde_json::Value, GraphError> {
        self.client.get(&self.tokens, url, self.deadline).await
    }
}

impl<T: AccessTokenSource> crate::import::EntraDirectory for GraphEntraDirectory<'_, T> {
    async fn users_delta(&self, link: Option<&str>) -> Result<DeltaPage<EntraUser>, GraphError> {
        let url = match link {
            Some(link) => link.to_owned(),
            None => self
                .client
                .url(&format!("/users/delta?$select={}", self.user_select)),
        };
        model::parse_user_page(self.get(&url).await?)
    }

    async fn groups_delta(&self, link: Option<&str>) -> Result<DeltaPage<GroupDelta>, GraphError> {
        let url = match link {
            Some(link) => link.to_owned(),
            None => self
                .client
                .url(&format!("/groups/delta?$select={}", model::group_select())),
        };
        model::parse_group_page(self.get(&url).await?)
    }

    async fn domains(&self) -> Result<Vec<DomainInfo>, GraphError> {
        model::parse_domains(&self.get(&self.client.url("/domains")).await?)
    }

    async fn transitive_members(
        &self,
        group_id: &str,
    ) -> Result<Vec<(EntraObjectId, MemberKind)>, GraphError> {
        let mut url = self
            .client
            .url(&format!("/groups/{group_id}/transitiveMembers?$select=id"));
        let mut members = Vec::new();
        loop {
            let page = model::parse_members_page(&self.get(&url).await?)?;
            members.extend(page.members);
            match page.next_link {
                Some(next) => url = next,
                None => return Ok(members),
            }
        }
    }

    async fn user(&self, id: &str) -> Result<Option<EntraUser>, GraphError> {
        let url = self
            .client
            .url(&format!("/users/{id}?$select={}", self.user_select));
        match self.get(&url).await {
            Ok(serde_json::Value::Object(body)) => EntraUser::parse(&body).map(Some),
            Ok(_) => Err(GraphError::Malformed("a user is not a JSON object".into())),
            Err(GraphError::NotFound) => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn is_soft_deleted_user(&self, id: &str) -> Result<bool, GraphError> {
        let id = crate::model::EntraObjectId::parse(id)
            .map_err(|e| GraphError::Malformed(e.to_string()))?;
        let url = self
            .client
            .url(&format!("/directory/deletedItems/{id}?$select=id"));
        match self.get(&url).await {
            Ok(_) => Ok(true),
            Err(GraphError::NotFound) => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn groups_of_user(&self, id: &str) -> Result<Vec<String>, GraphError> {
        let mut url = self.client.url(&format!("/users/{id}/memberOf?$select=id"));
        let mut groups = Vec::new();
        loop {
            let page = match self.get(&url).await {
                Ok(body) => model::parse_members_page(&body)?,
                Err(GraphError::NotFound) => return Ok(Vec::new()),
                Err(err) => return Err(err),
            };
            // Directory roles are listed too.
            let of_page = page
                .members
                .into_iter()
                .filter(|(_, k)| *k == MemberKind::Group);
            groups.extend(of_page.map(|(id, _)| id.to_string()));
            match page.next_link {
                Some(next) => url = next,
                None => return Ok(groups),
            }
        }
    }

    async fn group(&self, id: &str) -> Result<Option<EntraGroup>, GraphError> {
        let url = self.client.url(&format!(
            "/groups/{id}?$select={}",
            model::group_attributes_select()
        ));
        match self.get(&url).await {
            Ok(serde_json::Value::Object(body)) => EntraGroup::parse(&body),
            Ok(_) => Err(GraphError::Malformed("a group is not a JSON object".into())),
            Err(GraphError::NotFound) => Ok(None),
            Err(err) => Err(err),
        }
    }
}
