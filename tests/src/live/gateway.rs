//! API Gateway's part in the live stack: one HTTP listener on 127.0.0.1
//! for every `HttpApi` route of template.yaml, each request a payload 2.0
//! event to its function, each answer the function's response. `AWS_IAM`
//! routes (only the platform calls them) are accepted from this machine
//! only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use serde_yaml_ng::Value as Yaml;

use super::activity::Activity;
use super::sandbox::Sandbox;
use crate::events::{HttpResponse, http_api_request};
use crate::local_aws::TEMPLATE;

/// One `HttpApi` event of a function in template.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRoute {
    pub method: String,
    /// With `{name}` segments, as the template writes it.
    pub path: String,
    pub iam: bool,
    /// The function's binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub timeout: Duration,
}

impl TemplateRoute {
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let mut template = self.path.split('/');
        let mut actual = path.split('/');
        method == self.method
            && loop {
                match (template.next(), actual.next()) {
                    (None, None) => break true,
                    (Some(t), Some(a)) if t.starts_with('{') && !a.is_empty() => {}
                    (Some(t), Some(a)) if t == a => {}
                    _ => break false,
                }
            }
    }
}

fn seconds(value: Option<&Yaml>) -> Option<Duration> {
    value.and_then(Yaml::as_u64).map(Duration::from_secs)
}

/// Every `HttpApi` route of template.yaml.
pub fn template_routes() -> anyhow::Result<Vec<TemplateRoute>> {
    let template: Yaml = serde_yaml_ng::from_str(TEMPLATE).context("template.yaml is not YAML")?;
    let default_timeout =
        seconds(template["Globals"]["Function"].get("Timeout")).unwrap_or(Duration::from_secs(3));
    let resources = template["Resources"]
        .as_mapping()
        .context("template.yaml has no Resources")?;
    let mut routes = Vec::new();
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let properties = &resource["Properties"];
        let timeout = seconds(properties.get("Timeout")).unwrap_or(default_timeout);
        let Some(events) = properties["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let event = &event["Properties"];
            routes.push(TemplateRoute {
                method: event["Method"]
                    .as_str()
                    .context("a route without Method")?
                    .to_uppercase(),
                path: event["Path"]
                    .as_str()
                    .context("a route without Path")?
                    .to_owned(),
                iam: event["Auth"]["Authorizer"].as_str() == Some("AWS_IAM"),
                binary: binary.to_owned(),
                timeout,
            });
        }
    }
    Ok(routes)
}

#[derive(Clone)]
struct Gateway {
    routes: Arc<Vec<(TemplateRoute, Arc<Sandbox>)>>,
    activity: Activity,
}

/// Serves these routes on `listener` until the process ends.
pub fn serve(
    listener: tokio::net::TcpListener,
    routes: Vec<(TemplateRoute, Arc<Sandbox>)>,
    activity: Activity,
) {
    let gateway = Gateway {
        routes: Arc::new(routes),
        activity,
    };
    let router = Router::new().fallback(forward).with_state(gateway);
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .ok();
    });
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "message": text }).to_string(),
    )
        .into_response()
}

async fn forward(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((route, sandbox)) = gateway
        .routes
        .iter()
        .find(|(r, _)| r.matches(method.as_str(), uri.path()))
    else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    if route.iam && !peer.ip().is_loopback() {
        return message(StatusCode::FORBIDDEN, "Forbidden");
    }
    let route_key = route.route_key();
    let mut event = http_api_request(
        method.as_str(),
        &route_key,
        uri.path(),
        uri.query().unwrap_or(""),
    );
    for (name, value) in &headers {
        if let Ok(value) = value.to_str() {
            event["headers"][name.as_str()] = json!(value);
        }
    }
    event["headers"]["content-length"] = json!(body.len().to_string());
    event["requestContext"]["http"]["sourceIp"] = json!(peer.ip().to_string());
    if !body.is_empty() {
        event["body"] = json!(String::from_utf8_lossy(&body));
    }
    let answer = sandbox.invoke(event, route.timeout).await;
    match answer.map(|r| r.map(|v| HttpResponse::from_lambda(&v))) {
        Ok(Ok(Ok(response))) => {
            let note = format!("{route_key} -> {} {}", route.binary, response.status);
            gateway.activity.note("gateway", &note);
            let mut builder = Response::builder().status(response.status);
            for (name, value) in &response.headers {
                builder = builder.header(name, value);
            }
            builder
                .body(axum::body::Body::from(response.body))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        // What API Gateway answers when the integration fails.
        _ => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_http_route_of_the_template_is_served_with_its_auth() {
        let routes = template_routes().unwrap();
        let keys: Vec<(String, bool, String)> = routes
            .iter()
            .map(|r| (r.route_key(), r.iam, r.binary.clone()))
            .collect();
        assert!(keys.contains(&(
            "POST /tenants/{tenant_id}/entra/authorize".into(),
            true,
            "oauth-callback".into()
        )));
        assert!(keys.contains(&("GET /entra/callback".into(), false, "oauth-callback".into())));
        assert!(keys.contains(&(
            "POST /entra/notifications".into(),
            false,
            "graph-notifications".into()
        )));
        let authorize = routes.iter().find(|r| r.iam).expect("the IAM route");
        assert!(authorize.matches("POST", "/tenants/acme/entra/authorize"));
        assert!(
            !authorize.matches("POST", "/tenants//entra/authorize"),
            "an empty id"
        );
        assert!(!authorize.matches("GET", "/tenants/acme/entra/authorize"));
        assert!(!authorize.matches("POST", "/tenants/acme/entra/authorize/more"));
    }
}
