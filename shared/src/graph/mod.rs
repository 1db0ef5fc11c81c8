//! The Microsoft Graph client: one `reqwest::Client`, an injectable base
//! URL, the retry policy, and the access-token refresh on 401.

pub mod directory;
pub mod model;
pub mod retry;
pub mod writer;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::time::Instant;

pub use retry::RetryPolicy;

/// Why no access token could be had for a tenant.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The grant is dead (consent revoked, admin removed): only a new
    /// authorisation helps.
    #[error("the tenant's authorisation was refused ({0}); an administrator must authorise again")]
    ReauthorisationRequired(String),
    #[error("no authorisation is stored for the tenant")]
    NotAuthorised,
    #[error("could not obtain an access token: {0}")]
    Unavailable(String),
}

/// Where the client gets its bearer token; `force_refresh` after a 401.
pub trait AccessTokenSource: Send + Sync {
    fn access_token(
        &self,
        force_refresh: bool,
    ) -> impl Future<Output = Result<SecretString, TokenError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Throttling, 5xx or network failures outlasted the retry policy.
    #[error("Graph did not answer successfully after {attempts} attempts: {last}")]
    Exhausted { attempts: u32, last: String },
    /// 410, `syncStateNotFound`, `resyncRequired`: start a full round.
    #[error("Graph's delta state is gone ({0}); a full round is needed")]
    SyncStateGone(String),
    #[error("Graph refused the access token twice")]
    Unauthorized,
    #[error("Graph has no such object")]
    NotFound,
    #[error("Graph refused the request: {status} {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
        /// `details[].code`, e.g. `ObjectConflict` on a duplicate UPN.
        details: Vec<String>,
    },
    #[error("Graph's answer is malformed: {0}")]
    Malformed(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl GraphError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Exhausted { .. } | Self::Token(TokenError::Unavailable(_))
        )
    }
}

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
        if !url.starts_with(&self.base) {
            return Err(GraphError::Malformed(format!(
                "a link points outside the Graph base URL ({})",
                url.split('?').next().unwrap_or("")
            )));
        }
        let mut token = tokens.access_token(false).await?;
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
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
            let (retry_after, reason) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry::parse_retry_after);
                    let text = response.text().await.unwrap_or_default();
                    let json: Value = if text.trim().is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_str(&text).unwrap_or(Value::Null)
                    };
                    if status.is_success() {
                        if json.is_null() && !text.trim().is_empty() {
                            return Err(GraphError::Malformed("the body is not JSON".into()));
                        }
                        return Ok(GraphResponse {
                            status: status.as_u16(),
                            body: json,
                        });
                    }
                    let (code, message) = error_code(&json);
                    match status {
                        StatusCode::UNAUTHORIZED if !refreshed => {
                            // An expired access token: refresh once, retry.
                            token = tokens.access_token(true).await?;
                            refreshed = true;
                            attempt -= 1;
                            continue;
                        }
                        StatusCode::UNAUTHORIZED => return Err(GraphError::Unauthorized),
                        StatusCode::GONE => {
                            return Err(GraphError::SyncStateGone(format!("410 {code}")));
                        }
                        StatusCode::NOT_FOUND => return Err(GraphError::NotFound),
                        StatusCode::TOO_MANY_REQUESTS
                        | StatusCode::INTERNAL_SERVER_ERROR
                        | StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT => {
                            (retry_after, format!("{} {code}", status.as_u16()))
                        }
                        _ if code.eq_ignore_ascii_case("syncStateNotFound")
                            || code.eq_ignore_ascii_case("resyncRequired") =>
                        {
                            return Err(GraphError::SyncStateGone(format!(
                                "{} {code}",
                                status.as_u16()
                            )));
                        }
                        _ => {
                            return Err(GraphError::Rejected {
                                status: status.as_u16(),
                                code,
                                message,
                                details: detail_codes(&json),
                            });
                        }
                    }
                }
                Err(err) if err.is_timeout() => (None, "timed out".to_owned()),
                Err(err) if err.is_connect() => (None, "connection failed".to_owned()),
                Err(err) if err.is_request() || err.is_body() => {
                    (None, "connection reset".to_owned())
                }
                Err(_) => (None, "request failed".to_owned()),
            };
            let delay = self.policy.delay(attempt, retry_after);
            if !self.policy.allows(attempt, delay, deadline) {
                return Err(GraphError::Exhausted {
                    attempts: attempt,
                    last: reason,
                });
            }
            tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, reason = %reason, "retrying a Graph request");
            tokio::time::sleep(delay).await;
        }
    }
}

/// The reqwest client for Graph: bounded time, redirects not followed.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(50))
        .build()
        .expect("a client with static settings builds")
}
