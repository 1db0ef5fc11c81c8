//! Change events (DESIGN 2.14) in the integrations table,
//! `ENTRA#EVENT#<timestamp>#<id>`, removed by the table's TTL after 30 days.

use aws_sdk_dynamodb::Client;

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{Item, n, s, timestamp, unavailable};
use super::layout::{TTL_ATTRIBUTE, key};
use crate::events::{ChangeEvent, ChangeEvents};
use crate::model::TenantId;
use crate::ports::StoreError;

pub struct DynamoChangeEvents {
    client: Client,
    table: String,
}

impl DynamoChangeEvents {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

/// The item an event is stored as.
pub fn event_item(tenant: &TenantId, event: &ChangeEvent) -> Item {
    let mut item = key(tenant, event.sort_key());
    let mut put = |name: &str, value| {
        item.insert(name.to_owned(), value);
    };
    put("at", timestamp(event.at));
    put("direction", s(event.direction.as_str()));
    put("object_kind", s(event.object_kind.as_str()));
    put("object_id", s(&event.object_id));
    put("display", s(&event.display));
    put("action", s(event.action.as_str()));
    put("modified", native(&event.modified));
    put("cause", native(&event.cause.to_json()));
    put(TTL_ATTRIBUTE, n(event.expires_at_epoch()));
    item
}

/// A value as DynamoDB's own types (a list of maps, a map), so that the
/// console reads `modified` and `cause` without parsing a string.
fn native<T: serde::Serialize>(value: &T) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).unwrap_or(AttributeValue::Null(true))
}

impl ChangeEvents for DynamoChangeEvents {
    async fn record(&self, tenant: &TenantId, event: &ChangeEvent) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_item(tenant, event)))
            .send()
            .await
            .map_err(unavailable("writing a change event"))?;
        Ok(())
    }
}
