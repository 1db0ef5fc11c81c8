//! Where an item is: its `pk` and `sk`.

use super::items::MembershipKey;
use crate::model::TenantId;

/// The key of a directory item: the one place `pk`/`sk` are encoded and
/// decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKey {
    User {
        tenant: TenantId,
        user_id: String,
    },
    Group {
        tenant: TenantId,
        group_id: String,
    },
    Membership {
        tenant: TenantId,
        key: MembershipKey,
    },
}

pub const USER_PREFIX: &str = "USER#";
pub const GROUP_PREFIX: &str = "GROUP#";
pub const MEMBER_PREFIX: &str = "MEMBER#";

impl ItemKey {
    pub fn user(tenant: &TenantId, user_id: &str) -> Self {
        Self::User {
            tenant: tenant.clone(),
            user_id: user_id.to_owned(),
        }
    }

    pub fn group(tenant: &TenantId, group_id: &str) -> Self {
        Self::Group {
            tenant: tenant.clone(),
            group_id: group_id.to_owned(),
        }
    }

    /// The kind of directory item `pk`/`sk` name; `None` for anything else,
    /// and for a key whose ids hold `#` (see [`ItemKey::separator_in_id`]).
    pub fn parse(pk: &str, sk: &str) -> Option<Self> {
        let tenant = TenantId::parse(pk.strip_prefix("TENANT#")?).ok()?;
        if Self::separator_in_id(sk) {
            return None;
        }
        if let Some(id) = sk.strip_prefix(USER_PREFIX) {
            return (!id.is_empty()).then(|| Self::user(&tenant, id));
        }
        if let Some(id) = sk.strip_prefix(GROUP_PREFIX) {
            return (!id.is_empty()).then(|| Self::group(&tenant, id));
        }
        let key = MembershipKey::decode(sk.strip_prefix(MEMBER_PREFIX)?)?;
        (!key.group_id.is_empty() && !key.user_id.is_empty())
            .then_some(Self::Membership { tenant, key })
    }

    /// A user, group or membership key whose ids hold `#`, the keys'
    /// separator: `MEMBER#a#b#c` could be (`a#b`, `c`) or (`a`, `b#c`), so
    /// such a key names no object at all.
    pub fn separator_in_id(sk: &str) -> bool {
        if let Some(id) = sk
            .strip_prefix(USER_PREFIX)
            .or_else(|| sk.strip_prefix(GROUP_PREFIX))
        {
            return id.contains('#');
        }
        sk.strip_prefix(MEMBER_PREFIX)
            .is_some_and(|ids| ids.matches('#').count() != 1)
    }

    pub fn tenant(&self) -> &TenantId {
        match self {
            Self::User { tenant, .. }
            | Self::Group { tenant, .. }
            | Self::Membership { tenant, .. } => tenant,
        }
    }

    pub fn pk(&self) -> String {
        format!("TENANT#{}", self.tenant())
    }

    /// The id attributes the key names (`user_id`, `group_id`): an item is
    /// always read under these, whatever it says itself.
    pub fn ids(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::User { user_id, .. } => vec![("user_id", user_id)],
            Self::Group { group_id, .. } => vec![("group_id", group_id)],
            Self::Membership { key, .. } => {
                vec![("group_id", &key.group_id), ("user_id", &key.user_id)]
            }
        }
    }

    /// Sets the key's id attributes on an item's JSON image.
    pub fn fill_ids(&self, item: &mut serde_json::Map<String, serde_json::Value>) {
        for (name, id) in self.ids() {
            item.insert(name.to_owned(), serde_json::Value::String(id.to_owned()));
        }
    }

    pub fn sk(&self) -> String {
        match self {
            Self::User { user_id, .. } => format!("{USER_PREFIX}{user_id}"),
            Self::Group { group_id, .. } => format!("{GROUP_PREFIX}{group_id}"),
            Self::Membership { key, .. } => format!("{MEMBER_PREFIX}{}", key.encode()),
        }
    }
}
