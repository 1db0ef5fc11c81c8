//! The Microsoft Graph client: one `reqwest::Client`, an injectable base
//! URL, the retry policy, and the access-token refresh on 401.

pub mod batch;
pub mod bodies;
pub mod model;
pub mod privileges;
pub mod reader;
pub mod retry;
pub mod subscriptions;
pub mod tenants;
pub mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::time::Instant;

pub use crate::model::entra::{GraphError, PermissionCheck, TokenError};
pub use crate::ports::AccessTokenSource;
pub use retry::RetryPolicy;

/// The Graph client (or any per-cloud value) of the tenant's cloud. A
/// cloud the deployment does not serve gets the global one: its token
/// source (`TenantTokenSourceByMode::CloudNotSupported`) refuses every
/// request before anything is sent, so no cloud is ever asked for it.
pub fn of_cloud<T>(per_cloud: &crate::model::ByCloud<T>, cloud: crate::model::Cloud) -> &T {
    per_cloud.get(cloud).unwrap_or_else(|| per_cloud.global())
}

/// Graph's code for a permission the caller lacks (docs/graph.md 0.2).
const REQUEST_DENIED: &str = "Authorization_RequestDenied";

/// A successful answer: status and JSON body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: u16,
    pub body: Value,
}

pub struct GraphClient {
    http: reqwest::Client,
    /// `GRAPH_BASE_URL` + `/v1.0`, no trailing slash.
    base: String,
    policy: RetryPolicy,
    requests: AtomicU64,
}

fn error_code(body: &Value) -> (String, String) {
    let error = &body["error"];
    (
        error["code"].as_str().unwrap_or("unknown").to_owned(),
        error["message"].as_str().unwrap_or("").to_owned(),
    )
}

/// `details[].code` of a Graph error (e.g. `ObjectConflict`).
fn detail_codes(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|x| x["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl GraphClient {
    pub fn new(http: reqwest::Client, graph_base_url: &url::Url, policy: RetryPolicy) -> Self {
        Self {
            http,
            base: format!("{}/v1.0", graph_base_url.as_str().trim_end_matches('/')),
            policy,
            requests: AtomicU64::new(0),
        }
    }

    /// An absolute URL for a path such as `/users/delta`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// HTTP requests sent so far, retries included.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub async fn get(
        &self,
        tokens: &impl AccessTokenSource,
        url: &str,
        deadline: Option<Instant>,
    ) -> Result<Value, GraphError> {
        Ok(self
            .send(tokens, Method::GET, url, None, deadline)
            .await?
            .body)
    }

    /// Sends one request with the retry policy. Links Graph returns are
    /// followed verbatim, but only below the configured base: the bearer
    /// token goes nowhere else.
    pub async fn send(
        &self,
        tokens: &impl AccessTokenSource,
        method: Method,
        url: &str,
        body: Option<&Value>,
        deadline: Option<Instant>,
    ) -> Result<GraphResponse, GraphError> {
        self.send_through(tokens, (method, url, body), deadline, None, Repeat::Always)
            .await
    }

    /// `send`, each attempt inside a `$batch` with whatever other callers
    /// of `batcher` send at the same moment; `repeat` says which failures
    /// may be sent again.
    pub async fn send_through(
        &self,
        tokens: &impl AccessTokenSource,
        (method, url, body): (Method, &str, Option<&Value>),
        deadline: Option<Instant>,
        batcher: Option<&batch::GraphBatcher>,
        repeat: Repeat,
    ) -> Result<GraphResponse, GraphError> {
        self.ensure_below_base(url)?;
        let mut token = tokens.access_token(false).await?;
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let exchange = match batcher {
                Some(batcher) => batcher.exchange(self, &method, url, body, &token).await,
                None => self.exchange(&method, url, body, &token).await,
            };
            let (retry_after, reason) = match exchange {
                Exchange::Answered(response) => return Ok(response),
                Exchange::Refused(error) => return Err(with_permission_check(tokens, error).await),
                Exchange::TokenRefused if !refreshed => {
                    // An expired access token: refresh once, retry. The
                    // retry is not counted against the policy's attempts.
                    token = tokens.access_token(true).await?;
                    refreshed = true;
                    attempt -= 1;
                    continue;
                }
                Exchange::TokenRefused => return Err(GraphError::Unauthorized),
                Exchange::Transient {
                    maybe_applied: true,
                    reason,
                    ..
                } if repeat == Repeat::UnappliedOnly => {
                    return Err(GraphError::Exhausted {
                        attempts: attempt,
                        last: format!("{reason} (not sent again: Graph may have applied it)"),
                    });
                }
                Exchange::Transient {
                    retry_after,
                    reason,
                    ..
                } => (retry_after, reason),
            };
            self.wait_for_retry(attempt, retry_after, reason, deadline)
                .await?;
        }
    }

    /// Refuses links outside the configured base, so that the bearer token
    /// is never sent anywhere Graph's links might point.
    fn ensure_below_base(&self, url: &str) -> Result<(), GraphError> {
        if url.starts_with(&self.base) {
            return Ok(());
        }
        Err(GraphError::Malformed(format!(
            "a link points outside the Graph base URL ({})",
            url.split('?').next().unwrap_or("")
        )))
    }

    /// One HTTP exchange: the request sent once, its answer interpreted.
    async fn exchange(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        token: &SecretString,
    ) -> Exchange {
        match self.exchange_raw(method, url, body, token).await {
            Ok((status, retry_after, text)) => interpret_answer(status, retry_after, &text),
            Err(reason) => Exchange::Transient {
                retry_after: None,
                reason: reason.to_owned(),
                maybe_applied: true,
            },
        }
    }

    /// The request sent once: status, Retry-After and body, or why no
    /// answer came.
    async fn exchange_raw(
        &self,
        method: &Method,
        url: &str,
        body: Option<&Value>,
        token: &SecretString,
    ) -> Result<(StatusCode, Option<Duration>, String), &'static str> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        crate::graph_tally::note_request();
        let mut request = self
            .http
            .request(method.clone(), url)
            .bearer_auth(token.expose_secret())
            .header("accept", "application/json")
            .header("x-ms-throttle-priority", "Low")
            .header("client-request-id", uuid::Uuid::new_v4().to_string());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| transport_failure(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        Ok((
            status,
            retry_after,
            response.text().await.unwrap_or_default(),
        ))
    }

    /// Sleeps before the next attempt, or reports that the retry policy
    /// (attempts or the run's deadline) is spent.
    async fn wait_for_retry(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        reason: String,
        deadline: Option<Instant>,
    ) -> Result<(), GraphError> {
        let delay = self.policy.delay(attempt, retry_after);
        if !self.policy.allows(attempt, delay, deadline) {
            return Err(GraphError::Exhausted {
                attempts: attempt,
                last: reason,
            });
        }
        tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, reason = %reason, "retrying a Graph request");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// A refusal as the engines see it: a 403 `Authorization_RequestDenied`
/// re-reads the app's roles once (no retry of the request), and names
/// the missing ones; otherwise the refusal as Graph gave it.
async fn with_permission_check(tokens: &impl AccessTokenSource, error: GraphError) -> GraphError {
    if !matches!(&error, GraphError::Forbidden { code, .. } if code == REQUEST_DENIED) {
        return error;
    }
    match tokens.permission_check().await {
        Ok(Some(check)) if !check.missing.is_empty() => GraphError::PermissionsMissing(check),
        Ok(_) => error,
        // The app's access ended meanwhile (consent revoked, app disabled).
        Err(token_error) if token_error.reauthorisation_reason().is_some() => {
            GraphError::Token(token_error)
        }
        Err(token_error) => {
            tracing::warn!(error = %token_error, "could not re-read the app's roles after a 403");
            error
        }
    }
}

/// Which failed attempts a request may be sent again after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Any transient failure (reads, and writes that are idempotent).
    Always,
    /// Only those Graph refused unapplied (throttling): a create sent twice
    /// makes two objects, and the export's intent to create must see the
    /// ambiguous one (docs/behaviour.md 2.3).
    UnappliedOnly,
}

/// What one exchange with Graph means for the request.
#[derive(Debug)]
enum Exchange {
    Answered(GraphResponse),
    /// An answer no retry can change.
    Refused(GraphError),
    /// 401: the access token is expired or was revoked.
    TokenRefused,
    /// Throttling, a 5xx or a network failure: the retry policy decides.
    Transient {
        retry_after: Option<Duration>,
        reason: String,
        /// Graph may have applied the request (a 5xx, a timeout); not
        /// after throttling, which refuses it unapplied.
        maybe_applied: bool,
    },
}

/// Reads an HTTP answer from Graph (docs/graph.md 0.2, 2.4): success, a
/// transient failure to retry, or a refusal, by status and error code.
fn interpret_answer(status: StatusCode, retry_after: Option<Duration>, text: &str) -> Exchange {
    let json = json_body(text);
    if status.is_success() && json.is_null() && !text.trim().is_empty() {
        return Exchange::Refused(GraphError::Malformed("the body is not JSON".into()));
    }
    interpret_json(status, retry_after, json)
}

/// Graph's throttling answers (429, and 503: Graph's "overloaded, come
/// back later", docs/graph.md 2.5) in this process since the last
/// [`take_throttled`]: an operators' metric (docs/behaviour.md 2.14). Per
/// process, not per tenant: one invocation's tenants share the client.
static THROTTLED: AtomicU64 = AtomicU64::new(0);

/// The throttling answers counted since the last call, and the count reset.
pub fn take_throttled() -> u64 {
    THROTTLED.swap(0, Ordering::Relaxed)
}

/// `interpret_answer` of a body already read as JSON (a `$batch` item).
fn interpret_json(status: StatusCode, retry_after: Option<Duration>, json: Value) -> Exchange {
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        THROTTLED.fetch_add(1, Ordering::Relaxed);
        crate::graph_tally::note_throttled();
    }
    if status.is_success() {
        return Exchange::Answered(GraphResponse {
            status: status.as_u16(),
            body: json,
        });
    }
    let (code, message) = error_code(&json);
    let refused = match status {
        StatusCode::UNAUTHORIZED => return Exchange::TokenRefused,
        StatusCode::GONE => GraphError::SyncStateGone(format!("410 {code}")),
        StatusCode::NOT_FOUND => GraphError::NotFound,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::INTERNAL_SERVER_ERROR
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => {
            return Exchange::Transient {
                retry_after,
                reason: format!("{} {code}", status.as_u16()),
                maybe_applied: status != StatusCode::TOO_MANY_REQUESTS,
            };
        }
        // An expired delta token also comes as a 400 (docs/graph.md 1.9).
        _ if is_sync_state_lost(&code) => {
            GraphError::SyncStateGone(format!("{} {code}", status.as_u16()))
        }
        _ => classify(status.as_u16(), code, message, &detail_codes(&json)),
    };
    Exchange::Refused(refused)
}

/// A refusal in the class the engines decide on, by Graph's status, code,
/// `details` and English (docs/graph.md 0.2, 2.6, 3.1): the only place that
/// reads them.
fn classify(status: u16, code: String, message: String, details: &[String]) -> GraphError {
    let says = |text: &str| message.contains(text);
    match status {
        // `details` are optional (docs/graph.md 0.2): the message then.
        400 if details.iter().any(|d| d == "ObjectConflict")
            || (says("userPrincipalName") && says("already exists")) =>
        {
            GraphError::ObjectConflict { code, message }
        }
        400 if says("added object references already exist") => {
            GraphError::AlreadyMember { code, message }
        }
        // A just-created group's or member's replication lag (2.6).
        400 if says("do not exist") => GraphError::NotVisibleYet { code, message },
        400 if says("Invalid object identifier") => GraphError::InvalidObjectId { code, message },
        // Directory Sync owns the user's attributes (WAVE3 §0 fact 4).
        400 if code == "Request_BadRequest" && says("on-premises mastered") => {
            GraphError::OnPremisesMastered { code, message }
        }
        403 => GraphError::Forbidden { code, message },
        409 => GraphError::Conflict { code, message },
        _ => GraphError::Rejected {
            status,
            code,
            message,
        },
    }
}

/// The answer's JSON; `Null` when empty or not JSON.
fn json_body(text: &str) -> Value {
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or(Value::Null)
    }
}

/// Error codes that mean the delta state must be rebuilt by a full round.
fn is_sync_state_lost(code: &str) -> bool {
    code.eq_ignore_ascii_case("syncStateNotFound") || code.eq_ignore_ascii_case("resyncRequired")
}

/// A short, secret-free reason for a request that got no answer.
fn transport_failure(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_request() || err.is_body() {
        "connection reset"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests;
