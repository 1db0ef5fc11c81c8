//! What each function's IAM policy grants that no test used (docs/behaviour.md
//! 2.10): every local stack leaves its functions' grants and uses under
//! `target/iam-usage/`; this reads them all after a test run and prints,
//! per function, the grants never used, so that a widening is a visible
//! decision. Exits 0: the report informs, the gate enforces.

use std::collections::{BTreeMap, BTreeSet};

use entra_sync_tests::iam::Usage;
use entra_sync_tests::iam::policy::Grant;

fn main() -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/iam-usage");
    let mut granted: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    let mut used: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    let mut stacks = 0;
    for entry in std::fs::read_dir(&dir)? {
        let usage: Usage = serde_json::from_str(&std::fs::read_to_string(entry?.path())?)?;
        stacks += 1;
        for (function, u) in usage.functions {
            granted
                .entry(function.clone())
                .or_default()
                .extend(u.granted);
            used.entry(function).or_default().extend(u.used);
        }
    }
    println!(
        "IAM grants no test used ({stacks} stacks; `logs:*` is Lambda's own, SQS/stream pollers are the event source mappings'):"
    );
    for (function, grants) in &granted {
        let used = used.get(function).cloned().unwrap_or_default();
        let unused: Vec<&Grant> = grants.iter().filter(|g| !used.contains(g)).collect();
        println!(
            "  {function}: {} of {} grants used",
            grants.len() - unused.len(),
            grants.len()
        );
        for g in unused {
            println!("    unused: {} {} on {}", g.statement, g.action, g.resource);
        }
    }
    Ok(())
}
