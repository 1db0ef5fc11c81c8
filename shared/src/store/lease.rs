//! The conditional lease some items of the integrations table carry: the
//! run lease on `ENTRA#STATUS`, the preview's on `ENTRA#PREVIEW#RUN`, and
//! the lock on an Entra tenant's subscriptions. Two attributes hold it (who,
//! and until when in epoch milliseconds); a holder takes it when it is free
//! or expired, and every later write of the holder is conditional on still
//! holding it, so a holder whose lease lapsed and was taken cannot undo the
//! new holder's work.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::dynamo::{Item, conditional, is_condition_failure, n, s, unavailable};
use crate::import::LeaseError;
use crate::ports::StoreError;

/// Which attributes hold a lease, and whether its holder may take it again
/// while it holds it.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    owner: &'static str,
    until: &'static str,
    reentrant: bool,
}

/// A sync run's lease on `ENTRA#STATUS`, and a preview run's on
/// `ENTRA#PREVIEW#RUN`: a run invoked again resumes under its own lease.
pub const RUN_LEASE: Lease = Lease {
    owner: "lease_owner",
    until: "lease_until_ms",
    reentrant: true,
};

/// The lock on changing an Entra tenant's subscriptions: held once.
pub const SUBSCRIPTION_LOCK: Lease = Lease {
    owner: "holder",
    until: "until_ms",
    reentrant: false,
};

const HOLDER: &str = ":lease_holder";
const UNTIL: &str = ":lease_until";
const NOW: &str = ":lease_now";

impl Lease {
    /// The lease on one item of `table`.
    pub fn on<'a>(self, client: &'a Client, table: &'a str, key: Item) -> LeasedItem<'a> {
        LeasedItem {
            lease: self,
            client,
            table,
            key,
        }
    }

    fn free_or_expired(&self) -> String {
        let (owner, until) = (self.owner, self.until);
        let free = format!("attribute_not_exists({owner}) OR {until} < {NOW}");
        if self.reentrant {
            format!("{free} OR {owner} = {HOLDER}")
        } else {
            free
        }
    }

    fn held(&self) -> String {
        format!("{} = {HOLDER}", self.owner)
    }
}

/// A lease on one item, ready for its holder's writes.
pub struct LeasedItem<'a> {
    lease: Lease,
    client: &'a Client,
    table: &'a str,
    key: Item,
}

impl LeasedItem<'_> {
    fn update(&self, holder: &str, condition: String) -> LeasedUpdate {
        let request = self
            .client
            .update_item()
            .table_name(self.table)
            .set_key(Some(self.key.clone()))
            .expression_attribute_values(HOLDER, s(holder));
        LeasedUpdate {
            request,
            set: Vec::new(),
            remove: Vec::new(),
            condition,
        }
    }

    /// Takes the lease until `until`, if it is free or expired at `now` (or,
    /// for a re-entrant lease, already the holder's).
    pub fn take(&self, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> LeasedUpdate {
        let (owner, until_attribute) = (self.lease.owner, self.lease.until);
        self.update(holder, self.lease.free_or_expired())
            .set(format!("{owner} = {HOLDER}, {until_attribute} = {UNTIL}"))
            .value(UNTIL, n(until.timestamp_millis()))
            .value(NOW, n(now.timestamp_millis()))
    }

    /// A write only while `holder` holds the lease.
    pub fn while_held(&self, holder: &str) -> LeasedUpdate {
        self.update(holder, self.lease.held())
    }

    /// Keeps the lease until `until`, only while `holder` holds it.
    pub fn renew(&self, holder: &str, until: DateTime<Utc>) -> LeasedUpdate {
        self.while_held(holder)
            .set(format!("{} = {UNTIL}", self.lease.until))
            .value(UNTIL, n(until.timestamp_millis()))
    }

    /// Gives the lease back, only while `holder` holds it.
    pub fn release(&self, holder: &str) -> LeasedUpdate {
        self.while_held(holder)
            .remove(self.lease.owner)
            .remove(self.lease.until)
    }

    /// Deletes the item while `holder` holds the lease; false when it does not.
    pub async fn delete_held(
        &self,
        holder: &str,
        operation: &'static str,
    ) -> Result<bool, StoreError> {
        self.delete(holder, self.lease.held(), None, operation)
            .await
    }

    /// Deletes the item unless another holds the lease at `now` (free,
    /// expired or the holder's); false when another does.
    pub async fn delete_unless_held_by_another(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        operation: &'static str,
    ) -> Result<bool, StoreError> {
        let condition = format!(
            "attribute_not_exists({owner}) OR {owner} = {HOLDER} OR {until} < {NOW}",
            owner = self.lease.owner,
            until = self.lease.until
        );
        self.delete(holder, condition, Some(now), operation).await
    }

    async fn delete(
        &self,
        holder: &str,
        condition: String,
        now: Option<DateTime<Utc>>,
        operation: &'static str,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .delete_item()
            .table_name(self.table)
            .set_key(Some(self.key.clone()))
            .condition_expression(condition)
            .expression_attribute_values(HOLDER, s(holder));
        if let Some(now) = now {
            request = request.expression_attribute_values(NOW, n(now.timestamp_millis()));
        }
        conditional(request.send().await, operation)
    }
}

/// An update of a leased item: the writer's own clauses beside the lease's,
/// under the lease's condition.
pub struct LeasedUpdate {
    request: UpdateItemFluentBuilder,
    set: Vec<String>,
    remove: Vec<String>,
    condition: String,
}

impl LeasedUpdate {
    /// A `SET` clause (`name = :value`, or several joined by commas).
    pub fn set(mut self, clause: impl Into<String>) -> Self {
        self.set.push(clause.into());
        self
    }

    pub fn remove(mut self, attribute: impl Into<String>) -> Self {
        self.remove.push(attribute.into());
        self
    }

    pub fn value(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        self.request = self.request.expression_attribute_values(placeholder, value);
        self
    }

    pub fn name(mut self, placeholder: impl Into<String>, name: impl Into<String>) -> Self {
        self.request = self.request.expression_attribute_names(placeholder, name);
        self
    }

    pub fn return_values(mut self, values: ReturnValue) -> Self {
        self.request = self.request.return_values(values);
        self
    }

    /// Sends the update: `None` when the lease condition did not hold.
    pub async fn send(
        self,
        operation: &'static str,
    ) -> Result<Option<UpdateItemOutput>, StoreError> {
        let mut expression = Vec::new();
        if !self.set.is_empty() {
            expression.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            expression.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        let result = self
            .request
            .update_expression(expression.join(" "))
            .condition_expression(self.condition)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(output)),
            Err(err) if is_condition_failure(&err) => Ok(None),
            Err(err) => Err(unavailable(operation)(err)),
        }
    }
}

/// A holder's write as the engines see it: lost when the lease was not held.
pub fn held<T>(result: Result<Option<T>, StoreError>) -> Result<T, LeaseError> {
    match result {
        Ok(Some(output)) => Ok(output),
        Ok(None) => Err(LeaseError::Lost),
        Err(err) => Err(LeaseError::Store(err)),
    }
}
