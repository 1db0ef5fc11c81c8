//! A stateful emulator of the Microsoft identity platform (docs/graph.md 5) and,
//! as the import and export grow, of Microsoft Graph. One per test, bound to
//! 127.0.0.1 on a free port; knobs and inspection through [`Emulator`] in
//! process, or through `/_emulator/*` for the standalone binary.

pub mod admin;
pub mod app_only;
pub mod directory;
pub mod graph;
pub mod graph_batch;
pub mod graph_delta;
pub mod graph_extensions;
pub mod graph_permissions;
pub mod graph_roles;
pub mod graph_subscriptions;
pub mod graph_write;
pub mod identity;
pub mod jwt;
pub mod sts;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use directory::{Domain, DomainAuthentication, Group, Revocation, Tenant, User};

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
    /// `app_only::REQUIRED_APP_ROLES`): fewer, to play a partial grant.
    #[serde(default)]
    pub consent_grants_roles: Option<Vec<String>>,
    /// A silent sign-in (`prompt=none`) answers `interaction_required`.
    #[serde(default)]
    pub silent_sign_in_interaction_required: bool,
}

mod millis {
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
    pub subscriptions: HashMap<String, graph_subscriptions::Subscription>,
    pub notification_knobs: graph_subscriptions::NotificationKnobs,
    /// Every validation request and delivery made, oldest first.
    pub deliveries: Vec<graph_subscriptions::DeliveryRecord>,
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
            || scope == app_only::GRAPH_DEFAULT_SCOPE_BY_ID
            || (!self.national_cloud && scope == app_only::GRAPH_DEFAULT_SCOPE)
    }

    pub fn tenant_of_user(&self, upn: &str) -> Option<(&Tenant, &User)> {
        self.tenants
            .values()
            .find_map(|t| t.user_by_upn(upn).map(|u| (t, u)))
    }
}

/// A running emulator: its base URL and shared state.
#[derive(Clone)]
pub struct Emulator {
    pub base_url: String,
    state: Arc<Mutex<EmulatorState>>,
}

impl Emulator {
    /// Starts an emulator on 127.0.0.1 (port 0 = any free port).
    pub async fn start_on(port: u16) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(EmulatorState {
            issuer_base: base_url.clone(),
            ..EmulatorState::default()
        }));
        let router = identity::routes()
            .merge(graph::routes())
            .merge(graph_write::routes())
            .merge(graph_batch::routes())
            .merge(graph_subscriptions::routes())
            .merge(admin::routes())
            .merge(sts::routes())
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                graph_permissions::enforce_app_roles,
            ))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                admin::record_and_delay,
            ))
            .with_state(state.clone());
        state.lock().expect("emulator state lock").batch_router = Some(router.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        tokio::spawn(graph_subscriptions::deliver_forever(state.clone()));
        Ok(Self { base_url, state })
    }

    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(0).await
    }

    /// A national cloud (`usgov` in the tests) on a port of its own: its
    /// own tenants, app registration, issuer and Graph resource, so that a
    /// token or code of one cloud is refused by the other.
    pub async fn start_national_cloud() -> anyhow::Result<Self> {
        let emulator = Self::start_on(0).await?;
        emulator.state().national_cloud = true;
        Ok(emulator)
    }

    pub fn state(&self) -> MutexGuard<'_, EmulatorState> {
        self.state.lock().expect("emulator state lock")
    }

    /// Registers the app as the README's deployment does: with the
    /// directory extension of the export's mark, which Graph then offers in
    /// every tenant that consented to the app.
    pub fn register_app(&self, app: AppRegistration) {
        let mark = entra_sync::graph::bodies::export_mark_property(&app.client_id);
        let mut state = self.state();
        state.extension_properties.insert(mark);
        state.app = Some(app);
    }

    /// The app registration's federated identity credentials, replacing
    /// those it had.
    pub fn trust_federated_credentials(&self, credentials: Vec<FederatedCredential>) {
        if let Some(app) = self.state().app.as_mut() {
            app.federated_credentials = credentials;
        }
    }

    /// The app's directory extension properties, replacing those registered.
    pub fn set_extension_properties(&self, names: impl IntoIterator<Item = String>) {
        self.state().extension_properties = names.into_iter().collect();
    }

    /// The next Graph write `method path` (e.g. `POST /v1.0/users`) is
    /// applied, but its answer is lost on the way back: a 504.
    pub fn lose_answer_to(&self, method: &str, path: &str) {
        self.state()
            .lost_answers
            .push((method.to_owned(), path.to_owned()));
    }

    /// Applies `apply` right after the next successful `method` request
    /// whose path starts with `path_prefix` (e.g. a change in Entra while
    /// a client is between two requests).
    pub fn after_next(
        &self,
        method: &str,
        path_prefix: &str,
        apply: impl FnOnce(&mut EmulatorState) + Send + 'static,
    ) {
        self.state().request_hooks.push(RequestHook {
            method: method.to_owned(),
            path_prefix: path_prefix.to_owned(),
            apply: Box::new(apply),
        });
    }

    /// Throttles every Graph request of the Entra tenant (or stops it).
    pub fn throttle_tenant(&self, tenant_id: &str, throttled: bool) {
        let mut state = self.state();
        state.knobs.throttled_tenants.retain(|t| t != tenant_id);
        if throttled {
            state.knobs.throttled_tenants.push(tenant_id.to_owned());
        }
    }

    pub fn add_tenant(&self, tenant: Tenant) {
        self.state().tenants.insert(tenant.id.clone(), tenant);
    }

    pub fn with_tenant<R>(&self, tenant_id: &str, f: impl FnOnce(&mut Tenant) -> R) -> R {
        let mut state = self.state();
        let tenant = state
            .tenants
            .get_mut(tenant_id)
            .unwrap_or_else(|| panic!("no emulated tenant {tenant_id}"));
        f(tenant)
    }

    pub fn set_browser(&self, browser: Browser) {
        self.state().browser = browser;
    }

    /// An access token for `user_id` of `tenant_id`, as if the token
    /// endpoint had issued it (the benchmark's own Graph requests).
    pub fn grant_access_token(&self, tenant_id: &str, user_id: &str) -> String {
        let token = format!("eyJ0eXAi.bench{}", uuid::Uuid::new_v4().simple());
        self.state().access_tokens.insert(
            token.clone(),
            AccessGrant {
                tenant_id: tenant_id.to_owned(),
                user_id: user_id.to_owned(),
                expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
                app_roles: None,
            },
        );
        token
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        self.state().knobs = knobs;
    }

    /// A delegated grant of `upn` (who must exist), as the delegated flow
    /// issued before DESIGN 2.12: its refresh token.
    pub fn grant_refresh_token(&self, upn: &str) -> String {
        let mut state = self.state();
        let (tenant_id, user_id) = {
            let (tenant, user) = state.tenant_of_user(upn).expect("the user exists");
            (tenant.id.clone(), user.id.clone())
        };
        let refresh_token = format!("1.AQ{}", random_token(64));
        state.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                tenant_id,
                user_id,
                scope: "openid profile offline_access https://graph.microsoft.com/.default".into(),
            },
        );
        state.issued_secrets.push(refresh_token.clone());
        refresh_token
    }

    pub fn revoke_consent(&self, tenant_id: &str, how: Revocation) {
        self.with_tenant(tenant_id, |t| t.consent_revoked = Some(how));
    }

    /// Whose grant an issued refresh token still redeems, if any: the Entra
    /// tenant id and the object id of the user who consented.
    pub fn refresh_token_owner(&self, refresh_token: &str) -> Option<(String, String)> {
        self.state()
            .refresh_tokens
            .get(refresh_token)
            .map(|g| (g.tenant_id.clone(), g.user_id.clone()))
    }

    /// Makes one issued refresh token unknown (as once it has aged out), so
    /// a test can tell which refresh token a client redeems.
    pub fn expire_refresh_token(&self, refresh_token: &str) -> bool {
        self.state().refresh_tokens.remove(refresh_token).is_some()
    }

    /// Queues faults for the next Graph requests.
    pub fn inject_graph_faults(&self, faults: impl IntoIterator<Item = GraphFault>) {
        self.state().graph_faults.extend(faults);
    }

    pub fn set_notification_knobs(&self, knobs: graph_subscriptions::NotificationKnobs) {
        self.state().notification_knobs = knobs;
    }

    /// The live subscriptions, oldest expiry first.
    pub fn subscriptions(&self) -> Vec<graph_subscriptions::Subscription> {
        let mut subscriptions: Vec<_> = self.state().subscriptions.values().cloned().collect();
        subscriptions.sort_by_key(|s| s.expiration);
        subscriptions
    }

    /// Validation requests and deliveries made so far.
    pub fn deliveries(&self) -> Vec<graph_subscriptions::DeliveryRecord> {
        self.state().deliveries.clone()
    }

    /// Graph forgets a subscription without telling anyone (it expired
    /// unrenewed, or was deleted by another admin tool).
    pub fn drop_subscription(&self, id: &str) -> bool {
        self.state().subscriptions.remove(id).is_some()
    }

    /// Sends a lifecycle event (`reauthorizationRequired`, ...) for the
    /// subscription, as Graph does.
    pub async fn send_lifecycle_event(&self, id: &str, event: &str) -> anyhow::Result<()> {
        let subscription = {
            let mut state = self.state();
            let subscription = state
                .subscriptions
                .get_mut(id)
                .ok_or_else(|| anyhow::anyhow!("no subscription {id}"))?;
            if event == "reauthorizationRequired" {
                subscription.reauthorization_required = true;
            }
            subscription.clone()
        };
        let (url, body) = graph_subscriptions::lifecycle_delivery(&subscription, event);
        graph_subscriptions::post_delivery(&self.state, &url, vec![id.to_owned()], &body, 1).await;
        Ok(())
    }

    /// Expires every delta token issued so far, answering in `style`.
    pub fn expire_delta_tokens(&self, style: DeltaExpiry) {
        let mut state = self.state();
        state.knobs.delta_tokens_invalid_before = Some(chrono::Utc::now().timestamp());
        state.knobs.delta_expiry = style;
    }

    /// Graph requests (not identity or admin ones) seen so far.
    pub fn graph_requests(&self) -> Vec<RequestRecord> {
        self.state()
            .requests
            .iter()
            .filter(|r| r.path.starts_with("/v1.0/"))
            .cloned()
            .collect()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().requests.clone()
    }

    pub fn issued_secrets(&self) -> Vec<String> {
        self.state().issued_secrets.clone()
    }

    /// The simulated browser: opens the authorize URL and returns where the
    /// identity platform redirects it (the callback URL), or the error page.
    pub async fn browse(&self, authorize_url: &str) -> anyhow::Result<BrowserResult> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let response = client.get(authorize_url).send().await?;
        let status = response.status().as_u16();
        if let Some(location) = response.headers().get("location") {
            return Ok(BrowserResult::Redirected(location.to_str()?.to_owned()));
        }
        Ok(BrowserResult::ErrorPage {
            status,
            body: response.text().await?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserResult {
    Redirected(String),
    ErrorPage { status: u16, body: String },
}

impl BrowserResult {
    pub fn redirect(self) -> String {
        match self {
            Self::Redirected(url) => url,
            other => panic!("the sign-in did not redirect: {other:?}"),
        }
    }
}

/// A random opaque token value.
pub(crate) fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
