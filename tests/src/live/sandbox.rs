//! One Lambda function as the live stack runs it: one execution
//! environment at a time (its invocations take turns), and a new one after
//! a crash or a timeout, as Lambda starts a new sandbox.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;

use super::activity::Activity;
use crate::lambda_runtime_api::{InvocationResult, LambdaFunction};

pub struct Sandbox {
    pub name: &'static str,
    env: Vec<(String, String)>,
    function: Mutex<Option<LambdaFunction>>,
    activity: Activity,
}

impl Sandbox {
    /// Starts the function's binary now, so a broken one shows at once.
    pub async fn start(
        name: &'static str,
        env: Vec<(String, String)>,
        activity: Activity,
    ) -> anyhow::Result<Arc<Self>> {
        let function = LambdaFunction::start(name, &env).await?;
        Ok(Arc::new(Self {
            name,
            env,
            function: Mutex::new(Some(function)),
            activity,
        }))
    }

    /// Invokes the function; a sandbox that crashed or timed out is
    /// replaced before the next invocation, and the stack goes on.
    pub async fn invoke(
        &self,
        event: Value,
        timeout: Duration,
    ) -> anyhow::Result<InvocationResult> {
        let mut slot = self.function.lock().await;
        if slot.as_mut().is_some_and(|f| f.has_exited()) {
            // Died while idle: Lambda would not hand the next event to it.
            self.activity.note(self.name, "CRASHED while idle");
            *slot = None;
        }
        if slot.is_none() {
            self.activity
                .note(self.name, "starting a new execution environment");
            *slot = Some(LambdaFunction::start(self.name, &self.env).await?);
        }
        let function = slot.as_mut().expect("a sandbox was just started");
        match function.invoke_with_deadline(event, timeout).await {
            Ok(answer) => {
                if let Err(error) = &answer {
                    self.activity
                        .note(self.name, &format!("reported an error: {error}"));
                }
                Ok(answer)
            }
            Err(crash) => {
                let first_line = crash.to_string().lines().next().unwrap_or("").to_owned();
                self.activity
                    .note(self.name, &format!("CRASHED: {first_line}"));
                *slot = None;
                Err(crash)
            }
        }
    }

    /// Every line the current sandbox printed (for the console's log view).
    pub async fn logs(&self) -> Vec<String> {
        match &*self.function.lock().await {
            Some(function) => function.logs(),
            None => Vec::new(),
        }
    }

    /// The sandbox's process id, while it runs.
    pub async fn process_id(&self) -> Option<u32> {
        self.function
            .lock()
            .await
            .as_ref()
            .and_then(|f| f.process_id())
    }
}
