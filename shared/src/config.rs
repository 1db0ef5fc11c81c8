//! Typed configuration read once at start-up (docs/contract.md 1.2).
//!
//! Each function asks for the parts it needs; a missing or malformed variable
//! is reported by name so the single start-up log line says what to fix.

mod clouds;

use url::Url;

pub use clouds::{CLOUD_SECRETS_FOLDER, CloudEndpoints, entra_clouds};

use crate::model::ByCloud;
use crate::notifications::NotificationKey;

pub const DEFAULT_SECRET_PREFIX: &str = "entra-sync/";
pub const DEFAULT_LOGIN_BASE_URL: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is malformed: {reason}")]
    Malformed { name: &'static str, reason: String },
}

/// Where configuration values come from: the process environment in
/// production, a map in tests (no `set_var` anywhere).
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

fn optional(env: &dyn Env, name: &'static str) -> Option<String> {
    env.get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn required(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    optional(env, name).ok_or(ConfigError::Missing(name))
}

fn parse_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::Malformed {
        name,
        reason: format!("not an absolute URL ({e})"),
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(ConfigError::Malformed {
            name,
            reason: "must be an http(s) URL with a host".into(),
        });
    }
    Ok(url)
}

/// Tokens and directory data travel to Microsoft only over TLS; plain HTTP
/// is accepted for a loopback host, where a local stack's emulator listens.
fn require_https(name: &'static str, url: &Url) -> Result<(), ConfigError> {
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() == "https" || loopback {
        return Ok(());
    }
    Err(ConfigError::Malformed {
        name,
        reason: "must be an https URL (http only for a loopback host)".into(),
    })
}

/// A base URL to which paths are appended: stored without a trailing slash.
fn base_url(env: &dyn Env, name: &'static str, default: &str) -> Result<Url, ConfigError> {
    let raw = optional(env, name).unwrap_or_else(|| default.to_owned());
    base_url_value(name, &raw)
}

fn base_url_value(name: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = parse_url(name, raw.trim().trim_end_matches('/'))?;
    require_https(name, &url)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::Malformed {
            name,
            reason: "a base URL takes no query or fragment".into(),
        });
    }
    // The version and tenant segments are appended to it, and credentials
    // in a URL would travel with every request.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::Malformed {
            name,
            reason: "a base URL takes no user name or password".into(),
        });
    }
    if !matches!(url.path(), "" | "/") {
        return Err(ConfigError::Malformed {
            name,
            reason: "a base URL is a scheme and host (and port) only, without a path".into(),
        });
    }
    Ok(url)
}

/// The settings every function shares.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub integrations_table: String,
    pub directory_table: String,
    pub secret_prefix: String,
    pub login_base_url: Url,
    pub graph_base_url: Url,
}

impl CommonConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            integrations_table: required(env, "INTEGRATIONS_TABLE")?,
            directory_table: required(env, "DIRECTORY_TABLE")?,
            secret_prefix: optional(env, "SECRET_PREFIX")
                .unwrap_or_else(|| DEFAULT_SECRET_PREFIX.to_owned()),
            login_base_url: base_url(env, "ENTRA_LOGIN_BASE_URL", DEFAULT_LOGIN_BASE_URL)?,
            graph_base_url: base_url(env, "GRAPH_BASE_URL", DEFAULT_GRAPH_BASE_URL)?,
        })
    }
}

/// How the app proves itself to Microsoft (`ENTRA_CLIENT_AUTH`, DESIGN 2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `secret` (default): the client secret in Secrets Manager.
    Secret,
    /// `federated`: an AWS STS web identity token as `client_assertion`.
    Federated,
}

impl ClientAuth {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        match optional(env, "ENTRA_CLIENT_AUTH").as_deref() {
            None | Some("secret") => Ok(Self::Secret),
            Some("federated") => Ok(Self::Federated),
            Some(other) => Err(ConfigError::Malformed {
                name: "ENTRA_CLIENT_AUTH",
                reason: format!("{other:?} is neither `secret` nor `federated`"),
            }),
        }
    }
}

/// Where one app registration's credential comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppCredentialConfig {
    /// The Secrets Manager id of the app's client secret (read at first use,
    /// never from the environment).
    ClientSecret(String),
    /// No secret: a federated assertion for the cloud's audience.
    Federated,
}

/// The multi-tenant Entra application: its id, and how it proves itself.
#[derive(Debug, Clone)]
pub struct EntraAppConfig {
    pub client_id: String,
    pub credential: AppCredentialConfig,
}

impl EntraAppConfig {
    /// `ENTRA_CLIENT_SECRET_ARN` is required in `secret` mode and not read
    /// in `federated` mode.
    pub fn from_env(env: &dyn Env, auth: ClientAuth) -> Result<Self, ConfigError> {
        let client_id = required(env, "ENTRA_CLIENT_ID")?;
        check_client_id("ENTRA_CLIENT_ID", &client_id)?;
        let credential = match auth {
            ClientAuth::Secret => {
                AppCredentialConfig::ClientSecret(required(env, "ENTRA_CLIENT_SECRET_ARN")?)
            }
            ClientAuth::Federated => AppCredentialConfig::Federated,
        };
        Ok(Self {
            client_id,
            credential,
        })
    }
}

fn check_client_id(name: &'static str, client_id: &str) -> Result<(), ConfigError> {
    if client_id.is_empty()
        || client_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError::Malformed {
            name,
            reason: "is empty or contains whitespace".into(),
        });
    }
    Ok(())
}

/// Everything `sync-worker` needs (export-stream and verify-password too).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub common: CommonConfig,
    /// The global cloud's app (`clouds.global()` has it too).
    pub app: EntraAppConfig,
    /// Every cloud served, `global` included (`ENTRA_CLOUDS`).
    pub clouds: ByCloud<CloudEndpoints>,
}

impl WorkerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Self::with_client_auth(env, ClientAuth::from_env(env)?)
    }

    /// With the app's credential chosen by the caller (verify-password
    /// keeps the secret whatever `ENTRA_CLIENT_AUTH` says).
    pub fn with_client_auth(env: &dyn Env, auth: ClientAuth) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let app = EntraAppConfig::from_env(env, auth)?;
        let clouds = entra_clouds(env, &common, &app)?;
        Ok(Self {
            common,
            app,
            clouds,
        })
    }
}

/// Everything `sync-worker` needs: the Graph-calling settings and the
/// queue its continuations go to (docs/behaviour.md 2.5).
#[derive(Clone)]
pub struct SyncWorkerConfig {
    pub worker: WorkerConfig,
    pub sync_queue_url: String,
    /// `NOTIFICATION_URL`: absent = no subscriptions, poll only.
    pub notification_url: Option<String>,
}

/// Leaves out `NOTIFICATION_URL`'s key (docs/behaviour.md 2.11: never logged).
impl std::fmt::Debug for SyncWorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncWorkerConfig")
            .field("worker", &self.worker)
            .field("sync_queue_url", &self.sync_queue_url)
            .field(
                "notification_url",
                &self
                    .notification_url
                    .as_deref()
                    .map(crate::realtime::redacted_url),
            )
            .finish()
    }
}

impl SyncWorkerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            worker: WorkerConfig::from_env(env)?,
            sync_queue_url: sync_queue_url(env)?,
            notification_url: notification_url(env)?,
        })
    }
}

/// Graph delivers only to HTTPS; plain HTTP is accepted for a loopback
/// address, where a local stack's emulator delivers.
fn notification_url(env: &dyn Env) -> Result<Option<String>, ConfigError> {
    let Some(raw) = optional(env, "NOTIFICATION_URL") else {
        return Ok(None);
    };
    let url = parse_url("NOTIFICATION_URL", &raw)?;
    let loopback = url.scheme() == "http"
        && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "https" && !loopback {
        return Err(ConfigError::Malformed {
            name: "NOTIFICATION_URL",
            reason: "must be an https URL (Graph delivers only over HTTPS)".into(),
        });
    }
    Ok(Some(raw))
}

fn sync_queue_url(env: &dyn Env) -> Result<String, ConfigError> {
    let url = required(env, "SYNC_QUEUE_URL")?;
    parse_url("SYNC_QUEUE_URL", &url)?;
    Ok(url)
}

/// The most `VERIFY_MAX_FAILURES` may be: below Entra ID's default smart
/// lockout threshold of 10, so that verify-password cannot lock a user out.
pub const MAX_VERIFY_FAILURES: u64 = 9;

/// Everything `verify-password` needs: the worker's settings and the
/// failure throttle (`VERIFY_MAX_FAILURES`, default 5, and
/// `VERIFY_FAILURE_WINDOW_SECONDS`, default 900; both optional).
#[derive(Debug, Clone)]
pub struct VerifyPasswordConfig {
    pub worker: WorkerConfig,
    pub max_failures: u32,
    pub failure_window: std::time::Duration,
}

impl VerifyPasswordConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match optional(env, name) {
                None => Ok(default),
                Some(raw) => {
                    raw.parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(ConfigError::Malformed {
                            name,
                            reason: format!("{raw:?} is not a positive whole number"),
                        })
                }
            }
        };
        let max_failures = number("VERIFY_MAX_FAILURES", 5)?;
        if max_failures > MAX_VERIFY_FAILURES {
            return Err(ConfigError::Malformed {
                name: "VERIFY_MAX_FAILURES",
                reason: format!(
                    "{max_failures} is above {MAX_VERIFY_FAILURES}: Entra ID's smart lockout \
                     locks the user at 10 failures by default"
                ),
            });
        }
        Ok(Self {
            // The password grant with a federated assertion is not
            // documented by Microsoft: verify-password keeps the secret.
            worker: WorkerConfig::with_client_auth(env, ClientAuth::Secret)?,
            max_failures: u32::try_from(max_failures).unwrap_or(u32::MAX),
            failure_window: std::time::Duration::from_secs(number(
                "VERIFY_FAILURE_WINDOW_SECONDS",
                900,
            )?),
        })
    }
}

/// Everything `sync-scheduler` needs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub common: CommonConfig,
    pub sync_queue_url: String,
}

impl SchedulerConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            sync_queue_url: sync_queue_url(env)?,
        })
    }
}

/// Everything `graph-notifications` needs: the tables, the sync queue, and
/// the key of `NOTIFICATION_URL` (required: it is a public endpoint, and a
/// request without the key is not from a subscription of ours).
#[derive(Debug, Clone)]
pub struct GraphNotificationsConfig {
    pub common: CommonConfig,
    pub sync_queue_url: String,
    pub notification_key: NotificationKey,
}

impl GraphNotificationsConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let url = notification_url(env)?.ok_or(ConfigError::Missing("NOTIFICATION_URL"))?;
        let url = parse_url("NOTIFICATION_URL", &url)?;
        let notification_key =
            NotificationKey::from_url(&url).map_err(|reason| ConfigError::Malformed {
                name: "NOTIFICATION_URL",
                reason,
            })?;
        Ok(Self {
            common: CommonConfig::from_env(env)?,
            sync_queue_url: sync_queue_url(env)?,
            notification_key,
        })
    }
}

/// Everything `oauth-callback` needs.
#[derive(Debug, Clone)]
pub struct OAuthCallbackConfig {
    pub common: CommonConfig,
    pub app: EntraAppConfig,
    /// Every cloud served, `global` included (`ENTRA_CLOUDS`).
    pub clouds: ByCloud<CloudEndpoints>,
    pub redirect_uri: Url,
    pub portal_return_url: Url,
}

impl OAuthCallbackConfig {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env)?;
        let app = EntraAppConfig::from_env(env, ClientAuth::from_env(env)?)?;
        let clouds = entra_clouds(env, &common, &app)?;
        Ok(Self {
            common,
            app,
            clouds,
            redirect_uri: parse_url("ENTRA_REDIRECT_URI", &required(env, "ENTRA_REDIRECT_URI")?)?,
            portal_return_url: parse_url(
                "PORTAL_RETURN_URL",
                &required(env, "PORTAL_RETURN_URL")?,
            )?,
        })
    }
}

#[cfg(test)]
mod tests;
