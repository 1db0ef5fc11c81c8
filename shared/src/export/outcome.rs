//! What the export did with one change: the words, the action and what
//! was sent (its change event is made of them), or why nothing was done.

use crate::events::{AttributeChange, EventAction};

#[derive(Debug, Clone, PartialEq)]
pub enum ExportOutcome {
    /// Entra ID now reflects the change (what was done, and sent).
    Exported(Exported),
    /// Nothing to do (why).
    Ignored(&'static str),
}

impl ExportOutcome {
    /// What was done, in words, when something was.
    pub fn exported(&self) -> Option<&'static str> {
        match self {
            Self::Exported(exported) => Some(exported.what),
            Self::Ignored(_) => None,
        }
    }
}

/// What the export did in Entra ID, as the engine did it: its change
/// event is made of it, never recomputed from the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// In words ("user updated", "user disabled").
    pub what: &'static str,
    pub action: EventAction,
    /// The Graph properties sent, old → new (`member`, `manager`: AM ids);
    /// never the password.
    pub modified: Vec<AttributeChange>,
}

impl Exported {
    pub(crate) fn new(what: &'static str, action: EventAction) -> Self {
        Self {
            what,
            action,
            modified: Vec::new(),
        }
    }

    pub(crate) fn with(self, modified: Vec<AttributeChange>) -> Self {
        Self { modified, ..self }
    }
}

impl From<Exported> for ExportOutcome {
    fn from(exported: Exported) -> Self {
        Self::Exported(exported)
    }
}
