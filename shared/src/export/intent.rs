//! The intent to create, recorded before the POST. Graph answers a create
//! and then shows the new object only once it has replicated (docs/graph.md
//! 2.6): a create whose answer was lost, retried at once, would find
//! nothing by its mark and make a second object; an AM object deleted in
//! that while would find nothing to delete. So while a create that began
//! within `REPLICATION_WINDOW` is not visible by its mark, neither happens:
//! the change waits (a `dependency_missing` problem that passes by itself)
//! and looks again (docs/behaviour.md 2.11).

use chrono::TimeDelta;

use super::{EntraWriter, ExportDirectory, ExportFailure, ExportRun};
use crate::model::directory::ItemKey;
use crate::model::entra::GraphError;

/// How long a created object may stay invisible. Microsoft gives no bound;
/// seconds are usual. Past this the lookup by mark is taken as the truth:
/// a create is sent again.
pub const REPLICATION_WINDOW: TimeDelta = TimeDelta::minutes(5);

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// Records that the object's create begins now, nothing of it being
    /// visible by its mark; refused while an earlier one may still appear.
    pub(super) async fn begin_create(&self, key: &ItemKey) -> Result<(), ExportFailure> {
        let now = self.clock();
        let began = self
            .directory
            .begin_create(key, now, now - REPLICATION_WINDOW)
            .await?;
        match began {
            true => {
                let mut begun = self.creates_begun.lock().expect("creates begun");
                begun.insert(key.sk(), now);
                Ok(())
            }
            false => Err(ExportFailure::NotYet(not_visible_yet(
                "it is looked for again rather than made twice",
            ))),
        }
    }

    /// Nothing of the object is visible (by its mark or its link): so it
    /// is, unless a create that began within the window may still appear
    /// (then the deletion waits).
    pub(super) async fn check_nothing_created(&self, key: &ItemKey) -> Result<(), ExportFailure> {
        match self.directory.create_begun(key).await? {
            Some(began) if began > self.clock() - REPLICATION_WINDOW => Err(ExportFailure::NotYet(
                not_visible_yet("it is deleted once it is"),
            )),
            _ => Ok(()),
        }
    }

    /// Graph refused the create outright: nothing to wait for.
    pub(super) async fn create_refused(
        &self,
        key: &ItemKey,
        failure: ExportFailure,
    ) -> ExportFailure {
        let began = self
            .creates_begun
            .lock()
            .expect("creates begun")
            .remove(&key.sk());
        let Some(began) = began else {
            return failure;
        };
        if let Err(e) = self.directory.forget_create(key, began).await {
            tracing::warn!(error = %e, "the refused create's intent stays until the window passes");
        }
        failure
    }
}

/// Why a change waits for a create that may still appear, and what then.
fn not_visible_yet(then: &str) -> String {
    format!(
        "a create of this object began less than {} minutes ago and what it made is not visible in Entra ID yet; {then}",
        REPLICATION_WINDOW.num_minutes()
    )
}

/// Graph refused the create outright (an answer that is not a timeout or
/// a malformed success): it made nothing.
pub(super) fn made_nothing(err: &GraphError) -> bool {
    match err {
        // A status outside 4xx (a 501, an error page) proves nothing.
        GraphError::Rejected { status, .. } => (400..500).contains(status),
        GraphError::Unauthorized | GraphError::Token(_) => true,
        other => other.code().is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Clock;

    #[test]
    fn only_a_refusal_in_words_proves_a_create_made_nothing() {
        let rejected = |status| GraphError::Rejected {
            status,
            code: "x".into(),
            message: "m".into(),
        };
        assert!(made_nothing(&rejected(400)));
        // Found by review: any status read as a refusal (a 501, an error
        // page with no JSON) forgot an intent whose object may exist.
        assert!(!made_nothing(&rejected(501)));
        assert!(!made_nothing(&GraphError::Malformed(
            "201 without an id".into()
        )));
        assert!(!made_nothing(&GraphError::Exhausted {
            attempts: 1,
            last: "504".into()
        }));
        assert!(made_nothing(&GraphError::Forbidden {
            code: "x".into(),
            message: "m".into()
        }));
    }

    /// Found by review: a batch's runs were dated when each was built, as
    /// if the batch had just begun, so intents were dated up to its
    /// length too early.
    #[tokio::test(start_paused = true)]
    async fn a_clock_tells_the_time_since_it_began_not_since_it_was_handed_on() {
        let began = chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let clock = Clock::starting(began);
        tokio::time::sleep(std::time::Duration::from_secs(90)).await;
        let handed_on = clock;
        assert_eq!(handed_on.now(), began + chrono::TimeDelta::seconds(90));
    }
}
