//! A stack deployed with `EntraClientAuth=federated` (DESIGN 2.12): the
//! functions hold no app secret; each asks STS (the emulator's, judged by
//! the IAM gate) for a web identity token, and the app registration trusts
//! the roles the template's `FederatedCredentialSubjects` output names, as
//! the README tells a deployer to set it up.

use std::collections::HashMap;

use anyhow::Context;
use serde_json::Value;

use crate::emulator::{Emulator, FederatedCredential};
use crate::iam::StackResources;

use super::{LocalStack, RoleEdit};

/// `EntraClientAuth` / `ENTRA_CLIENT_AUTH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Secret,
    Federated,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Federated => "federated",
        }
    }
}

/// The audience global's federated credential expects.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

impl LocalStack {
    /// A stack whose functions prove the app with federated assertions.
    pub async fn start_federated() -> anyhow::Result<Self> {
        Self::start_with(Box::new(|_| {}), ClientAuth::Federated).await
    }

    /// The same with the roles first changed by `edit`.
    pub async fn start_federated_with_roles(edit: RoleEdit) -> anyhow::Result<Self> {
        Self::start_with(edit, ClientAuth::Federated).await
    }
}

/// Each function binary's role ARN in this stack (`sub` of its tokens).
pub(super) fn role_arns(resources: &StackResources) -> anyhow::Result<HashMap<String, String>> {
    let mut arns = HashMap::new();
    for (logical_id, binary) in crate::iam::template::function_binaries()? {
        if let Some(arn) = resources.attributes.get(&format!("{logical_id}Role.Arn")) {
            arns.insert(binary, arn.clone());
        }
    }
    Ok(arns)
}

/// `EntraClientAuth` = `auth`, and in federated mode the deployer's
/// one-time step done.
pub(super) fn deploy_with(
    auth: ClientAuth,
    resources: &mut StackResources,
    emulator: &Emulator,
) -> anyhow::Result<()> {
    resources
        .refs
        .insert("EntraClientAuth".to_owned(), auth.as_str().to_owned());
    if auth == ClientAuth::Federated {
        trust_the_stack_roles(emulator, resources)?;
    }
    Ok(())
}

/// The deployer's one-time step: a federated identity credential on the
/// app registration for each role the template's output names, with the
/// account's issuer and Entra's audience.
fn trust_the_stack_roles(emulator: &Emulator, resources: &StackResources) -> anyhow::Result<()> {
    let issuer = crate::emulator::sts::issuer(&emulator.base_url, &resources.account);
    let credentials = output_subjects(resources)?
        .into_iter()
        .map(|subject| FederatedCredential {
            issuer: issuer.clone(),
            subject,
            audience: FEDERATED_AUDIENCE.to_owned(),
        })
        .collect();
    emulator.trust_federated_credentials(credentials);
    Ok(())
}

/// The role ARNs of the `FederatedCredentialSubjects` output, resolved.
fn output_subjects(resources: &StackResources) -> anyhow::Result<Vec<String>> {
    let translated = crate::iam::template::translated_template()?;
    let join = &translated["Outputs"]["FederatedCredentialSubjects"]["Value"]["Fn::Join"];
    let parts = join[1]
        .as_array()
        .context("FederatedCredentialSubjects is not a Fn::Join of role ARNs")?;
    parts
        .iter()
        .map(|part| {
            let name = get_att_name(part).context("a subject is not a Fn::GetAtt")?;
            resources
                .attributes
                .get(&name)
                .cloned()
                .with_context(|| format!("{name} is not a role of the local stack"))
        })
        .collect()
}

fn get_att_name(value: &Value) -> Option<String> {
    match &value["Fn::GetAtt"] {
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("."),
        ),
        Value::String(name) => Some(name.clone()),
        _ => None,
    }
}
