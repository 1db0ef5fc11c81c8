//! The import's bookkeeping as a preview uses it.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::overlay::PreviewOverlay;
use super::{PreviewReport, PreviewRuns};
use crate::import::buckets::{Bucket, SeenIds, SeenKind};
use crate::import::history::RunRecord;
use crate::import::state::{
    Checkpoint, Counts, GroupScope, Mode, NumberedRecord, PageRecord, Phase, RunResult, RunStatus,
    SyncState,
};
use crate::import::{
    HeldDeletions, ImportMemory, ImportState, LeaseError, RoundLedger, RunHistory, RunLease,
};
use crate::model::TenantId;
use crate::ports::StoreError;

/// The import's bookkeeping as a preview uses it: its own lease,
/// checkpoint and report; the round's ledger (its items are the preview
/// round's own); the sync's memory read, never written (its problems: see
/// `PreviewProblems`).
pub struct PreviewState<'a, S, P> {
    pub inner: &'a S,
    pub runs: &'a P,
    pub overlay: &'a PreviewOverlay,
    /// The request this preview answers.
    pub requested_at: Option<String>,
    /// The scope the preview reads under (`scope::fingerprint`): progress
    /// made under another is dropped, as the engine drops the sync's.
    pub fingerprint: String,
    pub started_at: Mutex<DateTime<Utc>>,
    /// Another preview run took the lease over: this one's outcome answers
    /// nothing.
    lease_lost: std::sync::atomic::AtomicBool,
}

impl<'a, S: ImportState, P: PreviewRuns> PreviewState<'a, S, P> {
    pub fn new(
        inner: &'a S,
        runs: &'a P,
        overlay: &'a PreviewOverlay,
        requested_at: Option<String>,
        fingerprint: String,
    ) -> Self {
        Self {
            inner,
            runs,
            overlay,
            requested_at,
            fingerprint,
            started_at: Mutex::new(Utc::now()),
            lease_lost: Default::default(),
        }
    }

    /// Whether another preview run took this one's lease over.
    pub fn lease_lost(&self) -> bool {
        self.lease_lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn report(&self, status: &RunStatus) -> PreviewReport {
        let failed = status.result == RunResult::Error;
        PreviewReport {
            requested_at: self.requested_at.clone(),
            started_at: *self.started_at.lock().unwrap_or_else(|p| p.into_inner()),
            completed_at: status.completed_at.unwrap_or_else(Utc::now),
            result: if failed {
                RunResult::Error
            } else {
                RunResult::Ok
            },
            error: failed.then(|| status.error.clone()).flatten(),
            counts: status.counts,
            would_hold: status.result == RunResult::Held,
            samples: self.overlay.samples(),
        }
    }

    /// A preview that cannot run at all (the tenant is not authorised):
    /// its report says why.
    pub async fn unrunnable(
        &self,
        tenant: &TenantId,
        run_id: &str,
        why: &str,
    ) -> Result<(), StoreError> {
        let status = RunStatus {
            completed_at: Some(Utc::now()),
            result: RunResult::Error,
            error: Some(format!("the preview could not run: {why}")),
            mode: Mode::Full,
            counts: Counts::default(),
            open_problems: None,
        };
        self.abandon_run(tenant, run_id, Some(&status)).await
    }

    /// A resumed preview's overlay: the seen ids of its round so far.
    async fn reload(&self, tenant: &TenantId, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let seen = checkpoint.seen.unwrap_or_default();
        self.overlay.lock().enter_round(&checkpoint.round_id);
        for kind in [SeenKind::Users, SeenKind::Groups, SeenKind::Members] {
            let buckets = seen.of(kind).buckets;
            for bucket in Bucket::all().filter(|b| buckets.contains(*b)) {
                let pages = self
                    .inner
                    .seen_in(tenant, &checkpoint.round_id, kind, bucket)
                    .await?;
                let mut overlay = self.overlay.lock();
                for (_, ids) in pages {
                    overlay.note_seen(kind, &ids);
                }
            }
        }
        Ok(())
    }
}

impl<S: ImportState, P: PreviewRuns> RunLease for PreviewState<'_, S, P> {
    async fn begin_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<SyncState>, StoreError> {
        let requested = self.requested_at.as_deref();
        let Some(progress) = self
            .runs
            .begin_preview(tenant, run_id, requested, now, lease_until)
            .await?
        else {
            return Ok(None);
        };
        // Progress under another scope starts over, samples and all.
        let checkpoint = progress
            .checkpoint
            .filter(|c| c.scope_fingerprint == self.fingerprint && c.seen.is_some());
        if let Some(checkpoint) = &checkpoint {
            self.overlay.lock().samples = progress.samples;
            *self.started_at.lock().unwrap_or_else(|p| p.into_inner()) = checkpoint.started_at;
            self.reload(tenant, checkpoint).await?;
        }
        // What a sync would do counts the deletions it holds back already.
        let holding_deletions = !self.inner.held_deletions(tenant).await?.is_empty();
        Ok(Some(SyncState {
            checkpoint,
            holding_deletions,
            // The sweep always runs: the directory may hold anything.
            ran_before: true,
            previous_run_died: progress.previous_run_died,
            // A preview's progress is kept only for its continuation.
            round_paused: true,
            ..SyncState::default()
        }))
    }

    async fn checkpoint(
        &self,
        tenant: &TenantId,
        run_id: &str,
        checkpoint: &Checkpoint,
        lease_until: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        let samples = self.overlay.samples();
        self.runs
            .checkpoint_preview(tenant, run_id, checkpoint, &samples, lease_until)
            .await
    }

    /// Writes the report; no delta link or status is kept.
    async fn finish_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        _: &SyncState,
        status: &RunStatus,
    ) -> Result<Option<DateTime<Utc>>, LeaseError> {
        self.runs
            .finish_preview(tenant, run_id, &self.report(status))
            .await?;
        Ok(None)
    }

    /// Paused (no status): the checkpoint stays. Failed: the report says why.
    async fn abandon_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        status: Option<&RunStatus>,
    ) -> Result<(), StoreError> {
        let Some(status) = status else {
            return self.runs.pause_preview(tenant, run_id).await;
        };
        match self
            .runs
            .finish_preview(tenant, run_id, &self.report(status))
            .await
        {
            Ok(()) => Ok(()),
            Err(LeaseError::Lost) => {
                self.lease_lost
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Err(LeaseError::Store(err)) => Err(err),
        }
    }

    /// A preview neither records a refusal of the app's token nor marks
    /// the tenant: the sync run beside it decides (it answers `now`,
    /// always within the window).
    async fn suspect_reauthorisation(
        &self,
        _: &TenantId,
        now: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        Ok(now)
    }

    async fn clear_reauthorisation_suspicion(&self, _: &TenantId) -> Result<(), StoreError> {
        Ok(())
    }
}

impl<S: ImportState, P: PreviewRuns> RoundLedger for PreviewState<'_, S, P> {
    async fn save_page_record(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
        record: &PageRecord,
        seen: &[SeenIds],
    ) -> Result<(), StoreError> {
        self.inner
            .save_page_record(tenant, round_id, phase, page, record, seen)
            .await?;
        let mut overlay = self.overlay.lock();
        overlay.enter_round(round_id);
        for part in seen {
            overlay.note_seen(part.kind, &part.ids);
        }
        Ok(())
    }

    async fn page_records(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
    ) -> Result<Vec<NumberedRecord>, StoreError> {
        self.inner.page_records(tenant, round_id, phase).await
    }

    async fn forget_page(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
    ) -> Result<(), StoreError> {
        self.inner.forget_page(tenant, round_id, phase, page).await
    }

    async fn seen_in(
        &self,
        tenant: &TenantId,
        round_id: &str,
        kind: SeenKind,
        bucket: Bucket,
    ) -> Result<Vec<(u32, Vec<String>)>, StoreError> {
        self.inner.seen_in(tenant, round_id, kind, bucket).await
    }
}

/// A preview's run is recorded as any run is (trigger `preview`).
impl<S: ImportState, P: PreviewRuns> RunHistory for PreviewState<'_, S, P> {
    async fn record_run(&self, tenant: &TenantId, record: &RunRecord) -> Result<(), StoreError> {
        self.inner.record_run(tenant, record).await
    }

    /// A preview changes nothing: no event.
    async fn record_events(
        &self,
        _: &TenantId,
        _: &[crate::events::ChangeEvent],
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The sync's memory is read, never written: the group scope and held
/// deletions stay the sync's.
impl<S: ImportState, P: PreviewRuns> ImportMemory for PreviewState<'_, S, P> {
    async fn group_scope(&self, tenant: &TenantId) -> Result<Option<GroupScope>, StoreError> {
        self.inner.group_scope(tenant).await
    }

    async fn save_group_scope(&self, _: &TenantId, _: &GroupScope) -> Result<(), StoreError> {
        Ok(())
    }

    async fn held_deletions(&self, tenant: &TenantId) -> Result<HeldDeletions, StoreError> {
        self.inner.held_deletions(tenant).await
    }

    async fn save_held_deletions(&self, _: &TenantId, _: &HeldDeletions) -> Result<(), StoreError> {
        Ok(())
    }
}
