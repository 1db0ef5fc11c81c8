use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

const FULL: &[(&str, &str)] = &[
    ("INTEGRATIONS_TABLE", "integrations"),
    ("DIRECTORY_TABLE", "directory"),
    ("ENTRA_CLIENT_ID", "app-id"),
    (
        "ENTRA_CLIENT_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:1:secret:app",
    ),
    (
        "ENTRA_REDIRECT_URI",
        "https://am.example.com/entra/callback",
    ),
    (
        "PORTAL_RETURN_URL",
        "https://portal.example.com/integrations/entra",
    ),
];

#[test]
fn given_all_variables_when_loading_then_defaults_fill_the_rest() {
    let config = OAuthCallbackConfig::from_env(&env(FULL)).unwrap();
    assert_eq!(config.common.secret_prefix, "entra-sync/");
    assert_eq!(
        config.common.login_base_url.as_str(),
        "https://login.microsoftonline.com/"
    );
    assert_eq!(
        config.common.graph_base_url.host_str(),
        Some("graph.microsoft.com")
    );
}

#[test]
fn given_a_missing_variable_then_the_error_names_it() {
    let partial: Vec<_> = FULL
        .iter()
        .copied()
        .filter(|(k, _)| *k != "PORTAL_RETURN_URL")
        .collect();
    let err = OAuthCallbackConfig::from_env(&env(&partial)).unwrap_err();
    assert_eq!(err, ConfigError::Missing("PORTAL_RETURN_URL"));
    assert!(err.to_string().contains("PORTAL_RETURN_URL"));
}

#[test]
fn given_a_malformed_url_then_the_error_names_the_variable() {
    let mut pairs = FULL.to_vec();
    pairs.push(("ENTRA_LOGIN_BASE_URL", "not a url"));
    let err = OAuthCallbackConfig::from_env(&env(&pairs)).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Malformed {
            name: "ENTRA_LOGIN_BASE_URL",
            ..
        }
    ));
}

#[test]
fn given_a_plain_http_microsoft_base_url_then_it_is_refused_unless_loopback() {
    for (name, value, ok) in [
        ("GRAPH_BASE_URL", "http://graph.example.com", false),
        ("ENTRA_LOGIN_BASE_URL", "http://login.example.com", false),
        ("GRAPH_BASE_URL", "http://127.0.0.1:8080", true),
        ("ENTRA_LOGIN_BASE_URL", "http://localhost:9000", true),
        ("GRAPH_BASE_URL", "https://graph.microsoft.us", true),
    ] {
        let mut pairs = FULL.to_vec();
        pairs.push((name, value));
        let result = OAuthCallbackConfig::from_env(&env(&pairs));
        match (ok, result) {
            (true, Ok(_)) => {}
            (false, Err(ConfigError::Malformed { name: n, reason })) => {
                assert_eq!(n, name);
                assert!(reason.contains("https"), "{reason}");
            }
            (ok, other) => panic!("{name}={value}: expected ok={ok}, got {other:?}"),
        }
    }
}

#[test]
fn given_a_base_url_with_a_path_or_credentials_then_it_is_refused_naming_what() {
    for (value, named) in [
        ("https://graph.microsoft.us/v1.0", "path"),
        ("https://user:secret@graph.microsoft.com", "password"),
        ("https://user@login.microsoftonline.us", "user name"),
    ] {
        let mut pairs = FULL.to_vec();
        pairs.push(("GRAPH_BASE_URL", value));
        match OAuthCallbackConfig::from_env(&env(&pairs)) {
            Err(ConfigError::Malformed { name, reason }) => {
                assert_eq!(name, "GRAPH_BASE_URL");
                assert!(reason.contains(named), "{value}: {reason}");
                assert!(!reason.contains("secret"), "{reason}");
            }
            other => panic!("{value}: {other:?}"),
        }
    }
}

#[test]
fn given_more_than_nine_verify_failures_then_the_start_is_refused_naming_the_variable() {
    let mut pairs = FULL.to_vec();
    pairs.push(("VERIFY_MAX_FAILURES", "9"));
    let config = VerifyPasswordConfig::from_env(&env(&pairs)).unwrap();
    assert_eq!(config.max_failures, 9);
    pairs.pop();
    pairs.push(("VERIFY_MAX_FAILURES", "10"));
    let err = VerifyPasswordConfig::from_env(&env(&pairs)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("environment variable VERIFY_MAX_FAILURES is malformed: 10 is above 9"),
        "{err}"
    );
}

#[test]
fn the_scheduler_needs_a_queue_url_and_the_worker_the_app() {
    let err = SchedulerConfig::from_env(&env(FULL)).unwrap_err();
    assert_eq!(err, ConfigError::Missing("SYNC_QUEUE_URL"));
    let mut pairs = FULL.to_vec();
    pairs.push(("SYNC_QUEUE_URL", "queue"));
    assert!(matches!(
        SchedulerConfig::from_env(&env(&pairs)).unwrap_err(),
        ConfigError::Malformed {
            name: "SYNC_QUEUE_URL",
            ..
        }
    ));
    let worker: Vec<_> = FULL
        .iter()
        .copied()
        .filter(|(k, _)| *k != "ENTRA_CLIENT_SECRET_ARN")
        .collect();
    assert_eq!(
        WorkerConfig::from_env(&env(&worker)).unwrap_err(),
        ConfigError::Missing("ENTRA_CLIENT_SECRET_ARN")
    );
}

#[test]
fn graph_notifications_needs_the_key_of_notification_url_and_never_quotes_it() {
    let mut pairs = FULL.to_vec();
    pairs.push((
        "SYNC_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/1/jobs",
    ));
    assert_eq!(
        GraphNotificationsConfig::from_env(&env(&pairs)).unwrap_err(),
        ConfigError::Missing("NOTIFICATION_URL")
    );
    let mut keyless = pairs.clone();
    keyless.push((
        "NOTIFICATION_URL",
        "https://api.example.com/entra/notifications",
    ));
    let err = GraphNotificationsConfig::from_env(&env(&keyless)).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Malformed {
                name: "NOTIFICATION_URL",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("key"), "{err}");

    let key = "Zx81mQv0ba7RtY2nKc5LpW3sHd9FgJ4e6UoIiN1A";
    let url = format!("https://api.example.com/entra/notifications?key={key}");
    let mut keyed = pairs.clone();
    keyed.push(("NOTIFICATION_URL", &url));
    let config = GraphNotificationsConfig::from_env(&env(&keyed)).unwrap();
    assert!(config.notification_key.admits(&format!("key={key}")));
    assert!(!format!("{config:?}").contains(key));
}

#[test]
fn the_workers_config_never_shows_the_notification_key() {
    let key = "Zx81mQv0ba7RtY2nKc5LpW3sHd9FgJ4e6UoIiN1A";
    let url = format!("https://api.example.com/entra/notifications?key={key}");
    let mut pairs = FULL.to_vec();
    pairs.push((
        "SYNC_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/1/jobs",
    ));
    pairs.push(("NOTIFICATION_URL", &url));
    let config = SyncWorkerConfig::from_env(&env(&pairs)).unwrap();
    assert_eq!(config.notification_url.as_deref(), Some(url.as_str()));
    let shown = format!("{config:?}");
    assert!(!shown.contains(key), "{shown}");
    assert!(shown.contains("https://api.example.com/entra/notifications?[redacted]"));
    let subscription = crate::realtime::NewSubscription {
        resource: "users",
        notification_url: url.clone(),
        expiration: chrono::Utc::now(),
        client_state: "state".to_owned().into(),
    };
    assert!(!format!("{subscription:?}").contains(key));
    assert!(!crate::realtime::recorded_url("not a url ?key=abc").contains("abc"));
}

#[test]
fn given_a_blank_required_variable_then_it_counts_as_missing() {
    let mut pairs: Vec<_> = FULL
        .iter()
        .copied()
        .filter(|(k, _)| *k != "DIRECTORY_TABLE")
        .collect();
    pairs.push(("DIRECTORY_TABLE", "  "));
    assert_eq!(
        CommonConfig::from_env(&env(&pairs)).unwrap_err(),
        ConfigError::Missing("DIRECTORY_TABLE")
    );
}
