//! The AM user as the source of export mappings (DESIGN 2.13): its
//! attributes by their AM names, `user_id`, and `attributes.<name>` from
//! the item's `attributes` map.

use super::catalogue::ATTRIBUTES_PREFIX;
use super::value::{SourceObject, Value};
use crate::model::directory::{FieldValue, USER_FIELDS, UserItem};

impl SourceObject for UserItem {
    fn attribute(&self, name: &str) -> Value {
        if name == "user_id" {
            return Value::text(self.user_id.as_str());
        }
        if let Some(key) = name.strip_prefix(ATTRIBUTES_PREFIX) {
            return self
                .attributes
                .attributes
                .get(key)
                .map_or(Value::Null, |text| Value::text(text.as_str()));
        }
        match USER_FIELDS.iter().find(|f| f.am == name) {
            Some(field) => match (field.read)(&self.attributes) {
                FieldValue::Text(Some(text)) => Value::Text(text),
                FieldValue::Text(None) => Value::Null,
                FieldValue::Flag(flag) => Value::Flag(flag),
            },
            // `manager_id` is not on the item yet; anything else is no
            // attribute of the AM user.
            None => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_am_user_is_read_by_its_am_attribute_names() {
        let mut item: UserItem = serde_json::from_value(serde_json::json!({
            "user_id": "p1", "user_name": "ann@contoso.com", "enabled": false,
            "attributes": {"costCenter": "42"}
        }))
        .unwrap();
        item.attributes.department = Some("Kitchen".into());
        assert_eq!(item.attribute("user_id"), Value::text("p1"));
        assert_eq!(item.attribute("user_name"), Value::text("ann@contoso.com"));
        assert_eq!(item.attribute("department"), Value::text("Kitchen"));
        assert_eq!(item.attribute("enabled"), Value::Flag(false));
        assert_eq!(item.attribute("job_title"), Value::Null);
        assert_eq!(item.attribute("attributes.costCenter"), Value::text("42"));
        assert_eq!(item.attribute("attributes.other"), Value::Null);
    }
}
