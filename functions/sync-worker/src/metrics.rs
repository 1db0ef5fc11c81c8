//! The worker's operators' metrics (docs/behaviour.md 2.14): one line per
//! job (runs by result, objects applied, open problems, and for a job a
//! notification queued, the time from that notification to the synced
//! directory), one per invocation for Graph's throttling.

use aws_lambda_events::sqs::SqsMessage;
use chrono::{DateTime, Utc};
use entra_sync::import::RunOutcome;
use entra_sync::import::history::Trigger;
use entra_sync::metrics::MetricLine;
use entra_sync::model::TenantId;
use entra_sync::store::queue::{NOTIFICATION_TRIGGER, TRIGGER_ATTRIBUTE};

const FUNCTION: &str = "sync-worker";

/// When graph-notifications queued this job (its first notification of a
/// burst); `None` for the scheduler's and continuations.
pub fn notified_at(message: &SqsMessage) -> Option<DateTime<Utc>> {
    let trigger = message.message_attributes.get(TRIGGER_ATTRIBUTE)?;
    if trigger.string_value.as_deref() != Some(NOTIFICATION_TRIGGER) {
        return None;
    }
    let sent_ms: i64 = message.attributes.get("SentTimestamp")?.parse().ok()?;
    DateTime::from_timestamp_millis(sent_ms)
}

/// Why the job was queued (the message's `trigger` attribute; none is the
/// scheduler's).
pub fn trigger_of(message: &SqsMessage) -> Trigger {
    let attribute = message.message_attributes.get(TRIGGER_ATTRIBUTE);
    Trigger::of_job(attribute.and_then(|a| a.string_value.as_deref()))
}

/// The job's line: its result, and what a completed run did.
pub fn run_line(
    tenant: &TenantId,
    outcome: &RunOutcome,
    notified_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> MetricLine {
    let result = match outcome {
        RunOutcome::Completed(status) => status.result.as_str(),
        RunOutcome::Failed(_) => "error",
        RunOutcome::Paused => "paused",
        RunOutcome::Skipped(_) => "skipped",
        RunOutcome::LeaseHeld => "lease_held",
        RunOutcome::ReauthorisationRequired => "reauthorisation_required",
    };
    let mut line = MetricLine::of_function(FUNCTION)
        .dimension("Result", result)
        .property("tenant_id", tenant.as_str())
        .count("Runs", 1);
    if let RunOutcome::Completed(status) | RunOutcome::Failed(status) = outcome {
        let applied = status.counts.as_pairs().iter().map(|(_, n)| n).sum();
        line = line.count("ObjectsApplied", applied);
        if let Some(open) = status.open_problems {
            line = line.count("OpenProblems", open);
        }
    }
    if let (RunOutcome::Completed(_), Some(at)) = (outcome, notified_at) {
        let waited = (now - at).num_milliseconds().max(0) as u64;
        line = line.milliseconds("NotificationToSyncLatency", waited);
    }
    line
}

/// The line of a job a store failure stopped before its run could record
/// it: an `error` run too, whose message SQS delivers again.
pub fn failed_job_line(tenant: &TenantId) -> MetricLine {
    MetricLine::of_function(FUNCTION)
        .dimension("Result", "error")
        .property("tenant_id", tenant.as_str())
        .count("Runs", 1)
}

/// The invocation's line: Graph's throttling answers (429, 503) while it ran.
pub fn emit_invocation() {
    MetricLine::of_function(FUNCTION)
        .count("GraphThrottled", entra_sync::graph::take_throttled())
        .emit();
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsMessageAttribute;
    use entra_sync::import::state::{Counts, Mode, RunResult, RunStatus};

    fn notified_message(sent_ms: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message
            .attributes
            .insert("SentTimestamp".into(), sent_ms.into());
        let mut trigger = SqsMessageAttribute::default();
        trigger.string_value = Some(NOTIFICATION_TRIGGER.into());
        trigger.data_type = Some("String".into());
        message
            .message_attributes
            .insert(TRIGGER_ATTRIBUTE.into(), trigger);
        message
    }

    #[test]
    fn a_completed_run_a_notification_queued_reports_its_latency_and_work() {
        let message = notified_message("1700000000000");
        let at = notified_at(&message).unwrap();
        let status = RunStatus {
            completed_at: None,
            result: RunResult::Ok,
            error: None,
            mode: Mode::Delta,
            counts: Counts {
                users_updated: 3,
                members_added: 2,
                ..Counts::default()
            },
            open_problems: Some(1),
        };
        let tenant = TenantId::parse("acme").unwrap();
        let now = at + chrono::Duration::milliseconds(1_250);
        let line = run_line(&tenant, &RunOutcome::Completed(status), Some(at), now).to_json(0);
        assert_eq!(line["Result"], "ok");
        assert_eq!(line["Runs"], 1.0);
        assert_eq!(line["ObjectsApplied"], 5.0);
        assert_eq!(line["OpenProblems"], 1.0);
        assert_eq!(line["NotificationToSyncLatency"], 1250.0);
        assert_eq!(line["tenant_id"], "acme");
    }

    #[test]
    fn a_job_a_store_failure_stopped_counts_as_an_error_run() {
        let tenant = TenantId::parse("acme").unwrap();
        let line = failed_job_line(&tenant).to_json(0);
        assert_eq!(line["Result"], "error");
        assert_eq!(line["Runs"], 1.0);
        assert_eq!(line["tenant_id"], "acme");
        assert!(
            line.get("ObjectsApplied").is_none(),
            "nothing it can vouch for"
        );
    }

    #[test]
    fn a_scheduled_job_has_no_latency_and_a_skipped_run_counts_as_such() {
        let mut message = notified_message("1700000000000");
        message.message_attributes.clear();
        assert_eq!(notified_at(&message), None);
        let tenant = TenantId::parse("acme").unwrap();
        let line = run_line(&tenant, &RunOutcome::Skipped("off"), None, Utc::now()).to_json(0);
        assert_eq!(line["Result"], "skipped");
        assert!(line.get("ObjectsApplied").is_none());
        assert!(line.get("NotificationToSyncLatency").is_none());
    }
}
