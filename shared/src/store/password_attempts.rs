//! Reserved password attempts per Entra account, in `INTEGRATIONS_TABLE`, in a
//! partition of their own (`pk = PWFAIL#<Entra tenant id>#<user principal
//! name, lowercase>`: `AttemptAccount::ledger_key`; `sk = ENTRA#PWFAIL`) that the public functions'
//! `TENANT#*` leading-key condition does not reach. Attributes:
//! `attempts` (N) reserved in the window ending at `window_until` (N,
//! epoch seconds), `previous_attempts` (N) carried from the window before,
//! `counted` (N) their sum, which the limit is checked against (DynamoDB
//! conditions cannot add). The TTL is one window after `window_until`: the
//! item must outlive its window to be carried.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::dynamo::{conditional, is_condition_failure, unavailable};
use super::layout::TTL_ATTRIBUTE;
use crate::password::{
    AttemptAccount, AttemptLedger, Reservation, ThrottlePolicy, carried_attempts,
};
use crate::ports::StoreError;

type Item = HashMap<String, AttributeValue>;

/// How often a reservation is tried again when another one replaced an
/// ended window at the same moment.
const RESERVE_TRIES: usize = 3;

const OPERATION: &str = "reserving a password attempt";

#[derive(Debug, Clone)]
pub struct DynamoAttemptLedger {
    client: Client,
    table: String,
}

/// What one conditional write made of a reservation.
enum Write {
    Done(Reservation),
    /// The stored window has ended: the item as it was, to carry from.
    WindowEnded(EndedWindow),
    /// Another reservation opened a new window first: count in it.
    Raced,
}

/// A window that has ended, as read from the refused write.
struct EndedWindow {
    /// `None` when the item has no readable window end.
    until: Option<DateTime<Utc>>,
    /// `None` when the item's own attempts cannot be read.
    attempts: Option<u32>,
}

impl DynamoAttemptLedger {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn key(account: &AttemptAccount) -> Item {
        Item::from([
            (
                "pk".to_owned(),
                AttributeValue::S(format!("PWFAIL#{}", account.ledger_key())),
            ),
            ("sk".to_owned(), AttributeValue::S("ENTRA#PWFAIL".into())),
        ])
    }

    /// One more attempt in the open window (or the first of a new item),
    /// only while the window's counted attempts, carried ones included,
    /// are fewer than the limit.
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
                "SET attempts = if_not_exists(attempts, :zero) + :one, \
                 counted = if_not_exists(counted, :zero) + :one, \
                 previous_attempts = if_not_exists(previous_attempts, :zero), \
                 window_until = if_not_exists(window_until, :until), \
                 #ttl = if_not_exists(#ttl, :expires)",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (window_until > :now AND counted < :limit)",
            )
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":until", number(until.timestamp()))
            .expression_attribute_values(":expires", number((until + policy.window).timestamp()))
            .expression_attribute_values(":now", number(now.timestamp()))
            .expression_attribute_values(":limit", number(policy.max_failures.into()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match written {
            Ok(output) => admitted(output.attributes.as_ref()),
            Err(err) if is_condition_failure(&err) => {
                let stored = match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                        refused.item.clone().unwrap_or_default()
                    }
                    _ => Item::new(),
                };
                Ok(match window_end(&stored) {
                    Some(until) if until > now => Write::Done(Reservation::Refused { until }),
                    until => Write::WindowEnded(EndedWindow {
                        until,
                        attempts: count(&stored, "attempts"),
                    }),
                })
            }
            Err(err) => Err(unavailable(OPERATION)(err)),
        }
    }

    /// Replaces an ended window with a new one that carries the ended
    /// window's attempts (while they are recent) and holds this attempt,
    /// unless the carried attempts alone reach the limit.
    async fn open_new_window(
        &self,
        key: Item,
        ended: EndedWindow,
        policy: ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        // Unreadable attempts count as the limit: fail closed.
        let (carried, free_again) = carried_attempts(ended.until, ended.attempts, policy, now);
        if carried >= policy.max_failures {
            return Ok(Write::Done(Reservation::Refused { until: free_again }));
        }
        let until = now + policy.window;
        let mut write = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(
                "SET attempts = :one, previous_attempts = :carried, counted = :counted, \
                 window_until = :until, #ttl = :expires",
            )
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":carried", number(carried.into()))
            .expression_attribute_values(":counted", number(i64::from(carried) + 1))
            .expression_attribute_values(":until", number(until.timestamp()))
            .expression_attribute_values(":expires", number((until + policy.window).timestamp()));
        // Only the window that was read is replaced, so its count is the one carried.
        write = match ended.until {
            Some(ended_until) => write
                .condition_expression("window_until = :ended")
                .expression_attribute_values(":ended", number(ended_until.timestamp())),
            None => write.condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(window_until)",
            ),
        };
        Ok(match conditional(write.send().await, OPERATION)? {
            true => Write::Done(Reservation::Admitted {
                window_until: DateTime::from_timestamp(until.timestamp(), 0).unwrap_or(until),
            }),
            false => Write::Raced,
        })
    }
}

/// The reservation a successful write made, from the item it wrote.
fn admitted(written: Option<&Item>) -> Result<Write, StoreError> {
    let window_until = written.and_then(window_end).ok_or(StoreError::Malformed {
        what: "a password attempt item",
        detail: "no window_until after the reservation".into(),
    })?;
    Ok(Write::Done(Reservation::Admitted { window_until }))
}

fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn count(item: &Item, name: &str) -> Option<u32> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// The end of the window an item holds.
fn window_end(item: &Item) -> Option<DateTime<Utc>> {
    let seconds = item.get("window_until")?.as_n().ok()?.parse::<i64>().ok()?;
    DateTime::from_timestamp(seconds, 0)
}

impl AttemptLedger for DynamoAttemptLedger {
    async fn reserve(
        &self,
        account: &AttemptAccount,
        policy: ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StoreError> {
        let key = Self::key(account);
        for _ in 0..RESERVE_TRIES {
            let written = match self.count_in_open_window(key.clone(), policy, now).await? {
                Write::WindowEnded(ended) => {
                    self.open_new_window(key.clone(), ended, policy, now)
                        .await?
                }
                other => other,
            };
            if let Write::Done(reservation) = written {
                return Ok(reservation);
            }
        }
        Err(StoreError::Unavailable {
            operation: OPERATION,
            detail: "the user's window changed under every try".into(),
        })
    }

    async fn release(
        &self,
        account: &AttemptAccount,
        window_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(account)))
            .update_expression("SET attempts = attempts - :one, counted = counted - :one")
            .condition_expression("window_until = :until AND attempts > :zero")
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":until", number(window_until.timestamp()))
            .send()
            .await;
        // A window that ended or was replaced has nothing to give back (its
        // attempts, once carried, stay carried: erring towards counting).
        conditional(released, "giving back a password attempt").map(drop)
    }
}
