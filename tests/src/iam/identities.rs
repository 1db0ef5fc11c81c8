//! Each function's own IAM user in moto, holding its template policy.
//! moto judges actions only (for DynamoDB and Secrets Manager it asks about
//! resource `*`, and it denies a statement whose condition it cannot read),
//! so moto's copy of each statement names resource `*` (SQS's keep theirs:
//! moto checks queue ARNs) and no condition; the gate in front of moto
//! (`aws_meter`) judges the full statements.

use anyhow::Context;
use serde_json::{Value, json};

use super::policy::{Policy, statement_list, strings};
use super::template::FunctionRole;

/// A function's credentials and what it may do.
#[derive(Debug, Clone)]
pub struct FunctionIdentity {
    pub binary: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub policy: Policy,
    /// Statement id → resource pattern → the template's label for it.
    pub labels: Vec<(String, String, String)>,
}

fn iam_error(e: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    anyhow::anyhow!(aws_sdk_iam::error::DisplayErrorContext(e).to_string())
}

/// Creates `<run_id>-<binary>` for every role and returns the identities.
pub async fn create(
    iam: &aws_sdk_iam::Client,
    run_id: &str,
    roles: &[FunctionRole],
) -> anyhow::Result<Vec<FunctionIdentity>> {
    let mut identities = Vec::new();
    for role in roles {
        let user = format!("{run_id}-{}", role.binary);
        iam.create_user()
            .user_name(&user)
            .send()
            .await
            .map_err(iam_error)?;
        let mut policy = Policy::default();
        let labels = put_inline_policies(iam, &user, role, &mut policy).await?;
        attach_managed_policies(iam, &user, role, &mut policy).await?;
        let key = iam
            .create_access_key()
            .user_name(&user)
            .send()
            .await
            .map_err(iam_error)?;
        let key = key.access_key.context("CreateAccessKey returned no key")?;
        identities.push(FunctionIdentity {
            binary: role.binary.clone(),
            access_key_id: key.access_key_id,
            secret_access_key: key.secret_access_key,
            policy,
            labels,
        });
    }
    Ok(identities)
}

/// The role's inline policies: moto's copy on the user, the full statements
/// in `policy`; returns each statement resource's template label.
async fn put_inline_policies(
    iam: &aws_sdk_iam::Client,
    user: &str,
    role: &FunctionRole,
    policy: &mut Policy,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut labels = Vec::new();
    for inline in &role.inline {
        let first = policy.statements.len();
        policy.add_document(&inline.name, &inline.document)?;
        for (statement, resource_labels) in policy.statements[first..]
            .iter()
            .zip(&inline.resource_labels)
        {
            for (pattern, label) in statement.resources.iter().zip(resource_labels) {
                labels.push((statement.sid.clone(), pattern.clone(), label.clone()));
            }
        }
        iam.put_user_policy()
            .user_name(user)
            .policy_name(&inline.name)
            .policy_document(moto_copy(&inline.document).to_string())
            .send()
            .await
            .map_err(iam_error)?;
    }
    Ok(labels)
}

async fn attach_managed_policies(
    iam: &aws_sdk_iam::Client,
    user: &str,
    role: &FunctionRole,
    policy: &mut Policy,
) -> anyhow::Result<()> {
    for arn in &role.managed {
        let document = managed_document(iam, arn).await?;
        let name = arn.rsplit('/').next().unwrap_or(arn);
        policy.add_document(name, &document)?;
        iam.attach_user_policy()
            .user_name(user)
            .policy_arn(arn)
            .send()
            .await
            .map_err(iam_error)?;
    }
    Ok(())
}

/// The statement moto can judge: its actions, resource `*` but for SQS,
/// no condition. A deny with a condition is left to the gate: without its
/// condition it would deny what the policy allows.
fn moto_copy(document: &Value) -> Value {
    let statements: Vec<Value> = statement_list(document)
        .into_iter()
        .filter(|s| !(s["Effect"] == "Deny" && s.get("Condition").is_some()))
        .map(|mut s| {
            let actions = strings(&s["Action"]);
            if !actions.iter().all(|a| a.starts_with("sqs:")) {
                s["Resource"] = json!("*");
            }
            // moto asks about `sqs:SendMessageBatch`, which IAM does not
            // have: AWS authorises it as `sqs:SendMessage`.
            let batches: Vec<String> = actions
                .iter()
                .filter(|a| {
                    matches!(
                        a.as_str(),
                        "sqs:SendMessage" | "sqs:DeleteMessage" | "sqs:ChangeMessageVisibility"
                    )
                })
                .map(|a| format!("{a}Batch"))
                .collect();
            if !batches.is_empty() {
                s["Action"] = json!(actions.iter().chain(&batches).collect::<Vec<_>>());
            }
            if let Some(map) = s.as_object_mut() {
                map.remove("Condition");
            }
            s
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// An AWS managed policy's document, as moto holds it.
async fn managed_document(iam: &aws_sdk_iam::Client, arn: &str) -> anyhow::Result<Value> {
    let policy = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(iam_error)?;
    let version = policy
        .policy
        .and_then(|p| p.default_version_id)
        .with_context(|| {
            format!("{arn} has no default version (moto needs MOTO_IAM_LOAD_MANAGED_POLICIES=true)")
        })?;
    let document = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(iam_error)?
        .policy_version
        .and_then(|v| v.document)
        .with_context(|| format!("{arn} has no document"))?;
    // IAM answers a policy document URL-encoded; moto may not.
    let text = if document.trim_start().starts_with('{') {
        document
    } else {
        percent_encoding::percent_decode_str(&document)
            .decode_utf8_lossy()
            .into_owned()
    };
    Ok(serde_json::from_str(&text)?)
}
