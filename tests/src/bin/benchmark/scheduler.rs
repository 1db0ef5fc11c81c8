//! Row 4 (second half): one scheduler tick over many configured tenants:
//! wall time and the SQS requests it makes (ten jobs a request).

use std::time::Instant;

use entra_sync_tests::aws_meter;
use entra_sync_tests::sync::scheduled_event;
use serde_json::{Value, json};

use crate::import::MeteredStack;

pub async fn tick_over_tenants(tenants: usize) -> anyhow::Result<Value> {
    let metered = MeteredStack::start().await?;
    let stack = &metered.stack;
    println!("\nrow 4: a scheduler tick over {tenants} tenants");
    for n in 0..tenants {
        stack
            .put_config_with(
                &format!("tenant-{n:05}"),
                Some(entra_sync_tests::stack::CONTOSO),
                json!({"authorisation": "authorised"}),
            )
            .await?;
    }
    let mut scheduler = entra_sync_tests::lambda_runtime_api::LambdaFunction::start(
        "sync-scheduler",
        &stack.function_env(),
    )
    .await?;
    let before = metered.meter.snapshot();
    let started = Instant::now();
    scheduler
        .invoke(scheduled_event())
        .await?
        .map_err(|e| anyhow::anyhow!("the scheduler reported an error: {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    let aws = aws_meter::since(&before, &metered.meter.snapshot());
    let enqueued = stack.receive_all().await?.len();
    let figures = json!({
        "tenants": tenants,
        "wall_seconds": wall,
        "jobs_enqueued": enqueued,
        "sqs_requests": aws_meter::requests(&aws, "", |op| op.starts_with("SQS.")),
        "sqs_requests_minimum": tenants.div_ceil(10),
        "dynamodb_requests": aws_meter::requests(&aws, "", |op| op.starts_with("DynamoDB.")),
        "aws_requests": aws_meter::render(&aws),
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(figures)
}
