//! IAM policy statements and their evaluation, as AWS evaluates an
//! identity policy: an explicit deny wins, else some allow must match the
//! action, the resource and every condition. Only the condition operators
//! the template uses are known; any other fails loudly, so that a policy the
//! harness cannot judge is never taken as allowing.

use serde_json::Value;

/// What a request offers to the conditions.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// `dynamodb:LeadingKeys`: the partition key values the request touches.
    pub leading_keys: Vec<String>,
    /// Other condition keys (STS's `sts:IdentityTokenAudience`, ...): the
    /// values the request gives each; a key absent is not in the request.
    pub keys: Vec<(String, Vec<String>)>,
}

/// The condition keys the harness can judge: any other fails loudly.
const KNOWN_KEYS: [&str; 5] = [
    "dynamodb:LeadingKeys",
    "secretsmanager:ForceDeleteWithoutRecovery",
    "sts:IdentityTokenAudience",
    "sts:DurationSeconds",
    "sts:SigningAlgorithm",
];

/// One (action, resource) pair a statement grants: the unit of the
/// unused-grant report.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Grant {
    pub statement: String,
    pub action: String,
    pub resource: String,
}

#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: String,
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

/// A function's statements: inline ones and those of its managed policies.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

/// How a request fared against a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by these grants (one per matching statement).
    Allowed(Vec<Grant>),
    Denied(String),
}

impl Policy {
    /// Adds the statements of one policy document (resolved JSON).
    pub fn add_document(&mut self, name: &str, document: &Value) -> anyhow::Result<()> {
        anyhow::ensure!(
            matches!(document["Statement"], Value::Array(_) | Value::Object(_)),
            "policy {name}: Statement is {}",
            document["Statement"]
        );
        for (index, statement) in statement_list(document).iter().enumerate() {
            let sid = statement["Sid"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{name}#{index}"));
            anyhow::ensure!(
                statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
                "policy {name} statement {sid}: NotAction/NotResource are not supported by the harness"
            );
            self.statements.push(Statement {
                allow: statement["Effect"] == "Allow",
                actions: strings(&statement["Action"]),
                resources: strings(&statement["Resource"]),
                conditions: conditions(&sid, &statement["Condition"])?,
                sid,
            });
        }
        Ok(())
    }

    /// Every (action, resource) this policy grants.
    pub fn grants(&self) -> Vec<Grant> {
        let mut out = Vec::new();
        for statement in self.statements.iter().filter(|s| s.allow) {
            for action in &statement.actions {
                for resource in &statement.resources {
                    out.push(Grant {
                        statement: statement.sid.clone(),
                        action: action.clone(),
                        resource: resource.clone(),
                    });
                }
            }
        }
        out
    }

    /// Whether `action` on `resource` is allowed under `context`.
    pub fn decide(&self, action: &str, resource: &str, context: &RequestContext) -> Decision {
        let mut grants = Vec::new();
        for statement in &self.statements {
            let Some(action_pattern) = statement.actions.iter().find(|a| matches(a, action)) else {
                continue;
            };
            let Some(resource_pattern) = statement.resources.iter().find(|r| matches(r, resource))
            else {
                continue;
            };
            if !statement.conditions.iter().all(|c| c.holds(context)) {
                continue;
            }
            if !statement.allow {
                return Decision::Denied(format!("explicitly denied by {}", statement.sid));
            }
            grants.push(Grant {
                statement: statement.sid.clone(),
                action: action_pattern.clone(),
                resource: resource_pattern.clone(),
            });
        }
        if grants.is_empty() {
            Decision::Denied(format!("no statement allows {action} on {resource}"))
        } else {
            Decision::Allowed(grants)
        }
    }
}

impl Condition {
    fn holds(&self, context: &RequestContext) -> bool {
        let actual: &[String] = match self.key.as_str() {
            "dynamodb:LeadingKeys" => &context.leading_keys,
            key => context
                .keys
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_slice())
                .unwrap_or_default(),
        };
        let operator = self
            .operator
            .trim_start_matches("ForAllValues:")
            .trim_start_matches("ForAnyValue:");
        let one = |value: &String| match operator {
            "StringEquals" => self.values.iter().any(|v| v == value),
            "Bool" => self.values.iter().any(|v| v.eq_ignore_ascii_case(value)),
            "StringLike" => self.values.iter().any(|v| matches(v, value)),
            "NumericLessThanEquals" => value.parse::<f64>().is_ok_and(|n| {
                self.values
                    .iter()
                    .any(|v| v.parse::<f64>().is_ok_and(|limit| n <= limit))
            }),
            _ => unreachable!("checked when parsed"),
        };
        // AWS: ForAllValues over an empty set is true (a Scan has no
        // leading key); ForAnyValue needs one match; a plain operator on a
        // key the request lacks is false.
        if self.operator.starts_with("ForAllValues:") {
            actual.iter().all(one)
        } else {
            actual.iter().any(one)
        }
    }
}

fn conditions(sid: &str, value: &Value) -> anyhow::Result<Vec<Condition>> {
    let Some(operators) = value.as_object() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (operator, keys) in operators {
        let known = [
            "ForAllValues:StringEquals",
            "ForAllValues:StringLike",
            "ForAnyValue:StringEquals",
            "ForAnyValue:StringLike",
            "StringEquals",
            "StringLike",
            "NumericLessThanEquals",
            "Bool",
        ];
        anyhow::ensure!(
            known.contains(&operator.as_str()),
            "statement {sid}: condition operator {operator} is not known to the harness"
        );
        for (key, values) in keys.as_object().into_iter().flatten() {
            anyhow::ensure!(
                KNOWN_KEYS.contains(&key.as_str()),
                "statement {sid}: condition key {key} is not known to the harness"
            );
            let values = strings(values);
            anyhow::ensure!(
                !values.is_empty(),
                "statement {sid}: condition {operator} {key} has no value the harness can read"
            );
            out.push(Condition {
                operator: operator.clone(),
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

/// A document's statements: `Statement` is a list, or one statement.
pub fn statement_list(document: &Value) -> Vec<Value> {
    match &document["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

/// An element that is one string or a list of them (`Action`, `Resource`).
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        // A numeric or boolean condition value (`sts:DurationSeconds: 300`,
        // `Bool: {…: true}` unquoted): AWS reads them as their text.
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Array(list) => list.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one; actions
/// case-insensitively (AWS compares action names so).
pub fn matches(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let is_action =
        !pattern.starts_with("arn:") && pattern.contains(':') && !value.starts_with("arn:");
    let (p, v) = if is_action {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), value.to_owned())
    };
    let p: Vec<char> = p.chars().collect();
    let v: Vec<char> = v.chars().collect();
    go(&p, &v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(document: Value) -> Policy {
        let mut policy = Policy::default();
        policy.add_document("p", &document).unwrap();
        policy
    }

    #[test]
    fn an_action_on_another_table_is_denied() {
        let p = policy(json!({"Statement": [{"Sid": "T", "Effect": "Allow",
            "Action": ["dynamodb:GetItem"], "Resource": "arn:aws:dynamodb:r:1:table/a"}]}));
        let none = RequestContext::default();
        assert!(matches!(
            p.decide("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/a", &none),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            p.decide("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/b", &none),
            Decision::Denied(_)
        ));
        assert!(matches!(
            p.decide("dynamodb:PutItem", "arn:aws:dynamodb:r:1:table/a", &none),
            Decision::Denied(_)
        ));
        // An index is a resource of its own.
        assert!(matches!(
            p.decide(
                "dynamodb:GetItem",
                "arn:aws:dynamodb:r:1:table/a/index/i",
                &none
            ),
            Decision::Denied(_)
        ));
    }

    #[test]
    fn leading_keys_limit_the_items() {
        let p = policy(
            json!({"Statement": {"Effect": "Allow", "Action": "dynamodb:*Item",
            "Resource": "arn:t", "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["TENANT#*"]}}}}),
        );
        let keys = |k: &[&str]| RequestContext {
            keys: Vec::new(),
            leading_keys: k.iter().map(|s| s.to_string()).collect(),
        };
        assert!(matches!(
            p.decide("dynamodb:GetItem", "arn:t", &keys(&["TENANT#a"])),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            p.decide("dynamodb:GetItem", "arn:t", &keys(&["TENANT#a", "OTHER#b"])),
            Decision::Denied(_)
        ));
        assert!(
            matches!(
                p.decide("dynamodb:PutItem", "arn:t", &keys(&[])),
                Decision::Allowed(_)
            ),
            "AWS: ForAllValues of nothing holds"
        );
    }

    #[test]
    fn a_deny_wins_and_wildcards_match() {
        let p = policy(json!({"Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "arn:s:secret:p/tenants/*"},
            {"Effect": "Deny", "Action": "secretsmanager:DeleteSecret", "Resource": "*"}]}));
        let none = RequestContext::default();
        assert!(matches!(
            p.decide(
                "secretsmanager:GetSecretValue",
                "arn:s:secret:p/tenants/x-AbCdEf",
                &none
            ),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            p.decide(
                "secretsmanager:DeleteSecret",
                "arn:s:secret:p/tenants/x",
                &none
            ),
            Decision::Denied(_)
        ));
        assert!(matches!(
            p.decide(
                "secretsmanager:GetSecretValue",
                "arn:s:secret:p/other",
                &none
            ),
            Decision::Denied(_)
        ));
    }

    #[test]
    fn an_unknown_condition_is_refused_not_ignored() {
        let mut p = Policy::default();
        let e = p.add_document(
            "p",
            &json!({"Statement": {"Effect": "Allow", "Action": "x:Y", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceIp": "1.2.3.4"}}}}),
        );
        assert!(e.is_err());
    }

    #[test]
    fn a_web_identity_token_is_allowed_only_within_the_audience_duration_and_algorithm() {
        let p = policy(json!({"Statement": [{"Sid": "F", "Effect": "Allow",
            "Action": "sts:GetWebIdentityToken", "Resource": "*",
            "Condition": {
                "ForAllValues:StringEquals": {"sts:IdentityTokenAudience": ["api://AzureADTokenExchange"]},
                "NumericLessThanEquals": {"sts:DurationSeconds": 300},
                "StringEquals": {"sts:SigningAlgorithm": "RS256"}}}]}));
        let asked = |audience: &str, duration: &str, algorithm: &str| RequestContext {
            leading_keys: Vec::new(),
            keys: vec![
                ("sts:IdentityTokenAudience".into(), vec![audience.into()]),
                ("sts:DurationSeconds".into(), vec![duration.into()]),
                ("sts:SigningAlgorithm".into(), vec![algorithm.into()]),
            ],
        };
        let decide = |c: RequestContext| p.decide("sts:GetWebIdentityToken", "*", &c);
        assert!(matches!(
            decide(asked("api://AzureADTokenExchange", "300", "RS256")),
            Decision::Allowed(_)
        ));
        for refused in [
            asked("api://other", "300", "RS256"),
            asked("api://AzureADTokenExchange", "3600", "RS256"),
            asked("api://AzureADTokenExchange", "300", "ES384"),
        ] {
            assert!(matches!(decide(refused), Decision::Denied(_)));
        }
        // No duration asked: STS's default (300) is not a value the
        // condition sees, and a plain operator on an absent key fails.
        let mut no_duration = asked("api://AzureADTokenExchange", "300", "RS256");
        no_duration.keys.retain(|(k, _)| k != "sts:DurationSeconds");
        assert!(matches!(decide(no_duration), Decision::Denied(_)));
    }
}
