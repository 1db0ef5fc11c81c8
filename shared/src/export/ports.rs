//! What the export engine needs: the AM directory's current items and a
//! place to record their link to Entra ID; and Entra ID's write side.

use std::future::Future;

use serde_json::{Map, Value};

use crate::directory::ItemKey;
use crate::graph::GraphError;
use crate::graph::model::DomainInfo;
use crate::ports::StoreError;

pub trait ExportDirectory: Send + Sync {
    /// The item as it is now (strongly consistent).
    fn item(
        &self,
        key: &ItemKey,
    ) -> impl Future<Output = Result<Option<Map<String, Value>>, StoreError>> + Send;

    /// Records that the item now agrees with Entra ID: its `entra_id` and the
    /// hash of its synchronised values. A vanished item is left vanished.
    fn record_entra_state(
        &self,
        key: &ItemKey,
        entra_id: &str,
        hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub trait EntraWriter: Send + Sync {
    fn domains(&self) -> impl Future<Output = Result<Vec<DomainInfo>, GraphError>> + Send;
    /// The user with this UPN: its id and synchronised properties.
    fn user_by_upn(
        &self,
        upn: &str,
    ) -> impl Future<Output = Result<Option<Map<String, Value>>, GraphError>> + Send;
    /// Returns the new object's id.
    fn create_user(&self, body: &Value) -> impl Future<Output = Result<String, GraphError>> + Send;
    fn update_user(
        &self,
        id: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
    fn delete_user(&self, id: &str) -> impl Future<Output = Result<(), GraphError>> + Send;
    fn create_group(&self, body: &Value)
    -> impl Future<Output = Result<String, GraphError>> + Send;
    fn update_group(
        &self,
        id: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
    fn delete_group(&self, id: &str) -> impl Future<Output = Result<(), GraphError>> + Send;
    fn add_member(
        &self,
        group_id: &str,
        member_id: &str,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
    fn remove_member(
        &self,
        group_id: &str,
        member_id: &str,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
}
