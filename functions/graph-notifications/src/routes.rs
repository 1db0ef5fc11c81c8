//! `POST /entra/notifications`: Graph's validation handshake, and deliveries
//! answered within Graph's 3 seconds once their work is queued.

use entra_sync::notifications::{
    NotificationIntake, SubscriptionRecords, SyncRequests, parse_delivery,
};
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};

type HttpResult = Result<Response<Body>, lambda_http::Error>;

pub async fn handle<R, Q>(intake: &NotificationIntake<R, Q>, request: Request) -> HttpResult
where
    R: SubscriptionRecords,
    Q: SyncRequests,
{
    if request.method() != Method::POST
        || request.uri().path().trim_end_matches('/') != "/entra/notifications"
    {
        tracing::warn!(method = %request.method(), path = %request.uri().path(), "no such route");
        return plain(StatusCode::NOT_FOUND, "no such route");
    }
    if let Some(token) = validation_token(request.uri().query().unwrap_or("")) {
        // Graph checks that we own the URL: echo its token, decoded.
        tracing::info!("answering Graph's validation request");
        return plain(StatusCode::OK, &token);
    }
    let notifications = match parse_delivery(request.body().as_ref()) {
        Ok(notifications) => notifications,
        Err(err) => {
            tracing::warn!(error = %err, "a delivery that is not a notification collection");
            return plain(StatusCode::BAD_REQUEST, &err.to_string());
        }
    };
    match intake.accept(&notifications, chrono::Utc::now()).await {
        Ok(report) => {
            tracing::info!(
                notifications = notifications.len(),
                accepted = report.accepted,
                ignored = report.ignored.values().sum::<usize>(),
                jobs_queued = report.jobs_queued,
                already_pending = report.already_pending,
                "delivery accepted"
            );
            empty(StatusCode::ACCEPTED)
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
mod tests {
    use super::*;

    #[test]
    fn the_validation_token_is_decoded_as_a_form_value() {
        assert_eq!(
            validation_token("validationToken=Validation%3a+Testing%2B1%26x").as_deref(),
            Some("Validation: Testing+1&x")
        );
        assert_eq!(validation_token("tenant=acme&other=1"), None);
        assert_eq!(validation_token(""), None);
    }
}
