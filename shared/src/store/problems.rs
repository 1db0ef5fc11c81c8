//! Problem items in `INTEGRATIONS_TABLE` (docs/contract.md 1.3):
//! `pk = TENANT#<id>`, `sk = ENTRA#PROBLEM#<direction>#<kind>#<object id>`.
//! Whoever writes a new one or removes one moves `ENTRA#STATUS.open_problems`
//! by one; every sync run writes the exact count with its status.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::dynamo::{
    Item, malformed, n, query_all, s, sk_prefix_query, text, timestamp, unavailable,
};
use super::layout::{
    PROBLEM_PREFIX, STATUS_SK, key, problem_key, problem_sk, problems_of, tenant_pk,
};
use crate::model::TenantId;
use crate::ports::StoreError;
use crate::problems::{Code, Direction, Operation, Problem, ProblemKey, ProblemStore};

const WHAT: &str = "a problem item";

#[derive(Debug, Clone)]
pub struct DynamoProblemStore {
    client: Client,
    table: String,
}

impl DynamoProblemStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Moves `open_problems` by `by` (one problem more or fewer).
    async fn count_by(&self, tenant: &TenantId, by: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, STATUS_SK)))
            .update_expression("ADD open_problems :by")
            .expression_attribute_values(":by", n(by))
            .send()
            .await
            .map_err(unavailable("counting the open problems"))?;
        Ok(())
    }
}

fn time(item: &Item, name: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
    text(item, name)
        .map(|raw| {
            DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| malformed(WHAT, format!("{name} is not a timestamp: {raw}")))
        })
        .transpose()
}

fn parse(item: &Item) -> Result<Problem, StoreError> {
    let sk = text(item, "sk").unwrap_or_default();
    let key = problem_key(&sk).ok_or_else(|| malformed(WHAT, format!("{sk} names no problem")))?;
    let required = |name: &'static str| {
        text(item, name).ok_or_else(|| malformed(WHAT, format!("{sk}: {name} is missing")))
    };
    let operation = required("operation")?;
    let code = required("code")?;
    let attempts = item
        .get("attempts")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let first_seen_at = time(item, "first_seen_at")?.unwrap_or_else(Utc::now);
    Ok(Problem {
        display: text(item, "display").unwrap_or_else(|| key.object_id.clone()),
        operation: Operation::parse(&operation)
            .ok_or_else(|| malformed(WHAT, format!("{sk}: unknown operation {operation}")))?,
        code: Code::parse(&code)
            .ok_or_else(|| malformed(WHAT, format!("{sk}: unknown code {code}")))?,
        reason: text(item, "reason").unwrap_or_default(),
        attempts,
        first_seen_at,
        last_seen_at: time(item, "last_seen_at")?.unwrap_or(first_seen_at),
        next_attempt_at: time(item, "next_attempt_at")?,
        entra_id: text(item, "entra_id"),
        write_unconfirmed: crate::store::dynamo::flag(item, "write_unconfirmed"),
        key,
    })
}

/// The update that writes a problem, or refreshes an open one: its first
/// sighting kept, its attempts counted. Every name goes through a
/// placeholder, so none can be a reserved word.
fn problem_update(problem: &Problem) -> (String, HashMap<String, String>, Item) {
    let mut values: Item = [
        (":direction", s(problem.key.direction.as_str())),
        (":kind", s(problem.key.kind.as_str())),
        (":object_id", s(&problem.key.object_id)),
        (":display", s(&problem.display)),
        (":operation", s(problem.operation.as_str())),
        (":code", s(problem.code.as_str())),
        (":reason", s(&problem.reason)),
        (":now", timestamp(problem.last_seen_at)),
        (":zero", n(0)),
        (":one", n(1)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut set = vec![
        "#direction = :direction",
        "#object_kind = :kind",
        "#object_id = :object_id",
        "#display = :display",
        "#operation = :operation",
        "#code = :code",
        "#reason = :reason",
        "#last_seen_at = :now",
        "#first_seen_at = if_not_exists(#first_seen_at, :now)",
        "#attempts = if_not_exists(#attempts, :zero) + :one",
    ];
    let mut names = vec![
        "direction",
        "object_kind",
        "object_id",
        "display",
        "operation",
        "code",
        "reason",
        "last_seen_at",
        "first_seen_at",
        "attempts",
        "next_attempt_at",
    ];
    optional_clauses(problem, (&mut set, &mut names), &mut values);
    let expression = match problem.next_attempt_at {
        Some(at) => {
            set.push("#next_attempt_at = :next");
            values.insert(":next".into(), timestamp(at));
            format!("SET {}", set.join(", "))
        }
        None => format!("SET {} REMOVE #next_attempt_at", set.join(", ")),
    };
    let names = names
        .into_iter()
        .map(|name| (format!("#{name}"), name.to_owned()))
        .collect();
    (expression, names, values)
}

/// The clauses of the attributes a problem may lack: its linked Entra
/// object, and whether a write of it may have reached Entra ID (once true,
/// a later attempt that failed before writing does not make it false).
fn optional_clauses(
    problem: &Problem,
    (set, names): (&mut Vec<&'static str>, &mut Vec<&'static str>),
    values: &mut Item,
) {
    if let Some(entra_id) = &problem.entra_id {
        set.push("#entra_id = :entra_id");
        names.push("entra_id");
        values.insert(":entra_id".into(), s(entra_id));
    }
    if let Some(unconfirmed) = problem.write_unconfirmed {
        set.push(match unconfirmed {
            true => "#write_unconfirmed = :unconfirmed",
            false => "#write_unconfirmed = if_not_exists(#write_unconfirmed, :unconfirmed)",
        });
        names.push("write_unconfirmed");
        values.insert(":unconfirmed".into(), AttributeValue::Bool(unconfirmed));
    }
}

impl ProblemStore for DynamoProblemStore {
    async fn record(&self, tenant: &TenantId, problem: &Problem) -> Result<Problem, StoreError> {
        let (expression, names, values) = problem_update(problem);
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, problem_sk(&problem.key))))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable("recording a problem"))?;
        let stored = parse(&output.attributes.unwrap_or_default())?;
        if stored.attempts == 1 {
            self.count_by(tenant, 1).await?;
        }
        Ok(stored)
    }

    async fn resolve(&self, tenant: &TenantId, key: &ProblemKey) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(super::layout::key(tenant, problem_sk(key))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable("removing a problem"))?;
        let was_open = output.attributes.is_some_and(|old| !old.is_empty());
        if was_open {
            self.count_by(tenant, -1).await?;
        }
        Ok(was_open)
    }

    async fn open(
        &self,
        tenant: &TenantId,
        direction: Direction,
    ) -> Result<Vec<Problem>, StoreError> {
        let prefix = problems_of(direction);
        let items = query_all(self.problems_query(tenant, &prefix), "listing problems").await?;
        items.iter().map(parse).collect()
    }

    async fn count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let query = self
            .problems_query(tenant, PROBLEM_PREFIX)
            .projection_expression("sk");
        Ok(query_all(query, "counting problems").await?.len() as u64)
    }
}

impl DynamoProblemStore {
    fn problems_query(
        &self,
        tenant: &TenantId,
        prefix: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        sk_prefix_query(&self.client, &self.table, tenant_pk(tenant), prefix).consistent_read(true)
    }
}
