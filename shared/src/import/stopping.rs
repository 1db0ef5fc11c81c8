//! How a run that cannot go on ends: paused before the deadline, failed
//! with its checkpoint kept, or stopped because the grant is dead.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::state::{Checkpoint, Phase, RunStatus};
use super::{
    DirectoryStore, EntraDirectory, ImportError, ImportRun, ImportState, Interruption, Purpose,
    RunOutcome,
};
use crate::model::entra::{GraphError, ReauthorisationReason, TokenError};
use crate::ports::TenantConfigs;
use crate::problems::ProblemStore;

/// How long the app's refusal for a tenant (AADSTS700016, 7000112) must
/// last before the tenant is marked for re-authorisation: an operator's
/// mistake refuses every tenant at once, and an hour (about 20 polls) lets
/// it be fixed before every customer's administrator must consent again.
pub const REAUTHORISATION_GRACE: Duration = Duration::from_secs(3600);

/// A refusal not met again for this long (five polls) ended: the next one
/// starts a new window. Runs that pause or fail for other reasons do not
/// clear the first sighting, so without this two blips hours apart would
/// mark the tenant at once.
pub const REFUSAL_GAP: Duration = Duration::from_secs(15 * 60);

/// For a 403: the Graph permission the failed read needs, in words an
/// admin can act on (`last_sync_error`).
fn permission_hint(err: &GraphError, context: &str) -> String {
    if !matches!(err, GraphError::Forbidden { .. }) {
        return String::new();
    }
    let permission = if context.contains("users") {
        "User.Read.All"
    } else if context.contains("groups") {
        "Group.Read.All"
    } else {
        "User.Read.All and Group.Read.All"
    };
    format!(
        "; the integration lacks the Microsoft Graph permission {permission}: grant it (with admin consent) on the app registration, then authorise the integration again"
    )
}

impl<D: DirectoryStore, S: ImportState, P: ProblemStore, C: TenantConfigs, E: EntraDirectory>
    ImportRun<'_, D, S, P, C, E>
{
    /// A run that fails while reading leaves what a killed one leaves: a
    /// page maybe written and recorded without its checkpoint, to be read
    /// again, from the start of its phase perhaps (a new round, or the
    /// delta link's changes: not the same items). As a killed run's
    /// successor does, it forgets that page's record, makes the round
    /// sweep, and saves the checkpoint in hand (never behind the stored
    /// one: it moves only once a page is applied and recorded). Should a
    /// write fail, the lease is kept: the next run then finds this one
    /// died, and forgets the page its stored checkpoint names.
    pub(super) async fn forget_unrecorded_page(
        &self,
        checkpoint: &mut Checkpoint,
    ) -> Result<(), ImportError> {
        let (round, phase, page) = (&checkpoint.round_id, checkpoint.phase, checkpoint.page);
        // At the finishing phase (both rounds read) no page is in flight.
        if phase != Phase::Finishing {
            self.state
                .forget_page(self.tenant(), round, phase, page)
                .await?;
        }
        checkpoint.earlier_imports = true;
        match self.save_checkpoint(checkpoint).await {
            Err(Interruption::Store(err)) => Err(ImportError::Store(err)),
            _ => Ok(()),
        }
    }

    /// Ends a run that was interrupted: the outcome for the handler, the
    /// status item and the lease released. `failed_as` carries the round's
    /// mode and counts; `context` says what failed.
    pub(super) async fn stopped(
        &self,
        interruption: Interruption,
        failed_as: RunStatus,
        context: &str,
    ) -> Result<RunOutcome, ImportError> {
        if let Interruption::Graph(GraphError::Token(refusal)) = &interruption
            && let Some(reason) = refusal.reauthorisation_reason()
        {
            return self.authorisation_refused(refusal, reason, failed_as).await;
        }
        let failed = |error: String| RunStatus {
            error: Some(error),
            ..failed_as.clone()
        };
        match interruption {
            Interruption::Deadline => {
                tracing::info!(
                    "pausing before the deadline; the run is continued from its checkpoint"
                );
                self.release_lease(None).await?;
                Ok(RunOutcome::Paused)
            }
            Interruption::LeaseLost => {
                tracing::warn!("lost the lease to another run; stopping");
                Ok(RunOutcome::LeaseHeld)
            }
            Interruption::Graph(err) => {
                tracing::error!(error = %err, "the run failed; its checkpoint is kept");
                let status = failed(format!(
                    "{context}: {err}{}",
                    permission_hint(&err, context)
                ));
                self.release_lease(Some(&status)).await?;
                Ok(RunOutcome::Failed(status))
            }
            Interruption::Store(err) if self.purpose == Purpose::Preview => {
                // Kept for the next try, as a sync keeps its checkpoint.
                tracing::error!(error = %err, "a store failed during the preview; it pauses");
                if let Err(release) = self.release_lease(None).await {
                    tracing::warn!(error = %release, "could not release the preview's lease");
                }
                Err(ImportError::Store(err))
            }
            Interruption::Store(err) => {
                tracing::error!(error = %err, "a store failed during the run");
                let status = failed(format!("writing the AM directory failed: {err}"));
                // The store is failing: the lease expires by itself if this fails too.
                if let Err(release) = self.release_lease(Some(&status)).await {
                    tracing::warn!(error = %release, "could not release the lease");
                }
                Err(ImportError::Store(err))
            }
        }
    }

    /// A delegated grant refused is dead at once. The app refused
    /// (AADSTS700016, 7000112) may be the operator's mistake, the same
    /// for every tenant at once (a wrong `ENTRA_CLIENT_ID`, the app
    /// registration deleted or disabled): the tenant is marked only once
    /// the refusal has lasted `REAUTHORISATION_GRACE`, counted from the
    /// first run that met it (so at least two runs met it), without a gap
    /// of `REFUSAL_GAP` between sightings (two blips hours apart are two
    /// windows, not one); until then the run fails saying so. A finished
    /// run forgets the refusal.
    async fn authorisation_refused(
        &self,
        refusal: &TokenError,
        reason: ReauthorisationReason,
        failed_as: RunStatus,
    ) -> Result<RunOutcome, ImportError> {
        if !matches!(refusal, TokenError::AppAccessEnded(_)) {
            return self
                .reauthorisation_required(reason, reauthorisation_advice(refusal), failed_as)
                .await;
        }
        let now = Utc::now();
        let continuous_since = now - refusal_gap();
        let since = self
            .state
            .suspect_reauthorisation(self.tenant(), now, continuous_since)
            .await?;
        if now.signed_duration_since(since) >= grace() {
            let outcome = self
                .reauthorisation_required(reason, reauthorisation_advice(refusal), failed_as)
                .await?;
            self.state
                .clear_reauthorisation_suspicion(self.tenant())
                .await?;
            return Ok(outcome);
        }
        let notice = suspected_reauthorisation(refusal, since);
        tracing::warn!(reason = reason.as_str(), first_seen = %since, "Microsoft refused the app's token for the tenant; it is marked for reauthorisation if this persists");
        let status = RunStatus {
            error: Some(notice),
            ..failed_as
        };
        self.release_lease(Some(&status)).await?;
        Ok(RunOutcome::Failed(status))
    }

    async fn reauthorisation_required(
        &self,
        reason: ReauthorisationReason,
        advice: String,
        failed_as: RunStatus,
    ) -> Result<RunOutcome, ImportError> {
        tracing::error!(reason = reason.as_str(), error = %advice, "the tenant's authorisation was refused; syncing stops until an administrator authorises again");
        self.configs
            .require_reauthorisation(self.tenant(), reason)
            .await?;
        let status = RunStatus {
            error: Some(advice),
            ..failed_as
        };
        self.release_lease(Some(&status)).await?;
        Ok(RunOutcome::ReauthorisationRequired)
    }
}

/// `last_sync_error` while the app's refusal is within the window: the
/// reason, since when, and what follows if it persists.
fn suspected_reauthorisation(refusal: &TokenError, since: DateTime<Utc>) -> String {
    let cause = match refusal {
        TokenError::AppAccessEnded(ReauthorisationReason::AppDisabled) => {
            "the entra-sync enterprise application is disabled in the organisation (AADSTS7000112, app_disabled)"
        }
        _ => {
            "Microsoft Entra ID does not know the entra-sync app in the organisation (AADSTS700016, consent_revoked: its admin consent revoked or its enterprise application deleted)"
        }
    };
    format!(
        "{cause}, first seen at {}; this can also be a fault of the service's own app registration, which its operator fixes. If it persists for {} minutes, the tenant will be marked for re-authorisation and a Global Administrator must authorise the integration again",
        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        REAUTHORISATION_GRACE.as_secs() / 60
    )
}

fn grace() -> chrono::Duration {
    chrono::Duration::from_std(REAUTHORISATION_GRACE).expect("an hour fits")
}

fn refusal_gap() -> chrono::Duration {
    chrono::Duration::from_std(REFUSAL_GAP).expect("minutes fit")
}

/// `last_sync_error` of a tenant that must be authorised again: what
/// happened, and what its administrator does.
fn reauthorisation_advice(refusal: &TokenError) -> String {
    match refusal {
        TokenError::AppAccessEnded(ReauthorisationReason::ConsentRevoked) => {
            "Microsoft Entra ID no longer knows the entra-sync app in the organisation (AADSTS700016: its admin consent was revoked or its enterprise application deleted); a Global Administrator must authorise the integration again".into()
        }
        TokenError::AppAccessEnded(ReauthorisationReason::AppDisabled) => {
            "the entra-sync enterprise application is disabled in the organisation (AADSTS7000112); an administrator must enable it again (Microsoft Entra admin center: Enterprise applications, entra-sync, Properties, Enabled for users to sign-in: Yes), then authorise the integration again".into()
        }
        TokenError::ReauthorisationRequired(reason) => format!(
            "Microsoft Entra ID refused the integration's authorisation ({reason}); a Global Administrator must authorise it again"
        ),
        other => format!("{other}; a Global Administrator must authorise the integration again"),
    }
}
