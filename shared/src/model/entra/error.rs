//! What can go wrong asking Entra ID, in the classes the engines decide
//! on. The Graph adapter reads Graph's statuses, codes and English into
//! these (docs/graph.md 0.2, 2.6, 3.1); no engine reads them itself.

/// Why no access token could be had for a tenant.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The grant is dead (consent revoked, admin removed): only a new
    /// authorisation helps.
    #[error("the tenant's authorisation was refused ({0}); an administrator must authorise again")]
    ReauthorisationRequired(String),
    #[error("no authorisation is stored for the tenant")]
    NotAuthorised,
    #[error("could not obtain an access token: {0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Throttling, 5xx or network failures outlasted the retry policy.
    #[error("Graph did not answer successfully after {attempts} attempts: {last}")]
    Exhausted { attempts: u32, last: String },
    /// The delta state is gone: start a full round.
    #[error("Graph's delta state is gone ({0}); a full round is needed")]
    SyncStateGone(String),
    #[error("Graph refused the access token twice")]
    Unauthorized,
    #[error("Graph has no such object")]
    NotFound,
    /// A unique value another object holds: the UPN, most often.
    #[error("Graph refused the request: 400 {code}: {message}")]
    ObjectConflict { code: String, message: String },
    /// The member is in the group already.
    #[error("Graph refused the request: 400 {code}: {message}")]
    AlreadyMember { code: String, message: String },
    /// An object the request names is not visible: one created moments
    /// ago (replication lag), or one gone.
    #[error("Graph refused the request: 400 {code}: {message}")]
    NotVisibleYet { code: String, message: String },
    /// An id that is no Entra object id.
    #[error("Graph refused the request: 400 {code}: {message}")]
    InvalidObjectId { code: String, message: String },
    /// The app lacks a permission (or the signed-in admin a role).
    #[error("Graph refused the request: 403 {code}: {message}")]
    Forbidden { code: String, message: String },
    /// The object exists already in a way that excludes this one (a
    /// second subscription for the same resource).
    #[error("Graph refused the request: 409 {code}: {message}")]
    Conflict { code: String, message: String },
    /// Any other refusal.
    #[error("Graph refused the request: {status} {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Graph's answer is malformed: {0}")]
    Malformed(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl GraphError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Exhausted { .. } | Self::Token(TokenError::Unavailable(_))
        )
    }

    /// Graph's error code, when it refused the request.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::ObjectConflict { code, .. }
            | Self::AlreadyMember { code, .. }
            | Self::NotVisibleYet { code, .. }
            | Self::InvalidObjectId { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }
}
