//! `ENTRA_CLOUDS` (DESIGN 1.2, 2.12): the national clouds served besides
//! `global`, each with its hosts and its own app registration. `global`
//! keeps its own variables.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::{AppCredentialConfig, CommonConfig, ConfigError, EntraAppConfig, Env, optional};
use crate::model::{ByCloud, Cloud};

const NAME: &str = "ENTRA_CLOUDS";

/// Where a cloud's app secrets must live, under `SECRET_PREFIX`: the
/// template grants the functions `secretsmanager:GetSecretValue` there and
/// nowhere else (least privilege without a parameter per secret).
pub const CLOUD_SECRETS_FOLDER: &str = "clouds/";

/// One cloud's hosts and app registration.
#[derive(Debug, Clone)]
pub struct CloudEndpoints {
    pub login_base_url: Url,
    pub graph_base_url: Url,
    pub app: EntraAppConfig,
}

impl CloudEndpoints {
    /// The only scope a client-credentials request may name there, and
    /// the one admin consent asks for: `<graph_base_url>/.default`.
    pub fn graph_default_scope(&self) -> String {
        format!(
            "{}/.default",
            self.graph_base_url.as_str().trim_end_matches('/')
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloud {
    login_base_url: String,
    graph_base_url: String,
    client_id: String,
    /// Required in `secret` mode; in `federated` mode only verify-password
    /// (which keeps the secret) reads it.
    #[serde(default)]
    client_secret_arn: Option<String>,
}

fn malformed(reason: String) -> ConfigError {
    ConfigError::Malformed { name: NAME, reason }
}

/// Every cloud the process serves: `global` from `ENTRA_LOGIN_BASE_URL`,
/// `GRAPH_BASE_URL`, `ENTRA_CLIENT_ID` and the app's credential, the
/// others from `ENTRA_CLOUDS` (absent = global only).
pub fn entra_clouds(
    env: &dyn Env,
    common: &CommonConfig,
    app: &EntraAppConfig,
) -> Result<ByCloud<CloudEndpoints>, ConfigError> {
    let global = CloudEndpoints {
        login_base_url: common.login_base_url.clone(),
        graph_base_url: common.graph_base_url.clone(),
        app: app.clone(),
    };
    let Some(raw) = optional(env, NAME) else {
        return Ok(ByCloud::global_only(global));
    };
    let federated = app.credential == AppCredentialConfig::Federated;
    let national = parse_national(&raw, &common.secret_prefix, federated)?;
    Ok(ByCloud::new(global, national))
}

fn parse_national(
    raw: &str,
    secret_prefix: &str,
    federated: bool,
) -> Result<BTreeMap<Cloud, CloudEndpoints>, ConfigError> {
    let clouds: BTreeMap<String, RawCloud> = serde_json::from_str(raw).map_err(|e| {
        malformed(format!(
            "must be a JSON object of clouds, each {{login_base_url, graph_base_url, client_id, client_secret_arn (not needed with ENTRA_CLIENT_AUTH=federated)}} ({e})"
        ))
    })?;
    let mut national = BTreeMap::new();
    for (name, raw) in clouds {
        let cloud = match Cloud::parse(&name) {
            Some(Cloud::Global) => {
                return Err(malformed(
                    "`global` is configured by ENTRA_LOGIN_BASE_URL, GRAPH_BASE_URL, ENTRA_CLIENT_ID and ENTRA_CLIENT_SECRET_ARN, not here".into(),
                ));
            }
            Some(cloud) => cloud,
            None => {
                return Err(malformed(format!(
                    "unknown cloud {name:?}: expected `usgov`, `usgov_dod` or `china`"
                )));
            }
        };
        national.insert(cloud, endpoints(cloud, raw, secret_prefix, federated)?);
    }
    Ok(national)
}

fn endpoints(
    cloud: Cloud,
    raw: RawCloud,
    secret_prefix: &str,
    federated: bool,
) -> Result<CloudEndpoints, ConfigError> {
    let field = |field: &str, err: ConfigError| match err {
        ConfigError::Malformed { reason, .. } => malformed(format!("{cloud}.{field}: {reason}")),
        other => other,
    };
    let login_base_url =
        super::base_url_value(NAME, &raw.login_base_url).map_err(|e| field("login_base_url", e))?;
    let graph_base_url =
        super::base_url_value(NAME, &raw.graph_base_url).map_err(|e| field("graph_base_url", e))?;
    let client_id = raw.client_id.trim().to_owned();
    super::check_client_id(NAME, &client_id).map_err(|e| field("client_id", e))?;
    let credential = match raw.client_secret_arn.map(|arn| arn.trim().to_owned()) {
        Some(arn) => {
            check_secret_folder(cloud, &arn, secret_prefix)?;
            if federated {
                AppCredentialConfig::Federated
            } else {
                AppCredentialConfig::ClientSecret(arn)
            }
        }
        None if federated => AppCredentialConfig::Federated,
        None => {
            return Err(malformed(format!(
                "{cloud}.client_secret_arn is required with ENTRA_CLIENT_AUTH=secret, and by verify-password in either mode (the password grant takes no federated assertion)"
            )));
        }
    };
    Ok(CloudEndpoints {
        login_base_url,
        graph_base_url,
        app: EntraAppConfig {
            client_id,
            credential,
        },
    })
}

fn check_secret_folder(cloud: Cloud, arn: &str, secret_prefix: &str) -> Result<(), ConfigError> {
    let folder = format!("{secret_prefix}{CLOUD_SECRETS_FOLDER}");
    if secret_name(arn).starts_with(&folder) {
        return Ok(());
    }
    Err(malformed(format!(
        "{cloud}.client_secret_arn must name a secret under {folder:?} (the functions may read no other)"
    )))
}

/// The secret's name in an ARN (`arn:…:secret:<name>-<suffix>`), or the
/// value itself when it is a name.
fn secret_name(id: &str) -> &str {
    match id.split_once(":secret:") {
        Some((arn, name)) if arn.starts_with("arn:") => name,
        _ => id,
    }
}

#[cfg(test)]
mod tests;
