//! The stack's IAM: each function's identity holding its template role,
//! the gated meter, and what the template's references resolve to.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;

use super::{CLIENT_ID, PORTAL_RETURN_URL, REDIRECT_URI, RoleEdit};
use crate::aws_meter::AwsMeter;
use crate::iam::{Gate, StackResources};
use crate::local_aws::{LocalAws, Tables};

/// Each function's IAM user in moto, holding its template role as `edit`
/// leaves it.
pub(super) async fn function_identities(
    aws: &LocalAws,
    run_id: &str,
    resources: &StackResources,
    edit: RoleEdit,
) -> anyhow::Result<Vec<crate::iam::FunctionIdentity>> {
    let mut roles = crate::iam::template::function_roles(resources)?;
    edit(&mut roles);
    crate::iam::identities::create(&aws_sdk_iam::Client::new(&aws.sdk), run_id, &roles).await
}

/// The meter every function's AWS request passes through, with the IAM
/// gate judging it against the function's statements.
pub(super) async fn start_gated_meter(
    aws: &LocalAws,
    tables: &Tables,
    resources: &StackResources,
    identities: &[crate::iam::FunctionIdentity],
    web_identity_sts: String,
) -> anyhow::Result<(AwsMeter, Arc<Gate>)> {
    let names = HashMap::from([
        ("IntegrationsTable".to_owned(), tables.integrations.clone()),
        ("DirectoryTable".to_owned(), tables.directory.clone()),
    ]);
    let gate = Arc::new(
        Gate::new(
            identities.to_vec(),
            &resources.region,
            &resources.account,
            crate::iam::hash_keys(&names)?,
        )
        .with_role_arns(super::federated::role_arns(resources)?),
    );
    let meter = AwsMeter::start_gated(
        &aws.endpoint,
        vec![
            (tables.directory.clone(), "directory".to_owned()),
            (tables.integrations.clone(), "integrations".to_owned()),
        ],
        Some(gate.clone()),
        Some(web_identity_sts),
    )
    .await?;
    Ok((meter, gate))
}

/// What the template's `Ref`s and `Fn::GetAtt`s are in this stack.
pub(super) async fn stack_resources(
    aws: &LocalAws,
    tables: &Tables,
    run_id: &str,
    secret_prefix: &str,
    client_secret_arn: &str,
    queue_url: &str,
) -> anyhow::Result<StackResources> {
    let describe = |name: String| {
        let client = aws.dynamodb.clone();
        async move {
            client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(entra_sync::aws::describe_sdk_error(&e)))?
                .table
                .context("DescribeTable returned no table")
        }
    };
    let integrations = describe(tables.integrations.clone()).await?;
    let directory = describe(tables.directory.clone()).await?;
    let integrations_arn = integrations.table_arn.clone().context("no table ARN")?;
    // arn:aws:dynamodb:<region>:<account>:table/<name>
    let parts: Vec<&str> = integrations_arn.split(':').collect();
    let mut r = StackResources {
        partition: parts[1].to_owned(),
        region: parts[3].to_owned(),
        account: parts[4].to_owned(),
        ..StackResources::default()
    };
    for (name, value) in crate::iam::template::parameter_defaults()? {
        r.refs.insert(name, value);
    }
    add_functions(&mut r, run_id)?;
    add_queues(&mut r, run_id, queue_url);
    for (logical_id, table) in [
        ("IntegrationsTable", &integrations),
        ("DirectoryTable", &directory),
    ] {
        add_table(&mut r, logical_id, table);
    }
    add_parameters(&mut r, run_id, secret_prefix, client_secret_arn);
    Ok(r)
}

/// Each function's name, ARN and role ARN.
fn add_functions(r: &mut StackResources, run_id: &str) -> anyhow::Result<()> {
    let (partition, region, account) = (&r.partition, &r.region, &r.account);
    for (logical_id, binary) in crate::iam::template::function_binaries()? {
        r.refs
            .insert(logical_id.clone(), format!("{run_id}-{binary}"));
        r.attributes.insert(
            format!("{logical_id}.Arn"),
            format!("arn:{partition}:lambda:{region}:{account}:function:{run_id}-{binary}"),
        );
        r.attributes.insert(
            format!("{logical_id}Role.Arn"),
            format!("arn:{partition}:iam::{account}:role/{run_id}-{binary}"),
        );
    }
    Ok(())
}

/// The sync queue, its dead letters and the export's on-failure queue:
/// URLs beside the sync queue's, ARNs in the stack's account.
fn add_queues(r: &mut StackResources, run_id: &str, queue_url: &str) {
    let (partition, region, account) = (&r.partition, &r.region, &r.account);
    let queue_arn = |name: &str| format!("arn:{partition}:sqs:{region}:{account}:{name}");
    let queue_url_of = |name: &str| {
        format!(
            "{}/{account}/{name}",
            queue_url.rsplitn(3, '/').nth(2).unwrap_or_default()
        )
    };
    let queues = [
        ("SyncQueue", format!("{run_id}-sync-jobs")),
        ("SyncDeadLetterQueue", format!("{run_id}-sync-dead-letters")),
        ("ExportFailedQueue", format!("{run_id}-export-failed")),
    ];
    for (logical_id, name) in queues {
        r.refs.insert(logical_id.to_owned(), queue_url_of(&name));
        r.attributes
            .insert(format!("{logical_id}.Arn"), queue_arn(&name));
    }
}

fn add_table(
    r: &mut StackResources,
    logical_id: &str,
    table: &aws_sdk_dynamodb::types::TableDescription,
) {
    r.refs.insert(
        logical_id.to_owned(),
        table.table_name.clone().unwrap_or_default(),
    );
    r.attributes.insert(
        format!("{logical_id}.Arn"),
        table.table_arn.clone().unwrap_or_default(),
    );
    if let Some(stream) = &table.latest_stream_arn {
        r.attributes
            .insert(format!("{logical_id}.StreamArn"), stream.clone());
    }
}

/// The template parameters this stack sets.
fn add_parameters(
    r: &mut StackResources,
    run_id: &str,
    secret_prefix: &str,
    client_secret_arn: &str,
) {
    let (partition, account) = (&r.partition, &r.account);
    let parameters = [
        ("EntraClientId", CLIENT_ID.to_owned()),
        ("EntraClientSecretArn", client_secret_arn.to_owned()),
        ("EntraRedirectUri", REDIRECT_URI.to_owned()),
        ("PortalReturnUrl", PORTAL_RETURN_URL.to_owned()),
        ("SecretPrefix", secret_prefix.to_owned()),
        (
            "PlatformInvokerArn",
            format!("arn:{partition}:iam::{account}:role/{run_id}-platform"),
        ),
        ("EntraApi", format!("{run_id}api")),
    ];
    for (name, value) in parameters {
        r.refs.insert(name.to_owned(), value);
    }
}
