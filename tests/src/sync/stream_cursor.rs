//! The directory table's stream read from "now", as the export's event
//! source mapping reads it.

use anyhow::Context;

use crate::local_aws::LocalAws;
use crate::stack::LocalStack;

/// Reads the directory table's stream from "now": every write made after
/// `start` shows up in `read`.
pub struct StreamCursor {
    client: aws_sdk_dynamodbstreams::Client,
    iterators: Vec<String>,
}

impl StreamCursor {
    pub async fn start(stack: &LocalStack) -> anyhow::Result<Self> {
        Self::on_table(&stack.aws, &stack.tables.directory).await
    }

    /// The same on any table with a stream (e.g. tables of `create_tables`
    /// without a whole stack).
    pub async fn on_table(aws: &LocalAws, table_name: &str) -> anyhow::Result<Self> {
        let client = aws_sdk_dynamodbstreams::Client::new(&aws.sdk);
        let table = aws
            .dynamodb
            .describe_table()
            .table_name(table_name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?;
        let arn = table
            .table
            .and_then(|t| t.latest_stream_arn)
            .context("the directory table has no stream")?;
        let stream = client
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())
            })?;
        let mut iterators = Vec::new();
        for shard in stream
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default()
        {
            let iterator = client
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard.shard_id.unwrap_or_default())
                .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::Latest)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string()
                    )
                })?;
            iterators.extend(iterator.shard_iterator);
        }
        Ok(Self { client, iterators })
    }

    /// Stream records since the last read.
    pub async fn read(&mut self) -> anyhow::Result<Vec<aws_sdk_dynamodbstreams::types::Record>> {
        let mut records = Vec::new();
        for iterator in &mut self.iterators {
            loop {
                let output = self
                    .client
                    .get_records()
                    .shard_iterator(iterator.as_str())
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string()
                        )
                    })?;
                let batch = output.records.unwrap_or_default();
                if let Some(next) = output.next_shard_iterator {
                    *iterator = next;
                }
                if batch.is_empty() {
                    break;
                }
                records.extend(batch);
            }
        }
        Ok(records)
    }
}
