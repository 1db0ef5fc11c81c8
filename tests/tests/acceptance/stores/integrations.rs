//! `DynamoIntegrationsStore`: tenant configs and pending sign-ins.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, SubsecRound, Utc};
use entra_sync::authorisation::{
    AuthorisationRecord, IntegrationsStore, PendingAuthorisation, PendingLeg, ProvenAuthorisation,
    RecordOutcome,
};
use entra_sync::model::{AuthMode, Authorisation, EntraTenantId, TenantId};
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

/// A pending leg: every other one a consent, the rest a sign-in.
fn pending(state: &str, sign_in: bool) -> PendingAuthorisation {
    let now = Utc::now().trunc_subsecs(0);
    let leg = match sign_in {
        false => PendingLeg::Consent,
        true => PendingLeg::SignIn {
            entra_tenant_id: EntraTenantId::parse(CONTOSO).unwrap(),
            pkce_verifier: SecretString::from(format!("verifier-{state}")),
            nonce: SecretString::from(format!("nonce-{state}")),
            interactive: state.ends_with('0'),
        },
    };
    PendingAuthorisation {
        state: SecretString::from(state.to_owned()),
        tenant_id: TenantId::parse(TENANT).unwrap(),
        leg,
        binding_hash: format!("hash-of-{state}"),
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
    for (i, state) in states.iter().enumerate() {
        store
            .save_pending_authorisation(&pending(state, i % 2 == 1))
            .await
            .unwrap();
    }
    assert!(
        store
            .save_pending_authorisation(&pending(&states[0], false))
            .await
            .is_err(),
        "a state is saved once"
    );

    for (i, state) in states.iter().enumerate() {
        let (a, b) = tokio::join!(
            store.take_pending_authorisation(state),
            store.take_pending_authorisation(state)
        );
        let taken: Vec<PendingAuthorisation> =
            [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(taken.len(), 1, "state {state}");
        let expected = pending(state, i % 2 == 1);
        let got = &taken[0];
        assert_eq!(got.state.expose_secret(), state);
        assert_eq!(got.tenant_id, expected.tenant_id);
        assert_eq!(got.binding_hash, expected.binding_hash);
        match (&got.leg, &expected.leg) {
            (PendingLeg::Consent, PendingLeg::Consent) => {}
            (
                PendingLeg::SignIn {
                    entra_tenant_id,
                    pkce_verifier,
                    nonce,
                    interactive,
                },
                PendingLeg::SignIn {
                    interactive: expected_interactive,
                    ..
                },
            ) => {
                assert_eq!(entra_tenant_id.as_str(), CONTOSO);
                assert_eq!(pkce_verifier.expose_secret(), format!("verifier-{state}"));
                assert_eq!(nonce.expose_secret(), format!("nonce-{state}"));
                assert_eq!(interactive, expected_interactive);
            }
            (got, expected) => panic!("{got:?} is not {expected:?}"),
        }
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
        cloud: entra_sync::model::Cloud::Global,
        authorised_at: Utc::now().trunc_subsecs(0),
        authorised_by: by.map(str::to_owned),
        authorised_by_id: "00000000-0000-4000-8000-0000000000ad".into(),
        granted_permissions: vec!["User.Read.All".into()],
        missing_permissions: vec!["User.ReadWrite.All".into()],
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
    assert_eq!(config.auth_mode, AuthMode::Application);
    let item = fresh.config_item().await.unwrap();
    assert_eq!(
        text(&item, "authorised_by_id"),
        Some("00000000-0000-4000-8000-0000000000ad")
    );
    let list = |name: &str| -> Vec<String> {
        let values = item[name].as_l().unwrap();
        values.iter().map(|v| v.as_s().unwrap().clone()).collect()
    };
    assert_eq!(list("missing_permissions"), ["User.ReadWrite.All"]);
    assert_eq!(list("granted_permissions"), ["User.Read.All"]);
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

#[tokio::test]
async fn given_a_proven_authorisation_then_it_is_taken_once_with_everything_it_holds() {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    let now = Utc::now().trunc_subsecs(0);
    let proven = ProvenAuthorisation {
        result_hash: "a1b2c3".into(),
        tenant_id: TenantId::parse(TENANT).unwrap(),
        binding_hash: "binding-hash".into(),
        entra_tenant_id: EntraTenantId::parse(CONTOSO).unwrap(),
        cloud: entra_sync::model::Cloud::UsGov,
        authorised_by: Some("admin@contoso.com".into()),
        authorised_by_id: "00000000-0000-4000-8000-0000000000ad".into(),
        granted_permissions: vec!["User.Read.All".into(), "Group.Read.All".into()],
        missing_permissions: vec![],
        created_at: now,
        expires_at: now + Duration::minutes(10),
    };
    store.save_proven_authorisation(&proven).await.unwrap();
    let (a, b) = tokio::join!(
        store.take_proven_authorisation("a1b2c3"),
        store.take_proven_authorisation("a1b2c3")
    );
    let taken: Vec<ProvenAuthorisation> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(taken, vec![proven]);
    assert!(
        store
            .take_proven_authorisation("a1b2c3")
            .await
            .unwrap()
            .is_none()
    );
}
