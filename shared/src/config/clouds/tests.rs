use std::collections::HashMap;

use super::*;
use crate::config::WorkerConfig;

const USGOV_SECRET: &str =
    "arn:aws-us-gov:secretsmanager:us-gov-west-1:1:secret:entra-sync/clouds/usgov-AbCdEf";

fn env(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let mut map: HashMap<String, String> = [
        ("INTEGRATIONS_TABLE", "integrations"),
        ("DIRECTORY_TABLE", "directory"),
        ("ENTRA_CLIENT_ID", "global-app"),
        (
            "ENTRA_CLIENT_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:app",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    map.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    move |name: &str| map.get(name).cloned()
}

fn usgov(fields: serde_json::Value) -> String {
    let mut cloud = serde_json::json!({
        "login_base_url": "https://login.microsoftonline.us",
        "graph_base_url": "https://graph.microsoft.us/",
        "client_id": "usgov-app",
        "client_secret_arn": USGOV_SECRET,
    });
    for (k, v) in fields.as_object().unwrap() {
        cloud[k] = v.clone();
    }
    serde_json::json!({ "usgov": cloud }).to_string()
}

fn refusal(entra_clouds: &str) -> String {
    let err = WorkerConfig::from_env(&env(&[("ENTRA_CLOUDS", entra_clouds)])).unwrap_err();
    let ConfigError::Malformed { name, reason } = &err else {
        panic!("not a malformed variable: {err}");
    };
    assert_eq!(*name, "ENTRA_CLOUDS");
    assert!(err.to_string().contains("ENTRA_CLOUDS"), "{err}");
    reason.clone()
}

#[test]
fn without_entra_clouds_only_global_is_served_from_its_own_variables() {
    let config = WorkerConfig::from_env(&env(&[])).unwrap();
    let global = config.clouds.get(Cloud::Global).unwrap();
    assert_eq!(global.app.client_id, "global-app");
    assert_eq!(
        global.graph_default_scope(),
        "https://graph.microsoft.com/.default"
    );
    assert_eq!(
        global.login_base_url.host_str(),
        Some("login.microsoftonline.com")
    );
    for cloud in [Cloud::UsGov, Cloud::UsGovDod, Cloud::China] {
        assert!(config.clouds.get(cloud).is_none(), "{cloud}");
    }
}

#[test]
fn a_national_cloud_has_its_own_hosts_app_and_default_scope() {
    let config =
        WorkerConfig::from_env(&env(&[("ENTRA_CLOUDS", &usgov(serde_json::json!({})))])).unwrap();
    let us = config.clouds.get(Cloud::UsGov).unwrap();
    assert_eq!(
        us.login_base_url.host_str(),
        Some("login.microsoftonline.us")
    );
    assert_eq!(
        us.graph_default_scope(),
        "https://graph.microsoft.us/.default"
    );
    assert_eq!(us.app.client_id, "usgov-app");
    assert_eq!(
        us.app.credential,
        crate::config::AppCredentialConfig::ClientSecret(USGOV_SECRET.into())
    );
    assert_eq!(config.clouds.global().app.client_id, "global-app");
    assert!(config.clouds.get(Cloud::China).is_none());
}

#[test]
fn given_an_unusable_entra_clouds_then_the_start_names_the_variable_and_the_fault() {
    assert!(refusal("not json").contains("JSON object"));
    assert!(refusal("[]").contains("JSON object"));
    let germany = usgov(serde_json::json!({})).replace("usgov", "germany");
    assert!(refusal(&germany).contains("unknown cloud \"germany\""));
    let global = r#"{"global": {"login_base_url": "https://a", "graph_base_url": "https://b", "client_id": "c", "client_secret_arn": "d"}}"#;
    assert!(refusal(global).contains("ENTRA_LOGIN_BASE_URL"));
    let missing = r#"{"usgov": {"login_base_url": "https://login.microsoftonline.us"}}"#;
    assert!(refusal(missing).contains("missing field"));
    let plain_http = usgov(serde_json::json!({"graph_base_url": "http://graph.microsoft.us"}));
    let reason = refusal(&plain_http);
    assert!(reason.starts_with("usgov.graph_base_url:"), "{reason}");
    assert!(
        refusal(&usgov(serde_json::json!({"client_id": "a b"}))).starts_with("usgov.client_id:")
    );
    let extra = usgov(serde_json::json!({"tenant": "x"}));
    assert!(refusal(&extra).contains("unknown field"));
}

#[test]
fn a_national_clouds_secret_must_live_under_the_prefixs_clouds_folder() {
    let elsewhere = usgov(serde_json::json!({
        "client_secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:other/usgov-AbCdEf"
    }));
    let reason = refusal(&elsewhere);
    assert!(reason.contains("entra-sync/clouds/"), "{reason}");
    let by_name = usgov(serde_json::json!({"client_secret_arn": "entra-sync/clouds/usgov"}));
    let config = WorkerConfig::from_env(&env(&[("ENTRA_CLOUDS", &by_name)])).unwrap();
    assert!(config.clouds.get(Cloud::UsGov).is_some());
}

#[test]
fn a_blank_entra_clouds_counts_as_absent() {
    let config = WorkerConfig::from_env(&env(&[("ENTRA_CLOUDS", "  ")])).unwrap();
    assert_eq!(config.clouds.iter().count(), 1);
}

#[test]
fn federated_mode_reads_no_app_secret_except_for_verify_password() {
    let map = env(&[("ENTRA_CLIENT_AUTH", "federated")]);
    let lookup = move |name: &str| {
        if name == "ENTRA_CLIENT_SECRET_ARN" {
            return None;
        }
        map(name)
    };
    let cloud = usgov(serde_json::json!({ "client_secret_arn": null }));
    let cloud_env = |name: &str| match name {
        "ENTRA_CLOUDS" => Some(cloud.clone()),
        other => lookup(other),
    };
    let config = WorkerConfig::from_env(&cloud_env).unwrap();
    for (_, endpoints) in config.clouds.iter() {
        assert_eq!(endpoints.app.credential, AppCredentialConfig::Federated);
    }
    // verify-password keeps the secret: without one it does not start.
    let err = crate::config::VerifyPasswordConfig::from_env(&cloud_env).unwrap_err();
    assert_eq!(err, ConfigError::Missing("ENTRA_CLIENT_SECRET_ARN"));
}

#[test]
fn federated_mode_keeps_a_cloud_secret_for_verify_password_only() {
    let cloud = usgov(serde_json::json!({}));
    let pairs = [("ENTRA_CLIENT_AUTH", "federated"), ("ENTRA_CLOUDS", &cloud)];
    let worker = WorkerConfig::from_env(&env(&pairs)).unwrap();
    let us = worker.clouds.get(Cloud::UsGov).unwrap();
    assert_eq!(us.app.credential, AppCredentialConfig::Federated);
    let password = crate::config::VerifyPasswordConfig::from_env(&env(&pairs)).unwrap();
    let us = password.worker.clouds.get(Cloud::UsGov).unwrap();
    assert_eq!(
        us.app.credential,
        AppCredentialConfig::ClientSecret(USGOV_SECRET.into())
    );
}

#[test]
fn a_cloud_needs_its_secret_in_secret_mode_and_an_unknown_mode_is_refused() {
    let reason = refusal(&usgov(serde_json::json!({ "client_secret_arn": null })));
    assert!(
        reason.contains("usgov.client_secret_arn is required"),
        "{reason}"
    );
    let err = WorkerConfig::from_env(&env(&[("ENTRA_CLIENT_AUTH", "certificate")])).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Malformed {
                name: "ENTRA_CLIENT_AUTH",
                ..
            }
        ),
        "{err}"
    );
}
