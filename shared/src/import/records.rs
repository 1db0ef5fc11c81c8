//! The AM directory as the import sees it: user, group and membership
//! records (DESIGN.md 1.3), and the writes the engine asks for.

use crate::graph::model::{EntraGroup, EntraUser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Entra,
    /// Created by the platform (`local` or absent): never deleted by import.
    Local,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entra => "entra",
            Self::Local => "local",
        }
    }
}

/// The seed's rule: managed-domain users verify their password against
/// Entra; federated (or unknown) ones get a temporary password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordMode {
    Entra,
    Temporary,
}

impl PasswordMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entra => "entra",
            Self::Temporary => "temporary",
        }
    }
}

/// The attributes of a user that the import owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAttributes {
    pub user_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub enabled: bool,
    pub password_mode: PasswordMode,
}

impl UserAttributes {
    pub fn from_entra(user: &EntraUser, password_mode: PasswordMode) -> Self {
        Self {
            user_name: user.user_principal_name.clone(),
            display_name: user.display_name.clone(),
            given_name: user.given_name.clone(),
            surname: user.surname.clone(),
            email: user.mail.clone(),
            mobile_phone: user.mobile_phone.clone(),
            job_title: user.job_title.clone(),
            department: user.department.clone(),
            enabled: user.account_enabled,
            password_mode,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: String,
    pub source: Source,
    pub entra_id: Option<String>,
    pub attributes: UserAttributes,
    /// The platform changed the item since it last agreed with Entra ID and
    /// the export has not pushed it yet: the import leaves it alone.
    pub pending_export: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAttributes {
    pub name: String,
    pub description: Option<String>,
}

impl GroupAttributes {
    pub fn from_entra(group: &EntraGroup) -> Self {
        Self {
            name: group.display_name.clone(),
            description: group.description.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub group_id: String,
    pub source: Source,
    pub entra_id: Option<String>,
    pub attributes: GroupAttributes,
    /// See [`UserRecord::pending_export`].
    pub pending_export: bool,
}

/// A membership by AM ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MembershipKey {
    pub group_id: String,
    pub user_id: String,
}

impl MembershipKey {
    pub fn encode(&self) -> String {
        format!("{}#{}", self.group_id, self.user_id)
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let (group_id, user_id) = raw.split_once('#')?;
        Some(Self {
            group_id: group_id.to_owned(),
            user_id: user_id.to_owned(),
        })
    }
}

/// One change to the AM directory. Updates name only the import's own
/// attributes: everything else on the item stays as other writers left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryWrite {
    CreateUser(UserRecord),
    UpdateUser {
        user_id: String,
        entra_id: String,
        attributes: UserAttributes,
    },
    DeleteUser {
        user_id: String,
    },
    CreateGroup(GroupRecord),
    UpdateGroup {
        group_id: String,
        entra_id: String,
        attributes: GroupAttributes,
    },
    DeleteGroup {
        group_id: String,
    },
    AddMembership(MembershipKey),
    RemoveMembership(MembershipKey),
}
