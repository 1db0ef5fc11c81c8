//! A national cloud beside the global one (DESIGN 2.12): a second emulator
//! on its own port plays `usgov` with its own organisation, app
//! registration, issuer and Graph; the functions learn it from
//! `ENTRA_CLOUDS`, and its app secret lives under `SECRET_PREFIX`'s
//! `clouds/` folder, where the template lets them read it.

use crate::emulator::{AppRegistration, Browser, Emulator, Tenant};
use crate::lambda_runtime_api::LambdaFunction;

use super::{LocalStack, REDIRECT_URI, managed, user};

/// Contoso's US Government organisation, in the `usgov` cloud only.
pub const CONTOSO_US: &str = "5e8b2c7d-1f3a-4d6e-9b0c-7a1d3e5f7b24";
pub const CONTOSO_US_ADMIN: &str = "admin@contoso.us";
pub const CONTOSO_US_USER: &str = "grace@contoso.us";
/// The `usgov` app registration (a cloud's own: not global's).
pub const USGOV_CLIENT_ID: &str = "2b4d6f80-9a1c-4e3b-8d5f-0c2e4a6b8d1f";

impl LocalStack {
    /// The stack serving `usgov` too, and that cloud's emulator, whose
    /// browser is Contoso US's admin signed in.
    pub async fn start_with_usgov() -> anyhow::Result<(Self, Emulator)> {
        let mut stack = Self::start().await?;
        let secret = format!("usgov~secret.{}", uuid::Uuid::new_v4().simple());
        let usgov = start_usgov_emulator(&secret).await?;
        let secret_name = format!(
            "{}{}usgov-client-secret",
            stack.secret_prefix,
            entra_sync::config::CLOUD_SECRETS_FOLDER
        );
        let secret_arn = stack.aws.create_secret(&secret_name, &secret).await?;
        let clouds = serde_json::json!({ "usgov": {
            "login_base_url": usgov.base_url,
            "graph_base_url": usgov.base_url,
            "client_id": USGOV_CLIENT_ID,
            "client_secret_arn": secret_arn,
        }});
        stack
            .env
            .push(("ENTRA_CLOUDS".to_owned(), clouds.to_string()));
        // The callback started without the cloud: started again with it.
        stack.callback = LambdaFunction::start("oauth-callback", &stack.env).await?;
        Ok((stack, usgov))
    }
}

async fn start_usgov_emulator(client_secret: &str) -> anyhow::Result<Emulator> {
    let usgov = Emulator::start_national_cloud().await?;
    usgov.register_app(AppRegistration {
        client_id: USGOV_CLIENT_ID.to_owned(),
        client_secret: client_secret.to_owned(),
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        federated_credentials: Vec::new(),
    });
    let mut contoso_us = Tenant::new(CONTOSO_US, "Contoso US", vec![managed("contoso.us")]);
    contoso_us.upsert_user(user(
        "c1b2c3d4-0000-4000-8000-000000000001",
        CONTOSO_US_ADMIN,
        "Contoso US Admin",
        true,
    ));
    contoso_us.upsert_user(user(
        "c1b2c3d4-0000-4000-8000-000000000002",
        CONTOSO_US_USER,
        "Grace Hopper",
        false,
    ));
    usgov.add_tenant(contoso_us);
    usgov.set_browser(Browser {
        user_principal_name: Some(CONTOSO_US_ADMIN.to_owned()),
        declines_consent: false,
        interactive: false,
    });
    Ok(usgov)
}
