//! Reserved password attempts per user, in `INTEGRATIONS_TABLE`:
//! `pk = TENANT#<id>`, `sk = ENTRA#PWFAIL#<user name, lowercase>`,
//! `attempts` (N) in the window that ends at the TTL attribute, which
//! expires the item.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::dynamo::{conditional, is_condition_failure, tenant_pk, unavailable};
use super::integrations::TTL_ATTRIBUTE;
use crate::model::TenantId;
use crate::password::{AttemptLedger, Reservation, ThrottlePolicy};
use crate::ports::StoreError;

type Item = HashMap<String, AttributeValue>;

/// How often a reservation is tried again when another one replaced an
/// ended window at the same moment.
const RESERVE_TRIES: usize = 3;

#[derive(Debug, Clone)]
pub struct DynamoAttemptLedger {
    client: Client,
    table: String,
}

/// What one conditional write made of a reservation.
enum Write {
    Done(Reservation),
    /// The stored window has ended (or is unreadable): open a new one.
    WindowEnded,
    /// Another reservation opened a new window first: count in it.
    Raced,
}

impl DynamoAttemptLedger {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn key(tenant: &TenantId, user: &str) -> Item {
        Item::from([
            ("pk".to_owned(), AttributeValue::S(tenant_pk(tenant))),
            (
                "sk".to_owned(),
                AttributeValue::S(format!("ENTRA#PWFAIL#{user}")),
            ),
        ])
    }

    /// One more attempt in the open window (or the first of a new item),
    /// only while the window holds fewer than the limit.
    async fn count_in_open_window(
        &self,
        key: Item,
        policy: ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        let until = now + policy.window;
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(
                "SET attempts = if_not_exists(attempts, :zero) + :one, #ttl = if_not_exists(#ttl, :until)",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (#ttl > :now AND (attribute_not_exists(attempts) OR attempts < :limit))",
            )
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":until", number(until.timestamp()))
            .expression_attribute_values(":now", number(now.timestamp()))
            .expression_attribute_values(":limit", number(policy.max_failures.into()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match written {
            Ok(output) => {
                let window_until = output.attributes.as_ref().and_then(window_end).ok_or(
                    StoreError::Malformed {
                        what: "a password attempt item",
                        detail: format!("no {TTL_ATTRIBUTE} after the reservation"),
                    },
                )?;
                Ok(Write::Done(Reservation::Admitted { window_until }))
            }
            Err(err) if is_condition_failure(&err) => {
                let stored = match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                        refused.item.as_ref().and_then(window_end)
                    }
                    _ => None,
                };
                Ok(match stored {
                    Some(until) if until > now => Write::Done(Reservation::Refused { until }),
                    _ => Write::WindowEnded,
                })
            }
            Err(err) => Err(unavailable("reserving a password attempt")(err)),
        }
    }

    /// Replaces an ended window with a new one holding this attempt.
    async fn open_new_window(
        &self,
        key: Item,
        policy: ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        let until = now + policy.window;
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET attempts = :one, #ttl = :until")
            .condition_expression("attribute_not_exists(#ttl) OR #ttl <= :now")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":until", number(until.timestamp()))
            .expression_attribute_values(":now", number(now.timestamp()))
            .send()
            .await;
        Ok(
            match conditional(written, "reserving a password attempt")? {
                true => Write::Done(Reservation::Admitted {
                    window_until: DateTime::from_timestamp(until.timestamp(), 0).unwrap_or(until),
                }),
                false => Write::Raced,
            },
        )
    }
}

fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The end of the window an item holds.
fn window_end(item: &Item) -> Option<DateTime<Utc>> {
    let seconds = item.get(TTL_ATTRIBUTE)?.as_n().ok()?.parse::<i64>().ok()?;
    DateTime::from_timestamp(seconds, 0)
}

impl AttemptLedger for DynamoAttemptLedger {
    async fn reserve(
        &self,
        tenant: &TenantId,
        user: &str,
        policy: ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        let key = Self::key(tenant, user);
        for _ in 0..RESERVE_TRIES {
            let written = match self.count_in_open_window(key.clone(), policy, now).await? {
                Write::WindowEnded => self.open_new_window(key.clone(), policy, now).await?,
                other => other,
            };
            if let Write::Done(reservation) = written {
                return Ok(reservation);
            }
        }
        Err(StoreError::Unavailable {
            operation: "reserving a password attempt",
            detail: "the user's window changed under every try".into(),
        })
    }

    async fn release(
        &self,
        tenant: &TenantId,
        user: &str,
        window_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant, user)))
            .update_expression("SET attempts = attempts - :one")
            .condition_expression("#ttl = :until AND attempts > :zero")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":until", number(window_until.timestamp()))
            .send()
            .await;
        // A window that ended or was replaced has nothing to give back.
        conditional(released, "giving back a password attempt").map(drop)
    }
}
