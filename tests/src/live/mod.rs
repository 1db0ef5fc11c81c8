//! The live local stack (`tests/scripts/run-local.sh --serve`): moto for
//! AWS, the Entra emulator for Microsoft, the real function binaries
//! through the local Lambda Runtime API, and the parts AWS plays between
//! them (API Gateway, the schedule, the queue and stream mappings), running
//! until stopped; and the admin console that plays the AM portal's Entra ID
//! screen.

pub mod activity;
pub mod console;
pub mod console_authorise;
pub mod gateway;
pub mod own_origin;
pub mod pumps;
mod sandbox;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;

use crate::emulator::{AppRegistration, Browser};
use crate::stack::{CLIENT_ID, CONTOSO, LocalStack, REDIRECT_URI};
use activity::Activity;
use sandbox::Sandbox;

/// The AM tenant the console manages.
pub const TENANT: &str = "acme";
/// People of the emulated Contoso to import (beside its admin and Megan).
const SEEDED_USERS: usize = 24;
const SEEDED_GROUPS: usize = 3;

#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The schedule's rate (3 minutes, as deployed).
    pub interval: Duration,
    /// 0 = any free port.
    pub console_port: u16,
    pub api_port: u16,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(180),
            console_port: 0,
            api_port: 0,
        }
    }
}

pub struct LiveStack {
    pub stack: Arc<LocalStack>,
    pub api_url: String,
    pub console_url: String,
    pub activity: Activity,
    sandboxes: Vec<Arc<Sandbox>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn bind(port: u16) -> anyhow::Result<(tokio::net::TcpListener, String)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok((listener, url))
}

impl LiveStack {
    pub async fn start(options: LiveOptions) -> anyhow::Result<Self> {
        let stack = LocalStack::start().await?;
        let (api, api_url) = bind(options.api_port).await?;
        let (console, console_url) = bind(options.console_port).await?;
        let redirect_uri = format!("{api_url}/entra/callback");
        prepare_emulator(&stack, &redirect_uri);
        let env = live_env(&stack, &api_url, &console_url, redirect_uri);
        let activity = Activity::default();
        let sandboxes = start_sandboxes(&env, &activity).await?;
        let routes = gateway::template_routes()?
            .into_iter()
            .map(|route| {
                let function = sandbox_named(&sandboxes, &route.binary);
                (route, function)
            })
            .collect();
        gateway::serve(api, routes, activity.clone());

        stack
            .put_config_with(
                TENANT,
                None,
                serde_json::json!({"sync_enabled": false, "import_users": false, "import_groups": false}),
            )
            .await?;
        let kick = Arc::new(Notify::new());
        let stack = Arc::new(stack);
        let tasks = spawn_pumps(&stack, &sandboxes, &options, &kick, &activity).await?;
        console::serve(
            console,
            console::Console {
                stack: stack.clone(),
                api_url: api_url.clone(),
                activity: activity.clone(),
                kick,
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
            },
        )?;
        activity.note("stack", "running");
        Ok(Self {
            stack,
            api_url,
            console_url,
            activity,
            sandboxes,
            tasks,
        })
    }

    /// What to open and use.
    pub fn describe(&self) -> String {
        let stack = &self.stack;
        format!(
            "entra-sync live stack {run}\n  console (the AM portal's Entra ID screen): {console}/\n  emulated Entra ID (users, groups):         {console}/entra\n  API Gateway (the template's routes):       {api}\n  Entra ID emulator and its admin API:       {emulator} ({emulator}/_emulator/requests)\n  moto (AWS):                                {moto}\n  tables: {integrations}, {directory}\n    read one (with the AWS CLI: pip install awscli): AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url {moto} dynamodb scan --table-name {directory}\n  Ctrl-C stops everything.",
            run = stack.run_id,
            console = self.console_url,
            api = self.api_url,
            emulator = stack.emulator.base_url,
            moto = stack.aws.endpoint,
            integrations = stack.tables.integrations,
            directory = stack.tables.directory,
        )
    }

    /// The process ids of the function sandboxes running now.
    pub async fn function_processes(&self) -> Vec<u32> {
        let mut ids = Vec::new();
        for sandbox in &self.sandboxes {
            ids.extend(sandbox.process_id().await);
        }
        ids
    }

    /// Stops the schedule and the mappings. The listeners and the function
    /// processes end with the process (each sandbox kills its function when
    /// dropped).
    pub fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The app registration (both callbacks), a person at a browser who signs
/// in on the emulator's page, and a seeded Contoso.
fn prepare_emulator(stack: &LocalStack, redirect_uri: &str) {
    stack.emulator.register_app(AppRegistration {
        client_id: CLIENT_ID.to_owned(),
        client_secret: stack.client_secret.clone(),
        redirect_uris: vec![REDIRECT_URI.to_owned(), redirect_uri.to_owned()],
        federated_credentials: Vec::new(),
    });
    stack.emulator.set_browser(Browser {
        user_principal_name: None,
        declines_consent: false,
        interactive: true,
    });
    crate::organisation::seed(&stack.emulator, CONTOSO, SEEDED_USERS, SEEDED_GROUPS);
}

/// The functions' environment, with the live stack's own URLs.
fn live_env(
    stack: &LocalStack,
    api_url: &str,
    console_url: &str,
    redirect_uri: String,
) -> Vec<(String, String)> {
    let mut env = stack.function_env();
    env.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "ENTRA_REDIRECT_URI" | "PORTAL_RETURN_URL" | "RUST_LOG"
        )
    });
    env.extend([
        ("ENTRA_REDIRECT_URI".to_owned(), redirect_uri),
        ("PORTAL_RETURN_URL".to_owned(), format!("{console_url}/")),
        (
            "NOTIFICATION_URL".to_owned(),
            format!(
                "{api_url}/entra/notifications?key={}",
                crate::sync::notification_key()
            ),
        ),
        ("RUST_LOG".to_owned(), "info".to_owned()),
    ]);
    env
}

async fn start_sandboxes(
    env: &[(String, String)],
    activity: &Activity,
) -> anyhow::Result<Vec<Arc<Sandbox>>> {
    let mut sandboxes = Vec::new();
    for name in [
        "oauth-callback",
        "graph-notifications",
        "sync-scheduler",
        "sync-worker",
        "export-stream",
        "sync-object",
    ] {
        sandboxes.push(Sandbox::start(name, env.to_vec(), activity.clone()).await?);
    }
    Ok(sandboxes)
}

fn sandbox_named(sandboxes: &[Arc<Sandbox>], name: &str) -> Arc<Sandbox> {
    sandboxes
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .expect("every function has a sandbox")
}

/// What AWS runs between the functions: the schedule, the queue mapping and
/// the stream mapping (with its on-failure queue).
async fn spawn_pumps(
    stack: &Arc<LocalStack>,
    sandboxes: &[Arc<Sandbox>],
    options: &LiveOptions,
    kick: &Arc<Notify>,
    activity: &Activity,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let queues = Queues::create(stack).await?;
    let schedule = tokio::spawn(pumps::schedule(
        sandbox_named(sandboxes, "sync-scheduler"),
        options.interval,
        kick.clone(),
        activity.clone(),
    ));
    let queue = tokio::spawn(
        pumps::QueueMapping {
            aws: stack.aws.clone(),
            queue_url: stack.queue_url.clone(),
            queue_arn: queues.sync_arn.clone(),
            worker: sandbox_named(sandboxes, "sync-worker"),
            activity: activity.clone(),
        }
        .run(),
    );
    let stream = tokio::spawn(
        pumps::StreamMapping {
            cursor: crate::sync::StreamCursor::start(stack).await?,
            delivery: pumps::StreamDelivery {
                export: sandbox_named(sandboxes, "export-stream"),
                failures: pumps::SqsDestination {
                    aws: stack.aws.clone(),
                    queue_url: queues.export_failed_url.clone(),
                },
                stream_arn: pumps::stream_arn(&stack.aws, &stack.tables.directory).await?,
                retry_delay: Duration::from_millis(200),
                activity: activity.clone(),
            },
        }
        .run(),
    );
    Ok(vec![schedule, queue, stream])
}

/// The queues template.yaml adds around the sync queue.
struct Queues {
    sync_arn: String,
    export_failed_url: String,
}

impl Queues {
    /// The sync queue's dead-letter queue (redrive after 5 receives) and
    /// the export's on-failure queue.
    async fn create(stack: &LocalStack) -> anyhow::Result<Self> {
        let sqs = &stack.aws.sqs;
        let describe = |e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string());
        let dead_letters = sqs
            .create_queue()
            .queue_name(format!("{}-sync-dead-letters", stack.run_id))
            .send()
            .await
            .map_err(describe)?
            .queue_url
            .context("no dead-letter queue URL")?;
        let arn_of = async |url: &str| -> anyhow::Result<String> {
            let output = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
            output
                .attributes
                .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
                .context("no queue ARN")
        };
        let dead_letters_arn = arn_of(&dead_letters).await?;
        sqs.set_queue_attributes()
            .queue_url(&stack.queue_url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": dead_letters_arn, "maxReceiveCount": 5})
                    .to_string(),
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        let export_failed_url = sqs
            .create_queue()
            .queue_name(format!("{}-export-failed", stack.run_id))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
            .queue_url
            .context("no on-failure queue URL")?;
        Ok(Self {
            sync_arn: arn_of(&stack.queue_url).await?,
            export_failed_url,
        })
    }
}
