//! `DynamoSyncStateStore`: the run lease on the status item, and the
//! round's ledger and memory items.

mod history;
mod lease;
mod ledger;

use std::collections::HashMap;

use chrono::Utc;
use entra_sync::import::state::{Mode, RunResult, RunStatus};

use super::{Item, counts};

fn status(result: RunResult, error: Option<&str>) -> RunStatus {
    RunStatus {
        completed_at: Some(Utc::now()),
        result,
        error: error.map(str::to_owned),
        mode: Mode::Delta,
        counts: counts(),
        open_problems: Some(0),
    }
}

fn count_map(item: &Item) -> HashMap<String, String> {
    item["last_sync_counts"]
        .as_m()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_n().unwrap().clone()))
        .collect()
}
