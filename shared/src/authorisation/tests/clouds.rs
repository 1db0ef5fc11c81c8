//! National clouds (DESIGN 2.12): a tenant's flow goes to its cloud's
//! identity platform only; a cloud not served fails with
//! `cloud_not_supported`, storing nothing and asking no cloud.

use super::*;
use crate::model::Cloud;

/// A flow serving `global` and `usgov`, its `acme` config of `cloud`.
fn flow_of_cloud(cloud: &str) -> Flow {
    let item = serde_json::json!({"tenant_id": "acme", "cloud": cloud});
    let config = TenantConfig::from_attributes(item.as_object().unwrap()).unwrap();
    let store = MemoryStore::default();
    store.configs.lock().unwrap().insert("acme".into(), config);
    AuthorisationFlow::new(
        store,
        MemoryTokens::default(),
        ByCloud::new(
            FakeIdentity::default(),
            [(Cloud::UsGov, FakeIdentity::default())],
        ),
        Url::parse("https://portal.example/entra").unwrap(),
    )
}

fn usgov(flow: &Flow) -> &FakeIdentity {
    flow.identities.get(Cloud::UsGov).unwrap()
}

fn set_cloud(flow: &Flow, cloud: Cloud) {
    flow.store
        .configs
        .lock()
        .unwrap()
        .get_mut("acme")
        .unwrap()
        .cloud = cloud;
}

#[tokio::test]
async fn a_usgov_tenants_sign_in_and_app_token_come_from_the_usgov_cloud_only() {
    let flow = flow_of_cloud("usgov");
    proven(&flow).await;
    assert_eq!(*usgov(&flow).sign_ins.lock().unwrap(), 1);
    assert_eq!(*usgov(&flow).app_token_requests.lock().unwrap(), 1);
    let global = flow.identities.global();
    assert_eq!(*global.sign_ins.lock().unwrap(), 0);
    assert_eq!(*global.app_token_requests.lock().unwrap(), 0);
}

#[tokio::test]
async fn a_tenant_of_a_cloud_not_served_is_refused_at_the_start_with_nothing_stored() {
    let flow = flow_of_cloud("china");
    let err = flow.start(&acme(), BINDING, now()).await.unwrap_err();
    assert!(
        matches!(err, StartError::CloudNotSupported(Cloud::China)),
        "{err}"
    );
    assert!(err.to_string().contains("`china`"), "{err}");
    assert!(flow.store.pending.lock().unwrap().is_empty());
    nothing_stored(&flow);
}

#[tokio::test]
async fn a_cloud_no_longer_served_mid_flow_ends_it_with_cloud_not_supported() {
    let flow = flow_of_cloud("usgov");
    let state = consented(&flow, TID).await;
    set_cloud(&flow, Cloud::UsGovDod);
    let outcome = callback(&flow, &state, "code=good-code").await;
    assert_eq!(failed_with(&outcome), "cloud_not_supported");
    assert_eq!(*usgov(&flow).app_token_requests.lock().unwrap(), 0);
    nothing_stored(&flow);
}
