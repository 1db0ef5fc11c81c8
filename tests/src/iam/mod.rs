//! IAM enforced in the local stacks (docs/behaviour.md 2.10): every function runs
//! under its own IAM user in moto, holding exactly the policies SAM gives it
//! in `template.yaml`; moto checks the actions, the gate in front of moto
//! checks resources and item-level conditions, and a denial fails the test.

pub mod gate;
pub mod identities;
pub mod policy;
pub mod template;

use std::collections::HashMap;

pub use gate::{Gate, Usage};
pub use identities::FunctionIdentity;
pub use template::{FunctionRole, StackResources};

/// The environment variable through which a stack hands a function binary
/// its own credentials (`<binary>` as in `LambdaFunction::start`); the
/// runtime harness turns it into `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
pub fn identity_variable(binary: &str) -> String {
    format!(
        "ENTRA_SYNC_TEST_IDENTITY_{}",
        binary.replace('-', "_").to_ascii_uppercase()
    )
}

/// Every identity as environment entries.
pub fn identity_env(identities: &[FunctionIdentity]) -> Vec<(String, String)> {
    identities
        .iter()
        .map(|i| {
            (
                identity_variable(&i.binary),
                format!("{}:{}", i.access_key_id, i.secret_access_key),
            )
        })
        .collect()
}

/// Takes the identity entries out of `env` and puts `binary`'s in the AWS
/// SDK's variables. `Ok(false)` when `env` holds no identities at all.
pub fn apply_identity(binary: &str, env: &mut Vec<(String, String)>) -> anyhow::Result<bool> {
    let prefix = "ENTRA_SYNC_TEST_IDENTITY_";
    let wanted = identity_variable(binary);
    let mine = env
        .iter()
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.clone());
    let any = env.iter().any(|(k, _)| k.starts_with(prefix));
    env.retain(|(k, _)| !k.starts_with(prefix));
    if !any {
        return Ok(false);
    }
    let mine = mine.ok_or_else(|| {
        anyhow::anyhow!(
            "{binary} has no IAM identity in this stack: is it a function of template.yaml?"
        )
    })?;
    let (key, secret) = mine.split_once(':').unwrap_or_default();
    env.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN"
        )
    });
    env.push(("AWS_ACCESS_KEY_ID".to_owned(), key.to_owned()));
    env.push(("AWS_SECRET_ACCESS_KEY".to_owned(), secret.to_owned()));
    Ok(true)
}

/// (table, index or "") → partition key attribute, from the template's tables.
pub fn hash_keys(
    names: &HashMap<String, String>,
) -> anyhow::Result<HashMap<(String, String), String>> {
    let mut out = HashMap::new();
    for (logical_id, properties) in crate::local_aws::template_tables()? {
        let Some(table) = names.get(&logical_id) else {
            continue;
        };
        let hash = |keys: &serde_yaml_ng::Value| {
            keys["KeySchema"]
                .as_sequence()
                .into_iter()
                .flatten()
                .find(|k| k["KeyType"].as_str() == Some("HASH"))
                .and_then(|k| k["AttributeName"].as_str())
                .unwrap_or("pk")
                .to_owned()
        };
        out.insert((table.clone(), String::new()), hash(&properties));
        for index in properties["GlobalSecondaryIndexes"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let name = index["IndexName"].as_str().unwrap_or_default().to_owned();
            out.insert((table.clone(), name), hash(index));
        }
    }
    Ok(out)
}
