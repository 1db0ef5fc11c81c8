//! DESIGN 2.13, the export direction, through the real `export-stream`
//! binary: the tenant's `direction: export` mappings decide what is
//! written in Entra ID, on create every mapped value, on update only the
//! mapped values the platform's change moved.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use super::export::{TENANT, World, platform_user, world};
use entra_sync_tests::stack::CONTOSO;

fn export_mappings() -> Value {
    json!({"user_mappings": [
        {"direction": "export", "target": "employeeId", "source_type": "attribute",
         "source": "attributes.costCenter"},
        {"direction": "export", "target": "companyName", "source_type": "expression",
         "source": "Join(\" \", \"Contoso\", [attributes.unit])"},
    ]})
}

/// The Entra user's `employeeId` and `companyName`.
fn mapped_in_entra(w: &World, id: &str) -> (Option<Value>, Option<Value>) {
    w.stack.emulator.with_tenant(CONTOSO, |t| {
        let user = &t.users[id];
        (
            user.property("employeeId").cloned(),
            user.property("companyName").cloned(),
        )
    })
}

fn attributes(cost_center: &str, unit: &str) -> AttributeValue {
    AttributeValue::M(
        [("costCenter", cost_center), ("unit", unit)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())))
            .collect(),
    )
}

#[tokio::test]
async fn given_export_mappings_then_mapped_values_are_written_on_create_and_on_update() {
    let mut w = world(export_mappings()).await;
    let mut ada = platform_user("p-ada", "ada@contoso.com");
    ada["attributes"] = json!({"costCenter": "CC-42", "unit": "Labs"});
    w.put("USER#p-ada", ada).await;
    let start = w.log_len();

    let report = w.export().await;

    assert!(report.retried.is_empty(), "{report:?}");
    let created = w
        .writes_since(start)
        .into_iter()
        .find(|r| r.method == "POST" && r.path == "/v1.0/users")
        .expect("the user is created");
    let body = created.body.unwrap();
    assert_eq!(body["employeeId"], "CC-42", "{body}");
    assert_eq!(body["companyName"], "Contoso Labs", "{body}");
    assert_eq!(body["jobTitle"], "Analyst", "the built-in mappings stay");
    let id = w.item("USER#p-ada").await["entra_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        mapped_in_entra(&w, &id),
        (Some(json!("CC-42")), Some(json!("Contoso Labs")))
    );
    w.export().await; // the export's own write-backs: nothing to send
    let start = w.log_len();

    w.set("USER#p-ada", "attributes", attributes("CC-43", "Research"))
        .await;
    let report = w.export().await;

    assert!(report.retried.is_empty(), "{report:?}");
    let writes: Vec<_> = w
        .writes_since(start)
        .into_iter()
        .map(|r| (r.method, r.path, r.body))
        .collect();
    assert_eq!(
        writes,
        vec![(
            "PATCH".to_owned(),
            format!("/v1.0/users/{id}"),
            Some(json!({"employeeId": "CC-43", "companyName": "Contoso Research"}))
        )],
        "only the mapped values the change moved"
    );
    assert_eq!(
        mapped_in_entra(&w, &id),
        (Some(json!("CC-43")), Some(json!("Contoso Research")))
    );
    assert!(w.stack.problem_items(TENANT).await.unwrap().is_empty());

    // Its write-backs are not exported again.
    let start = w.log_len();
    w.export().await;
    assert!(
        w.writes_since(start).is_empty(),
        "{:?}",
        w.writes_since(start)
    );
}
