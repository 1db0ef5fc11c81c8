//! `DynamoIntegrationsStore`: tenant configs and pending sign-ins.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, SubsecRound, Utc};
use entra_sync::authorisation::{
    AuthorisationRecord, IntegrationsStore, PendingAuthorisation, RecordOutcome,
};
use entra_sync::model::{Authorisation, EntraTenantId, TenantId};
use entra_sync::ports::{StoreError, TenantConfigs};
use entra_sync_tests::stack::{CONTOSO, FABRIKAM};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Fresh, TENANT, entra_guid, text};

#[tokio::test]
async fn given_config_items_when_read_then_they_parse_and_a_malformed_attribute_is_named() {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    assert!(store.tenant_config(&fresh.tenant).await.unwrap().is_none());
    fresh
        .put_config(json!({
            "entra_tenant_id": CONTOSO,
            "import_users": true,
            "export_groups": true,
            "domains": ["Contoso.com", "fabrikam.com"],
            "import_group_ids": [entra_guid(1)],
            "resync_requested_at": "2024-05-01T10:00:00Z",
            "deletion_threshold_percent": 35,
            "approve_held_deletions": true,
            "authorisation": "authorised",
            "authorised_by": "admin@contoso.com",
        }))
        .await;

    let config = store.tenant_config(&fresh.tenant).await.unwrap().unwrap();

    assert_eq!(config.tenant_id, fresh.tenant);
    assert_eq!(config.label.as_deref(), Some("Contoso"));
    assert_eq!(
        config.entra_tenant_id,
        Some(EntraTenantId::parse(CONTOSO).unwrap())
    );
    assert!(config.sync_enabled && config.import_users && config.export_groups);
    assert!(!config.import_groups && !config.export_users);
    assert_eq!(config.domains, vec!["contoso.com", "fabrikam.com"]);
    assert_eq!(config.import_group_ids.len(), 1);
    assert_eq!(
        config.resync_requested_raw.as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
    assert_eq!(config.deletion_threshold_percent, 35);
    assert!(config.approve_held_deletions);
    assert_eq!(config.authorisation, Authorisation::Authorised);
    assert_eq!(config.authorised_by.as_deref(), Some("admin@contoso.com"));

    fresh.put_config(json!({"import_users": "yes"})).await;
    match store.tenant_config(&fresh.tenant).await {
        Err(StoreError::Config(e)) => {
            assert_eq!(e.attribute, "import_users");
            assert!(e.to_string().contains("import_users"), "{e}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    fresh
        .put_config(json!({"deletion_threshold_percent": 250}))
        .await;
    match store.tenant_config(&fresh.tenant).await {
        Err(StoreError::Config(e)) => assert_eq!(e.attribute, "deletion_threshold_percent"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test]
async fn given_a_resync_request_when_cleared_then_it_is_removed_only_if_unchanged() {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    // No config: nothing to clear, and nothing created.
    store
        .clear_resync_request(&fresh.tenant, "2024-05-01T10:00:00Z")
        .await
        .unwrap();
    assert!(fresh.config_item().await.is_none());

    fresh
        .put_config(json!({"resync_requested_at": "2024-05-01T11:00:00Z"}))
        .await;
    store
        .clear_resync_request(&fresh.tenant, "2024-05-01T10:00:00Z")
        .await
        .unwrap();
    let item = fresh.config_item().await.unwrap();
    assert_eq!(
        text(&item, "resync_requested_at"),
        Some("2024-05-01T11:00:00Z"),
        "requested again since: kept"
    );

    store
        .clear_resync_request(&fresh.tenant, "2024-05-01T11:00:00Z")
        .await
        .unwrap();
    let item = fresh.config_item().await.unwrap();
    assert!(!item.contains_key("resync_requested_at"), "{item:?}");
    assert_eq!(text(&item, "label"), Some("Contoso"));
    assert_eq!(item.get("sync_enabled"), Some(&AttributeValue::Bool(true)));
}

#[tokio::test]
async fn given_an_approval_when_cleared_then_it_is_false_and_no_config_is_created_for_an_unknown_tenant()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    store.clear_deletion_approval(&fresh.tenant).await.unwrap();
    assert!(fresh.config_item().await.is_none());

    fresh
        .put_config(json!({"approve_held_deletions": true}))
        .await;
    store.clear_deletion_approval(&fresh.tenant).await.unwrap();

    let item = fresh.config_item().await.unwrap();
    assert_eq!(
        item.get("approve_held_deletions"),
        Some(&AttributeValue::Bool(false))
    );
    assert_eq!(text(&item, "label"), Some("Contoso"));
    assert!(
        !store
            .tenant_config(&fresh.tenant)
            .await
            .unwrap()
            .unwrap()
            .approve_held_deletions
    );
}

#[tokio::test]
async fn given_a_dead_grant_when_marked_then_the_config_requires_reauthorisation_and_an_unknown_tenant_gets_none()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    store
        .mark_reauthorisation_required(&fresh.tenant)
        .await
        .unwrap();
    assert!(fresh.config_item().await.is_none());
    assert!(
        fresh
            .aws
            .dynamodb
            .scan()
            .table_name(&fresh.tables.integrations)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
            .is_empty()
    );

    fresh
        .put_config(json!({"authorisation": "authorised", "authorised_by": "admin@contoso.com"}))
        .await;
    store
        .mark_reauthorisation_required(&fresh.tenant)
        .await
        .unwrap();

    let config = store.tenant_config(&fresh.tenant).await.unwrap().unwrap();
    assert_eq!(config.authorisation, Authorisation::ReauthorisationRequired);
    assert_eq!(config.authorised_by.as_deref(), Some("admin@contoso.com"));
    assert!(!config.is_authorised());
}

fn pending(state: &str) -> PendingAuthorisation {
    let now = Utc::now().trunc_subsecs(0);
    PendingAuthorisation {
        state: SecretString::from(state.to_owned()),
        tenant_id: TenantId::parse(TENANT).unwrap(),
        authority: "organizations".into(),
        pkce_verifier: SecretString::from(format!("verifier-{state}")),
        created_at: now,
        expires_at: now + Duration::minutes(10),
    }
}

#[tokio::test]
async fn given_pending_authorisations_when_taken_twice_at_once_then_exactly_one_caller_gets_each() {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    let states: Vec<String> = (0..10)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    for state in &states {
        store
            .save_pending_authorisation(&pending(state))
            .await
            .unwrap();
    }
    assert!(
        store
            .save_pending_authorisation(&pending(&states[0]))
            .await
            .is_err(),
        "a state is saved once"
    );

    for state in &states {
        let (a, b) = tokio::join!(
            store.take_pending_authorisation(state),
            store.take_pending_authorisation(state)
        );
        let taken: Vec<PendingAuthorisation> =
            [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(taken.len(), 1, "state {state}");
        let expected = pending(state);
        let got = &taken[0];
        assert_eq!(got.state.expose_secret(), state);
        assert_eq!(got.tenant_id, expected.tenant_id);
        assert_eq!(got.authority, "organizations");
        assert_eq!(
            got.pkce_verifier.expose_secret(),
            expected.pkce_verifier.expose_secret()
        );
        assert_eq!(got.expires_at - got.created_at, Duration::minutes(10));
        assert!(
            store
                .take_pending_authorisation(state)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        store
            .take_pending_authorisation("never-issued")
            .await
            .unwrap()
            .is_none()
    );
}

fn record(entra_tenant: &str, by: Option<&str>) -> AuthorisationRecord {
    AuthorisationRecord {
        entra_tenant_id: EntraTenantId::parse(entra_tenant).unwrap(),
        authorised_at: Utc::now().trunc_subsecs(0),
        authorised_by: by.map(str::to_owned),
    }
}

#[tokio::test]
async fn given_sign_ins_when_recorded_then_the_outcome_is_recorded_config_missing_or_tenant_mismatch()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    assert_eq!(
        store
            .record_authorisation(&fresh.tenant, &record(CONTOSO, Some("admin@contoso.com")))
            .await
            .unwrap(),
        RecordOutcome::ConfigMissing
    );
    assert!(fresh.config_item().await.is_none(), "no config created");

    // The config has no Entra tenant yet: the sign-in fills it.
    fresh.put_config(json!({})).await;
    let first = record(CONTOSO, Some("admin@contoso.com"));
    assert_eq!(
        store
            .record_authorisation(&fresh.tenant, &first)
            .await
            .unwrap(),
        RecordOutcome::Recorded
    );
    let config = store.tenant_config(&fresh.tenant).await.unwrap().unwrap();
    assert_eq!(config.authorisation, Authorisation::Authorised);
    assert_eq!(
        config.entra_tenant_id,
        Some(EntraTenantId::parse(CONTOSO).unwrap())
    );
    assert_eq!(config.authorised_at, Some(first.authorised_at));
    assert_eq!(config.authorised_by.as_deref(), Some("admin@contoso.com"));
    assert_eq!(
        text(&fresh.config_item().await.unwrap(), "label"),
        Some("Contoso")
    );

    // The same organisation again, without a UPN: recorded, the old UPN gone.
    assert_eq!(
        store
            .record_authorisation(&fresh.tenant, &record(CONTOSO, None))
            .await
            .unwrap(),
        RecordOutcome::Recorded
    );
    assert!(
        !fresh
            .config_item()
            .await
            .unwrap()
            .contains_key("authorised_by")
    );

    // Another organisation: refused, the config untouched.
    fresh
        .put_config(
            json!({"entra_tenant_id": CONTOSO, "authorisation": "reauthorisation_required"}),
        )
        .await;
    assert_eq!(
        store
            .record_authorisation(&fresh.tenant, &record(FABRIKAM, Some("admin@fabrikam.com")))
            .await
            .unwrap(),
        RecordOutcome::TenantMismatch
    );
    let item = fresh.config_item().await.unwrap();
    assert_eq!(text(&item, "entra_tenant_id"), Some(CONTOSO));
    assert_eq!(
        text(&item, "authorisation"),
        Some("reauthorisation_required")
    );
    assert!(!item.contains_key("authorised_by"));
}
