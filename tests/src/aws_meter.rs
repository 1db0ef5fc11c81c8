//! A counting proxy in front of moto: every AWS request the functions make
//! passes through it and is tallied by operation and table (the
//! `X-Amz-Target` header and the JSON body), with the items a batch carries
//! and the time moto took to answer (what AWS bills is requests, and
//! requests do not depend on the machine); with a gate, each request is
//! first judged against its function's IAM statements (`crate::iam`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::iam::Gate;

/// One operation on one table (or queue, or secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    /// `DynamoDB.BatchWriteItem`, `SQS.SendMessage`, ...
    pub name: String,
    /// The table's role (`directory`, `integrations`), or empty.
    pub target: String,
    /// The secondary index a Query or Scan reads, or empty (the table).
    pub index: String,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub requests: u64,
    /// Items carried by batch requests (BatchWriteItem, BatchGetItem).
    pub items: u64,
    pub busy: Duration,
}

pub type Tallies = BTreeMap<Operation, Tally>;

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    /// Physical table name prefix → role, to name tables by what they are.
    roles: Arc<Vec<(String, String)>>,
    tallies: Arc<Mutex<Tallies>>,
    gate: Option<Arc<Gate>>,
    /// Where STS `GetWebIdentityToken` goes (moto lacks it): the emulator's
    /// STS, told the caller's role (what real STS learns from SigV4).
    web_identity_sts: Option<String>,
    /// DynamoDB applies the writes to one item one at a time; moto's
    /// threaded server does not (two concurrent conditional writes can both
    /// pass), so a gated meter hands moto its writes one at a time.
    writes: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone)]
pub struct AwsMeter {
    pub endpoint: String,
    shared: Shared,
}

impl AwsMeter {
    /// Listens on a free 127.0.0.1 port and forwards to `upstream`;
    /// `roles` names tables: (physical name, role).
    pub async fn start(upstream: &str, roles: Vec<(String, String)>) -> anyhow::Result<Self> {
        Self::start_gated(upstream, roles, None, None).await
    }

    /// The same, judging every function's request with `gate` first, and
    /// sending STS `GetWebIdentityToken` to `web_identity_sts`.
    pub async fn start_gated(
        upstream: &str,
        roles: Vec<(String, String)>,
        gate: Option<Arc<Gate>>,
        web_identity_sts: Option<String>,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .context("building the meter's HTTP client")?,
            roles: Arc::new(roles),
            tallies: Arc::default(),
            gate,
            web_identity_sts,
            writes: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { endpoint, shared })
    }

    /// Everything counted so far.
    pub fn snapshot(&self) -> Tallies {
        self.shared.tallies.lock().expect("meter lock").clone()
    }
}

/// What happened between two snapshots.
pub fn since(before: &Tallies, after: &Tallies) -> Tallies {
    after
        .iter()
        .filter_map(|(op, now)| {
            let was = before.get(op).copied().unwrap_or_default();
            let tally = Tally {
                requests: now.requests - was.requests,
                items: now.items - was.items,
                busy: now.busy.saturating_sub(was.busy),
            };
            (tally.requests > 0).then(|| (op.clone(), tally))
        })
        .collect()
}

/// Requests whose operation name satisfies `pick`, on `target` ("" = any).
pub fn requests(tallies: &Tallies, target: &str, pick: impl Fn(&str) -> bool) -> u64 {
    tallies
        .iter()
        .filter(|(op, _)| (target.is_empty() || op.target == target) && pick(&op.name))
        .map(|(_, t)| t.requests)
        .sum()
}

/// Whether a request is a DynamoDB write (by its `X-Amz-Target`).
fn is_dynamodb_write(headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        .is_some_and(|op| is_write(&format!("DynamoDB.{op}")) || op.starts_with("Transact"))
}

/// DynamoDB operations that write.
pub fn is_write(name: &str) -> bool {
    ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]
        .iter()
        .any(|w| name == format!("DynamoDB.{w}"))
}

/// DynamoDB operations that read.
pub fn is_read(name: &str) -> bool {
    ["GetItem", "BatchGetItem", "Query", "Scan"]
        .iter()
        .any(|r| name == format!("DynamoDB.{r}"))
}

async fn forward(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(form) = web_identity_token_request(&headers, &body) {
        return web_identity_token(&shared, &headers, &form, body).await;
    }
    // Read once: the tally and the gate both look at the request's JSON.
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (operation, items) = classify(&shared, &headers, &json);
    if let Some(denial) = shared.gate.as_ref().and_then(|g| g.judge(&headers, &json)) {
        return access_denied(&denial);
    }
    let url = format!(
        "{}{}",
        shared.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut request = shared.http.request(method, url).body(body);
    // The Host header is signed: moto checks the signature.
    for (name, value) in &headers {
        if name != "content-length" {
            request = request.header(name, value);
        }
    }
    let one_at_a_time = match &shared.gate {
        Some(_) if is_dynamodb_write(&headers) => Some(shared.writes.lock().await),
        _ => None,
    };
    let started = Instant::now();
    let answer = request.send().await;
    drop(one_at_a_time);
    let busy = started.elapsed();
    {
        let mut tallies = shared.tallies.lock().expect("meter lock");
        let tally = tallies.entry(operation).or_default();
        tally.requests += 1;
        tally.items += items;
        tally.busy += busy;
    }
    match answer {
        Ok(answer) => relay(&shared, &headers, answer).await,
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// moto's answer as the function receives it, after the gate has seen it.
async fn relay(shared: &Shared, headers: &HeaderMap, answer: reqwest::Response) -> Response {
    let status = answer.status();
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            out.insert(name.clone(), value.clone());
        }
    }
    match answer.bytes().await {
        Ok(bytes) => {
            if let Some(gate) = &shared.gate {
                gate.moto_denied(headers, status.as_u16(), &bytes);
                gate.observe_answer(&bytes);
            }
            (status, out, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// The form of an STS `GetWebIdentityToken` (query protocol), if it is one.
fn web_identity_token_request(headers: &HeaderMap, body: &[u8]) -> Option<Vec<(String, String)>> {
    let form_encoded = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return None;
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    form.iter()
        .any(|(k, v)| k == "Action" && v == "GetWebIdentityToken")
        .then_some(form)
}

/// Judged by the gate, then answered by the stack's STS with the caller's
/// role named; without one, refused as an account that never enabled
/// outbound identity federation would be.
async fn web_identity_token(
    shared: &Shared,
    headers: &HeaderMap,
    form: &[(String, String)],
    body: Bytes,
) -> Response {
    let gate = shared.gate.as_ref();
    if let Some(denial) = gate.and_then(|g| g.judge_web_identity_token(headers, form)) {
        return sts_error(StatusCode::FORBIDDEN, "AccessDenied", &denial);
    }
    let (Some(sts), Some(role)) = (
        shared.web_identity_sts.as_ref(),
        gate.and_then(|g| g.role_arn(headers)),
    ) else {
        return sts_error(
            StatusCode::FORBIDDEN,
            "OutboundWebIdentityFederationDisabledException",
            "outbound web identity federation is not enabled in this stack",
        );
    };
    let answer = shared
        .http
        .post(sts)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(crate::emulator::sts::CALLER_HEADER, role)
        .body(body)
        .send()
        .await;
    match answer {
        Ok(answer) => relay(shared, headers, answer).await,
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// An error as STS's query protocol answers it.
fn sts_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>0</RequestId></ErrorResponse>",
        crate::emulator::sts::xml_text(message)
    );
    (status, [("content-type", "text/xml")], body).into_response()
}

/// A denial as AWS's JSON protocols answer it (the SDKs read the error
/// code from `__type`).
fn access_denied(message: &str) -> Response {
    let body = serde_json::json!({"__type": "AccessDeniedException", "message": message});
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

/// The operation a request is, and how many items a batch carries.
fn classify(shared: &Shared, headers: &HeaderMap, json: &Value) -> (Operation, u64) {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (service, action) = target.split_once('.').unwrap_or(("other", target));
    let service = match service {
        s if s.starts_with("DynamoDBStreams") => "DynamoDBStreams",
        s if s.starts_with("DynamoDB") => "DynamoDB",
        "AmazonSQS" => "SQS",
        "secretsmanager" => "SecretsManager",
        s => s,
    };
    let batch = json.get("RequestItems").and_then(Value::as_object);
    let table = json
        .get("TableName")
        .and_then(Value::as_str)
        .or_else(|| batch.and_then(|b| b.keys().next().map(String::as_str)))
        .unwrap_or("");
    let items = batch
        .map(|b| {
            b.values()
                .map(|v| match v {
                    Value::Array(requests) => requests.len() as u64,
                    other => other
                        .get("Keys")
                        .and_then(Value::as_array)
                        .map_or(0, |k| k.len() as u64),
                })
                .sum()
        })
        .unwrap_or(0);
    let role = shared
        .roles
        .iter()
        .find(|(name, _)| name == table)
        .map(|(_, role)| role.clone())
        .unwrap_or_default();
    (
        Operation {
            name: format!("{service}.{action}"),
            target: role,
            index: json
                .get("IndexName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        },
        items,
    )
}

/// The tallies as a table for people.
pub fn render(tallies: &Tallies) -> String {
    let mut out = String::new();
    for (op, t) in tallies {
        let mut target = if op.target.is_empty() {
            String::new()
        } else {
            format!(" on {}", op.target)
        };
        if !op.index.is_empty() {
            target.push_str(&format!(" by {}", op.index));
        }
        let items = if t.items > 0 {
            format!(", {} items", t.items)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "    {}{target}: {} requests{items}, {:.2} s in moto\n",
            op.name,
            t.requests,
            t.busy.as_secs_f64()
        ));
    }
    out
}
