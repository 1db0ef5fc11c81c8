//! JSON logs, one line per event (docs/behaviour.md 2.6).

use tracing_subscriber::EnvFilter;

/// Targets that would log raw events or HTTP bodies (which carry OAuth codes
/// and tokens) at debug or trace level. They are capped at `info` whatever
/// `RUST_LOG` says.
const CAPPED_TARGETS: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "hyper",
    "hyper_util",
    "reqwest",
    "h2",
    "rustls",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_config",
    "oauth2",
    // The SDK clients and request signing: at debug they log each
    // client's set-up at cold start and the requests they sign.
    "aws_sdk_dynamodb",
    "aws_sdk_secretsmanager",
    "aws_sdk_sqs",
    "aws_sdk_sts",
    "aws_runtime",
    "aws_sigv4",
];

pub fn log_filter(rust_log: Option<&str>) -> EnvFilter {
    let mut directives = rust_log
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("info")
        .to_owned();
    for target in CAPPED_TARGETS {
        directives.push_str(&format!(",{target}=info"));
    }
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the JSON subscriber. Call once, first thing in `main`.
pub fn init() {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .without_time()
        .with_ansi(false)
        .flatten_event(true)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_trace_everywhere_then_runtime_event_logging_stays_capped() {
        let filter = log_filter(Some("trace")).to_string();
        assert!(filter.contains("lambda_runtime=info"), "{filter}");
        assert!(filter.contains("oauth2=info"), "{filter}");
        assert!(filter.contains("aws_sdk_sts=info"), "{filter}");
        assert!(filter.contains("aws_sigv4=info"), "{filter}");
    }

    #[test]
    fn given_a_malformed_filter_then_info_is_used() {
        assert_eq!(log_filter(Some("[[[")).to_string(), "info");
    }
}
