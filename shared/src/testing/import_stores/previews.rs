//! The preview's own items in memory (its `PreviewRuns` port): lease,
//! checkpoint with samples, report.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::import::ports::LeaseError;
use crate::import::preview::{PreviewProgress, PreviewReport, PreviewRuns, Sample};
use crate::import::state::Checkpoint;
use crate::ports::StoreError;

#[derive(Default)]
pub(crate) struct MemoryPreviews {
    pub(crate) lease: Mutex<Option<String>>,
    /// The request the progress is for.
    pub(crate) request: Mutex<Option<String>>,
    pub(crate) progress: Mutex<PreviewProgress>,
    pub(crate) report: Mutex<Option<PreviewReport>>,
}

impl PreviewRuns for MemoryPreviews {
    async fn begin_preview(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        requested_at: Option<&str>,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<Option<PreviewProgress>, StoreError> {
        let mut lease = self.lease.lock().unwrap();
        if lease.as_deref().is_some_and(|owner| owner != run_id) {
            return Ok(None);
        }
        *lease = Some(run_id.to_owned());
        let mut request = self.request.lock().unwrap();
        if request.as_deref() != requested_at {
            *request = requested_at.map(str::to_owned);
            *self.progress.lock().unwrap() = PreviewProgress::default();
        }
        Ok(Some(self.progress.lock().unwrap().clone()))
    }
    async fn checkpoint_preview(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        checkpoint: &Checkpoint,
        samples: &[Sample],
        _: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        if self.lease.lock().unwrap().as_deref() != Some(run_id) {
            return Err(LeaseError::Lost);
        }
        let mut progress = self.progress.lock().unwrap();
        progress.checkpoint = Some(checkpoint.clone());
        progress.samples = samples.to_vec();
        Ok(())
    }
    async fn pause_preview(&self, _: &crate::model::TenantId, _: &str) -> Result<(), StoreError> {
        *self.lease.lock().unwrap() = None;
        Ok(())
    }
    async fn finish_preview(
        &self,
        _: &crate::model::TenantId,
        _: &str,
        report: &PreviewReport,
    ) -> Result<(), LeaseError> {
        *self.lease.lock().unwrap() = None;
        *self.progress.lock().unwrap() = PreviewProgress::default();
        *self.report.lock().unwrap() = Some(report.clone());
        Ok(())
    }
}
