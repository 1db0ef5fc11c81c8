//! `DynamoIntegrationsStore`'s writes for application-mode tenants (DESIGN
//! 1.3, 2.12): the reason a tenant must be authorised again, and a
//! permission check's three attributes, each touching only its own.

use chrono::{TimeZone, Utc};
use entra_sync::model::Authorisation;
use entra_sync::model::entra::{PermissionCheck, ReauthorisationReason};
use entra_sync::ports::TenantConfigs;
use entra_sync::tokens::PermissionRecords;
use serde_json::json;

use super::{Fresh, text};

fn strings(item: &super::Item, name: &str) -> Option<Vec<String>> {
    item.get(name)?
        .as_l()
        .ok()
        .map(|list| list.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
}

#[tokio::test]
async fn given_a_reason_then_the_config_requires_reauthorisation_for_it_and_keeps_the_rest() {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    store
        .require_reauthorisation(&fresh.tenant, ReauthorisationReason::ConsentRevoked)
        .await
        .unwrap();
    assert!(fresh.config_item().await.is_none(), "no config: none made");

    fresh
        .put_config(json!({"authorisation": "authorised", "auth_mode": "application", "export_users": true}))
        .await;
    store
        .require_reauthorisation(&fresh.tenant, ReauthorisationReason::AppDisabled)
        .await
        .unwrap();
    let item = fresh.config_item().await.unwrap();
    assert_eq!(text(&item, "reauthorisation_reason"), Some("app_disabled"));
    assert_eq!(text(&item, "auth_mode"), Some("application"));
    let config = store.tenant_config(&fresh.tenant).await.unwrap().unwrap();
    assert_eq!(config.authorisation, Authorisation::ReauthorisationRequired);
    assert!(config.export_users);
}

#[tokio::test]
async fn given_a_permission_check_then_its_attributes_are_written_and_missing_ones_removed_when_none()
 {
    let fresh = Fresh::tables().await;
    let store = fresh.integrations();
    let at = Utc.with_ymd_and_hms(2026, 12, 7, 7, 0, 0).unwrap();
    let lacking = PermissionCheck {
        granted: vec!["Domain.Read.All".into()],
        missing: vec!["User.Read.All".into(), "Group.Read.All".into()],
    };
    store
        .record_permission_check(&fresh.tenant, &lacking, at)
        .await
        .unwrap();
    assert!(fresh.config_item().await.is_none(), "no config: none made");

    fresh
        .put_config(json!({"authorisation": "authorised", "domains": ["contoso.com"]}))
        .await;
    store
        .record_permission_check(&fresh.tenant, &lacking, at)
        .await
        .unwrap();
    let item = fresh.config_item().await.unwrap();
    assert_eq!(
        strings(&item, "granted_permissions"),
        Some(vec!["Domain.Read.All".to_owned()])
    );
    assert_eq!(
        strings(&item, "missing_permissions"),
        Some(vec![
            "User.Read.All".to_owned(),
            "Group.Read.All".to_owned()
        ])
    );
    assert_eq!(
        text(&item, "permissions_checked_at"),
        Some("2026-12-07T07:00:00Z")
    );

    let complete = PermissionCheck {
        granted: vec!["User.Read.All".into(), "Group.Read.All".into()],
        missing: vec![],
    };
    store
        .record_permission_check(&fresh.tenant, &complete, at + chrono::Duration::minutes(5))
        .await
        .unwrap();
    let item = fresh.config_item().await.unwrap();
    assert_eq!(strings(&item, "missing_permissions"), None);
    assert_eq!(strings(&item, "granted_permissions").unwrap().len(), 2);
    assert_eq!(
        text(&item, "permissions_checked_at"),
        Some("2026-12-07T07:05:00Z")
    );
    // The platform's fields are untouched.
    let config = store.tenant_config(&fresh.tenant).await.unwrap().unwrap();
    assert_eq!(config.domains, vec!["contoso.com"]);
    assert_eq!(config.authorisation, Authorisation::Authorised);
}
