//! The local stack: moto tables and secrets, the Entra emulator with two
//! simulated organisations, and the real `oauth-callback` binary behind the
//! local Lambda Runtime API. Tests and the local demo share it.

mod clouds;
mod federated;
mod http;
mod items;
mod resources;
pub mod sync_object;

use resources::{function_identities, stack_resources, start_gated_meter};

pub use federated::{ClientAuth, FEDERATED_AUDIENCE};

use std::sync::Arc;

use anyhow::Context;

use crate::aws_meter::AwsMeter;
use crate::emulator::{
    AppRegistration, Browser, Domain, DomainAuthentication, Emulator, Tenant, User,
};
use crate::iam::Gate;
use crate::lambda_runtime_api::LambdaFunction;
use crate::local_aws::{LocalAws, Tables};

pub use clouds::{CONTOSO_US, CONTOSO_US_ADMIN, CONTOSO_US_USER, USGOV_CLIENT_ID};

/// Contoso: the organisation our AM tenants connect to.
pub const CONTOSO: &str = "3f2a6d1c-5b7e-4a90-8c1d-2e4f6a8b0c13";
pub const CONTOSO_ADMIN: &str = "admin@contoso.com";
pub const CONTOSO_USER: &str = "megan@contoso.com";
/// Fabrikam: another organisation, for tenant-mismatch cases.
pub const FABRIKAM: &str = "9b1c7e2a-0d4f-4e6b-a8c3-5f7d9e1b2c40";
pub const FABRIKAM_ADMIN: &str = "admin@fabrikam.com";
pub const CLIENT_ID: &str = "7c3e5a9b-2f1d-4c8e-b6a0-1d3f5e7a9c2b";
pub const REDIRECT_URI: &str = "https://am.example.com/entra/callback";
pub const PORTAL_RETURN_URL: &str = "https://portal.example.com/settings/directories/entra";
/// The portal session of the admin who clicked "Authorise" (DESIGN 2.12).
pub const SESSION_BINDING: &str = "portal-session-0f9e8d7c6b5a49382716a5b4c3d2e1f0";

pub struct LocalStack {
    pub run_id: String,
    pub aws: LocalAws,
    pub tables: Tables,
    pub emulator: Emulator,
    pub callback: LambdaFunction,
    pub secret_prefix: String,
    pub client_secret: String,
    pub queue_url: String,
    /// Every AWS request of the functions passes through it: counted, and
    /// judged against the function's IAM statements (docs/behaviour.md 2.10).
    pub meter: AwsMeter,
    pub gate: Arc<Gate>,
    /// The environment of docs/contract.md 1.2 the functions run with.
    env: Vec<(String, String)>,
}

/// What a policy edit may do to the functions' roles before they are
/// created (a test that shows a missing action fails).
pub type RoleEdit = Box<dyn Fn(&mut Vec<crate::iam::FunctionRole>) + Send>;

fn user(id: &str, upn: &str, name: &str, admin: bool) -> User {
    User {
        id: id.to_owned(),
        user_principal_name: upn.to_owned(),
        display_name: Some(name.to_owned()),
        account_enabled: true,
        is_global_admin: admin,
        ..User::default()
    }
}

fn managed(name: &str) -> Domain {
    Domain {
        name: name.to_owned(),
        authentication: DomainAuthentication::Managed,
        is_verified: true,
        is_default: true,
    }
}

/// The two organisations every stack starts with.
pub fn seed_organisations(emulator: &Emulator) {
    let mut contoso = Tenant::new(CONTOSO, "Contoso", vec![managed("contoso.com")]);
    contoso.upsert_user(user(
        "a1b2c3d4-0000-4000-8000-000000000001",
        CONTOSO_ADMIN,
        "Contoso Admin",
        true,
    ));
    contoso.upsert_user(user(
        "a1b2c3d4-0000-4000-8000-000000000002",
        CONTOSO_USER,
        "Megan Bowen",
        false,
    ));
    emulator.add_tenant(contoso);
    let mut fabrikam = Tenant::new(FABRIKAM, "Fabrikam", vec![managed("fabrikam.com")]);
    fabrikam.upsert_user(user(
        "b1b2c3d4-0000-4000-8000-000000000001",
        FABRIKAM_ADMIN,
        "Fabrikam Admin",
        true,
    ));
    emulator.add_tenant(fabrikam);
}

impl LocalStack {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_roles(Box::new(|_| {})).await
    }

    /// A stack whose functions' roles are first changed by `edit`.
    pub async fn start_with_roles(edit: RoleEdit) -> anyhow::Result<Self> {
        Self::start_with(edit, ClientAuth::Secret).await
    }

    /// A stack deployed with `EntraClientAuth` = `auth` (DESIGN 2.12).
    async fn start_with(edit: RoleEdit, auth: ClientAuth) -> anyhow::Result<Self> {
        let run_id = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let aws = LocalAws::from_env().await?;
        let tables = aws.create_tables(&run_id).await?;
        let (client_secret, client_secret_arn) = create_app_secret(&aws, &run_id).await?;
        let emulator = start_emulator(&client_secret).await?;
        let secret_prefix = format!("{run_id}/entra-sync/");
        let queue_url = create_sync_queue(&aws, &run_id).await?;
        let mut resources = stack_resources(
            &aws,
            &tables,
            &run_id,
            &secret_prefix,
            &client_secret_arn,
            &queue_url,
        )
        .await?;
        federated::deploy_with(auth, &mut resources, &emulator)?;
        let identities = function_identities(&aws, &run_id, &resources, edit).await?;
        let sts = format!("{}/sts", emulator.base_url);
        let (meter, gate) = start_gated_meter(&aws, &tables, &resources, &identities, sts).await?;
        let env = stack_env(
            &aws,
            &meter,
            &identities,
            [
                ("INTEGRATIONS_TABLE", tables.integrations.as_str()),
                ("DIRECTORY_TABLE", tables.directory.as_str()),
                ("SECRET_PREFIX", secret_prefix.as_str()),
                ("ENTRA_CLIENT_ID", CLIENT_ID),
                ("ENTRA_CLIENT_SECRET_ARN", client_secret_arn.as_str()),
                ("ENTRA_REDIRECT_URI", REDIRECT_URI),
                ("PORTAL_RETURN_URL", PORTAL_RETURN_URL),
                ("ENTRA_LOGIN_BASE_URL", emulator.base_url.as_str()),
                ("GRAPH_BASE_URL", emulator.base_url.as_str()),
                ("SYNC_QUEUE_URL", queue_url.as_str()),
                ("ENTRA_CLIENT_AUTH", auth.as_str()),
                // Debug on purpose: the secret-leak tests read these logs.
                ("RUST_LOG", "debug"),
            ],
        );
        let callback = LambdaFunction::start("oauth-callback", &env).await?;
        Ok(Self {
            run_id,
            aws,
            tables,
            emulator,
            callback,
            secret_prefix,
            client_secret,
            queue_url,
            meter,
            gate,
            env,
        })
    }

    pub fn function_env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    /// Another running instance of the callback function (Lambda runs
    /// concurrent requests in separate sandboxes).
    pub async fn start_callback_function(&self) -> anyhow::Result<LambdaFunction> {
        LambdaFunction::start("oauth-callback", &self.function_env()).await
    }
}

impl Drop for LocalStack {
    /// Leaves what the functions used for the unused-grant report, and
    /// fails the test that met an access denial it did not take.
    fn drop(&mut self) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/iam-usage");
        if std::fs::create_dir_all(&dir).is_ok()
            && let Ok(json) = serde_json::to_string(&self.gate.usage())
        {
            let _ = std::fs::write(dir.join(format!("{}.json", self.run_id)), json);
        }
        let denials = self.gate.take_denials();
        if !denials.is_empty() && !std::thread::panicking() {
            panic!(
                "a function met AccessDenied (its template.yaml policy does not allow it):\n  {}",
                denials.join("\n  ")
            );
        }
    }
}

/// The functions' environment: AWS through the meter, every function's
/// identity (each binary keeps its own), and the stack's settings.
fn stack_env<const N: usize>(
    aws: &LocalAws,
    meter: &AwsMeter,
    identities: &[crate::iam::FunctionIdentity],
    settings: [(&str, &str); N],
) -> Vec<(String, String)> {
    let mut env = aws.function_env();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL".to_owned(), meter.endpoint.clone()));
    env.extend(crate::iam::identity_env(identities));
    env.extend(settings.map(|(k, v)| (k.to_owned(), v.to_owned())));
    env
}

/// The emulator with the app registered, two organisations, and Contoso's
/// admin signed in at the simulated browser.
async fn start_emulator(client_secret: &str) -> anyhow::Result<Emulator> {
    let emulator = Emulator::start().await?;
    emulator.register_app(AppRegistration {
        client_id: CLIENT_ID.to_owned(),
        client_secret: client_secret.to_owned(),
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        federated_credentials: Vec::new(),
    });
    seed_organisations(&emulator);
    emulator.set_browser(Browser {
        user_principal_name: Some(CONTOSO_ADMIN.to_owned()),
        declines_consent: false,
        interactive: false,
    });
    Ok(emulator)
}

async fn create_sync_queue(aws: &LocalAws, run_id: &str) -> anyhow::Result<String> {
    aws.sqs
        .create_queue()
        .queue_name(format!("{run_id}-sync-jobs"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "360",
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
        .queue_url
        .context("CreateQueue returned no URL")
}

/// The app's client secret (value, ARN), as the deployer stores it.
async fn create_app_secret(aws: &LocalAws, run_id: &str) -> anyhow::Result<(String, String)> {
    let value = format!("app~secret.{}", uuid::Uuid::new_v4().simple());
    let arn = aws
        .create_secret(&format!("{run_id}/entra-app-client-secret"), &value)
        .await?;
    Ok((value, arn))
}
