//! The tenant's run history in `INTEGRATIONS_TABLE` (docs/contract.md 1.3,
//! docs/behaviour.md 2.14): `ENTRA#RUN#<started_at>#<run_id>`, one item per
//! run, each invocation of the run one update (no read): what replaces is
//! set, what adds up is added, and `expires_at_epoch` moves 30 days on.
//! A run's item is final once it is complete: a paused invocation that
//! writes late (it lost its lease while the run went on and finished)
//! changes nothing.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;

use super::dynamo::{conditional, n, s, timestamp};
use super::layout::{TTL_ATTRIBUTE, key, run_sk};
use super::sync_state::DynamoSyncStateStore;
use crate::import::RunHistory;
use crate::import::history::RunRecord;
use crate::model::TenantId;
use crate::ports::StoreError;

/// How long a run's item is kept.
pub const RUN_HISTORY_DAYS: i64 = 30;

/// The update of one invocation: `SET` and `ADD` clauses over `#name`s.
#[derive(Default)]
struct RunUpdate {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    names: Vec<(String, String)>,
    values: Vec<(String, AttributeValue)>,
}

impl RunUpdate {
    fn set(&mut self, name: &str, value: AttributeValue) {
        self.set.push(format!("#{name} = :{name}"));
        self.named(name, value);
    }

    fn add(&mut self, name: &str, amount: u64) {
        self.add.push(format!("#{name} :{name}"));
        self.named(name, n(amount as i64));
    }

    fn remove(&mut self, name: &str) {
        self.remove.push(format!("#{name}"));
        self.names.push((format!("#{name}"), name.to_owned()));
    }

    fn named(&mut self, name: &str, value: AttributeValue) {
        self.names.push((format!("#{name}"), name.to_owned()));
        self.values.push((format!(":{name}"), value));
    }

    fn expression(&self) -> String {
        let mut clauses = vec![format!("SET {}", self.set.join(", "))];
        clauses.push(format!("ADD {}", self.add.join(", ")));
        if !self.remove.is_empty() {
            clauses.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        clauses.join(" ")
    }
}

/// The item's attributes for `record`.
fn run_update(record: &RunRecord) -> RunUpdate {
    let mut update = RunUpdate::default();
    update.set("trigger", s(record.run.trigger.as_str()));
    update.set("run_id", s(&record.run.run_id));
    update.set("mode", s(record.mode.as_str()));
    update.set("started_at", timestamp(record.run.started_at));
    update.set("direction", s(record.direction.as_str()));
    for (name, count) in record.counts.as_pairs() {
        update.set(name, n(count as i64));
    }
    match record.result {
        Some(result) => update.set("result", s(result.as_str())),
        None => update.remove("result"),
    }
    match record.completed_at {
        Some(at) => update.set("completed_at", timestamp(at)),
        None => update.remove("completed_at"),
    }
    match &record.error {
        Some(error) => update.set("error", s(error)),
        None => update.remove("error"),
    }
    let expires = Utc::now() + chrono::Duration::days(RUN_HISTORY_DAYS);
    update.set(TTL_ATTRIBUTE, n(expires.timestamp()));
    update.add("invocations", 1);
    update.add("problems_opened", record.problems_opened);
    update.add("problems_closed", record.problems_closed);
    update.add("graph_requests", record.graph.requests);
    update.add("throttled", record.graph.throttled);
    update
}

impl RunHistory for DynamoSyncStateStore {
    async fn record_events(
        &self,
        tenant: &TenantId,
        events: &[crate::events::ChangeEvent],
    ) -> Result<(), StoreError> {
        let (client, table) = self.table();
        super::events::record_events(client, table, tenant, events).await
    }

    async fn record_run(&self, tenant: &TenantId, record: &RunRecord) -> Result<(), StoreError> {
        let update = run_update(record);
        let (client, table) = self.table();
        let mut request = client
            .update_item()
            .table_name(table)
            .set_key(Some(key(
                tenant,
                run_sk(record.run.started_at, &record.run.run_id),
            )))
            .update_expression(update.expression())
            .condition_expression("attribute_not_exists(completed_at)");
        for (placeholder, name) in update.names {
            request = request.expression_attribute_names(placeholder, name);
        }
        for (placeholder, value) in update.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        let written = conditional(
            request.send().await,
            "recording the run in the tenant's history",
        )?;
        if !written {
            tracing::warn!(run_id = %record.run.run_id, "the run's history is already complete; this invocation's late record is dropped");
        }
        Ok(())
    }
}
