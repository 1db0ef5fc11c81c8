//! The AM directory, the problem items and the tenant config behind the
//! export's ports, with AWS's faults: throttling past the adapter's
//! retries (nothing done), a write applied whose answer was lost, a batch
//! read left partly unprocessed.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::world::World;
use crate::export::{DeletedEntraUser, ExportDirectory};
use crate::model::directory::{
    ENTRA_HASH, ENTRA_ORIGIN, EntraHash, GroupItem, ItemKey, LinkOrigin, MembershipKey, UserItem,
};
use crate::model::{TenantConfig, TenantId};
use crate::ports::{StoreError, TenantConfigs};
use crate::problems::{Direction, Problem, ProblemKey, ProblemStore};
use crate::sim::faults::{store_unavailable, yield_point};

pub struct SimDirectory<'w> {
    pub world: &'w World,
}

pub struct SimProblems<'w> {
    pub world: &'w World,
}

pub struct SimConfigs<'w> {
    pub world: &'w World,
}

/// A call reaching DynamoDB, or its retries running out first.
async fn reach(world: &World, operation: &'static str) -> Result<(), StoreError> {
    yield_point().await;
    match world.chance(world.faults().store_throttled) {
        true => Err(store_unavailable(
            operation,
            "ProvisionedThroughputExceeded",
        )),
        false => Ok(()),
    }
}

/// A write's answer, or its loss after the write was applied.
fn answer(world: &World, operation: &'static str) -> Result<(), StoreError> {
    match world.chance(world.faults().store_lost_answer) {
        true => Err(store_unavailable(operation, "the answer was lost")),
        false => Ok(()),
    }
}

fn typed<T: serde::de::DeserializeOwned>(item: Option<Map<String, Value>>) -> Option<T> {
    Some(serde_json::from_value(Value::Object(item?)).expect("a directory item"))
}

impl SimDirectory<'_> {
    /// A BatchGetItem: some keys may stay unprocessed past the retries.
    async fn batch_read<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
        ids: &[String],
    ) -> Result<HashMap<String, T>, StoreError> {
        reach(self.world, "reading the batch's items").await?;
        if self.world.chance(self.world.faults().partial_batch) {
            return Err(store_unavailable(
                "reading the batch's items",
                "UnprocessedKeys left after the retries",
            ));
        }
        Ok(ids
            .iter()
            .filter_map(|id| {
                Some((
                    id.clone(),
                    typed(self.world.item(&format!("{prefix}{id}")))?,
                ))
            })
            .collect())
    }
}

impl ExportDirectory for SimDirectory<'_> {
    async fn user(&self, _: &TenantId, user_id: &str) -> Result<Option<UserItem>, StoreError> {
        reach(self.world, "reading the user").await?;
        Ok(typed(self.world.item(&format!("USER#{user_id}"))))
    }

    async fn group(&self, _: &TenantId, group_id: &str) -> Result<Option<GroupItem>, StoreError> {
        reach(self.world, "reading the group").await?;
        Ok(typed(self.world.item(&format!("GROUP#{group_id}"))))
    }

    async fn has_membership(&self, _: &TenantId, key: &MembershipKey) -> Result<bool, StoreError> {
        reach(self.world, "reading the membership").await?;
        Ok(self
            .world
            .item(&format!("MEMBER#{}", key.encode()))
            .is_some())
    }

    async fn users(
        &self,
        _: &TenantId,
        user_ids: &[String],
    ) -> Result<HashMap<String, UserItem>, StoreError> {
        self.batch_read("USER#", user_ids).await
    }

    async fn groups(
        &self,
        _: &TenantId,
        group_ids: &[String],
    ) -> Result<HashMap<String, GroupItem>, StoreError> {
        self.batch_read("GROUP#", group_ids).await
    }

    async fn record_link(&self, key: &ItemKey, entra_id: &str) -> Result<(), StoreError> {
        reach(self.world, "recording the Entra link").await?;
        let mut directory = self.world.directory.lock().unwrap();
        directory.links.insert(key.sk(), entra_id.to_owned());
        drop(directory);
        answer(self.world, "recording the Entra link")
    }

    async fn begin_create(
        &self,
        key: &ItemKey,
        at: chrono::DateTime<chrono::Utc>,
        unless_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        reach(self.world, "recording the intent to create").await?;
        let mut directory = self.world.directory.lock().unwrap();
        let intents = &mut directory.create_intents;
        if intents
            .get(&key.sk())
            .is_some_and(|began| *began > unless_after)
        {
            return Ok(false);
        }
        intents.insert(key.sk(), at);
        drop(directory);
        answer(self.world, "recording the intent to create").map(|()| true)
    }

    async fn create_begun(
        &self,
        key: &ItemKey,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        reach(self.world, "reading the intent to create").await?;
        let directory = self.world.directory.lock().unwrap();
        Ok(directory.create_intents.get(&key.sk()).copied())
    }

    async fn forget_create(
        &self,
        key: &ItemKey,
        began: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        reach(self.world, "forgetting the intent to create").await?;
        let mut directory = self.world.directory.lock().unwrap();
        if directory.create_intents.get(&key.sk()) == Some(&began) {
            directory.create_intents.remove(&key.sk());
        }
        drop(directory);
        answer(self.world, "forgetting the intent to create")
    }

    async fn record_deleted_user(
        &self,
        key: &ItemKey,
        deleted: &DeletedEntraUser,
    ) -> Result<(), StoreError> {
        reach(self.world, "recording the deleted user").await?;
        let mut directory = self.world.directory.lock().unwrap();
        directory.deleted_users.insert(key.sk(), deleted.clone());
        drop(directory);
        answer(self.world, "recording the deleted user")
    }

    async fn deleted_user(&self, key: &ItemKey) -> Result<Option<DeletedEntraUser>, StoreError> {
        reach(self.world, "reading the deleted user").await?;
        let directory = self.world.directory.lock().unwrap();
        Ok(directory.deleted_users.get(&key.sk()).cloned())
    }

    async fn forget_deleted_user(&self, key: &ItemKey) -> Result<(), StoreError> {
        reach(self.world, "forgetting the deleted user").await?;
        let mut directory = self.world.directory.lock().unwrap();
        directory.deleted_users.remove(&key.sk());
        drop(directory);
        answer(self.world, "forgetting the deleted user")
    }

    async fn record_entra_state(
        &self,
        key: &ItemKey,
        entra_id: &str,
        hash: &EntraHash,
        origin: Option<LinkOrigin>,
    ) -> Result<(), StoreError> {
        reach(self.world, "recording the Entra state").await?;
        let sk = key.sk();
        if let Some(mut item) = self.world.item(&sk) {
            item.insert("entra_id".into(), json!(entra_id));
            item.insert(ENTRA_HASH.into(), json!(hash.as_str()));
            if let Some(origin) = origin {
                item.insert(ENTRA_ORIGIN.into(), json!(origin.as_str()));
            }
            self.world.write_item(&sk, Some(item));
        }
        answer(self.world, "recording the Entra state")
    }
}

fn problem_id(key: &ProblemKey) -> String {
    format!("{:?}#{:?}#{}", key.direction, key.kind, key.object_id)
}

impl ProblemStore for SimProblems<'_> {
    async fn record(&self, _: &TenantId, problem: &Problem) -> Result<Problem, StoreError> {
        reach(self.world, "recording a problem").await?;
        let mut open = self.world.problems.lock().unwrap();
        let previous = open.get(&problem_id(&problem.key));
        let stored = Problem {
            attempts: previous.map_or(1, |p| p.attempts + 1),
            ..problem.recorded_over(previous)
        };
        open.insert(problem_id(&problem.key), stored.clone());
        drop(open);
        answer(self.world, "recording a problem")?;
        Ok(stored)
    }

    async fn resolve(&self, _: &TenantId, key: &ProblemKey) -> Result<bool, StoreError> {
        reach(self.world, "resolving a problem").await?;
        let removed = self.world.problems.lock().unwrap().remove(&problem_id(key));
        answer(self.world, "resolving a problem")?;
        Ok(removed.is_some())
    }

    async fn open(&self, _: &TenantId, direction: Direction) -> Result<Vec<Problem>, StoreError> {
        reach(self.world, "reading the open problems").await?;
        let open = self.world.problems.lock().unwrap();
        Ok(open
            .values()
            .filter(|p| p.key.direction == direction)
            .cloned()
            .collect())
    }

    async fn count(&self, _: &TenantId) -> Result<u64, StoreError> {
        Ok(self.world.problems.lock().unwrap().len() as u64)
    }
}

impl TenantConfigs for SimConfigs<'_> {
    async fn tenant_config(&self, _: &TenantId) -> Result<Option<TenantConfig>, StoreError> {
        reach(self.world, "reading the tenant config").await?;
        Ok(Some(self.world.config.clone()))
    }
    async fn clear_resync_request(&self, _: &TenantId, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn clear_preview_request(&self, _: &TenantId, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn clear_deletion_approval(&self, _: &TenantId) -> Result<(), StoreError> {
        Ok(())
    }
    async fn mark_reauthorisation_required(&self, _: &TenantId) -> Result<(), StoreError> {
        Ok(())
    }
}
