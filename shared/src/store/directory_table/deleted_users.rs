//! The Entra user the export deleted for an AM user (DESIGN 2.13, restore):
//! `ENTRA#DELETED#USER#<user_id>` items of entra-sync's own design in
//! `INTEGRATIONS_TABLE` (DESIGN 1.3), kept through the table's TTL for the
//! 30 days Entra keeps a deleted user restorable.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::DynamoDirectoryStore;
use crate::export::DeletedEntraUser;
use crate::model::TenantId;
use crate::model::directory::ItemKey;
use crate::ports::StoreError;
use crate::store::dynamo::{Item, batch_get, malformed, n, s, unavailable};
use crate::store::layout::{TTL_ATTRIBUTE, deleted_user_sk, key};

const ENTRA_ID: &str = "entra_id";
const DELETED_AT: &str = "deleted_at";

fn record_key(item: &ItemKey) -> Result<Item, StoreError> {
    match item {
        ItemKey::User { tenant, user_id } => Ok(key(tenant, deleted_user_sk(user_id))),
        _ => Err(malformed("a deleted user", "only users are restored")),
    }
}

fn parse(record: &Item) -> Result<DeletedEntraUser, StoreError> {
    let text = |name: &str| record.get(name).and_then(|v| v.as_s().ok());
    let entra_id = text(ENTRA_ID).ok_or_else(|| malformed("a deleted user", "no entra_id"))?;
    let deleted_at = text(DELETED_AT)
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .ok_or_else(|| malformed("a deleted user", "no deleted_at"))?;
    Ok(DeletedEntraUser {
        entra_id: entra_id.clone(),
        deleted_at: deleted_at.with_timezone(&Utc),
    })
}

impl DynamoDirectoryStore {
    /// A put: the latest delete is the one a restore wants.
    pub(super) async fn write_deleted_user(
        &self,
        item: &ItemKey,
        deleted: &DeletedEntraUser,
    ) -> Result<(), StoreError> {
        let mut record = record_key(item)?;
        let expires = deleted.deleted_at + DeletedEntraUser::RESTORABLE_FOR;
        record.insert(ENTRA_ID.into(), s(&deleted.entra_id));
        record.insert(
            DELETED_AT.into(),
            s(deleted
                .deleted_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        record.insert(TTL_ATTRIBUTE.into(), n(expires.timestamp()));
        self.client
            .put_item()
            .table_name(self.links.table())
            .set_item(Some(record))
            .send()
            .await
            .map_err(unavailable("recording the Entra user deleted"))?;
        Ok(())
    }

    pub(super) async fn read_deleted_user(
        &self,
        item: &ItemKey,
    ) -> Result<Option<DeletedEntraUser>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(self.links.table())
            .set_key(Some(record_key(item)?))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable("reading the Entra user deleted"))?;
        found.item.as_ref().map(parse).transpose()
    }

    /// One BatchGetItem per 100 users.
    pub(super) async fn read_deleted_users(
        &self,
        tenant: &TenantId,
        user_ids: &[String],
    ) -> Result<HashMap<String, DeletedEntraUser>, StoreError> {
        let keys = user_ids
            .iter()
            .map(|id| key(tenant, deleted_user_sk(id)))
            .collect();
        let records = batch_get(
            &self.client,
            self.links.table(),
            keys,
            "reading the Entra users deleted",
        )
        .await?;
        let prefix = deleted_user_sk("");
        records
            .iter()
            .map(|record| {
                let user_id = record
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix(&prefix))
                    .ok_or_else(|| malformed("a deleted user", "no sk"))?;
                Ok((user_id.to_owned(), parse(record)?))
            })
            .collect()
    }

    pub(super) async fn delete_deleted_user(&self, item: &ItemKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(self.links.table())
            .set_key(Some(record_key(item)?))
            .send()
            .await
            .map_err(unavailable("forgetting the Entra user deleted"))?;
        Ok(())
    }
}
