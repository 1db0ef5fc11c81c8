//! The part API Gateway plays for an HTTP API route: a real HTTP listener on
//! 127.0.0.1 whose requests reach a function binary as payload 2.0 events,
//! and whose answers are the function's responses. Graph's emulator
//! delivers notifications to it as it would to the deployed URL.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Mutex;

use crate::events::{HttpResponse, http_api_request};
use crate::lambda_runtime_api::LambdaFunction;

/// One route in front of one function (one sandbox: requests take turns,
/// as a single Lambda instance serves one at a time).
pub struct ApiGateway {
    pub url: String,
    pub function: Arc<Mutex<LambdaFunction>>,
}

#[derive(Clone)]
struct Route {
    route_key: &'static str,
    function: Arc<Mutex<LambdaFunction>>,
}

impl ApiGateway {
    /// Serves `route_key` (e.g. `POST /entra/notifications`); `url` is the
    /// route's full URL.
    pub async fn start(route_key: &'static str, function: LambdaFunction) -> anyhow::Result<Self> {
        Self::start_with(route_key, async |_| Ok(function)).await
    }

    /// Serves `route_key` with the function `start` starts once the
    /// route's URL is known (a function that is told its own URL).
    pub async fn start_with(
        route_key: &'static str,
        start: impl AsyncFnOnce(&str) -> anyhow::Result<LambdaFunction>,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let path = route_key.split_once(' ').map_or("/", |(_, p)| p);
        let url = format!("http://{address}{path}");
        let function = Arc::new(Mutex::new(start(&url).await?));
        let route = Route {
            route_key,
            function: function.clone(),
        };
        let router = Router::new().fallback(forward).with_state(route);
        tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        Ok(Self { url, function })
    }
}

async fn forward(
    State(route): State<Route>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (route_method, route_path) = route.route_key.split_once(' ').unwrap_or(("", ""));
    if method.as_str() != route_method || uri.path() != route_path {
        return (StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}").into_response();
    }
    let mut event = http_api_request(
        method.as_str(),
        route.route_key,
        uri.path(),
        uri.query().unwrap_or(""),
    );
    for (name, value) in &headers {
        if let Ok(value) = value.to_str() {
            event["headers"][name.as_str()] = json!(value);
        }
    }
    event["headers"]["content-length"] = json!(body.len().to_string());
    if !body.is_empty() {
        event["body"] = json!(String::from_utf8_lossy(&body));
    }
    let answer = route.function.lock().await.invoke(event).await;
    match answer.map(|r| r.map(|v| HttpResponse::from_lambda(&v))) {
        Ok(Ok(Ok(response))) => {
            let mut builder = Response::builder().status(response.status);
            for (name, value) in &response.headers {
                builder = builder.header(name, value);
            }
            builder
                .body(axum::body::Body::from(response.body))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        // What API Gateway answers when the integration fails.
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "{\"message\":\"Internal Server Error\"}",
        )
            .into_response(),
    }
}
