//! Real event JSON, shaped as AWS sends it.

use std::collections::HashMap;

use serde_json::{Value, json};

/// An API Gateway HTTP API (payload 2.0) request event.
pub fn http_api_request(method: &str, route_key: &str, path: &str, raw_query: &str) -> Value {
    let query_parameters = query_parameters(raw_query);
    let path_parameters = path_parameters(route_key, path);
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {
            "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "accept-encoding": "gzip, deflate, br",
            "content-length": "0",
            "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "user-agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "x-amzn-trace-id": "Root=1-6745a1b2-0123456789abcdef01234567",
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64)"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "isBase64Encoded": false
    });
    if !query_parameters.is_empty() {
        event["queryStringParameters"] = json!(query_parameters);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = json!(path_parameters);
    }
    if route_key.starts_with("POST /tenants/") {
        // IAM-authorised route: API Gateway adds the caller's identity.
        event["requestContext"]["authorizer"] = platform_caller();
    }
    event
}

/// API Gateway joins repeated parameters with commas.
fn query_parameters(raw_query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw_query.as_bytes()).fold(HashMap::new(), |mut map, (k, v)| {
        map.entry(k.into_owned())
            .and_modify(|existing: &mut String| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
        map
    })
}

fn platform_caller() -> Value {
    json!({
        "iam": {
            "accessKey": "ASIAEXAMPLE",
            "accountId": "123456789012",
            "callerId": "AROAEXAMPLE:platform",
            "principalOrgId": null,
            "userArn": "arn:aws:sts::123456789012:assumed-role/am-platform/platform",
            "userId": "AROAEXAMPLE:platform"
        }
    })
}

fn path_parameters(route_key: &str, path: &str) -> HashMap<String, String> {
    let template = route_key.split_once(' ').map(|(_, p)| p).unwrap_or("");
    template
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(t, v)| {
            t.strip_prefix('{')
                .and_then(|t| t.strip_suffix('}'))
                .map(|name| (name.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The HTTP response a function returned to API Gateway.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl HttpResponse {
    pub fn from_lambda(value: &Value) -> anyhow::Result<Self> {
        let status = value["statusCode"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no statusCode in {value}"))?
            as u16;
        let headers = value["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let body = value["body"].as_str().unwrap_or("").to_owned();
        Ok(Self {
            status,
            headers,
            body,
        })
    }

    pub fn location(&self) -> Option<url::Url> {
        self.headers
            .get("location")
            .and_then(|l| url::Url::parse(l).ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}
