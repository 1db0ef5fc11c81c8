//! The consent leg: the admin consented (or not) for their organisation;
//! on to a signed sign-in at the tenant Microsoft names.

use chrono::{DateTime, Utc};

use super::{CallbackParams, FailureReason, Next, refused, same_entra_tenant};
use crate::authorisation::AuthorisationFlow;
use crate::authorisation::ports::{
    IdentityPlatform, IntegrationsStore, PendingAuthorisation, TokenStore,
};
use crate::model::Guid;

impl<S: IntegrationsStore, T: TokenStore, I: IdentityPlatform> AuthorisationFlow<S, T, I> {
    /// The consent endpoint's answer: on to a signed sign-in at the tenant
    /// it names (a hint: the id token proves it or not).
    pub(super) async fn after_consent(
        &self,
        pending: &PendingAuthorisation,
        params: &CallbackParams,
        now: DateTime<Utc>,
    ) -> Result<Next, FailureReason> {
        let tenant_id = &pending.tenant_id;
        // `admin_consent=True` comes with errors too: the error first.
        if let Some(error) = &params.error {
            return Err(refused(
                tenant_id,
                "consent",
                error,
                params,
                FailureReason::of_consent_error,
            ));
        }
        let named = params.tenant.as_deref().map(Guid::parse);
        let (true, Some(Ok(entra_tenant_id))) = (params.admin_consent, named) else {
            tracing::warn!(tenant_id = %tenant_id, "the consent answer names no tenant id");
            return Err(FailureReason::InvalidRequest);
        };
        let config = self.config_still_present(tenant_id).await?;
        same_entra_tenant(tenant_id, &config, &entra_tenant_id)?;
        let identity = self.cloud_identity(&config)?;
        self.sign_in_leg(identity, pending, entra_tenant_id, false, now)
            .await
    }
}
