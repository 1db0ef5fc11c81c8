//! A proxy in front of moto for what moto does not do. DynamoDB applies
//! conditional writes to one item one at a time; moto's threaded server
//! takes no lock, so two concurrent conditional writes can both pass its
//! condition: the proxy hands moto one request at a time. And AWS refuses
//! an action a function's policy lacks: the proxy can answer one operation
//! with AccessDeniedException, whose message names ARNs.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(Clone)]
struct Proxy {
    upstream: String,
    refused: Option<&'static str>,
    http: reqwest::Client,
    one_at_a_time: Arc<tokio::sync::Mutex<()>>,
}

/// Listens on a free port and forwards to `upstream`; answers `refused`
/// (a DynamoDB operation name, e.g. `UpdateItem`) as an access denial.
/// Returns the proxy's endpoint URL.
pub async fn start(upstream: &str, refused: Option<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let proxy = Proxy {
        upstream: upstream.trim_end_matches('/').to_owned(),
        refused,
        http: reqwest::Client::new(),
        one_at_a_time: Arc::default(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move { axum::serve(listener, app).await });
    endpoint
}

fn access_denied(operation: &str) -> Response {
    let message = format!(
        "User: arn:aws:sts::123456789012:assumed-role/verify-password/x is not authorized to \
         perform: dynamodb:{operation} on resource: arn:aws:dynamodb:us-east-1:123456789012:table/integrations"
    );
    let body = serde_json::json!({
        "__type": "com.amazon.coral.service#AccessDeniedException",
        "message": message,
    });
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|target| target.rsplit('.').next())
        .unwrap_or("");
    if proxy.refused == Some(operation) {
        return access_denied(operation);
    }
    let url = format!(
        "{}{}",
        proxy.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = proxy.http.request(method, url).body(body);
    for (name, value) in &headers {
        if name != "content-length" {
            request = request.header(name, value);
        }
    }
    let _turn = proxy.one_at_a_time.lock().await;
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(err) => return (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    };
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = (status, bytes).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert("content-type", content_type);
    }
    response
}
