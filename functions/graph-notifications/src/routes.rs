//! `POST /entra/notifications`: Graph's validation handshake, and deliveries
//! answered within Graph's 3 seconds once their work is queued. A public
//! route, so its work is bounded (docs/behaviour.md 2.11): no key, nothing read; a
//! body over 1 MiB is not parsed; one log line per request.

use entra_sync::notifications::{
    MAX_DELIVERY_BYTES, NotificationIntake, NotificationKey, SubscriptionRecords, SyncRequests,
    parse_delivery,
};
use entra_sync::ports::StoreError;
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};

type HttpResult = Result<Response<Body>, lambda_http::Error>;

pub struct NotificationRoute<R, Q> {
    pub intake: NotificationIntake<R, Q>,
    pub key: NotificationKey,
}

impl<R: SubscriptionRecords, Q: SyncRequests> NotificationRoute<R, Q> {
    pub async fn handle(&self, request: Request) -> HttpResult {
        if request.method() != Method::POST
            || request.uri().path().trim_end_matches('/') != "/entra/notifications"
        {
            tracing::warn!(method = %request.method(), path = %request.uri().path(), "no such route");
            return plain(StatusCode::NOT_FOUND, "no such route");
        }
        // Never logged: the query holds the key (or a guess at it).
        let query = request.uri().query().unwrap_or("");
        if !self.key.admits(query) {
            tracing::warn!("refused a request without the notification key");
            return plain(StatusCode::FORBIDDEN, "forbidden");
        }
        if let Some(token) = validation_token(query) {
            // Graph checks that we own the URL: echo its token, decoded.
            tracing::info!("answering Graph's validation request");
            return plain(StatusCode::OK, &token);
        }
        let body = request.body().as_ref();
        if body.len() > MAX_DELIVERY_BYTES {
            tracing::warn!(
                bytes = body.len(),
                "refused a delivery over {MAX_DELIVERY_BYTES} bytes"
            );
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "a notification collection is at most 1 MiB",
            );
        }
        self.deliver(body).await
    }

    async fn deliver(&self, body: &[u8]) -> HttpResult {
        let delivery = match parse_delivery(body) {
            Ok(delivery) => delivery,
            Err(err) => {
                tracing::warn!(error = %err, "a delivery that is not a notification collection");
                return plain(StatusCode::BAD_REQUEST, &err.to_string());
            }
        };
        match self.intake.accept(&delivery, chrono::Utc::now()).await {
            Ok(report) => {
                tracing::info!(
                    items = delivery.items(),
                    distinct = delivery.notifications.len(),
                    malformed = delivery.malformed,
                    subscriptions_read = report.subscriptions_read,
                    accepted = report.accepted,
                    ignored = report.ignored.values().sum::<usize>(),
                    ignored_by_reason = ?report.ignored,
                    lifecycle_events = report.lifecycle_events,
                    jobs_queued = report.jobs_queued,
                    already_pending = report.already_pending,
                    "delivery accepted"
                );
                empty(StatusCode::ACCEPTED)
            }
            // The input itself cannot be looked up: retrying cannot help,
            // and a 5xx would have Graph retry it for hours.
            Err(err @ StoreError::Refused { .. }) => {
                tracing::warn!(error = %err, "a delivery the store refused to look up");
                plain(
                    StatusCode::BAD_REQUEST,
                    "the notification collection holds a value that cannot be looked up",
                )
            }
            // Graph retries a 5xx for up to four hours: nothing is lost.
            Err(err) => {
                tracing::error!(error = %err, "could not queue the delivery's work");
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the notification could not be queued; retry",
                )
            }
        }
    }
}

/// The `validationToken` query parameter, decoded as a form value (`+` is
/// a space, `%2B` a plus).
fn validation_token(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "validationToken")
        .map(|(_, value)| value.into_owned())
}

fn plain(status: StatusCode, text: &str) -> HttpResult {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        // The validation token is echoed: never let a browser sniff it as HTML.
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::from(text.to_owned()))?)
}

fn empty(status: StatusCode) -> HttpResult {
    Ok(Response::builder().status(status).body(Body::Empty)?)
}

#[cfg(test)]
mod tests;
