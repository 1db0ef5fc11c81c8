//! What deleting a platform user or group does in Entra ID, as the tenant
//! chose (DESIGN 2.13 `export_user_delete_action`,
//! `export_group_delete_action`): delete it (remembered while Entra keeps
//! it restorable, so that the user's return restores it: `restore`),
//! disable it, or keep it as it is.

use super::{
    DeletedEntraUser, EntraObjectKind, EntraPatch, EntraWriter, ExportDirectory, ExportFailure,
    ExportPlan, ExportRun, graph_failure,
};
use crate::model::directory::{ItemKey, USER_FIELDS};
use crate::model::entra::{GraphError, GraphValue};
use crate::model::tenant_config::{GroupAction, UserAction};

/// What became of the Entra user of an AM user gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retired {
    Deleted,
    Disabled,
}

/// `accountEnabled: false`, by the field table's name for it.
fn disabling() -> EntraPatch {
    let enabled = USER_FIELDS
        .iter()
        .find(|f| f.am == "enabled")
        .expect("the field table has `enabled`");
    EntraPatch {
        properties: vec![(enabled.graph.to_owned(), GraphValue::Flag(false))],
    }
}

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// Why Entra ID keeps what the plan would delete, when the tenant chose
    /// `keep`: nothing is sent.
    pub(super) fn kept_in_entra(&self, plan: &ExportPlan) -> Option<&'static str> {
        let chosen = &self.config.deprovisioning;
        match plan {
            ExportPlan::DeleteUser { .. } | ExportPlan::DeleteMarked(EntraObjectKind::User)
                if chosen.export_user_delete == UserAction::Keep =>
            {
                Some("export_user_delete_action is keep: Entra ID keeps the user as it is")
            }
            ExportPlan::DeleteGroup { .. } | ExportPlan::DeleteMarked(EntraObjectKind::Group)
                if chosen.export_group_delete == GroupAction::Keep =>
            {
                Some("export_group_delete_action is keep: Entra ID keeps the group as it is")
            }
            _ => None,
        }
    }

    /// Whether the gone AM user `user_id` was the export's own, retired by
    /// it (remembered), rather than an imported user whose deletion is
    /// not exported.
    pub(super) async fn retired_own_user(
        &self,
        tenant: &crate::model::TenantId,
        user_id: &str,
    ) -> Result<bool, ExportFailure> {
        let key = ItemKey::user(tenant, user_id);
        Ok(self.directory.deleted_user(&key).await?.is_some())
    }

    /// Whether Entra ID keeps the users of deleted platform users (and so
    /// the memberships the export wrote for them).
    pub(super) fn keeps_deleted_users(&self) -> bool {
        self.config.deprovisioning.export_user_delete != UserAction::Delete
    }

    /// Deletes or disables the export's own Entra user (checked by the
    /// caller) of the AM user `key`, gone from AM.
    pub(super) async fn retire_user(
        &self,
        key: &ItemKey,
        entra_id: &str,
        display: &str,
    ) -> Result<Retired, ExportFailure> {
        // Remembered before the DELETE: once it is gone, nothing in Entra
        // ID tells a retry which deleted user was this AM user's. A disabled
        // one is remembered too: its memberships stay with it, and only the
        // export's own users' do (an imported user's go, as before).
        let deleted = DeletedEntraUser {
            entra_id: entra_id.to_owned(),
            deleted_at: self.clock(),
        };
        self.directory.record_deleted_user(key, &deleted).await?;
        if self.keeps_deleted_users() {
            return self.disable_user(entra_id, display).await;
        }
        match self.writer.delete_user(entra_id).await {
            Ok(()) | Err(GraphError::NotFound) => Ok(Retired::Deleted),
            Err(e) => Err(graph_failure("deleting the user", e)),
        }
    }

    /// `accountEnabled: false`; a user gone has nothing to disable.
    async fn disable_user(&self, entra_id: &str, display: &str) -> Result<Retired, ExportFailure> {
        let patch = disabling();
        match self.writer.update_user(entra_id, &patch).await {
            Ok(()) | Err(GraphError::NotFound) => Ok(Retired::Disabled),
            Err(GraphError::OnPremisesMastered { .. }) => {
                Err(self.write_cloud_owned(entra_id, &patch, display).await)
            }
            Err(e) => Err(graph_failure("disabling the user", e)),
        }
    }

    /// Why Entra ID keeps what the plan would delete (`kept_in_entra`); a
    /// user kept is remembered, as its memberships stay with it
    /// (`retired_own_user`).
    pub(super) async fn keep_in_entra(
        &self,
        key: &ItemKey,
        plan: &ExportPlan,
    ) -> Result<Option<&'static str>, ExportFailure> {
        let Some(kept) = self.kept_in_entra(plan) else {
            return Ok(None);
        };
        if let ExportPlan::DeleteUser { entra_id } = plan {
            let kept_user = DeletedEntraUser {
                entra_id: entra_id.clone(),
                deleted_at: self.clock(),
            };
            self.directory.record_deleted_user(key, &kept_user).await?;
        }
        Ok(Some(kept))
    }
}
