//! Problem items (docs/contract.md 1.3, 2.8): one per object that could not be
//! synchronised, naming the object, the operation and the cause in words an
//! admin can act on. The import and the export write them instead of
//! failing a whole run or dropping a change; they disappear when their
//! object synchronises.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::model::TenantId;
use crate::ports::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Entra → AM.
    Import,
    /// AM → Entra.
    Export,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Export => "export",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Import, Self::Export]
            .into_iter()
            .find(|d| d.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    User,
    Group,
    Membership,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Membership => "membership",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::User, Self::Group, Self::Membership]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    AddMember,
    RemoveMember,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::AddMember => "add_member",
            Self::RemoveMember => "remove_member",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Create,
            Self::Update,
            Self::Delete,
            Self::AddMember,
            Self::RemoveMember,
        ]
        .into_iter()
        .find(|o| o.as_str() == raw)
    }
}

/// The machine-readable cause (docs/contract.md 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    UnverifiedDomain,
    DomainNotInScope,
    UserNameConflict,
    NotAuthorised,
    GraphRejected,
    DependencyMissing,
    RetriesExhausted,
    InvalidObject,
    /// Export met an Entra object it did not create and may not adopt.
    EntraObjectExists,
    /// Export would have changed an Entra administrator (a directory role).
    PrivilegedAccount,
    /// Graph refused attributes that Active Directory owns (a user mastered
    /// on premises, `onPremisesSyncEnabled`).
    SourceOfAuthority,
}

impl Code {
    const ALL: [Code; 11] = [
        Self::UnverifiedDomain,
        Self::DomainNotInScope,
        Self::UserNameConflict,
        Self::NotAuthorised,
        Self::GraphRejected,
        Self::DependencyMissing,
        Self::RetriesExhausted,
        Self::InvalidObject,
        Self::EntraObjectExists,
        Self::PrivilegedAccount,
        Self::SourceOfAuthority,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnverifiedDomain => "unverified_domain",
            Self::DomainNotInScope => "domain_not_in_scope",
            Self::UserNameConflict => "user_name_conflict",
            Self::NotAuthorised => "not_authorised",
            Self::GraphRejected => "graph_rejected",
            Self::DependencyMissing => "dependency_missing",
            Self::RetriesExhausted => "retries_exhausted",
            Self::InvalidObject => "invalid_object",
            Self::EntraObjectExists => "entra_object_exists",
            Self::PrivilegedAccount => "privileged_account",
            Self::SourceOfAuthority => "source_of_authority",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// Which object a problem is about: one item per object and direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProblemKey {
    pub direction: Direction,
    pub kind: ObjectKind,
    /// The AM id for export (`<group_id>#<user_id>` for a membership), the
    /// Entra id for import.
    pub object_id: String,
}

/// One problem item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: ProblemKey,
    /// What an admin recognises: the UPN, the group name, `group / UPN`.
    pub display: String,
    pub operation: Operation,
    pub code: Code,
    /// The cause in words, naming the value at fault; never a secret.
    pub reason: String,
    /// Attempts so far (the store counts them: 1 for a new problem).
    pub attempts: u32,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When it is retried by itself; `None` when it waits for the object
    /// to change (or the admin's resync).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Export: the Entra object the AM object was linked to, for a delete
    /// or a membership removal replayed after the AM item is gone.
    pub entra_id: Option<String>,
    /// Export: whether a write of it may have reached Entra ID with its
    /// answer lost (kept once true, until the problem goes). `None` on an
    /// item written before this was kept.
    pub write_unconfirmed: Option<bool>,
}

impl Problem {
    /// A problem seen now (the store keeps the first sighting and counts
    /// the attempts of one already open).
    pub fn new(key: ProblemKey, operation: Operation, code: Code, reason: String) -> Self {
        let now = Utc::now();
        Self {
            display: key.object_id.clone(),
            key,
            operation,
            code,
            reason,
            attempts: 1,
            first_seen_at: now,
            last_seen_at: now,
            next_attempt_at: None,
            entra_id: None,
            write_unconfirmed: None,
        }
    }

    pub fn write_unconfirmed(mut self, unconfirmed: bool) -> Self {
        self.write_unconfirmed = Some(unconfirmed);
        self
    }

    /// This problem recorded over `previous`, as every store does: its
    /// first sighting kept, its attempts counted, an unconfirmed write kept.
    pub fn recorded_over(&self, previous: Option<&Problem>) -> Problem {
        let Some(previous) = previous else {
            return self.clone();
        };
        Problem {
            attempts: previous.attempts + 1,
            first_seen_at: previous.first_seen_at,
            write_unconfirmed: match (previous.write_unconfirmed, self.write_unconfirmed) {
                (Some(true), _) => Some(true),
                (earlier, None) => earlier,
                (_, now) => now,
            },
            ..self.clone()
        }
    }

    pub fn displayed_as(mut self, display: impl Into<String>) -> Self {
        let display = display.into();
        if !display.is_empty() {
            self.display = display;
        }
        self
    }

    pub fn retried_at(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.next_attempt_at = at;
        self
    }

    pub fn linked_to(mut self, entra_id: Option<String>) -> Self {
        self.entra_id = entra_id;
        self
    }

    /// Whether the tenant's sync run at `now` retries it: one that can pass
    /// by itself once its `next_attempt_at` has come (its backoff: a
    /// problem that keeps failing must not cost Graph calls every run);
    /// `not_authorised` once the tenant is authorised again; any when the
    /// admin asks for a resync (the fix is often made in Entra).
    pub fn due_in_sync_run(&self, authorised: bool, resync: bool, now: DateTime<Utc>) -> bool {
        match self.code {
            Code::NotAuthorised => authorised,
            _ => resync || self.next_attempt_at.is_some_and(|at| at <= now),
        }
    }
}

/// Where problem items live, and `ENTRA#STATUS.open_problems` with them.
pub trait ProblemStore: Send + Sync {
    /// Writes the problem, or refreshes an open one (its first sighting
    /// kept, its attempts counted); a new one adds to `open_problems`.
    /// Returns the problem as stored.
    fn record(
        &self,
        tenant: &TenantId,
        problem: &Problem,
    ) -> impl Future<Output = Result<Problem, StoreError>> + Send;

    /// Removes the problem if it is open (and takes it off the count);
    /// whether it was.
    fn resolve(
        &self,
        tenant: &TenantId,
        key: &ProblemKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The tenant's open problems of one direction.
    fn open(
        &self,
        tenant: &TenantId,
        direction: Direction,
    ) -> impl Future<Output = Result<Vec<Problem>, StoreError>> + Send;

    /// How many problem items the tenant has: a sync run writes it to
    /// `open_problems` with its status, so the count is exact after it.
    fn count(&self, tenant: &TenantId) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// When a problem that can pass by itself is tried again: 1, 2, 4, ... up
/// to 60 minutes after its latest attempt.
pub fn backoff(attempts: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    let minutes = 1i64 << attempts.saturating_sub(1).min(6);
    now + chrono::Duration::minutes(minutes.min(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_names() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
        }
    }

    #[test]
    fn backoff_doubles_to_an_hour_and_due_follows_the_code() {
        let now = Utc::now();
        let minutes = |a| (backoff(a, now) - now).num_minutes();
        assert_eq!(
            [1, 2, 3, 7, 30].map(minutes),
            [1, 2, 4, 60, 60],
            "doubling, capped"
        );
        let key = ProblemKey {
            direction: Direction::Export,
            kind: ObjectKind::User,
            object_id: "u1".into(),
        };
        let waiting = Problem::new(
            key.clone(),
            Operation::Create,
            Code::UnverifiedDomain,
            "r".into(),
        );
        assert!(
            !waiting.due_in_sync_run(true, false, now),
            "waits for a change"
        );
        assert!(
            waiting.due_in_sync_run(true, true, now),
            "or the admin's resync"
        );
        let soon = waiting
            .clone()
            .retried_at(Some(now + chrono::Duration::minutes(4)));
        // Found by review: every run (3 minutes) replayed it whatever its
        // backoff, so a problem that keeps failing cost Graph calls forever.
        assert!(
            !soon.due_in_sync_run(true, false, now),
            "not before its backoff"
        );
        assert!(soon.due_in_sync_run(true, false, now + chrono::Duration::minutes(4)));
        assert!(
            soon.due_in_sync_run(true, true, now),
            "a resync retries it now"
        );
        let unauthorised = Problem::new(key, Operation::Create, Code::NotAuthorised, "r".into());
        assert!(!unauthorised.due_in_sync_run(false, true, now));
        assert!(unauthorised.due_in_sync_run(true, false, now));
    }
}
