//! JSON batching, `POST /v1.0/$batch` (docs/graph.md 2.7): up to 20 requests,
//! each run through the emulator's own routes (faults, throttling and the
//! request log apply to each item), answered in one 200 envelope whose
//! items carry their own status, headers and body. The envelope checks
//! only the token and the batch's shape.

use std::collections::HashSet;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::graph::{Shared, check_token, graph_error};

/// Sub-requests carry this header: the request log marks them, and the
/// latency knob, already applied to the envelope, is not applied again.
pub const IN_BATCH_HEADER: &str = "x-emulator-in-batch";
const MAX_REQUESTS: usize = 20;

pub fn routes() -> Router<Shared> {
    Router::new().route("/v1.0/$batch", post(batch))
}

fn bad_batch(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// One request of a batch: id, method, url (relative to `/v1.0`), body.
type Item = (String, String, String, Option<Value>);

/// The items of a well-formed batch.
#[allow(clippy::result_large_err)] // the error is the handler's own answer
fn items(body: &[u8]) -> Result<Vec<Item>, Response> {
    let envelope: Value =
        serde_json::from_slice(body).map_err(|_| bad_batch("Invalid batch payload format."))?;
    let requests = envelope["requests"]
        .as_array()
        .ok_or_else(|| bad_batch("Invalid batch payload format."))?;
    if requests.is_empty() || requests.len() > MAX_REQUESTS {
        return Err(bad_batch(
            "The number of batch requests must be between 1 and 20.",
        ));
    }
    let mut ids = HashSet::new();
    requests
        .iter()
        .map(|r| {
            let (Some(id), Some(method), Some(url)) =
                (r["id"].as_str(), r["method"].as_str(), r["url"].as_str())
            else {
                return Err(bad_batch("Each request needs an id, a method and a url."));
            };
            if !ids.insert(id.to_owned()) {
                return Err(bad_batch("Request ids must be unique."));
            }
            let body = r.get("body").filter(|b| !b.is_null()).cloned();
            if body.is_some() && r["headers"]["Content-Type"].as_str().is_none() {
                return Err(bad_batch(
                    "A request with a body needs a Content-Type header.",
                ));
            }
            Ok((id.to_owned(), method.to_owned(), url.to_owned(), body))
        })
        .collect()
}

async fn batch(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = check_token(&shared.lock().unwrap(), &headers) {
        return refused;
    }
    let items = match items(&body) {
        Ok(items) => items,
        Err(refused) => return refused,
    };
    let Some(router) = shared.lock().unwrap().batch_router.clone() else {
        return graph_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "no router",
        );
    };
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    let answers = futures::future::join_all(items.into_iter().map(|(id, method, url, body)| {
        let router = router.clone();
        let authorization = authorization.clone();
        async move {
            let mut request = Request::builder()
                .method(method.as_str())
                .uri(format!("/v1.0{url}"))
                .header(IN_BATCH_HEADER, id.as_str());
            if let Some(authorization) = authorization {
                request = request.header(header::AUTHORIZATION, authorization);
            }
            let request = match &body {
                Some(body) => request
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string())),
                None => request.body(Body::empty()),
            };
            let Ok(request) = request else {
                return json!({"id": id, "status": 400, "body": {"error": {"code": "BadRequest", "message": "Invalid request URL."}}});
            };
            answer(id, router.oneshot(request).await.into_response()).await
        }
    }))
    .await;
    (StatusCode::OK, axum::Json(json!({ "responses": answers }))).into_response()
}

/// One item's answer as the envelope carries it.
async fn answer(id: String, response: Response) -> Value {
    let status = response.status().as_u16();
    let mut headers = serde_json::Map::new();
    if let Some(retry_after) = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        headers.insert("Retry-After".into(), json!(retry_after));
    }
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    json!({"id": id, "status": status, "headers": headers, "body": body})
}
