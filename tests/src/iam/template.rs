//! The functions' IAM policies as `template.yaml` gives them once SAM has
//! translated it (inline statements, policy templates, the managed policies
//! of event sources), with the intrinsic functions resolved against the
//! resources a local stack created.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use sha2::Digest;

use crate::local_aws::TEMPLATE;

/// What `Ref` and `Fn::GetAtt` stand for in one stack.
#[derive(Debug, Clone, Default)]
pub struct StackResources {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// Logical id or parameter name → the value of `Ref`.
    pub refs: HashMap<String, String>,
    /// `LogicalId.Attribute` → the value of `Fn::GetAtt`.
    pub attributes: HashMap<String, String>,
}

/// One inline policy of a function's role, resolved, and the labels of its
/// resources as the template writes them (for reports that outlive a stack).
#[derive(Debug, Clone)]
pub struct InlinePolicy {
    pub name: String,
    pub document: Value,
    /// Statement index → resource index → label.
    pub resource_labels: Vec<Vec<String>>,
}

/// A function's role, as SAM makes it.
#[derive(Debug, Clone)]
pub struct FunctionRole {
    /// The workspace binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub logical_id: String,
    pub inline: Vec<InlinePolicy>,
    pub managed: Vec<String>,
}

/// The SAM template translated to CloudFormation, by aws-sam-translator in
/// the project's venv; cached under `target/` by the template's hash.
pub fn translated_template() -> anyhow::Result<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let hash = hex(&sha2::Sha256::digest(TEMPLATE.as_bytes())[..8]);
    let dir = root.join("target").join("sam-translated");
    let cached = dir.join(format!("{hash}.json"));
    if !cached.exists() {
        std::fs::create_dir_all(&dir)?;
        let partial = dir.join(format!("{hash}.{}.tmp", std::process::id()));
        let status = std::process::Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tests/scripts/sam-translate.py"))
            .arg(root.join("template.yaml"))
            .arg(&partial)
            .status()
            .context(
                "running tests/scripts/sam-translate.py (the venv of tests/scripts/local-aws.sh)",
            )?;
        anyhow::ensure!(status.success(), "sam-translate.py failed: {status}");
        std::fs::rename(&partial, &cached)?;
    }
    Ok(serde_json::from_str(&std::fs::read_to_string(&cached)?)?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every function's role in the translated template, resolved.
pub fn function_roles(resources: &StackResources) -> anyhow::Result<Vec<FunctionRole>> {
    let translated = translated_template()?;
    let resolver = Resolver::new(&translated, resources)?;
    let mut roles = Vec::new();
    for (logical_id, binary) in function_binaries()? {
        let role = &translated["Resources"][format!("{logical_id}Role")]["Properties"];
        anyhow::ensure!(
            role.is_object(),
            "the translated template has no role for {logical_id}"
        );
        let mut inline = Vec::new();
        for policy in role["Policies"].as_array().into_iter().flatten() {
            let name = policy["PolicyName"].as_str().unwrap_or_default().to_owned();
            let raw = &policy["PolicyDocument"];
            inline.push(InlinePolicy {
                resource_labels: labels(&resolver, raw)?,
                document: resolver.resolve(raw)?,
                name,
            });
        }
        let managed = role["ManagedPolicyArns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|arn| {
                resolver
                    .resolve(arn)
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
            })
            .collect::<anyhow::Result<_>>()?;
        roles.push(FunctionRole {
            binary,
            logical_id,
            inline,
            managed,
        });
    }
    Ok(roles)
}

/// (logical id, binary) of every `AWS::Serverless::Function`.
pub fn function_binaries() -> anyhow::Result<Vec<(String, String)>> {
    let template: Yaml = serde_yaml_ng::from_str(TEMPLATE)?;
    let resources = template["Resources"].as_mapping().context("no Resources")?;
    Ok(resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter_map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str()?;
            Some((id.as_str()?.to_owned(), binary.to_owned()))
        })
        .collect())
}

/// How the template writes each statement's resources: `IntegrationsTable.Arn`,
/// the text of a `Fn::Sub`, or the literal; a statement under `Fn::If` by
/// the branch the conditions choose (none for `AWS::NoValue`), so that the
/// labels stay aligned with the resolved statements.
fn labels(resolver: &Resolver<'_>, document: &Value) -> anyhow::Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    for statement in super::policy::statement_list(document) {
        let statement = match statement["Fn::If"].as_array() {
            Some(branches) => {
                let chosen =
                    if resolver.named_condition(branches[0].as_str().unwrap_or_default())? {
                        &branches[1]
                    } else {
                        &branches[2]
                    };
                if chosen["Ref"] == "AWS::NoValue" {
                    continue;
                }
                chosen.clone()
            }
            None => statement,
        };
        out.push(match &statement["Resource"] {
            Value::Array(list) => list.iter().map(label).collect(),
            one => vec![label(one)],
        });
    }
    Ok(out)
}

fn label(value: &Value) -> String {
    if let Some(text) = value.as_str() {
        return text.to_owned();
    }
    if let Some(name) = value["Ref"].as_str() {
        return name.to_owned();
    }
    if let Some([id, attribute]) = value["Fn::GetAtt"].as_array().map(Vec::as_slice) {
        return format!(
            "{}.{}",
            id.as_str().unwrap_or("?"),
            attribute.as_str().unwrap_or("?")
        );
    }
    match &value["Fn::Sub"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.first().map(label).unwrap_or_default(),
        _ => value.to_string(),
    }
}

/// Evaluates `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::If` (with
/// the template's conditions) and `AWS::NoValue`.
struct Resolver<'a> {
    resources: &'a StackResources,
    conditions: HashMap<String, bool>,
}

const NO_VALUE: &str = "\u{0}AWS::NoValue";

impl<'a> Resolver<'a> {
    fn new(translated: &Value, resources: &'a StackResources) -> anyhow::Result<Self> {
        let mut resolver = Self {
            resources,
            conditions: HashMap::new(),
        };
        let definitions = translated["Conditions"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        // Conditions may name each other: evaluate until none is left.
        for _ in 0..definitions.len() {
            for (name, expression) in &definitions {
                if let Ok(value) = resolver.condition(expression) {
                    resolver.conditions.insert(name.clone(), value);
                }
            }
        }
        Ok(resolver)
    }

    fn condition(&self, expression: &Value) -> anyhow::Result<bool> {
        let (function, args) = single(expression)?;
        let args = args
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![args.clone()]);
        Ok(match function {
            "Fn::Equals" => self.resolve(&args[0])? == self.resolve(&args[1])?,
            "Fn::Not" => !self.condition(&args[0])?,
            "Fn::And" => args
                .iter()
                .map(|a| self.condition(a))
                .collect::<anyhow::Result<Vec<_>>>()?
                .iter()
                .all(|b| *b),
            "Fn::Or" => args
                .iter()
                .map(|a| self.condition(a))
                .collect::<anyhow::Result<Vec<_>>>()?
                .iter()
                .any(|b| *b),
            "Condition" => self.named_condition(args[0].as_str().unwrap_or_default())?,
            other => bail!("condition function {other} is not supported"),
        })
    }

    fn named_condition(&self, name: &str) -> anyhow::Result<bool> {
        self.conditions
            .get(name)
            .copied()
            .with_context(|| format!("condition {name} is not known yet"))
    }

    fn resolve(&self, value: &Value) -> anyhow::Result<Value> {
        match value {
            Value::Array(list) => Ok(Value::Array(
                list.iter()
                    .map(|v| self.resolve(v))
                    .collect::<anyhow::Result<Vec<_>>>()?
                    .into_iter()
                    .filter(|v| v != NO_VALUE)
                    .collect(),
            )),
            Value::Object(map) if map.len() == 1 && is_intrinsic(map.keys().next().unwrap()) => {
                self.intrinsic(value)
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let v = self.resolve(v)?;
                    if v != NO_VALUE {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn intrinsic(&self, value: &Value) -> anyhow::Result<Value> {
        let (function, args) = single(value)?;
        let text = |v: String| Ok(Value::String(v));
        match function {
            "Ref" => text(self.reference(args.as_str().unwrap_or_default())?),
            "Fn::GetAtt" => {
                let name = match args {
                    Value::Array(parts) => parts
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("."),
                    other => other.as_str().unwrap_or_default().to_owned(),
                };
                text(self.attribute(&name)?)
            }
            "Fn::Sub" => self.substitute(args),
            "Fn::Join" => {
                let separator = args[0].as_str().unwrap_or_default();
                let parts = self.resolve(&args[1])?;
                let parts: Vec<&str> = parts
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                text(parts.join(separator))
            }
            "Fn::If" => {
                let chosen = if self.named_condition(args[0].as_str().unwrap_or_default())? {
                    &args[1]
                } else {
                    &args[2]
                };
                self.resolve(chosen)
            }
            other => bail!("intrinsic {other} is not supported by the harness"),
        }
    }

    fn reference(&self, name: &str) -> anyhow::Result<String> {
        let r = self.resources;
        Ok(match name {
            "AWS::Partition" => r.partition.clone(),
            "AWS::Region" => r.region.clone(),
            "AWS::AccountId" => r.account.clone(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "AWS::StackName" => "entra-sync-local".to_owned(),
            "AWS::NoValue" => NO_VALUE.to_owned(),
            _ => r.refs.get(name).cloned().with_context(|| {
                format!("Ref {name}: not a resource or parameter of the local stack")
            })?,
        })
    }

    fn attribute(&self, name: &str) -> anyhow::Result<String> {
        self.resources
            .attributes
            .get(name)
            .cloned()
            .with_context(|| format!("Fn::GetAtt {name}: not known to the local stack"))
    }

    fn substitute(&self, args: &Value) -> anyhow::Result<Value> {
        let (template, variables) = match args {
            Value::Array(parts) => (parts[0].as_str().unwrap_or_default(), parts.get(1).cloned()),
            other => (other.as_str().unwrap_or_default(), None),
        };
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').context("unclosed ${ in Fn::Sub")? + start;
            let name = &rest[start + 2..end];
            let value = match variables.as_ref().and_then(|v| v.get(name)) {
                Some(v) => self.resolve(v)?.as_str().unwrap_or_default().to_owned(),
                None if name.contains('.') => self.attribute(name)?,
                None => self.reference(name)?,
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }
}

fn is_intrinsic(key: &str) -> bool {
    key == "Ref" || key == "Condition" || key.starts_with("Fn::")
}

fn single(value: &Value) -> anyhow::Result<(&str, &Value)> {
    let map = value.as_object().context("an intrinsic is an object")?;
    let (k, v) = map.iter().next().context("an empty intrinsic")?;
    Ok((k.as_str(), v))
}

/// Each template parameter with its default (the stack overrides some).
pub fn parameter_defaults() -> anyhow::Result<Vec<(String, String)>> {
    let template: Yaml = serde_yaml_ng::from_str(TEMPLATE)?;
    Ok(template["Parameters"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(name, p)| {
            let default = match &p["Default"] {
                Yaml::String(s) => s.clone(),
                Yaml::Number(n) => n.to_string(),
                Yaml::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((name.as_str()?.to_owned(), default))
        })
        .collect())
}
