//! The local stack: moto tables and secrets, the Entra emulator with two
//! simulated organisations, and the real `oauth-callback` binary behind the
//! local Lambda Runtime API. Tests and the local demo share it.

mod clouds;
mod federated;

pub use federated::{ClientAuth, FEDERATED_AUDIENCE};

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};

use crate::aws_meter::AwsMeter;
use crate::emulator::{
    AppRegistration, Browser, Domain, DomainAuthentication, Emulator, Tenant, User,
};
use crate::events::{HttpResponse, http_api_request};
use crate::iam::{Gate, StackResources};
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

    /// Writes the platform's config item for `tenant_id`.
    pub async fn put_config(
        &self,
        tenant_id: &str,
        entra_tenant_id: Option<&str>,
    ) -> anyhow::Result<()> {
        self.put_config_with(tenant_id, entra_tenant_id, serde_json::json!({}))
            .await
    }

    /// The config item with extra attributes (JSON: strings, booleans,
    /// numbers, lists of strings).
    pub async fn put_config_with(
        &self,
        tenant_id: &str,
        entra_tenant_id: Option<&str>,
        extra: Value,
    ) -> anyhow::Result<()> {
        let mut item = HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(format!("TENANT#{tenant_id}")),
            ),
            ("sk".to_owned(), AttributeValue::S("ENTRA#CONFIG".into())),
            ("tenant_id".to_owned(), AttributeValue::S(tenant_id.into())),
            (
                "label".to_owned(),
                AttributeValue::S("Contoso Entra ID".into()),
            ),
            ("sync_enabled".to_owned(), AttributeValue::Bool(true)),
            ("import_users".to_owned(), AttributeValue::Bool(true)),
            ("import_groups".to_owned(), AttributeValue::Bool(true)),
        ]);
        if let Some(tid) = entra_tenant_id {
            item.insert("entra_tenant_id".into(), AttributeValue::S(tid.into()));
        }
        let mut extra = extra;
        if extra["auth_mode"] == "application"
            && extra.get("authorised_entra_tenant_id").is_none()
            && let Some(tid) = entra_tenant_id
        {
            // As the confirm leaves an application-mode tenant: the
            // organisation it proved.
            extra["authorised_entra_tenant_id"] = tid.into();
            if let Some(cloud) = extra.get("cloud").cloned() {
                extra["authorised_cloud"] = cloud;
            }
        }
        let extra: HashMap<String, AttributeValue> = serde_dynamo::to_item(extra)?;
        item.extend(extra);
        self.aws
            .dynamodb
            .put_item()
            .table_name(&self.tables.integrations)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        Ok(())
    }

    pub async fn invoke_http(
        function: &mut LambdaFunction,
        method: &str,
        route_key: &str,
        path: &str,
        query: &str,
    ) -> anyhow::Result<HttpResponse> {
        let answer = function
            .invoke(http_api_request(method, route_key, path, query))
            .await?
            .map_err(|e| anyhow::anyhow!("the function reported an error: {e}"))?;
        HttpResponse::from_lambda(&answer)
    }

    /// `POST /tenants/{tenant_id}/entra/authorize`, as the platform calls
    /// it for the admin of the portal session `SESSION_BINDING`.
    pub async fn authorize(&mut self, tenant_id: &str) -> anyhow::Result<HttpResponse> {
        let body = serde_json::json!({ "session_binding": SESSION_BINDING }).to_string();
        self.authorize_with(tenant_id, &body).await
    }

    /// `POST …/authorize` with this body.
    pub async fn authorize_with(
        &mut self,
        tenant_id: &str,
        body: &str,
    ) -> anyhow::Result<HttpResponse> {
        self.post_json(
            "POST /tenants/{tenant_id}/entra/authorize",
            &format!("/tenants/{tenant_id}/entra/authorize"),
            body,
        )
        .await
    }

    /// `POST …/authorize/confirm`, as the portal calls it when the admin's
    /// browser comes back with `status=pending&result=…`.
    pub async fn confirm(
        &mut self,
        tenant_id: &str,
        result: &str,
        session_binding: &str,
    ) -> anyhow::Result<HttpResponse> {
        let body = serde_json::json!({ "result": result, "session_binding": session_binding });
        self.post_json(
            "POST /tenants/{tenant_id}/entra/authorize/confirm",
            &format!("/tenants/{tenant_id}/entra/authorize/confirm"),
            &body.to_string(),
        )
        .await
    }

    pub async fn post_json(
        &mut self,
        route_key: &str,
        path: &str,
        body: &str,
    ) -> anyhow::Result<HttpResponse> {
        let mut request = http_api_request("POST", route_key, path, "");
        request["body"] = serde_json::Value::String(body.to_owned());
        request["headers"]["content-type"] = "application/json".into();
        request["headers"]["content-length"] = body.len().to_string().into();
        let answer = self
            .callback
            .invoke(request)
            .await?
            .map_err(|e| anyhow::anyhow!("the function reported an error: {e}"))?;
        HttpResponse::from_lambda(&answer)
    }

    /// `GET /entra/callback?<query>`, as the admin's browser arrives.
    pub async fn callback(&mut self, query: &str) -> anyhow::Result<HttpResponse> {
        Self::invoke_http(
            &mut self.callback,
            "GET",
            "GET /entra/callback",
            "/entra/callback",
            query,
        )
        .await
    }

    /// Authorize, then walk the admin's browser through Microsoft and the
    /// callback, leg after leg (consent, sign-in), until the callback sends
    /// it to the portal: that last answer.
    pub async fn authorise_in_browser(&mut self, tenant_id: &str) -> anyhow::Result<HttpResponse> {
        let start = self.authorize(tenant_id).await?;
        anyhow::ensure!(
            start.status == 200,
            "authorize answered {}: {}",
            start.status,
            start.body
        );
        let url = start.json()["authorize_url"]
            .as_str()
            .context("no authorize_url")?
            .to_owned();
        self.walk_browser(&url).await
    }

    /// The browser at a Microsoft URL, going back and forth between
    /// Microsoft and the callback until the callback sends it to the
    /// portal: that last answer.
    pub async fn walk_browser(&mut self, microsoft_url: &str) -> anyhow::Result<HttpResponse> {
        let mut url = microsoft_url.to_owned();
        for _leg in 0..4 {
            let back = self.emulator.browse(&url).await?.redirect();
            let back = url::Url::parse(&back)?;
            anyhow::ensure!(
                back.as_str().starts_with(REDIRECT_URI),
                "Microsoft sent the browser to {back}"
            );
            let answer = self.callback(back.query().unwrap_or("")).await?;
            match answer.location() {
                Some(next) if !next.as_str().starts_with(PORTAL_RETURN_URL) => {
                    url = next.to_string();
                }
                _ => return Ok(answer),
            }
        }
        anyhow::bail!("the authorisation did not reach the portal after four legs")
    }

    /// The whole authorisation as the portal and the admin go through it:
    /// the browser's legs, then the confirm with the admin's binding.
    pub async fn authorise(&mut self, tenant_id: &str) -> anyhow::Result<HttpResponse> {
        let pending = self.authorise_in_browser(tenant_id).await?;
        let query: std::collections::HashMap<String, String> = pending
            .location()
            .context("the callback did not redirect to the portal")?
            .query_pairs()
            .into_owned()
            .collect();
        anyhow::ensure!(
            query.get("status").map(String::as_str) == Some("pending"),
            "the sign-in did not end pending: {query:?}"
        );
        self.confirm(tenant_id, &query["result"], SESSION_BINDING)
            .await
    }

    /// A delegated grant in the tenant's secret, as a tenant authorised
    /// before DESIGN 2.12 holds it (a refresh token nobody issued); returns
    /// the refresh token.
    pub async fn seed_delegated_grant(
        &self,
        tenant_id: &str,
        entra_tenant_id: &str,
    ) -> anyhow::Result<String> {
        let refresh_token = format!("1.AQ-seeded-{}", uuid::Uuid::new_v4().simple());
        self.store_delegated_grant(tenant_id, entra_tenant_id, &refresh_token)
            .await?;
        Ok(refresh_token)
    }

    /// A tenant authorised before DESIGN 2.12: its config `authorised`
    /// without `auth_mode`, and `admin`'s delegated grant (issued by the
    /// emulator) in the tenant's secret.
    pub async fn connect_delegated(
        &mut self,
        tenant_id: &str,
        admin: &str,
        settings: Value,
    ) -> anyhow::Result<()> {
        let entra_tenant_id = self
            .emulator
            .state()
            .tenant_of_user(admin)
            .map(|(t, _)| t.id.clone())
            .context("the admin exists in the emulator")?;
        let mut config = settings;
        config["authorisation"] = "authorised".into();
        config["authorised_by"] = admin.into();
        config["authorised_at"] = chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into();
        self.put_config_with(tenant_id, Some(&entra_tenant_id), config)
            .await?;
        let refresh_token = self.emulator.grant_refresh_token(admin);
        self.store_delegated_grant(tenant_id, &entra_tenant_id, &refresh_token)
            .await
    }

    async fn store_delegated_grant(
        &self,
        tenant_id: &str,
        entra_tenant_id: &str,
        refresh_token: &str,
    ) -> anyhow::Result<()> {
        let store = entra_sync::store::SecretsManagerTokenStore::new(
            self.aws.secrets.clone(),
            self.secret_prefix.clone(),
        );
        let grant = entra_sync::store::TenantGrant {
            entra_tenant_id: entra_sync::model::Guid::parse(entra_tenant_id)?,
            refresh_token: secrecy::SecretString::from(refresh_token.to_owned()),
            scope: "offline_access https://graph.microsoft.com/.default".into(),
            authorised_at: chrono::Utc::now(),
            authorised_by: None,
        };
        store
            .save_tenant_tokens(&entra_sync::model::TenantId::parse(tenant_id)?, &grant)
            .await?;
        Ok(())
    }

    /// The config item as a JSON object, if present.
    pub async fn config_item(&self, tenant_id: &str) -> anyhow::Result<Option<Map<String, Value>>> {
        self.item(
            &self.tables.integrations,
            &format!("TENANT#{tenant_id}"),
            "ENTRA#CONFIG",
        )
        .await
    }

    pub async fn item(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
    ) -> anyhow::Result<Option<Map<String, Value>>> {
        let output = self
            .aws
            .dynamodb
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        Ok(match output.item {
            Some(item) => Some(serde_dynamo::from_item(item)?),
            None => None,
        })
    }

    /// The tenant's secret, parsed, if it exists.
    pub async fn tenant_secret(&self, tenant_id: &str) -> anyhow::Result<Option<Value>> {
        let name = format!("{}tenants/{tenant_id}", self.secret_prefix);
        Ok(match self.aws.secret_value(&name).await? {
            Some(text) => Some(serde_json::from_str(&text)?),
            None => None,
        })
    }

    /// Every item in the integrations table (small in tests).
    pub async fn integration_items(&self) -> anyhow::Result<Vec<Map<String, Value>>> {
        let output = self
            .aws
            .dynamodb
            .scan()
            .table_name(&self.tables.integrations)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Ok(serde_dynamo::from_item(item)?))
            .collect()
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

/// Each function's IAM user in moto, holding its template role as `edit`
/// leaves it.
async fn function_identities(
    aws: &LocalAws,
    run_id: &str,
    resources: &StackResources,
    edit: RoleEdit,
) -> anyhow::Result<Vec<crate::iam::FunctionIdentity>> {
    let mut roles = crate::iam::template::function_roles(resources)?;
    edit(&mut roles);
    crate::iam::identities::create(&aws_sdk_iam::Client::new(&aws.sdk), run_id, &roles).await
}

/// The meter every function's AWS request passes through, with the IAM
/// gate judging it against the function's statements.
async fn start_gated_meter(
    aws: &LocalAws,
    tables: &Tables,
    resources: &StackResources,
    identities: &[crate::iam::FunctionIdentity],
    web_identity_sts: String,
) -> anyhow::Result<(AwsMeter, Arc<Gate>)> {
    let names = HashMap::from([
        ("IntegrationsTable".to_owned(), tables.integrations.clone()),
        ("DirectoryTable".to_owned(), tables.directory.clone()),
    ]);
    let gate = Arc::new(
        Gate::new(
            identities.to_vec(),
            &resources.region,
            &resources.account,
            crate::iam::hash_keys(&names)?,
        )
        .with_role_arns(federated::role_arns(resources)?),
    );
    let meter = AwsMeter::start_gated(
        &aws.endpoint,
        vec![
            (tables.directory.clone(), "directory".to_owned()),
            (tables.integrations.clone(), "integrations".to_owned()),
        ],
        Some(gate.clone()),
        Some(web_identity_sts),
    )
    .await?;
    Ok((meter, gate))
}

/// What the template's `Ref`s and `Fn::GetAtt`s are in this stack.
async fn stack_resources(
    aws: &LocalAws,
    tables: &Tables,
    run_id: &str,
    secret_prefix: &str,
    client_secret_arn: &str,
    queue_url: &str,
) -> anyhow::Result<StackResources> {
    let describe = |name: String| {
        let client = aws.dynamodb.clone();
        async move {
            client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?
                .table
                .context("DescribeTable returned no table")
        }
    };
    let integrations = describe(tables.integrations.clone()).await?;
    let directory = describe(tables.directory.clone()).await?;
    let integrations_arn = integrations.table_arn.clone().context("no table ARN")?;
    // arn:aws:dynamodb:<region>:<account>:table/<name>
    let parts: Vec<&str> = integrations_arn.split(':').collect();
    let mut r = StackResources {
        partition: parts[1].to_owned(),
        region: parts[3].to_owned(),
        account: parts[4].to_owned(),
        ..StackResources::default()
    };
    for (name, value) in crate::iam::template::parameter_defaults()? {
        r.refs.insert(name, value);
    }
    add_functions(&mut r, run_id)?;
    add_queues(&mut r, run_id, queue_url);
    for (logical_id, table) in [
        ("IntegrationsTable", &integrations),
        ("DirectoryTable", &directory),
    ] {
        add_table(&mut r, logical_id, table);
    }
    add_parameters(&mut r, run_id, secret_prefix, client_secret_arn);
    Ok(r)
}

/// Each function's name, ARN and role ARN.
fn add_functions(r: &mut StackResources, run_id: &str) -> anyhow::Result<()> {
    let (partition, region, account) = (&r.partition, &r.region, &r.account);
    for (logical_id, binary) in crate::iam::template::function_binaries()? {
        r.refs
            .insert(logical_id.clone(), format!("{run_id}-{binary}"));
        r.attributes.insert(
            format!("{logical_id}.Arn"),
            format!("arn:{partition}:lambda:{region}:{account}:function:{run_id}-{binary}"),
        );
        r.attributes.insert(
            format!("{logical_id}Role.Arn"),
            format!("arn:{partition}:iam::{account}:role/{run_id}-{binary}"),
        );
    }
    Ok(())
}

/// The sync queue, its dead letters and the export's on-failure queue:
/// URLs beside the sync queue's, ARNs in the stack's account.
fn add_queues(r: &mut StackResources, run_id: &str, queue_url: &str) {
    let (partition, region, account) = (&r.partition, &r.region, &r.account);
    let queue_arn = |name: &str| format!("arn:{partition}:sqs:{region}:{account}:{name}");
    let queue_url_of = |name: &str| {
        format!(
            "{}/{account}/{name}",
            queue_url.rsplitn(3, '/').nth(2).unwrap_or_default()
        )
    };
    let queues = [
        ("SyncQueue", format!("{run_id}-sync-jobs")),
        ("SyncDeadLetterQueue", format!("{run_id}-sync-dead-letters")),
        ("ExportFailedQueue", format!("{run_id}-export-failed")),
    ];
    for (logical_id, name) in queues {
        r.refs.insert(logical_id.to_owned(), queue_url_of(&name));
        r.attributes
            .insert(format!("{logical_id}.Arn"), queue_arn(&name));
    }
}

fn add_table(
    r: &mut StackResources,
    logical_id: &str,
    table: &aws_sdk_dynamodb::types::TableDescription,
) {
    r.refs.insert(
        logical_id.to_owned(),
        table.table_name.clone().unwrap_or_default(),
    );
    r.attributes.insert(
        format!("{logical_id}.Arn"),
        table.table_arn.clone().unwrap_or_default(),
    );
    if let Some(stream) = &table.latest_stream_arn {
        r.attributes
            .insert(format!("{logical_id}.StreamArn"), stream.clone());
    }
}

/// The template parameters this stack sets.
fn add_parameters(
    r: &mut StackResources,
    run_id: &str,
    secret_prefix: &str,
    client_secret_arn: &str,
) {
    let (partition, account) = (&r.partition, &r.account);
    let parameters = [
        ("EntraClientId", CLIENT_ID.to_owned()),
        ("EntraClientSecretArn", client_secret_arn.to_owned()),
        ("EntraRedirectUri", REDIRECT_URI.to_owned()),
        ("PortalReturnUrl", PORTAL_RETURN_URL.to_owned()),
        ("SecretPrefix", secret_prefix.to_owned()),
        (
            "PlatformInvokerArn",
            format!("arn:{partition}:iam::{account}:role/{run_id}-platform"),
        ),
        ("EntraApi", format!("{run_id}api")),
    ];
    for (name, value) in parameters {
        r.refs.insert(name.to_owned(), value);
    }
}
