//! Graph's `/subscriptions` for the realtime engine (docs/graph-notifications.md 1).

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{AccessTokenSource, GraphClient, GraphError};
use crate::realtime::{LiveSubscription, NewSubscription, SubscriptionApi};

pub struct GraphSubscriptions<'a, T> {
    client: &'a GraphClient,
    tokens: T,
    deadline: Option<Instant>,
}

impl<'a, T: AccessTokenSource> GraphSubscriptions<'a, T> {
    pub fn new(client: &'a GraphClient, tokens: T, deadline: Option<Instant>) -> Self {
        Self {
            client,
            tokens,
            deadline,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GraphError> {
        let url = self.client.url(path);
        Ok(self
            .client
            .send(&self.tokens, method, &url, body, self.deadline)
            .await?
            .body)
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn live(body: &Value) -> Result<LiveSubscription, GraphError> {
    let text = |k: &str| {
        body[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| GraphError::Malformed(format!("a subscription has no {k}")))
    };
    let expiration = DateTime::parse_from_rfc3339(&text("expirationDateTime")?)
        .map_err(|e| GraphError::Malformed(format!("a subscription's expirationDateTime: {e}")))?
        .with_timezone(&Utc);
    Ok(LiveSubscription {
        id: text("id")?,
        resource: text("resource")?,
        notification_url: text("notificationUrl")?,
        expiration,
    })
}

impl<T: AccessTokenSource> SubscriptionApi for GraphSubscriptions<'_, T> {
    async fn create(&self, subscription: &NewSubscription) -> Result<LiveSubscription, GraphError> {
        let body = json!({
            "changeType": "updated,deleted",
            "notificationUrl": subscription.notification_url,
            "lifecycleNotificationUrl": subscription.notification_url,
            "resource": subscription.resource,
            "expirationDateTime": rfc3339(subscription.expiration),
            "clientState": subscription.client_state.expose_secret(),
            "latestSupportedTlsVersion": "v1_2",
        });
        live(
            &self
                .send(Method::POST, "/subscriptions", Some(&body))
                .await?,
        )
    }

    async fn renew(
        &self,
        id: &str,
        expiration: DateTime<Utc>,
    ) -> Result<LiveSubscription, GraphError> {
        let body = json!({ "expirationDateTime": rfc3339(expiration) });
        live(
            &self
                .send(Method::PATCH, &format!("/subscriptions/{id}"), Some(&body))
                .await?,
        )
    }

    async fn delete(&self, id: &str) -> Result<(), GraphError> {
        match self
            .send(Method::DELETE, &format!("/subscriptions/{id}"), None)
            .await
        {
            Ok(_) | Err(GraphError::NotFound) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Every page, following `@odata.nextLink` as returned; an entry that
    /// cannot be read is skipped (it is not one of ours to keep).
    async fn list(&self) -> Result<Vec<LiveSubscription>, GraphError> {
        let mut url = self.client.url("/subscriptions");
        let mut found = Vec::new();
        loop {
            let body = self.client.get(&self.tokens, &url, self.deadline).await?;
            let page = body["value"]
                .as_array()
                .ok_or_else(|| GraphError::Malformed("a subscription list has no value".into()))?;
            found.extend(page.iter().filter_map(|entry| live(entry).ok()));
            match body["@odata.nextLink"].as_str() {
                Some(next) => url = next.to_owned(),
                None => return Ok(found),
            }
        }
    }
}
