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
    /// Microsoft no longer issues the app tokens for the tenant
    /// (application mode, DESIGN 2.12): only the organisation's
    /// administrator can change that, then authorise again.
    #[error("Microsoft Entra ID no longer issues tokens to the app for the tenant ({})", .0.as_str())]
    AppAccessEnded(ReauthorisationReason),
    #[error("no authorisation is stored for the tenant")]
    NotAuthorised,
    #[error("could not obtain an access token: {0}")]
    Unavailable(String),
    /// The tenant's `cloud` is not one this deployment serves (DESIGN
    /// 2.12): nothing is asked of any cloud until ENTRA_CLOUDS names it.
    #[error(
        "the tenant's cloud `{0}` is not served by this deployment: ENTRA_CLOUDS has no entry for it"
    )]
    CloudNotSupported(crate::model::Cloud),
}

impl TokenError {
    /// Why the tenant must be authorised again, when it must.
    pub fn reauthorisation_reason(&self) -> Option<ReauthorisationReason> {
        match self {
            Self::ReauthorisationRequired(_) => Some(ReauthorisationReason::RefreshRevoked),
            Self::AppAccessEnded(reason) => Some(*reason),
            Self::NotAuthorised | Self::Unavailable(_) | Self::CloudNotSupported(_) => None,
        }
    }
}

/// The config's `reauthorisation_reason` (DESIGN 1.3) the runtime finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReauthorisationReason {
    /// AADSTS700016: the app is not in the tenant (consent removed, its
    /// enterprise application deleted).
    ConsentRevoked,
    /// AADSTS7000112: the enterprise application is disabled.
    AppDisabled,
    /// A delegated grant's refresh token was refused (`invalid_grant`).
    RefreshRevoked,
}

impl ReauthorisationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsentRevoked => "consent_revoked",
            Self::AppDisabled => "app_disabled",
            Self::RefreshRevoked => "refresh_revoked",
        }
    }
}

/// The application roles a fresh token carried after Graph refused a
/// request (403 `Authorization_RequestDenied`), against the required set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionCheck {
    pub granted: Vec<String>,
    /// Required but not granted, in the required set's order.
    pub missing: Vec<String>,
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
    /// The user is mastered on premises (`onPremisesSyncEnabled`): Graph
    /// refuses writes to the attributes Active Directory owns, and the
    /// whole request with them (WAVE3 §0 fact 4).
    #[error("Graph refused the request: 400 {code}: {message}")]
    OnPremisesMastered { code: String, message: String },
    /// Any other refusal.
    #[error("Graph refused the request: {status} {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    /// A 403 after which a fresh app token lacks required application
    /// roles: the admin consent must be granted again.
    #[error("Microsoft Graph refused the request: the app lacks the application permissions {} in the organisation; a Global Administrator must grant admin consent again", .0.missing.join(", "))]
    PermissionsMissing(PermissionCheck),
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
            | Self::OnPremisesMastered { code, .. }
            | Self::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }
}
