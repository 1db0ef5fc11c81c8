//! Change events (DESIGN 2.14) in the integrations table,
//! `ENTRA#EVENT#<timestamp>#<id>`, removed by the table's TTL after 30 days.
//! Each carries `event_object`, the key of the sparse `by-event-object`
//! index: one object's events without a scan.

use aws_sdk_dynamodb::Client;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::dynamo::{
    Item, batch_write, malformed, n, put_request, s, text, timestamp, unavailable,
};
use super::layout::{EVENT_OBJECT_INDEX, EVENT_SK_PREFIX, TTL_ATTRIBUTE, event_object, key};
use crate::events::{AttributeChange, ChangeEvent, ChangeEvents, EventAction, EventCause};
use crate::model::TenantId;
use crate::ports::StoreError;
use crate::problems::{Direction, ObjectKind};

pub struct DynamoChangeEvents {
    client: Client,
    table: String,
}

impl DynamoChangeEvents {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// One object's events, newest first, at most `limit`, from the
    /// `by-event-object` index. `object_id` as the events have it: the
    /// Entra id for import, the AM id for export.
    pub async fn of_object(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        object_id: &str,
        limit: i32,
    ) -> Result<Vec<ChangeEvent>, StoreError> {
        let found = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(EVENT_OBJECT_INDEX)
            .key_condition_expression("event_object = :object")
            .expression_attribute_values(":object", s(event_object(tenant, kind, object_id)))
            .scan_index_forward(false)
            .limit(limit.max(1))
            .send()
            .await
            .map_err(unavailable("reading an object's change events"))?;
        found.items().iter().map(change_event).collect()
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
    put(
        "event_object",
        s(event_object(tenant, event.object_kind, &event.object_id)),
    );
    put("display", s(&event.display));
    put("action", s(event.action.as_str()));
    put("modified", native(&bounded(&event.modified)));
    put("cause", native(&event.cause.to_json()));
    put(TTL_ATTRIBUTE, n(event.expires_at_epoch()));
    item
}

/// The event an item holds. Its time and id come from the sort key (`at`
/// is kept to the second; the key to the millisecond).
pub fn change_event(item: &Item) -> Result<ChangeEvent, StoreError> {
    let bad = |detail: &str| malformed("a change event", detail.to_owned());
    let sk = text(item, "sk").ok_or_else(|| bad("no sk"))?;
    let (at, id) = sk
        .strip_prefix(EVENT_SK_PREFIX)
        .and_then(|rest| rest.rsplit_once('#'))
        .ok_or_else(|| bad("sk is not an event's"))?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad("sk holds no time"))?
        .with_timezone(&Utc);
    let field = |name: &str| text(item, name).unwrap_or_default();
    let modified: Vec<AttributeChange> = match item.get("modified") {
        Some(value) => serde_dynamo::from_attribute_value::<_, Vec<ModifiedEntry>>(value.clone())
            .map_err(|_| bad("modified is not a list of changes"))?
            .into_iter()
            .map(ModifiedEntry::into_change)
            .collect(),
        None => Vec::new(),
    };
    let cause = item
        .get("cause")
        .and_then(|v| serde_dynamo::from_attribute_value::<_, serde_json::Value>(v.clone()).ok())
        .and_then(|v| EventCause::from_json(&v))
        .ok_or_else(|| bad("cause names no run, stream record or on-demand sync"))?;
    Ok(ChangeEvent {
        at,
        id: id.to_owned(),
        direction: Direction::parse(&field("direction")).ok_or_else(|| bad("direction"))?,
        object_kind: ObjectKind::parse(&field("object_kind")).ok_or_else(|| bad("object_kind"))?,
        object_id: field("object_id"),
        display: field("display"),
        action: EventAction::parse(&field("action")).ok_or_else(|| bad("action"))?,
        modified,
        cause,
    })
}

/// One entry of `modified` as stored.
#[derive(serde::Deserialize)]
struct ModifiedEntry {
    attribute: String,
    #[serde(default)]
    old: serde_json::Value,
    #[serde(default)]
    new: serde_json::Value,
}

impl ModifiedEntry {
    fn into_change(self) -> AttributeChange {
        AttributeChange {
            attribute: self.attribute,
            old: self.old,
            new: self.new,
        }
    }
}

/// The changes an item holds: DynamoDB refuses an item over 400 KB, and
/// one refused item fails its whole batch. Values beyond 1,000 bytes are
/// cut at a character boundary (marked with "…"; bytes, not characters:
/// 1,000 four-byte characters would be 4 KB), and beyond 100 changes the
/// rest is counted: an item stays near 300 KB at most, whatever the values.
const VALUE_BYTES: usize = 1_000;
const CHANGES_KEPT: usize = 100;

/// `text`'s first `VALUE_BYTES` bytes, ending on a character boundary.
fn head(text: &str) -> &str {
    let mut end = VALUE_BYTES.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A value cut to `VALUE_BYTES` (a list or map as its JSON text, then).
fn cut(value: &serde_json::Value) -> serde_json::Value {
    let text = match value {
        serde_json::Value::String(text) => std::borrow::Cow::Borrowed(text.as_str()),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => value.to_string().into(),
        _ => return value.clone(),
    };
    match text.len() > VALUE_BYTES {
        true => serde_json::Value::String(format!("{}…", head(&text))),
        false => value.clone(),
    }
}

fn bounded(modified: &[AttributeChange]) -> Vec<AttributeChange> {
    let mut kept: Vec<AttributeChange> = modified
        .iter()
        .take(CHANGES_KEPT)
        .map(|change| AttributeChange {
            attribute: head(&change.attribute).to_owned(),
            old: cut(&change.old),
            new: cut(&change.new),
        })
        .collect();
    if modified.len() > CHANGES_KEPT {
        kept.push(AttributeChange {
            attribute: "…".into(),
            old: serde_json::Value::Null,
            new: serde_json::json!(format!("{} more changes", modified.len() - CHANGES_KEPT)),
        });
    }
    kept
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

    async fn record_all(
        &self,
        tenant: &TenantId,
        events: &[ChangeEvent],
    ) -> Result<(), StoreError> {
        record_events(&self.client, &self.table, tenant, events).await
    }
}

/// Events in BatchWriteItem requests of 25, unprocessed items sent again.
pub(crate) async fn record_events(
    client: &Client,
    table: &str,
    tenant: &TenantId,
    events: &[ChangeEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let puts = events
        .iter()
        .map(|event| put_request(event_item(tenant, event)))
        .collect::<Result<Vec<_>, _>>()?;
    batch_write(client, table, puts, "writing change events").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::AttributeChange;

    #[test]
    fn an_event_item_carries_its_object_key_and_reads_back_as_the_event() {
        let tenant = TenantId::parse("acme").unwrap();
        let event = ChangeEvent {
            at: DateTime::parse_from_rfc3339("2026-12-07T10:00:00.123Z")
                .unwrap()
                .with_timezone(&Utc),
            id: "e1".into(),
            direction: Direction::Import,
            object_kind: ObjectKind::User,
            object_id: "u-1".into(),
            display: "ann@contoso.com".into(),
            action: EventAction::Update,
            modified: vec![AttributeChange {
                attribute: "job_title".into(),
                old: serde_json::Value::Null,
                new: "Lead".into(),
            }],
            cause: EventCause::Run {
                run_id: "r1".into(),
                trigger: "schedule".into(),
            },
        };
        let item = event_item(&tenant, &event);
        assert_eq!(
            text(&item, "event_object").as_deref(),
            Some("acme#user#u-1")
        );
        assert_eq!(change_event(&item).unwrap(), event);
    }

    #[test]
    fn an_event_of_huge_values_and_many_changes_is_stored_cut_far_below_the_item_limit() {
        let tenant = TenantId::parse("acme").unwrap();
        let huge = "x".repeat(50_000);
        let modified: Vec<AttributeChange> = (0..300)
            .map(|n| AttributeChange {
                attribute: format!("attributes.a{n}"),
                old: huge.clone().into(),
                new: serde_json::json!({"nested": huge}),
            })
            .collect();
        let event = ChangeEvent {
            at: Utc::now(),
            id: "e2".into(),
            direction: Direction::Export,
            object_kind: ObjectKind::User,
            object_id: "p-1".into(),
            display: "ann@contoso.com".into(),
            action: EventAction::Update,
            modified,
            cause: EventCause::OnDemand,
        };
        let item = event_item(&tenant, &event);
        let stored = change_event(&item).unwrap();
        assert_eq!(stored.modified.len(), 101, "100 kept and the rest counted");
        assert_eq!(stored.modified[100].new, "200 more changes");
        let first = stored.modified[0].old.as_str().unwrap();
        assert!(first.ends_with('…') && first.chars().count() == 1_001);
        let size: usize = serde_json::to_string(&stored.modified).unwrap().len();
        assert!(size < 300_000, "{size} bytes");
    }

    #[test]
    fn an_event_of_four_byte_characters_is_cut_by_bytes_on_a_character_boundary() {
        let tenant = TenantId::parse("acme").unwrap();
        // 4 bytes each: cut by characters, 100 changes would pass 800 KB.
        let huge = "𝒜".repeat(5_000);
        let modified: Vec<AttributeChange> = (0..100)
            .map(|n| AttributeChange {
                attribute: format!("{huge}{n}"),
                old: huge.clone().into(),
                new: huge.clone().into(),
            })
            .collect();
        let event = ChangeEvent {
            at: Utc::now(),
            id: "e3".into(),
            direction: Direction::Import,
            object_kind: ObjectKind::User,
            object_id: "u-1".into(),
            display: "ann@contoso.com".into(),
            action: EventAction::Update,
            modified,
            cause: EventCause::OnDemand,
        };
        let stored = change_event(&event_item(&tenant, &event)).unwrap();
        let old = stored.modified[0].old.as_str().unwrap();
        assert_eq!(old, format!("{}…", "𝒜".repeat(250)));
        assert_eq!(stored.modified[0].attribute, "𝒜".repeat(250));
        let size: usize = serde_json::to_string(&stored.modified).unwrap().len();
        assert!(size < 350_000, "{size} bytes");
    }
}
