//! A stateful emulator of the Microsoft identity platform (docs/graph.md 5) and,
//! as the import and export grow, of Microsoft Graph. One per test, bound to
//! 127.0.0.1 on a free port; knobs and inspection through [`Emulator`] in
//! process, or through `/_emulator/*` for the standalone binary.

pub mod admin;
pub mod app_only;
pub mod deleted_items;
pub mod directory;
#[cfg(test)]
mod directory_tests;
pub mod graph;
pub mod graph_batch;
pub mod graph_deleted_items;
pub mod graph_delta;
pub mod graph_extensions;
pub mod graph_manager;
pub mod graph_permissions;
pub mod graph_roles;
pub mod graph_subscriptions;
pub mod graph_write;
pub mod identity;
pub mod jwt;
mod state;
pub mod sts;
pub mod user_properties;
pub mod user_writes;

use std::sync::{Arc, Mutex, MutexGuard};

pub use directory::{Domain, DomainAuthentication, Group, Revocation, Tenant, User};
pub use state::{
    AccessGrant, AppRegistration, Browser, DeltaExpiry, EmulatorState, FederatedCredential,
    GraphFault, Knobs, RequestHook, RequestRecord, TokenFailure,
};
pub(crate) use state::{IssuedCode, RefreshGrant};

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
            .merge(graph_manager::routes())
            .merge(graph_deleted_items::routes())
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
