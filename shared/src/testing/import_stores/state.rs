//! The import's own state in memory: the run lease and checkpoint, the
//! round's page records and seen ids, problems, the group scope and held
//! deletions, and the config requests a run clears; with switches for the
//! store failures a run must survive.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::import::buckets;
use crate::import::history::RunRecord;
use crate::import::ports::{
    HeldDeletions, ImportMemory, LeaseError, RoundLedger, RunHistory, RunLease,
};
use crate::import::state::*;
use crate::model::TenantConfig;
use crate::ports::StoreError;

pub(crate) type SeenKey = (String, &'static str, buckets::Bucket, u32);

#[derive(Default)]
pub(crate) struct MemoryState {
    pub(crate) state: Mutex<SyncState>,
    pub(crate) lease: Mutex<Option<(String, DateTime<Utc>)>>,
    pub(crate) records: Mutex<BTreeMap<(String, &'static str, u32), PageRecord>>,
    /// Seen ids by (round, kind, bucket, page).
    pub(crate) seen: Mutex<BTreeMap<SeenKey, Vec<String>>>,
    pub(crate) held: Mutex<HeldDeletions>,
    pub(crate) scope: Mutex<Option<GroupScope>>,
    pub(crate) status: Mutex<Option<RunStatus>>,
    pub(crate) cleared: Mutex<Vec<&'static str>>,
    pub(crate) writes: Mutex<u64>,
    /// A run had begun (the Dynamo store reads `last_sync_started_at`).
    pub(crate) ran: Mutex<bool>,
    /// When a change notification last asked for a run.
    pub(crate) sync_requested_at: Mutex<Option<DateTime<Utc>>>,
    /// `reauthorisation_suspected_since`.
    pub(crate) reauthorisation_suspected_since: Mutex<Option<DateTime<Utc>>>,
    /// `reauthorisation_last_seen`.
    pub(crate) reauthorisation_last_seen: Mutex<Option<DateTime<Utc>>>,
    pub(crate) problems: Mutex<BTreeMap<String, crate::problems::Problem>>,
    /// Checkpoints saved before one fails (a run killed after its page).
    pub(crate) checkpoints_before_failure: Mutex<Option<u32>>,
    /// This many reads of open problems fail, then this many counts of
    /// them: a finish that fails before, or after, saving its new scope.
    pub(crate) failing_problem_reads: Mutex<u32>,
    pub(crate) failing_problem_counts: Mutex<u32>,
    /// After this many page records saved, one fails (nothing written).
    pub(crate) page_record_fails_once_after: Mutex<Option<u32>>,
    /// After this many checkpoints saved, one fails; the next ones work.
    pub(crate) checkpoint_fails_once_after: Mutex<Option<u32>>,
    /// Every invocation's history record, in order.
    pub(crate) run_records: Mutex<Vec<RunRecord>>,
    /// Every change event written, in order.
    pub(crate) events: Mutex<Vec<crate::events::ChangeEvent>>,
    /// This many writes of change events fail.
    pub(crate) failing_event_writes: Mutex<u32>,
}

impl MemoryState {
    /// The history items as the store keeps them: by run, its latest
    /// record with the invocations' problems and Graph requests added up,
    /// and how many invocations it had; in the order the runs began.
    pub(crate) fn history(&self) -> Vec<(RunRecord, u32)> {
        let mut runs: Vec<(RunRecord, u32)> = Vec::new();
        for record in self.run_records.lock().unwrap().iter() {
            match runs.iter_mut().find(|(r, _)| r.run == record.run) {
                Some((kept, invocations)) => {
                    let added = (
                        kept.problems_opened + record.problems_opened,
                        kept.problems_closed + record.problems_closed,
                        kept.graph.requests + record.graph.requests,
                        kept.graph.throttled + record.graph.throttled,
                    );
                    *kept = record.clone();
                    (kept.problems_opened, kept.problems_closed) = (added.0, added.1);
                    (kept.graph.requests, kept.graph.throttled) = (added.2, added.3);
                    *invocations += 1;
                }
                None => runs.push((record.clone(), 1)),
            }
        }
        runs
    }
}

impl RunHistory for MemoryState {
    async fn record_run(
        &self,
        _: &crate::model::TenantId,
        record: &RunRecord,
    ) -> Result<(), StoreError> {
        self.run_records.lock().unwrap().push(record.clone());
        *self.writes.lock().unwrap() += 1;
        Ok(())
    }

    async fn record_events(
        &self,
        _: &crate::model::TenantId,
        events: &[crate::events::ChangeEvent],
    ) -> Result<(), StoreError> {
        fails(&self.failing_event_writes, "writing change events")?;
        self.events.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

/// Takes one failure from `left`, if any.
fn fails(left: &Mutex<u32>, operation: &'static str) -> Result<(), StoreError> {
    let mut left = left.lock().unwrap();
    if *left == 0 {
        return Ok(());
    }
    *left -= 1;
    Err(StoreError::Unavailable {
        operation,
        detail: "throttled (test)".into(),
    })
}

impl RunLease for MemoryState {
    async fn begin_run(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<SyncState>, StoreError> {
        let mut lease = self.lease.lock().unwrap();
        if let Some((owner, expires)) = &*lease
            && owner != run_id
            && *expires > now
        {
            return Ok(None);
        }
        // A lease still there (expired) is one its run never gave back.
        let previous_run_died = lease.is_some();
        *lease = Some((run_id.to_owned(), until));
        *self.writes.lock().unwrap() += 1;
        let ran_before = std::mem::replace(&mut *self.ran.lock().unwrap(), true);
        Ok(Some(SyncState {
            ran_before,
            previous_run_died,
            ..self.state.lock().unwrap().clone()
        }))
    }
    async fn checkpoint(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        cp: &Checkpoint,
        until: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        let mut lease = self.lease.lock().unwrap();
        if lease.as_ref().map(|(o, _)| o.as_str()) != Some(run_id) {
            return Err(LeaseError::Lost);
        }
        {
            let mut once = self.checkpoint_fails_once_after.lock().unwrap();
            match once.as_mut() {
                Some(0) => {
                    *once = None;
                    return Err(LeaseError::Store(StoreError::Unavailable {
                        operation: "saving a checkpoint",
                        detail: "throttled (test)".into(),
                    }));
                }
                Some(left) => *left -= 1,
                None => {}
            }
        }
        if let Some(left) = self.checkpoints_before_failure.lock().unwrap().as_mut() {
            if *left == 0 {
                return Err(LeaseError::Store(StoreError::Unavailable {
                    operation: "saving a checkpoint",
                    detail: "killed".into(),
                }));
            }
            *left -= 1;
        }
        *lease = Some((run_id.to_owned(), until));
        self.state.lock().unwrap().checkpoint = Some(cp.clone());
        *self.writes.lock().unwrap() += 1;
        Ok(())
    }
    async fn finish_run(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        state: &SyncState,
        status: &RunStatus,
    ) -> Result<Option<DateTime<Utc>>, LeaseError> {
        let mut lease = self.lease.lock().unwrap();
        if lease.as_ref().map(|(o, _)| o.as_str()) != Some(run_id) {
            return Err(LeaseError::Lost);
        }
        *lease = None;
        *self.state.lock().unwrap() = state.clone();
        *self.status.lock().unwrap() = Some(status.clone());
        *self.reauthorisation_suspected_since.lock().unwrap() = None;
        *self.reauthorisation_last_seen.lock().unwrap() = None;
        *self.writes.lock().unwrap() += 1;
        Ok(*self.sync_requested_at.lock().unwrap())
    }
    async fn abandon_run(
        &self,
        _: &crate::model::TenantId,
        run_id: &str,
        status: Option<&RunStatus>,
    ) -> Result<(), StoreError> {
        let mut lease = self.lease.lock().unwrap();
        if lease.as_ref().map(|(o, _)| o.as_str()) == Some(run_id) {
            *lease = None;
        }
        if let Some(s) = status {
            *self.status.lock().unwrap() = Some(s.clone());
        }
        self.state.lock().unwrap().round_paused = status.is_none();
        Ok(())
    }
    async fn suspect_reauthorisation(
        &self,
        _: &crate::model::TenantId,
        now: DateTime<Utc>,
        continuous_since: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let mut seen = self.reauthorisation_last_seen.lock().unwrap();
        let mut since = self.reauthorisation_suspected_since.lock().unwrap();
        if seen.is_none_or(|at| at < continuous_since) {
            *since = None;
        }
        *seen = Some(now);
        Ok(*since.get_or_insert(now))
    }
    async fn clear_reauthorisation_suspicion(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<(), StoreError> {
        *self.reauthorisation_suspected_since.lock().unwrap() = None;
        *self.reauthorisation_last_seen.lock().unwrap() = None;
        Ok(())
    }
}

impl RoundLedger for MemoryState {
    async fn save_page_record(
        &self,
        _: &crate::model::TenantId,
        round: &str,
        phase: Phase,
        page: u32,
        r: &PageRecord,
        seen: &[buckets::SeenIds],
    ) -> Result<(), StoreError> {
        {
            let mut once = self.page_record_fails_once_after.lock().unwrap();
            match once.as_mut() {
                Some(0) => {
                    *once = None;
                    return Err(StoreError::Unavailable {
                        operation: "saving a page record",
                        detail: "throttled (test)".into(),
                    });
                }
                Some(left) => *left -= 1,
                None => {}
            }
        }
        assert!(
            r.present.is_empty() && r.memberships.is_empty(),
            "seen ids are saved by bucket"
        );
        self.records
            .lock()
            .unwrap()
            .insert((round.to_owned(), phase.as_str(), page), r.clone());
        for part in seen {
            let key = (round.to_owned(), part.kind.as_str(), part.bucket, page);
            self.seen.lock().unwrap().insert(key, part.ids.clone());
        }
        *self.writes.lock().unwrap() += 1;
        Ok(())
    }
    async fn page_records(
        &self,
        _: &crate::model::TenantId,
        round: &str,
        phase: Phase,
    ) -> Result<Vec<NumberedRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|((r, p, _), _)| r == round && *p == phase.as_str())
            .map(|((_, _, page), v)| (*page, v.clone()))
            .collect())
    }
    async fn forget_page(
        &self,
        _: &crate::model::TenantId,
        round: &str,
        phase: Phase,
        page: u32,
    ) -> Result<(), StoreError> {
        let kinds: Vec<&str> = phase.seen_kinds().iter().map(|k| k.as_str()).collect();
        self.records
            .lock()
            .unwrap()
            .retain(|(r, p, n), _| !(r == round && *p == phase.as_str() && *n == page));
        self.seen
            .lock()
            .unwrap()
            .retain(|(r, k, _, n), _| !(r == round && kinds.contains(k) && *n == page));
        Ok(())
    }
    async fn seen_in(
        &self,
        _: &crate::model::TenantId,
        round: &str,
        kind: buckets::SeenKind,
        bucket: buckets::Bucket,
    ) -> Result<Vec<(u32, Vec<String>)>, StoreError> {
        Ok(self
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|((r, k, b, _), _)| r == round && *k == kind.as_str() && *b == bucket)
            .map(|((_, _, _, page), ids)| (*page, ids.clone()))
            .collect())
    }
}

impl crate::problems::ProblemStore for MemoryState {
    async fn record(
        &self,
        _: &crate::model::TenantId,
        problem: &crate::problems::Problem,
    ) -> Result<crate::problems::Problem, StoreError> {
        let mut problems = self.problems.lock().unwrap();
        let mut stored = problem.clone();
        if let Some(old) = problems.get(&crate::store::layout::problem_sk(&problem.key)) {
            stored.attempts = old.attempts + 1;
            stored.first_seen_at = old.first_seen_at;
        }
        problems.insert(
            crate::store::layout::problem_sk(&problem.key),
            stored.clone(),
        );
        Ok(stored)
    }
    async fn resolve(
        &self,
        _: &crate::model::TenantId,
        key: &crate::problems::ProblemKey,
    ) -> Result<bool, StoreError> {
        Ok(self
            .problems
            .lock()
            .unwrap()
            .remove(&crate::store::layout::problem_sk(key))
            .is_some())
    }
    async fn open(
        &self,
        _: &crate::model::TenantId,
        direction: crate::problems::Direction,
    ) -> Result<Vec<crate::problems::Problem>, StoreError> {
        fails(&self.failing_problem_reads, "reading problems")?;
        Ok(self
            .problems
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.key.direction == direction)
            .cloned()
            .collect())
    }
    async fn count(&self, _: &crate::model::TenantId) -> Result<u64, StoreError> {
        fails(&self.failing_problem_counts, "counting problems")?;
        Ok(self.problems.lock().unwrap().len() as u64)
    }
}

impl ImportMemory for MemoryState {
    async fn group_scope(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<Option<GroupScope>, StoreError> {
        Ok(self.scope.lock().unwrap().clone())
    }
    async fn save_group_scope(
        &self,
        _: &crate::model::TenantId,
        s: &GroupScope,
    ) -> Result<(), StoreError> {
        *self.scope.lock().unwrap() = Some(s.clone());
        Ok(())
    }
    async fn held_deletions(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<HeldDeletions, StoreError> {
        Ok(self.held.lock().unwrap().clone())
    }
    async fn save_held_deletions(
        &self,
        _: &crate::model::TenantId,
        h: &HeldDeletions,
    ) -> Result<(), StoreError> {
        *self.held.lock().unwrap() = h.clone();
        Ok(())
    }
}

impl crate::ports::TenantConfigs for MemoryState {
    async fn tenant_config(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<Option<TenantConfig>, StoreError> {
        Ok(None)
    }
    async fn clear_resync_request(
        &self,
        _: &crate::model::TenantId,
        _: &str,
    ) -> Result<(), StoreError> {
        self.cleared.lock().unwrap().push("resync");
        Ok(())
    }
    async fn clear_preview_request(
        &self,
        _: &crate::model::TenantId,
        _: &str,
    ) -> Result<(), StoreError> {
        self.cleared.lock().unwrap().push("preview");
        Ok(())
    }
    async fn clear_deletion_approval(&self, _: &crate::model::TenantId) -> Result<(), StoreError> {
        self.cleared.lock().unwrap().push("approval");
        Ok(())
    }
    async fn mark_reauthorisation_required(
        &self,
        _: &crate::model::TenantId,
    ) -> Result<(), StoreError> {
        self.cleared.lock().unwrap().push("reauthorisation");
        Ok(())
    }
    /// Marks it, then notes the reason (`reauthorisation_reason`).
    async fn require_reauthorisation(
        &self,
        tenant: &crate::model::TenantId,
        reason: crate::model::entra::ReauthorisationReason,
    ) -> Result<(), StoreError> {
        self.mark_reauthorisation_required(tenant).await?;
        self.cleared.lock().unwrap().push(reason.as_str());
        Ok(())
    }
}
