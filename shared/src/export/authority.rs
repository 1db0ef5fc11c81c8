//! Users mastered on premises (DESIGN 2.13, `onPremisesSyncEnabled`):
//! Graph refuses writes to the attributes Active Directory owns, and the
//! whole request with them. The export writes what the cloud still owns
//! and parks the rest as a problem `source_of_authority`, which waits for
//! the user to change.

use super::{EntraPatch, EntraWriter, ExportDirectory, ExportFailure, ExportRun, graph_failure};
use crate::model::directory::USER_FIELDS;
use crate::problems::Code;

/// Graph properties as an admin knows them: the AM attribute and its
/// Graph name (a mapped target has only the latter).
fn named<S: AsRef<str>>(properties: &[S]) -> String {
    properties
        .iter()
        .map(|graph| {
            let graph = graph.as_ref();
            match USER_FIELDS.iter().find(|f| f.graph == graph) {
                Some(field) => format!("{} ({graph})", field.am),
                None => graph.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl<D: ExportDirectory, W: EntraWriter> ExportRun<'_, D, W> {
    /// After Graph refused `patch` for the user mastered on premises: sends
    /// what the cloud owns of it, if anything, and names what it refused.
    pub(super) async fn write_cloud_owned(
        &self,
        entra_id: &str,
        patch: &EntraPatch,
        display: &str,
    ) -> ExportFailure {
        let (cloud, mut refused) = patch.split_on_premises_mastered();
        let mut written = "nothing was written".to_owned();
        if refused.is_empty() {
            // Graph refused what we hold to be the cloud's: all of it, then.
            refused = patch.names().into_iter().map(str::to_owned).collect();
        } else if !cloud.is_empty() {
            if let Err(e) = self.writer.update_user(entra_id, &cloud).await {
                return graph_failure("updating what the cloud owns of the user", e);
            }
            written = format!("{} written", named(&cloud.names()));
        }
        ExportFailure::Refused {
            code: Code::SourceOfAuthority,
            reason: format!(
                "the Entra user {display} is mastered on premises (Active Directory, through Entra Connect): Graph refused {}, which Active Directory owns; {written}. Make the change in Active Directory; the user is tried again when it changes in AM",
                named(&refused)
            ),
        }
    }
}
