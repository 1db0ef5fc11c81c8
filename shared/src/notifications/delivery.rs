//! A delivery's body: a Graph notification collection (change or lifecycle
//! notifications). Errors name what is wrong, never what the body held.

use secrecy::SecretString;
use serde::Deserialize;

/// One change or lifecycle notification, as far as entra-sync reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub subscription_id: String,
    #[serde(default)]
    pub client_state: Option<SecretString>,
    /// The Entra tenant (required by Graph; checked when present).
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub change_type: Option<String>,
    #[serde(default)]
    pub lifecycle_event: Option<String>,
}

/// Items are read one by one: a malformed one is dropped (logged by
/// position), the others still count, since Graph would retry the whole
/// delivery for hours and then drop it all.
#[derive(Deserialize)]
struct Collection {
    value: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the body is empty")]
    Empty,
    #[error("the body is not a notification collection: {0}")]
    NotACollection(String),
}

/// The notifications of a delivery body.
pub fn parse_delivery(body: &[u8]) -> Result<Vec<Notification>, DeliveryError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DeliveryError::Empty);
    }
    serde_json::from_slice::<Collection>(body)
        .map(|c| {
            c.value
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| match serde_json::from_value(item) {
                    Ok(notification) => Some(notification),
                    Err(_) => {
                        tracing::warn!(
                            position = i,
                            "a notification without a readable subscriptionId was dropped"
                        );
                        None
                    }
                })
                .collect()
        })
        // serde_json's message can quote the body ("invalid type: string
        // \"...\""): keep only its category and position.
        .map_err(|e| {
            DeliveryError::NotACollection(format!(
                "{} error at line {} column {}",
                match e.classify() {
                    serde_json::error::Category::Io => "read",
                    serde_json::error::Category::Syntax => "JSON syntax",
                    serde_json::error::Category::Data => "shape",
                    serde_json::error::Category::Eof => "unexpected end",
                },
                e.line(),
                e.column()
            ))
        })
}
