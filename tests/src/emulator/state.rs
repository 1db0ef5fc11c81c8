//! What the emulator remembers and the knobs a test turns: the app
//! registration, the simulated browser, scripted failures, issued codes and
//! grants, and the requests seen.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::directory::{Tenant, User};

/// The app registration the connector uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppRegistration {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// Workload identity federation: issuers whose tokens the app accepts
    /// as `client_assertion` instead of its secret.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
}

/// A federated identity credential of the app registration: an assertion
/// is accepted when its `iss` and `sub` equal these exactly and its `aud`
/// holds the audience (Microsoft allows no wildcard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederatedCredential {
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

/// Who the simulated browser is signed in as, and what they answer on the
/// consent screen.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Browser {
    pub user_principal_name: Option<String>,
    pub declines_consent: bool,
    /// A person at a real browser: with no `login_hint`, authorize shows a
    /// sign-in page to pick an account and accept or decline consent.
    #[serde(default)]
    pub interactive: bool,
}

/// A scripted failure of the token endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenFailure {
    /// HTTP 500 with an OAuth `server_error` body.
    ServerError,
    /// HTTP 400 `invalid_grant` with this AADSTS code.
    InvalidGrant { code: u32 },
}

/// How an expired delta token is answered (docs/graph.md 1.9: both are seen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaExpiry {
    /// 400 `syncStateNotFound`.
    #[default]
    SyncStateNotFound,
    /// 410 Gone with a `Location` to restart from.
    Gone,
}

/// A fault injected into the next Graph request (one per request).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GraphFault {
    /// 429, with `Retry-After` when given (seconds, possibly fractional).
    Throttle { retry_after: Option<String> },
    /// 503 or 504.
    Unavailable { status: u16 },
    /// 403 `Authorization_RequestDenied`: a permission the app lacks.
    Forbidden,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Knobs {
    pub token_failure: Option<TokenFailure>,
    /// Objects per delta page (default 100).
    pub page_size: Option<usize>,
    /// Member links per delta page (default 500).
    pub member_page_size: Option<usize>,
    /// Every round starts with an empty page that has a nextLink.
    #[serde(default)]
    pub empty_first_page: bool,
    /// Each page repeats the last object of the page before.
    #[serde(default)]
    pub duplicate_items: bool,
    /// Delta tokens issued at or before this epoch second are expired.
    pub delta_tokens_invalid_before: Option<i64>,
    #[serde(default)]
    pub delta_expiry: DeltaExpiry,
    /// Objects created through Graph stay invisible (404) this long.
    #[serde(default, with = "millis")]
    pub replication_lag: Duration,
    /// Added to every response.
    #[serde(default, with = "millis")]
    pub latency: Duration,
    /// Access token lifetime, seconds.
    pub access_token_ttl_secs: Option<u64>,
    /// Users whose `userPrincipalName` Graph leaves out of delta items
    /// (Microsoft documents that an item may carry fewer properties than
    /// selected) and, unless `upn_returned_by_id`, of `/users/{id}` too.
    #[serde(default)]
    pub users_without_upn: Vec<String>,
    #[serde(default)]
    pub upn_returned_by_id: bool,
    /// Entra tenants whose every Graph request is throttled (429, with
    /// `Retry-After: 1`) until the switch is turned off.
    #[serde(default)]
    pub throttled_tenants: Vec<String>,
    /// The application roles an admin consent grants (default
    /// `super::app_only::REQUIRED_APP_ROLES`): fewer, to play a partial grant.
    #[serde(default)]
    pub consent_grants_roles: Option<Vec<String>>,
    /// A silent sign-in (`prompt=none`) answers `interaction_required`.
    #[serde(default)]
    pub silent_sign_in_interaction_required: bool,
}

pub(super) mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// One request as the emulator saw it (no bodies: they carry secrets).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    /// `grant_type` of token requests.
    pub grant_type: Option<String>,
    /// The JSON body of Graph writes, passwords redacted.
    pub body: Option<serde_json::Value>,
    /// An item of a `$batch` request (not an HTTP request of its own).
    #[serde(default)]
    pub in_batch: bool,
}

impl RequestRecord {
    /// A Graph request that changes the directory.
    /// (A `$batch` envelope is not one; its items are.)
    pub fn is_graph_write(&self) -> bool {
        self.path.starts_with("/v1.0/") && self.method != "GET" && !self.is_batch_envelope()
    }

    pub fn is_batch_envelope(&self) -> bool {
        self.path == "/v1.0/$batch"
    }

    /// A request that came over HTTP: not an item inside a `$batch`.
    pub fn is_http_request(&self) -> bool {
        !self.in_batch
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IssuedCode {
    pub tenant_id: String,
    pub user_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: String,
    pub scope: String,
    /// Echoed in the id token.
    pub nonce: Option<String>,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    pub redeemed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub tenant_id: String,
    pub user_id: String,
    pub scope: String,
}

/// What an access token the emulator issued stands for.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub tenant_id: String,
    /// Whom the token is for (its `oid`): the signed-in user, or for an app
    /// token the app's service principal in the tenant.
    pub user_id: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// An app-only token's application roles (client credentials), as
    /// issued; `None` for a user's (delegated) token.
    pub app_roles: Option<Vec<String>>,
}

#[derive(Default)]
pub struct EmulatorState {
    pub app: Option<AppRegistration>,
    pub tenants: HashMap<String, Tenant>,
    pub browser: Browser,
    pub knobs: Knobs,
    pub requests: Vec<RequestRecord>,
    pub(crate) codes: HashMap<String, IssuedCode>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    pub access_tokens: HashMap<String, AccessGrant>,
    /// Every token value issued, so tests can look for leaks.
    pub issued_secrets: Vec<String>,
    /// Base of the `iss` claim and of Graph links: this emulator's own URL.
    pub issuer_base: String,
    /// A national cloud's emulator (DESIGN 2.12): its Graph resource is
    /// only its own host, never `graph.microsoft.com`.
    pub national_cloud: bool,
    /// Consumed one per Graph request, front first.
    pub graph_faults: std::collections::VecDeque<GraphFault>,
    /// When objects were created through Graph (for the replication lag).
    pub created_at: HashMap<String, std::time::Instant>,
    /// The emulator's own routes, for `$batch` to run its items through.
    pub(crate) batch_router: Option<axum::Router>,
    pub subscriptions: HashMap<String, super::graph_subscriptions::Subscription>,
    pub notification_knobs: super::graph_subscriptions::NotificationKnobs,
    /// Every validation request and delivery made, oldest first.
    pub deliveries: Vec<super::graph_subscriptions::DeliveryRecord>,
    /// Directory extension properties registered on the app
    /// (`extension_<appid>_<name>`): what writes may set and `$select` read.
    pub extension_properties: std::collections::BTreeSet<String>,
    /// Graph writes (method, path) that are applied but whose answer is
    /// lost: the client gets a 504 instead, once each.
    pub lost_answers: Vec<(String, String)>,
    /// Edits applied right after the next successful request that matches
    /// (`Emulator::after_next`), once each.
    pub request_hooks: Vec<RequestHook>,
    /// STS `GetWebIdentityToken` answers given (the tokens' cost).
    pub web_identity_tokens: u64,
}

/// An edit of the emulator's state due right after a request: what
/// happens in Entra "meanwhile", at a precise point of a client's work.
pub struct RequestHook {
    pub method: String,
    pub path_prefix: String,
    pub apply: Box<dyn FnOnce(&mut EmulatorState) + Send>,
}

impl Knobs {
    pub fn page_size(&self) -> usize {
        self.page_size.unwrap_or(100).max(1)
    }
}

impl EmulatorState {
    /// Whether `scope` names this cloud's Graph `.default`: its own host
    /// (where it plays Graph), Graph's app id, and in the global cloud
    /// `https://graph.microsoft.com`.
    pub fn is_graph_default_scope(&self, scope: &str) -> bool {
        scope == format!("{}/.default", self.issuer_base)
            || scope == super::app_only::GRAPH_DEFAULT_SCOPE_BY_ID
            || (!self.national_cloud && scope == super::app_only::GRAPH_DEFAULT_SCOPE)
    }

    pub fn tenant_of_user(&self, upn: &str) -> Option<(&Tenant, &User)> {
        self.tenants
            .values()
            .find_map(|t| t.user_by_upn(upn).map(|u| (t, u)))
    }
}
