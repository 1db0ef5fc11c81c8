//! Driving the import as AWS would: the scheduler's EventBridge tick, SQS
//! messages to the worker, and the directory table's stream to see every
//! write the functions make.

mod stream_cursor;

pub use stream_cursor::StreamCursor;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value, json};

use crate::emulator::Browser;
use crate::lambda_runtime_api::LambdaFunction;
use crate::stack::{LocalStack, REDIRECT_URI};

pub struct SyncFunctions {
    pub worker: LambdaFunction,
    pub scheduler: LambdaFunction,
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct TickReport {
    pub messages: usize,
    pub failed_message_ids: Vec<String>,
}

/// An unguessable notification key, as the template's generated secret
/// (40 letters and digits).
pub fn notification_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// An EventBridge scheduled event, as `rate(3 minutes)` delivers it.
pub fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/entra-sync-SyncSchedulerFunctionTick"],
        "detail": {}
    })
}

/// An SQS event with these messages (id, body).
pub fn sqs_event(queue_arn: &str, messages: &[(String, String, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, receipt, body)| {
            json!({
                "messageId": id,
                "receiptHandle": receipt,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": chrono::Utc::now().timestamp_millis().to_string(),
                    "SenderId": "AROAEXAMPLE:sync-scheduler",
                    "ApproximateFirstReceiveTimestamp": chrono::Utc::now().timestamp_millis().to_string()
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// An SQS event of received messages, their `SentTimestamp` and message
/// attributes as Lambda's event source mapping passes them.
pub fn sqs_event_of(queue_arn: &str, messages: &[aws_sdk_sqs::types::Message]) -> Value {
    let listed: Vec<(String, String, String)> = messages
        .iter()
        .map(|m| {
            (
                m.message_id.clone().unwrap_or_default(),
                m.receipt_handle.clone().unwrap_or_default(),
                m.body.clone().unwrap_or_default(),
            )
        })
        .collect();
    let mut event = sqs_event(queue_arn, &listed);
    for (record, message) in event["Records"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .zip(messages)
    {
        let sent = message
            .attributes
            .as_ref()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp));
        if let Some(sent) = sent {
            record["attributes"]["SentTimestamp"] = json!(sent);
        }
        for (name, value) in message.message_attributes.iter().flatten() {
            record["messageAttributes"][name] = json!({
                "stringValue": value.string_value,
                "dataType": value.data_type,
                "stringListValues": [],
                "binaryListValues": [],
            });
        }
    }
    event
}

impl LocalStack {
    pub async fn start_sync_functions(&self) -> anyhow::Result<SyncFunctions> {
        Ok(SyncFunctions {
            worker: LambdaFunction::start("sync-worker", &self.function_env()).await?,
            scheduler: LambdaFunction::start("sync-scheduler", &self.function_env()).await?,
        })
    }

    /// The sync functions with real time: graph-notifications behind a
    /// local API Gateway, and the worker's `NOTIFICATION_URL` pointing at it
    /// with a fresh key, the same value graph-notifications gets (keep the
    /// gateway alive as long as notifications should arrive).
    pub async fn start_realtime_sync_functions(
        &self,
    ) -> anyhow::Result<(SyncFunctions, crate::api_gateway::ApiGateway)> {
        let key = notification_key();
        let mut env = self.function_env();
        let gateway = crate::api_gateway::ApiGateway::start_with(
            "POST /entra/notifications",
            async |url: &str| {
                env.push(("NOTIFICATION_URL".into(), format!("{url}?key={key}")));
                LambdaFunction::start("graph-notifications", &env).await
            },
        )
        .await?;
        let functions = SyncFunctions {
            worker: LambdaFunction::start("sync-worker", &env).await?,
            scheduler: LambdaFunction::start("sync-scheduler", &env).await?,
        };
        Ok((functions, gateway))
    }

    /// Hands queued jobs to the worker as they arrive (no scheduler tick)
    /// until `done(stack, jobs run so far)` holds; returns how many jobs
    /// ran, or fails after `within`.
    pub async fn deliver_until(
        &self,
        worker: &mut LambdaFunction,
        within: std::time::Duration,
        mut done: impl AsyncFnMut(&LocalStack, usize) -> bool,
    ) -> anyhow::Result<usize> {
        let started = std::time::Instant::now();
        let mut jobs = 0;
        loop {
            jobs += self.deliver(worker).await?.messages;
            if done(self, jobs).await {
                return Ok(jobs);
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "not done within {within:?} after {jobs} jobs"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The platform configures `tenant_id` and `admin` authorises it.
    pub async fn connect(
        &mut self,
        tenant_id: &str,
        admin: &str,
        settings: Value,
    ) -> anyhow::Result<()> {
        self.put_config_with(tenant_id, None, settings).await?;
        self.emulator.set_browser(Browser {
            user_principal_name: Some(admin.to_owned()),
            declines_consent: false,
            interactive: false,
        });
        let done = self.authorise(tenant_id).await?;
        anyhow::ensure!(
            done.status == 200 && done.json()["status"] == "authorised",
            "authorising {tenant_id} failed: {done:?} (redirect {REDIRECT_URI})"
        );
        Ok(())
    }

    /// Sets attributes on the tenant's config item, as the platform does.
    pub async fn update_config(&self, tenant_id: &str, set: Value) -> anyhow::Result<()> {
        self.update_integration_item(tenant_id, "ENTRA#CONFIG", set)
            .await
    }

    /// Sets attributes on the tenant's status item (a test moving a time
    /// the functions wrote into the past).
    pub async fn update_status(&self, tenant_id: &str, set: Value) -> anyhow::Result<()> {
        self.update_integration_item(tenant_id, "ENTRA#STATUS", set)
            .await
    }

    async fn update_integration_item(
        &self,
        tenant_id: &str,
        sk: &str,
        set: Value,
    ) -> anyhow::Result<()> {
        let values: std::collections::HashMap<String, AttributeValue> = serde_dynamo::to_item(set)?;
        let mut request = self
            .aws
            .dynamodb
            .update_item()
            .table_name(&self.tables.integrations)
            .key("pk", AttributeValue::S(format!("TENANT#{tenant_id}")))
            .key("sk", AttributeValue::S(sk.into()));
        let mut parts = Vec::new();
        for (i, (name, value)) in values.into_iter().enumerate() {
            parts.push(format!("#n{i} = :v{i}"));
            request = request
                .expression_attribute_names(format!("#n{i}"), name)
                .expression_attribute_values(format!(":v{i}"), value);
        }
        request
            .update_expression(format!("SET {}", parts.join(", ")))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        Ok(())
    }

    pub async fn status_item(&self, tenant_id: &str) -> anyhow::Result<Map<String, Value>> {
        self.item(
            &self.tables.integrations,
            &format!("TENANT#{tenant_id}"),
            "ENTRA#STATUS",
        )
        .await?
        .context("no ENTRA#STATUS item")
    }

    /// The tenant's problem items (`ENTRA#PROBLEM#...`), in key order.
    pub async fn problem_items(&self, tenant_id: &str) -> anyhow::Result<Vec<Map<String, Value>>> {
        let pk = format!("TENANT#{tenant_id}");
        let mut problems: Vec<Map<String, Value>> = self
            .integration_items()
            .await?
            .into_iter()
            .filter(|i| i["pk"] == pk.as_str())
            .filter(|i| {
                i["sk"]
                    .as_str()
                    .is_some_and(|sk| sk.starts_with("ENTRA#PROBLEM#"))
            })
            .collect();
        problems.sort_by(|a, b| a["sk"].as_str().cmp(&b["sk"].as_str()));
        Ok(problems)
    }

    /// Brings every problem of the tenant that passes by itself to its
    /// `next_attempt_at`, as if its backoff had passed.
    pub async fn make_problems_due(&self, tenant_id: &str) -> anyhow::Result<()> {
        for problem in self.problem_items(tenant_id).await? {
            if !problem.contains_key("next_attempt_at") {
                continue;
            }
            let sk = problem["sk"].as_str().unwrap_or_default().to_owned();
            self.aws
                .dynamodb
                .update_item()
                .table_name(&self.tables.integrations)
                .key("pk", AttributeValue::S(format!("TENANT#{tenant_id}")))
                .key("sk", AttributeValue::S(sk))
                .update_expression("SET next_attempt_at = :past")
                .expression_attribute_values(
                    ":past",
                    AttributeValue::S("2000-01-01T00:00:00Z".into()),
                )
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        }
        Ok(())
    }

    /// `ENTRA#STATUS.open_problems` (0 when absent).
    pub async fn open_problems(&self, tenant_id: &str) -> anyhow::Result<i64> {
        let status = self.status_item(tenant_id).await?;
        Ok(status
            .get("open_problems")
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
            .unwrap_or(0))
    }

    /// Every directory item of the tenant.
    pub async fn directory_items(
        &self,
        tenant_id: &str,
    ) -> anyhow::Result<Vec<Map<String, Value>>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .aws
                .dynamodb
                .query()
                .table_name(&self.tables.directory)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(format!("TENANT#{tenant_id}")),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
            for item in output.items.unwrap_or_default() {
                items.push(serde_dynamo::from_item(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// The directory items of one kind (`USER#`, `GROUP#`, `MEMBER#`).
    pub async fn directory_of(
        &self,
        tenant_id: &str,
        prefix: &str,
    ) -> anyhow::Result<Vec<Map<String, Value>>> {
        Ok(self
            .directory_items(tenant_id)
            .await?
            .into_iter()
            .filter(|i| i["sk"].as_str().is_some_and(|sk| sk.starts_with(prefix)))
            .collect())
    }

    /// Ages the tenant's lease so it counts as expired (a killed run's lease
    /// runs out after 90 s; tests do not wait for it).
    pub async fn expire_lease(&self, tenant_id: &str) -> anyhow::Result<()> {
        self.aws
            .dynamodb
            .update_item()
            .table_name(&self.tables.integrations)
            .key("pk", AttributeValue::S(format!("TENANT#{tenant_id}")))
            .key("sk", AttributeValue::S("ENTRA#STATUS".into()))
            .update_expression("SET lease_until_ms = :past")
            .expression_attribute_values(":past", AttributeValue::N("0".into()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        Ok(())
    }

    async fn queue_arn(&self) -> anyhow::Result<String> {
        let output = self
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        output
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .context("no queue ARN")
    }

    /// Sends raw message bodies to the queue (as any producer could).
    pub async fn send_messages(&self, bodies: &[&str]) -> anyhow::Result<()> {
        for body in bodies {
            self.aws
                .sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(*body)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
        }
        Ok(())
    }

    /// Takes every visible message off the queue: (id, receipt, body).
    pub async fn receive_all(&self) -> anyhow::Result<Vec<(String, String, String)>> {
        Ok(self
            .receive_all_messages()
            .await?
            .into_iter()
            .map(|m| {
                (
                    m.message_id.unwrap_or_default(),
                    m.receipt_handle.unwrap_or_default(),
                    m.body.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// The same, whole: with `SentTimestamp` and the message attributes,
    /// which the event source mapping hands the worker.
    pub async fn receive_all_messages(&self) -> anyhow::Result<Vec<aws_sdk_sqs::types::Message>> {
        let mut messages = Vec::new();
        loop {
            let output = self
                .aws
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
                )
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
            let batch = output.messages.unwrap_or_default();
            if batch.is_empty() {
                return Ok(messages);
            }
            messages.extend(batch);
        }
    }

    /// Delivers queued messages to the worker in SQS batches of five, as the
    /// event source mapping does, and deletes the ones it did not fail.
    pub async fn deliver(&self, worker: &mut LambdaFunction) -> anyhow::Result<TickReport> {
        self.deliver_within(worker, std::time::Duration::from_secs(300))
            .await
    }

    /// `deliver`, each invocation with this time budget (its deadline).
    pub async fn deliver_within(
        &self,
        worker: &mut LambdaFunction,
        budget: std::time::Duration,
    ) -> anyhow::Result<TickReport> {
        let queue_arn = self.queue_arn().await?;
        let messages = self.receive_all_messages().await?;
        let mut report = TickReport {
            messages: messages.len(),
            ..TickReport::default()
        };
        for batch in messages.chunks(5) {
            let answer = worker
                .invoke_with_deadline(sqs_event_of(&queue_arn, batch), budget)
                .await?
                .map_err(|e| anyhow::anyhow!("the worker reported an error: {e}"))?;
            let failed: Vec<String> = answer["batchItemFailures"]
                .as_array()
                .context("no batchItemFailures in the worker's answer")?
                .iter()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect();
            for message in batch {
                if !failed.contains(message.message_id.as_ref().unwrap_or(&String::new())) {
                    let receipt = message.receipt_handle.as_deref().unwrap_or_default();
                    self.aws.delete_message(&self.queue_url, receipt).await?;
                }
            }
            report.failed_message_ids.extend(failed);
        }
        Ok(report)
    }

    /// How many users rounds began from their first page (the initial
    /// `$select` request rather than a page or delta link).
    pub fn users_rounds_begun(&self) -> usize {
        self.emulator
            .graph_requests()
            .iter()
            .filter(|r| {
                r.path == "/v1.0/users/delta"
                    && r.query.as_deref().unwrap_or("").starts_with("$select")
            })
            .count()
    }

    /// One schedule interval: the scheduler fills the queue, the worker drains it.
    pub async fn tick(&self, functions: &mut SyncFunctions) -> anyhow::Result<TickReport> {
        functions
            .scheduler
            .invoke(scheduled_event())
            .await?
            .map_err(|e| anyhow::anyhow!("the scheduler reported an error: {e}"))?;
        self.deliver(&mut functions.worker).await
    }
}
