//! A local Lambda Runtime API: runs a function's real binary as Lambda
//! would (the binary polls `/runtime/invocation/next`) and hands it real
//! event JSON. Its stdout and stderr are kept, line by line, for assertions.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// What the function answered: its response, or the error it reported.
pub type InvocationResult = Result<Value, Value>;

struct Invocation {
    id: String,
    event: Value,
    deadline: Duration,
    reply: oneshot::Sender<InvocationResult>,
}

#[derive(Clone)]
struct RuntimeState {
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Invocation>>>,
    in_flight: Arc<Mutex<HashMap<String, oneshot::Sender<InvocationResult>>>>,
    init_error: Arc<Mutex<Option<Value>>>,
}

/// A function binary running against this runtime API.
pub struct LambdaFunction {
    pub name: String,
    child: Child,
    invocations: mpsc::Sender<Invocation>,
    logs: Arc<Mutex<Vec<String>>>,
    /// The stdout lines of `logs` alone (the functions' metric lines go
    /// there).
    stdout: Arc<Mutex<Vec<String>>>,
    /// The tasks copying stdout and stderr into `logs`.
    readers: Vec<tokio::task::JoinHandle<()>>,
    init_error: Arc<Mutex<Option<Value>>>,
}

/// Where cargo put the workspace's binaries: beside the running executable
/// (`target/debug/`), or one level up from a test binary (`target/debug/deps/`).
pub fn binary_path(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe
        .parent()
        .context("executable has a directory")?
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} is not built; run `cargo build --workspace --bins` first (the test script does)",
            path.display()
        );
    }
    Ok(path)
}

/// The Runtime API a function polls, on a free loopback port.
async fn serve_runtime_api(state: RuntimeState) -> anyhow::Result<std::net::SocketAddr> {
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(report_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });

    Ok(address)
}

/// The binary with the Lambda runtime variables and `env` only.
fn spawn_function(
    binary: &str,
    env: &[(String, String)],
    address: std::net::SocketAddr,
) -> anyhow::Result<Child> {
    let mut command = Command::new(binary_path(binary)?);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", binary)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local/stream")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{binary}"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
        .spawn()
        .with_context(|| format!("starting {binary}"))
}

/// Readers that keep the function's stdout and stderr lines in `logs`, and
/// its stdout lines also in `stdout` (echoed with SHOW_FUNCTION_LOGS).
fn collect_logs(
    child: &mut Child,
    logs: &Arc<Mutex<Vec<String>>>,
    stdout: &Arc<Mutex<Vec<String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut readers = Vec::new();
    let streams = [
        child.stdout.take().map(|s| {
            (
                Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                Some(stdout.clone()),
            )
        }),
        child.stderr.take().map(|s| {
            (
                Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                None,
            )
        }),
    ];
    for (stream, also) in streams.into_iter().flatten() {
        let logs = logs.clone();
        readers.push(tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if std::env::var_os("SHOW_FUNCTION_LOGS").is_some() {
                    eprintln!("[function] {line}");
                }
                if let Some(also) = &also {
                    also.lock().unwrap().push(line.clone());
                }
                logs.lock().unwrap().push(line);
            }
        }));
    }
    readers
}

impl LambdaFunction {
    /// Starts `binary` (a workspace binary name) with `env` and the Lambda
    /// runtime variables. The parent's environment is not inherited.
    /// A stack's environment carries every function's IAM identity; the
    /// binary gets only its own (`crate::iam::apply_identity`).
    pub async fn start(binary: &str, env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut env = env.to_vec();
        crate::iam::apply_identity(binary, &mut env)?;
        let (sender, receiver) = mpsc::channel::<Invocation>(64);
        let state = RuntimeState {
            queue: Arc::new(tokio::sync::Mutex::new(receiver)),
            in_flight: Arc::default(),
            init_error: Arc::default(),
        };
        let address = serve_runtime_api(state.clone()).await?;
        let mut child = spawn_function(binary, &env, address)?;
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout: Arc<Mutex<Vec<String>>> = Arc::default();
        let readers = collect_logs(&mut child, &logs, &stdout);
        Ok(Self {
            name: binary.to_owned(),
            child,
            invocations: sender,
            logs,
            stdout,
            readers,
            init_error: state.init_error,
        })
    }

    /// Invokes the function with one event and waits for its answer.
    pub async fn invoke(&mut self, event: Value) -> anyhow::Result<InvocationResult> {
        self.invoke_with_deadline(event, Duration::from_secs(30))
            .await
    }

    pub async fn invoke_with_deadline(
        &mut self,
        event: Value,
        deadline: Duration,
    ) -> anyhow::Result<InvocationResult> {
        let (reply, answer) = oneshot::channel();
        self.invocations
            .send(Invocation {
                id: uuid::Uuid::new_v4().to_string(),
                event,
                deadline,
                reply,
            })
            .await
            .map_err(|_| anyhow!("the runtime API is gone"))?;
        let wait = deadline + Duration::from_secs(10);
        tokio::select! {
            answer = answer => answer.map_err(|_| anyhow!("the invocation was dropped")),
            status = self.child.wait() => {
                let init = self.init_error.lock().unwrap().clone();
                bail!("{} exited ({status:?}) before answering; init error: {init:?}; logs:\n{}", self.name, self.logs().join("\n"))
            }
            _ = tokio::time::sleep(wait) => bail!("{} did not answer within {wait:?}", self.name),
        }
    }

    /// Whether the process is gone (it crashed, or was killed, between
    /// invocations).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id, while the process runs.
    pub fn process_id(&self) -> Option<u32> {
        self.child.id()
    }

    /// The process's peak resident memory so far (VmHWM), in KiB, on Linux.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// CPU time (user + system) the process used so far, on Linux.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let pid = self.child.id()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which ends with the last ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // USER_HZ is 100 on Linux, whatever the kernel's own tick rate.
        Some(ticks as f64 / 100.0)
    }

    /// Every line the function printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits for the process to exit (a function that fails its start-up),
    /// and for everything it printed to be collected.
    pub async fn wait_for_exit(
        &mut self,
        limit: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let status = tokio::time::timeout(limit, self.child.wait()).await??;
        for reader in self.readers.drain(..) {
            tokio::time::timeout(limit, reader).await??;
        }
        Ok(status)
    }

    /// Every line printed so far, after letting the readers catch up with
    /// what the process wrote before its last answer.
    pub async fn settled_logs(&self) -> Vec<String> {
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.logs()
    }

    /// `settled_logs` of stdout alone.
    pub async fn settled_stdout(&self) -> Vec<String> {
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.stdout.lock().unwrap().clone()
    }
}

async fn next_invocation(State(state): State<RuntimeState>) -> Response {
    let Some(invocation) = state.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline_ms =
        chrono::Utc::now().timestamp_millis() + invocation.deadline.as_millis() as i64;
    state
        .in_flight
        .lock()
        .unwrap()
        .insert(invocation.id.clone(), invocation.reply);
    let mut headers = HeaderMap::new();
    let set = |headers: &mut HeaderMap, k: &'static str, v: String| {
        headers.insert(k, HeaderValue::from_str(&v).expect("header value"));
    };
    set(&mut headers, "lambda-runtime-aws-request-id", invocation.id);
    set(
        &mut headers,
        "lambda-runtime-deadline-ms",
        deadline_ms.to_string(),
    );
    set(
        &mut headers,
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:000000000000:function:local".into(),
    );
    set(
        &mut headers,
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".into(),
    );
    set(&mut headers, "content-type", "application/json".into());
    (StatusCode::OK, headers, invocation.event.to_string()).into_response()
}

fn settle(state: &RuntimeState, id: &str, result: InvocationResult) -> StatusCode {
    match state.in_flight.lock().unwrap().remove(id) {
        Some(reply) => {
            let _ = reply.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

fn parse_body(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn respond(
    State(state): State<RuntimeState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    settle(&state, &id, Ok(parse_body(&body)))
}

async fn report_error(
    State(state): State<RuntimeState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    settle(&state, &id, Err(parse_body(&body)))
}

async fn init_error(State(state): State<RuntimeState>, body: axum::body::Bytes) -> StatusCode {
    *state.init_error.lock().unwrap() = Some(parse_body(&body));
    StatusCode::ACCEPTED
}
