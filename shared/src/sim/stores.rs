//! The in-memory stores of the engines' unit tests, behind AWS's faults:
//! throttling that outlasted the adapter's retries (nothing written), a
//! write applied whose answer was lost, a batch written in part. Leases
//! follow the simulated clock, not the engine's wall clock.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::faults::{StoreFault, store_fault, store_unavailable, yield_point};
use super::world::World;
use crate::import::LEASE_DURATION;
use crate::import::buckets::{Bucket, KeyRange, SeenIds, SeenKind};
use crate::import::history::RunRecord;
use crate::import::ports::{
    DirectoryStore, HeldDeletions, ImportMemory, LeaseError, ObjectKind, PlatformUser, RoundLedger,
    RunHistory, RunLease,
};
use crate::import::records::DirectoryWrite;
use crate::import::state::{
    Checkpoint, GroupScope, NumberedRecord, PageRecord, Phase, RunStatus, SyncState,
};
use crate::model::TenantId;
use crate::model::directory::{GroupItem, MembershipKey, UserItem};
use crate::ports::StoreError;
use crate::problems::{Direction, Problem, ProblemKey, ProblemStore};

pub struct SimDirectory<'w> {
    pub world: &'w World,
}

pub struct SimState<'w> {
    pub world: &'w World,
}

/// A read: a kill point, and throttling (a lost answer of a read is the same).
async fn read(world: &World, operation: &'static str) -> Result<(), StoreError> {
    yield_point().await;
    let faults = *world.faults.lock().unwrap();
    match store_fault(&world.rng, &faults, false) {
        StoreFault::None => Ok(()),
        _ => Err(store_unavailable(operation, "throttled")),
    }
}

/// A single write: `Ok(true)` to write and answer, `Ok(false)` to write
/// and lose the answer, `Err` to refuse.
async fn write(world: &World, operation: &'static str) -> Result<bool, StoreError> {
    yield_point().await;
    let faults = *world.faults.lock().unwrap();
    match store_fault(&world.rng, &faults, false) {
        StoreFault::Throttled => Err(store_unavailable(operation, "throttled")),
        StoreFault::LostResponse => Ok(false),
        _ => Ok(true),
    }
}

fn lost(operation: &'static str) -> StoreError {
    store_unavailable(operation, "the answer was lost after the write")
}

impl DirectoryStore for SimDirectory<'_> {
    async fn users_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, UserItem>, StoreError> {
        read(self.world, "reading users").await?;
        self.world
            .directory
            .users_by_entra_id(tenant, entra_ids)
            .await
    }

    async fn reports_of(
        &self,
        tenant: &TenantId,
        manager_entra_ids: &[String],
    ) -> Result<Vec<UserItem>, StoreError> {
        read(self.world, "reading a manager's reports").await?;
        self.world
            .directory
            .reports_of(tenant, manager_entra_ids)
            .await
    }

    async fn groups_by_entra_id(
        &self,
        tenant: &TenantId,
        entra_ids: &[String],
    ) -> Result<HashMap<String, GroupItem>, StoreError> {
        read(self.world, "reading groups").await?;
        self.world
            .directory
            .groups_by_entra_id(tenant, entra_ids)
            .await
    }

    async fn existing_memberships(
        &self,
        tenant: &TenantId,
        keys: &[MembershipKey],
    ) -> Result<HashSet<MembershipKey>, StoreError> {
        read(self.world, "reading memberships").await?;
        self.world
            .directory
            .existing_memberships(tenant, keys)
            .await
    }

    async fn imported_ids_in(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        range: KeyRange,
    ) -> Result<Vec<String>, StoreError> {
        read(self.world, "reading imported ids").await?;
        self.world
            .directory
            .imported_ids_in(tenant, kind, range)
            .await
    }

    async fn imported_memberships_in(
        &self,
        tenant: &TenantId,
        range: KeyRange,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        read(self.world, "reading imported memberships").await?;
        self.world
            .directory
            .imported_memberships_in(tenant, range)
            .await
    }

    async fn platform_user_names(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<PlatformUser>, StoreError> {
        read(self.world, "reading platform users").await?;
        self.world.directory.platform_user_names(tenant).await
    }

    async fn memberships_involving(
        &self,
        tenant: &TenantId,
        user_ids: &HashSet<String>,
        group_ids: &HashSet<String>,
    ) -> Result<Vec<MembershipKey>, StoreError> {
        read(self.world, "reading memberships by member").await?;
        let mut found = self
            .world
            .directory
            .memberships_involving(tenant, user_ids, group_ids)
            .await?;
        found.sort();
        Ok(found)
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        mut writes: Vec<DirectoryWrite>,
    ) -> Result<u64, StoreError> {
        yield_point().await;
        let faults = *self.world.faults.lock().unwrap();
        // The engine builds some batches from hash maps: a fixed order
        // keeps a partial write the same on replay.
        writes.sort_by_cached_key(|w| format!("{w:?}"));
        let operation = "writing the directory";
        match store_fault(&self.world.rng, &faults, true) {
            StoreFault::None => self.world.directory.apply(tenant, writes).await,
            StoreFault::Throttled => Err(store_unavailable(operation, "throttled")),
            StoreFault::LostResponse => {
                self.world.directory.apply(tenant, writes).await?;
                Err(lost(operation))
            }
            StoreFault::Partial => {
                let written = self.world.roll(writes.len() as u64) as usize;
                writes.truncate(written);
                self.world.directory.apply(tenant, writes).await?;
                Err(store_unavailable(operation, "items left unprocessed"))
            }
        }
    }
}

impl SimState<'_> {
    fn lease_until(&self) -> DateTime<Utc> {
        self.world.now() + Duration::from_std(LEASE_DURATION).unwrap()
    }
}

impl RunLease for SimState<'_> {
    async fn begin_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<Option<SyncState>, StoreError> {
        let answered = write(self.world, "beginning the run").await?;
        let now = self.world.now();
        let began = self
            .world
            .state
            .begin_run(tenant, run_id, now, self.lease_until())
            .await?;
        if answered {
            Ok(began)
        } else {
            Err(lost("beginning the run"))
        }
    }

    async fn checkpoint(
        &self,
        tenant: &TenantId,
        run_id: &str,
        checkpoint: &Checkpoint,
        _: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        let answered = write(self.world, "saving the checkpoint").await?;
        self.world
            .state
            .checkpoint(tenant, run_id, checkpoint, self.lease_until())
            .await?;
        if answered {
            Ok(())
        } else {
            Err(lost("saving the checkpoint").into())
        }
    }

    async fn finish_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        state: &SyncState,
        status: &RunStatus,
    ) -> Result<Option<DateTime<Utc>>, LeaseError> {
        let answered = write(self.world, "finishing the run").await?;
        let requested = self
            .world
            .state
            .finish_run(tenant, run_id, state, status)
            .await?;
        if answered {
            Ok(requested)
        } else {
            Err(lost("finishing the run").into())
        }
    }

    async fn abandon_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        status: Option<&RunStatus>,
    ) -> Result<(), StoreError> {
        let answered = write(self.world, "releasing the lease").await?;
        self.world.state.abandon_run(tenant, run_id, status).await?;
        if answered {
            Ok(())
        } else {
            Err(lost("releasing the lease"))
        }
    }

    async fn suspect_reauthorisation(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        continuous_since: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let answered = write(self.world, "recording a refused app token").await?;
        let since = self
            .world
            .state
            .suspect_reauthorisation(tenant, now, continuous_since)
            .await?;
        if answered {
            Ok(since)
        } else {
            Err(lost("recording a refused app token"))
        }
    }

    async fn clear_reauthorisation_suspicion(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let answered = write(self.world, "forgetting a refused app token").await?;
        self.world
            .state
            .clear_reauthorisation_suspicion(tenant)
            .await?;
        if answered {
            Ok(())
        } else {
            Err(lost("forgetting a refused app token"))
        }
    }
}

impl RoundLedger for SimState<'_> {
    async fn save_page_record(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
        record: &PageRecord,
        seen: &[SeenIds],
    ) -> Result<(), StoreError> {
        let answered = write(self.world, "saving a page record").await?;
        self.world
            .state
            .save_page_record(tenant, round_id, phase, page, record, seen)
            .await?;
        if answered {
            Ok(())
        } else {
            Err(lost("saving a page record"))
        }
    }

    async fn page_records(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
    ) -> Result<Vec<NumberedRecord>, StoreError> {
        read(self.world, "reading page records").await?;
        self.world.state.page_records(tenant, round_id, phase).await
    }

    async fn forget_page(
        &self,
        tenant: &TenantId,
        round_id: &str,
        phase: Phase,
        page: u32,
    ) -> Result<(), StoreError> {
        let answered = write(self.world, "forgetting a page").await?;
        self.world
            .state
            .forget_page(tenant, round_id, phase, page)
            .await?;
        if answered {
            Ok(())
        } else {
            Err(lost("forgetting a page"))
        }
    }

    async fn seen_in(
        &self,
        tenant: &TenantId,
        round_id: &str,
        kind: SeenKind,
        bucket: Bucket,
    ) -> Result<Vec<(u32, Vec<String>)>, StoreError> {
        read(self.world, "reading seen ids").await?;
        self.world
            .state
            .seen_in(tenant, round_id, kind, bucket)
            .await
    }
}

impl ImportMemory for SimState<'_> {
    async fn group_scope(&self, tenant: &TenantId) -> Result<Option<GroupScope>, StoreError> {
        read(self.world, "reading the group scope").await?;
        self.world.state.group_scope(tenant).await
    }

    async fn save_group_scope(
        &self,
        tenant: &TenantId,
        scope: &GroupScope,
    ) -> Result<(), StoreError> {
        let answered = write(self.world, "saving the group scope").await?;
        self.world.state.save_group_scope(tenant, scope).await?;
        if answered {
            Ok(())
        } else {
            Err(lost("saving the group scope"))
        }
    }

    async fn held_deletions(&self, tenant: &TenantId) -> Result<HeldDeletions, StoreError> {
        read(self.world, "reading held deletions").await?;
        self.world.state.held_deletions(tenant).await
    }

    async fn save_held_deletions(
        &self,
        tenant: &TenantId,
        held: &HeldDeletions,
    ) -> Result<(), StoreError> {
        let answered = write(self.world, "saving held deletions").await?;
        self.world.state.save_held_deletions(tenant, held).await?;
        if answered {
            Ok(())
        } else {
            Err(lost("saving held deletions"))
        }
    }
}

/// The history is no state a run reads back: written without faults, so
/// that the simulations' fault draws stay those of the state they test.
impl RunHistory for SimState<'_> {
    async fn record_run(&self, tenant: &TenantId, record: &RunRecord) -> Result<(), StoreError> {
        self.world.state.record_run(tenant, record).await
    }

    async fn record_events(
        &self,
        tenant: &TenantId,
        events: &[crate::events::ChangeEvent],
    ) -> Result<(), StoreError> {
        self.world.state.record_events(tenant, events).await
    }
}

impl ProblemStore for SimState<'_> {
    async fn record(&self, tenant: &TenantId, problem: &Problem) -> Result<Problem, StoreError> {
        let answered = write(self.world, "recording a problem").await?;
        let stored = self.world.state.record(tenant, problem).await?;
        if answered {
            Ok(stored)
        } else {
            Err(lost("recording a problem"))
        }
    }

    async fn resolve(&self, tenant: &TenantId, key: &ProblemKey) -> Result<bool, StoreError> {
        let answered = write(self.world, "resolving a problem").await?;
        let resolved = self.world.state.resolve(tenant, key).await?;
        if answered {
            Ok(resolved)
        } else {
            Err(lost("resolving a problem"))
        }
    }

    async fn open(
        &self,
        tenant: &TenantId,
        direction: Direction,
    ) -> Result<Vec<Problem>, StoreError> {
        read(self.world, "reading problems").await?;
        self.world.state.open(tenant, direction).await
    }

    async fn count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        read(self.world, "counting problems").await?;
        self.world.state.count(tenant).await
    }
}
