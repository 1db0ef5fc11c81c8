//! The resource half of IAM, which moto leaves out: every AWS request a
//! function makes is attributed to the function by its access key, turned
//! into (action, resources, leading keys) as AWS would authorise it, and
//! judged against the function's statements. A denial is answered as AWS
//! answers it and remembered, so that the test which met it fails.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::Value;

use super::identities::FunctionIdentity;
use super::policy::{Decision, Grant, RequestContext};

/// What a stack's functions may do, and what they did.
pub struct Gate {
    identities: HashMap<String, FunctionIdentity>,
    region: String,
    account: String,
    /// (table, index or "") → its partition key attribute.
    hash_keys: HashMap<(String, String), String>,
    /// Secret name → ARN, learned from answers (a name alone lacks the suffix).
    secret_arns: Mutex<HashMap<String, String>>,
    used: Mutex<BTreeMap<String, BTreeSet<Grant>>>,
    denials: Mutex<Vec<String>>,
    /// Binary → its role's ARN.
    role_arns: HashMap<String, String>,
}

/// One AWS request as IAM sees it.
#[derive(Debug, Clone)]
pub struct AwsCall {
    pub access_key: String,
    pub action: String,
    /// Each resource the request touches, with the keys it touches there.
    pub resources: Vec<(String, RequestContext)>,
}

/// The unused-grant report's input for one stack: per function, what the
/// policy grants (labelled as the template writes it) and what was used.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub functions: BTreeMap<String, FunctionUsage>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FunctionUsage {
    pub granted: BTreeSet<Grant>,
    pub used: BTreeSet<Grant>,
}

impl Gate {
    pub fn new(
        identities: Vec<FunctionIdentity>,
        region: &str,
        account: &str,
        hash_keys: HashMap<(String, String), String>,
    ) -> Self {
        Self {
            identities: identities
                .into_iter()
                .map(|i| (i.access_key_id.clone(), i))
                .collect(),
            region: region.to_owned(),
            account: account.to_owned(),
            hash_keys,
            secret_arns: Mutex::default(),
            used: Mutex::default(),
            denials: Mutex::default(),
            role_arns: HashMap::new(),
        }
    }

    /// Each function's role ARN (binary → ARN), for the STS the stack plays.
    pub fn with_role_arns(self, role_arns: HashMap<String, String>) -> Self {
        Self { role_arns, ..self }
    }

    /// `None` when the request may go on (or is not a function's); else the
    /// denial's message, already recorded.
    pub fn judge(&self, headers: &http::HeaderMap, json: &Value) -> Option<String> {
        let call = self.call(headers, json)?;
        self.decide(call)
    }

    /// The same for an STS `GetWebIdentityToken` (a query-protocol form,
    /// which moto lacks: the stack's STS plays it), with its condition keys.
    pub fn judge_web_identity_token(
        &self,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> Option<String> {
        let values = |prefix: &str| -> Vec<String> {
            form.iter()
                .filter(|(k, _)| k == prefix || k.starts_with(&format!("{prefix}.member.")))
                .map(|(_, v)| v.clone())
                .collect()
        };
        let keys = [
            ("sts:IdentityTokenAudience", "Audience"),
            ("sts:DurationSeconds", "DurationSeconds"),
            ("sts:SigningAlgorithm", "SigningAlgorithm"),
        ]
        .into_iter()
        .map(|(key, field)| (key.to_owned(), values(field)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let call = AwsCall {
            access_key: access_key(headers)?,
            action: "sts:GetWebIdentityToken".to_owned(),
            resources: vec![(
                "*".to_owned(),
                RequestContext {
                    keys,
                    ..RequestContext::default()
                },
            )],
        };
        self.decide(call)
    }

    /// Whether `binary`'s policy allows `action` on `resource` (no
    /// condition keys): what a test asserts a role can never do.
    pub fn allows(&self, binary: &str, action: &str, resource: &str) -> bool {
        self.identities
            .values()
            .filter(|i| i.binary == binary)
            .any(|i| {
                matches!(
                    i.policy
                        .decide(action, resource, &RequestContext::default()),
                    Decision::Allowed(_)
                )
            })
    }

    /// The role a function's access key stands for (`sub` of its web
    /// identity tokens): `arn:…:role/<run>-<binary>` as the stack names it.
    pub fn role_arn(&self, headers: &http::HeaderMap) -> Option<String> {
        let identity = self.identities.get(&access_key(headers)?)?;
        self.role_arns.get(&identity.binary).cloned()
    }

    fn decide(&self, call: AwsCall) -> Option<String> {
        let identity = self.identities.get(&call.access_key)?;
        let mut grants = Vec::new();
        for (resource, context) in &call.resources {
            match identity.policy.decide(&call.action, resource, context) {
                Decision::Allowed(g) => grants.extend(g),
                Decision::Denied(why) => {
                    let keys = if context.leading_keys.is_empty() {
                        String::new()
                    } else {
                        format!(" (leading keys {:?})", context.leading_keys)
                    };
                    let message = format!(
                        "{} is not authorized to perform {} on {resource}{keys}: {why}",
                        identity.binary, call.action
                    );
                    self.record_denial(message.clone());
                    return Some(message);
                }
            }
        }
        let mut used = self.used.lock().expect("gate lock");
        let set = used.entry(identity.binary.clone()).or_default();
        set.extend(grants.into_iter().map(|g| self.labelled(identity, g)));
        None
    }

    /// An `AccessDenied` moto answered to a function (its action check).
    pub fn moto_denied(&self, headers: &http::HeaderMap, status: u16, body: &[u8]) {
        let Some(identity) = access_key(headers).and_then(|k| self.identities.get(&k)) else {
            return;
        };
        let text = String::from_utf8_lossy(body);
        if (status == 403 || status == 400) && text.contains("AccessDenied") {
            self.record_denial(format!("{} was denied by moto: {text}", identity.binary));
        }
    }

    /// Learns secret ARNs from an answer.
    pub fn observe_answer(&self, body: &[u8]) {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if let (Some(name), Some(arn)) = (json["Name"].as_str(), json["ARN"].as_str()) {
            self.secret_arns
                .lock()
                .expect("gate lock")
                .insert(name.to_owned(), arn.to_owned());
        }
    }

    pub fn record_denial(&self, message: String) {
        self.denials.lock().expect("gate lock").push(message);
    }

    /// Every denial so far, cleared (a test that expects one takes it).
    pub fn take_denials(&self) -> Vec<String> {
        std::mem::take(&mut *self.denials.lock().expect("gate lock"))
    }

    pub fn usage(&self) -> Usage {
        let used = self.used.lock().expect("gate lock");
        let mut usage = Usage::default();
        for identity in self.identities.values() {
            let entry = usage.functions.entry(identity.binary.clone()).or_default();
            entry.granted = identity
                .policy
                .grants()
                .into_iter()
                .map(|g| self.labelled(identity, g))
                .collect();
            entry.used = used.get(&identity.binary).cloned().unwrap_or_default();
        }
        usage
    }

    /// A grant named by the template's words instead of this stack's ARNs.
    fn labelled(&self, identity: &FunctionIdentity, mut grant: Grant) -> Grant {
        if let Some((_, _, label)) = identity
            .labels
            .iter()
            .find(|(sid, pattern, _)| *sid == grant.statement && *pattern == grant.resource)
        {
            grant.resource = label.clone();
        }
        grant
    }

    fn call(&self, headers: &http::HeaderMap, json: &Value) -> Option<AwsCall> {
        let access_key = access_key(headers)?;
        let target = headers.get("x-amz-target")?.to_str().ok()?;
        let (service, operation) = target.split_once('.')?;
        let (action, resources) = match service {
            s if s.starts_with("DynamoDBStreams") => (
                format!("dynamodb:{operation}"),
                vec![(
                    json["StreamArn"].as_str().unwrap_or("*").to_owned(),
                    RequestContext::default(),
                )],
            ),
            s if s.starts_with("DynamoDB") => (
                format!("dynamodb:{operation}"),
                self.dynamodb_resources(json),
            ),
            "secretsmanager" => (
                format!("secretsmanager:{operation}"),
                vec![(self.secret_arn(json), secret_context(operation, json))],
            ),
            "AmazonSQS" => (
                format!("sqs:{}", sqs_iam_action(operation)),
                vec![(self.queue_arn(json), RequestContext::default())],
            ),
            _ => (
                format!("{}:{operation}", service.to_ascii_lowercase()),
                vec![("*".to_owned(), RequestContext::default())],
            ),
        };
        Some(AwsCall {
            access_key,
            action,
            resources,
        })
    }

    fn table_arn(&self, table: &str) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{table}",
            self.region, self.account
        )
    }

    fn dynamodb_resources(&self, json: &Value) -> Vec<(String, RequestContext)> {
        if let Some(batch) = json["RequestItems"].as_object() {
            return batch
                .iter()
                .map(|(table, requests)| {
                    let keys = batch_keys(requests, self.hash_key(table, ""));
                    (
                        self.table_arn(table),
                        RequestContext {
                            leading_keys: keys,
                            ..RequestContext::default()
                        },
                    )
                })
                .collect();
        }
        let table = json["TableName"].as_str().unwrap_or_default();
        let index = json["IndexName"].as_str().unwrap_or_default();
        let hash = self.hash_key(table, index);
        let mut keys = Vec::new();
        for item in [&json["Key"], &json["Item"]] {
            if let Some(v) = item[&hash]["S"].as_str() {
                keys.push(v.to_owned());
            }
        }
        if let Some(v) = query_partition(json, &hash) {
            keys.push(v);
        }
        let arn = if index.is_empty() {
            self.table_arn(table)
        } else {
            format!("{}/index/{index}", self.table_arn(table))
        };
        vec![(
            arn,
            RequestContext {
                leading_keys: keys,
                ..RequestContext::default()
            },
        )]
    }

    fn hash_key(&self, table: &str, index: &str) -> String {
        self.hash_keys
            .get(&(table.to_owned(), index.to_owned()))
            .cloned()
            .unwrap_or_else(|| "pk".to_owned())
    }

    fn secret_arn(&self, json: &Value) -> String {
        let id = json["SecretId"]
            .as_str()
            .or(json["Name"].as_str())
            .unwrap_or("*");
        if id.starts_with("arn:") {
            return id.to_owned();
        }
        if let Some(arn) = self.secret_arns.lock().expect("gate lock").get(id) {
            return arn.clone();
        }
        // A secret not seen yet (CreateSecret): its ARN will end in a
        // random six-character suffix.
        format!(
            "arn:aws:secretsmanager:{}:{}:secret:{id}-XXXXXX",
            self.region, self.account
        )
    }

    fn queue_arn(&self, json: &Value) -> String {
        let url = json["QueueUrl"].as_str().unwrap_or_default();
        let name = url.rsplit('/').next().unwrap_or_default();
        format!("arn:aws:sqs:{}:{}:{name}", self.region, self.account)
    }
}

/// The condition keys a Secrets Manager request offers: whether a delete
/// skips the recovery window (absent = false, as AWS evaluates it).
fn secret_context(operation: &str, json: &Value) -> RequestContext {
    if operation != "DeleteSecret" {
        return RequestContext::default();
    }
    let force = json["ForceDeleteWithoutRecovery"]
        .as_bool()
        .unwrap_or(false);
    RequestContext {
        keys: vec![(
            "secretsmanager:ForceDeleteWithoutRecovery".to_owned(),
            vec![force.to_string()],
        )],
        ..RequestContext::default()
    }
}

/// SQS authorises a batch by its single action (there is no
/// `sqs:SendMessageBatch` in IAM).
pub fn sqs_iam_action(operation: &str) -> &str {
    match operation {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        other => other,
    }
}

/// The access key id of a SigV4 `Authorization` header.
pub fn access_key(headers: &http::HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_owned())
}

fn batch_keys(requests: &Value, hash: String) -> Vec<String> {
    let mut keys = Vec::new();
    let mut take = |item: &Value| {
        if let Some(v) = item[&hash]["S"].as_str() {
            keys.push(v.to_owned());
        }
    };
    match requests {
        // BatchWriteItem: [{PutRequest: {Item}} | {DeleteRequest: {Key}}]
        Value::Array(list) => {
            for r in list {
                take(&r["PutRequest"]["Item"]);
                take(&r["DeleteRequest"]["Key"]);
            }
        }
        // BatchGetItem: {Keys: [...]}
        other => other["Keys"]
            .as_array()
            .into_iter()
            .flatten()
            .for_each(take),
    }
    keys
}

/// The partition key value a Query's key condition names (`#pk = :pk`).
fn query_partition(json: &Value, hash: &str) -> Option<String> {
    let condition = json["KeyConditionExpression"].as_str()?;
    for clause in condition.replace(" and ", " AND ").split(" AND ") {
        let Some((left, right)) = clause.split_once('=') else {
            continue;
        };
        let (left, right) = (
            left.trim().trim_start_matches('('),
            right.trim().trim_end_matches(')'),
        );
        let name = if left.starts_with('#') {
            json["ExpressionAttributeNames"][left]
                .as_str()
                .unwrap_or_default()
        } else {
            left
        };
        if name == hash {
            return json["ExpressionAttributeValues"][right]["S"]
                .as_str()
                .map(str::to_owned);
        }
    }
    None
}
