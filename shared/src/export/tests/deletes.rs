//! docs/behaviour.md 2.11: a platform item's delete goes out only for the
//! Entra object the export created or adopted for it; one already gone
//! counts as done, and a link Graph does not find deletes the object that
//! carries the item's mark.

use super::ownership::{entra_with, existing, refusal, writes};
use super::*;
use crate::problems::Code;

/// A REMOVE record of the item as the directory holds it now.
fn removed(directory: &MemoryItemDirectory, sk: &str) -> DirectoryChange {
    let item = directory.0.lock().unwrap().remove(sk).unwrap();
    change("REMOVE", sk, Value::Object(item), json!({}))
}

#[tokio::test]
async fn given_a_platform_item_linked_to_an_object_not_marked_for_it_then_no_delete_is_sent() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra::default();
    entra
        .marks
        .lock()
        .unwrap()
        .insert("e-other".into(), "acme/USER#p-other".into());
    let config = exporting().build();
    let run = ExportRun::new(&directory, &entra, &config);
    // Links any writer of the table can forge, origin and all.
    for (sk, forged, victim) in [
        (
            "USER#x",
            json!({"user_id": "x", "entra_id": "e-victim"}),
            "e-victim",
        ),
        (
            "USER#y",
            json!({"user_id": "y", "entra_id": "e-other"}),
            "e-other",
        ),
        (
            "GROUP#gx",
            json!({"group_id": "gx", "entra_id": "g-victim"}),
            "g-victim",
        ),
    ] {
        let mut forged = forged;
        forged["sync_entra_origin"] = json!("created");
        let err = run
            .apply(&change("REMOVE", sk, forged, json!({})))
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), Code::EntraObjectExists, "{sk}");
        assert!(err.to_string().contains(victim), "{err}");
    }
    assert!(writes(&entra).is_empty(), "{:?}", entra.calls());
}

#[tokio::test]
async fn given_objects_the_export_created_or_adopted_then_their_deletes_go_out() {
    let directory = MemoryItemDirectory::default();
    let entra = entra_with(vec![existing("bo@contoso.com", "e-9", None)]);
    let config = exporting().export_adopt_existing(true).build();
    let run = ExportRun::new(&directory, &entra, &config);
    let adopted = json!({"user_id": "p2", "user_name": "bo@contoso.com", "source": "local"});
    let group = json!({"group_id": "g1", "name": "Sales", "source": "local"});
    for (sk, item) in [
        ("USER#p1", platform_user()),
        ("USER#p2", adopted),
        ("GROUP#g1", group),
    ] {
        run.apply(&insert(&directory, sk, item)).await.unwrap();
    }
    for sk in ["USER#p1", "USER#p2", "GROUP#g1"] {
        run.apply(&removed(&directory, sk)).await.unwrap();
    }
    let deletes: Vec<String> = writes(&entra)
        .into_iter()
        .filter(|c| c.starts_with("DELETE"))
        .collect();
    assert_eq!(
        deletes,
        vec!["DELETE user e-new", "DELETE user e-9", "DELETE group g-new"]
    );
}

#[tokio::test]
async fn given_a_deleted_user_already_gone_in_entra_then_the_delete_counts_as_done() {
    let (directory, entra) = (MemoryItemDirectory::default(), RecordingEntra::default());
    let mark = "acme/USER#p1".to_owned();
    entra.marks.lock().unwrap().insert("e-1".into(), mark);
    let old = json!({"user_id": "p1", "user_name": "ann@contoso.com", "entra_id": "e-1", "sync_entra_origin": "created"});
    let change = change("REMOVE", "USER#p1", old, json!({}));
    let outcome = export(&directory, &entra, &change).await.unwrap();
    assert_eq!(outcome.exported(), Some("user deleted"));
    assert_eq!(
        entra.calls(),
        vec!["GET user mark e-1", "GET roles e-1", "DELETE user e-1"]
    );
}

/// Found by review: a platform object whose `entra_id` was stale or forged
/// (Graph 404s on it) was deleted as "already gone", and the Entra object
/// that carries its mark stayed.
#[tokio::test]
async fn given_a_deleted_object_whose_link_graph_does_not_find_then_its_marked_object_goes() {
    let directory = MemoryItemDirectory::default();
    let entra = RecordingEntra {
        updates_not_found: true,
        ..Default::default()
    };
    entra.existing_upns.lock().unwrap().insert(
        "ann@contoso.com".into(),
        existing("ann@contoso.com", "e-ours", Some("acme/USER#p1")),
    );
    let old = json!({"user_id": "p1", "user_name": "ann@contoso.com", "source": "local",
        "entra_id": "e-stale", ENTRA_ORIGIN: "created"});
    let outcome = export(
        &directory,
        &entra,
        &change("REMOVE", "USER#p1", old, json!({})),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome.exported(),
        Some("user found by its mark and deleted")
    );
    assert!(entra.calls().contains(&"DELETE user e-ours".to_owned()));
}
