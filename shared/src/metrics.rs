//! Operators' metrics as CloudWatch embedded metric format (EMF) lines on
//! stdout (docs/behaviour.md 2.14): Lambda's log agent sends them with the
//! logs and CloudWatch extracts the metrics, so emitting one costs no call
//! and no IAM permission. The format is one JSON object; writing it here is
//! shorter than adopting a metrics framework for a handful of numbers.
//!
//! Dimensions are few and bounded (the function, a result): a tenant id is a
//! property of the line (searchable in Logs Insights), never a dimension,
//! since each dimension value is a metric of its own, billed.

use serde_json::{Map, Value, json};

/// The namespace of every metric of this integration.
pub const NAMESPACE: &str = "EntraSync";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF line: its dimensions, metrics and plain properties.
#[derive(Debug, Clone, Default)]
pub struct MetricLine {
    dimensions: Vec<(&'static str, String)>,
    metrics: Vec<(&'static str, f64, Unit)>,
    properties: Vec<(&'static str, String)>,
}

impl MetricLine {
    /// A line of `function` (the `Function` dimension).
    pub fn of_function(function: &str) -> Self {
        Self::default().dimension("Function", function)
    }

    pub fn dimension(mut self, name: &'static str, value: &str) -> Self {
        self.dimensions.push((name, value.to_owned()));
        self
    }

    pub fn count(mut self, name: &'static str, value: u64) -> Self {
        self.metrics.push((name, value as f64, Unit::Count));
        self
    }

    pub fn milliseconds(mut self, name: &'static str, value: u64) -> Self {
        self.metrics.push((name, value as f64, Unit::Milliseconds));
        self
    }

    /// A value kept on the line but not made a dimension.
    pub fn property(mut self, name: &'static str, value: &str) -> Self {
        self.properties.push((name, value.to_owned()));
        self
    }

    /// The line as CloudWatch reads it, stamped `timestamp_ms`.
    pub fn to_json(&self, timestamp_ms: i64) -> Value {
        let mut root = Map::new();
        for (name, value) in self.properties.iter().chain(&self.dimensions) {
            root.insert((*name).to_owned(), Value::String(value.clone()));
        }
        for (name, value, _) in &self.metrics {
            root.insert((*name).to_owned(), json!(value));
        }
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, _, unit)| json!({ "Name": name, "Unit": unit.as_str() }))
            .collect();
        let dimensions: Vec<&str> = self.dimensions.iter().map(|(name, _)| *name).collect();
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions],
                    "Metrics": metrics,
                }],
            }),
        );
        Value::Object(root)
    }

    /// Writes the line to stdout, where Lambda's log agent picks it up (a
    /// line with no metric is not written).
    pub fn emit(&self) {
        if self.metrics.is_empty() {
            return;
        }
        let line = self.to_json(chrono::Utc::now().timestamp_millis());
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_each_metric_and_dimension_it_carries() {
        let line = MetricLine::of_function("sync-worker")
            .dimension("Result", "ok")
            .count("Runs", 1)
            .count("ObjectsApplied", 12)
            .milliseconds("NotificationToSyncLatency", 850)
            .property("tenant_id", "acme")
            .to_json(1_700_000_000_000);
        let aws = &line["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_000i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Function", "Result"]]));
        // Every declared metric and dimension is a member of the root.
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name}");
        }
        for name in directive["Dimensions"][0].as_array().unwrap() {
            assert!(line[name.as_str().unwrap()].is_string());
        }
        assert_eq!(line["Runs"], 1.0);
        assert_eq!(line["NotificationToSyncLatency"], 850.0);
        assert_eq!(
            directive["Metrics"][2],
            json!({"Name": "NotificationToSyncLatency", "Unit": "Milliseconds"})
        );
        assert_eq!(line["tenant_id"], "acme", "a property, not a dimension");
    }
}
