//! Identifiers parsed at the edge, so that a wrong one cannot travel further.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("tenant id is empty")]
    EmptyTenantId,
    #[error("tenant id is longer than 128 characters")]
    TenantIdTooLong,
    #[error("tenant id contains {0:?}; allowed are letters, digits and . _ - @ + =")]
    TenantIdCharacter(char),
    #[error("{0:?} is not a GUID")]
    NotAGuid(String),
    #[error("an Entra object id is empty")]
    EmptyObjectId,
    #[error(
        "the Entra object id {0:?} is not a plain id (longer than 128 characters, or with '#', '/' or whitespace)"
    )]
    ObjectIdCharacters(String),
}

/// The AM platform's tenant id. Safe to embed in table keys and secret names:
/// no `#` (our key separator) and only characters Secrets Manager accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.is_empty() {
            return Err(IdError::EmptyTenantId);
        }
        if raw.chars().count() > 128 {
            return Err(IdError::TenantIdTooLong);
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-@+=".contains(*c)))
        {
            return Err(IdError::TenantIdCharacter(bad));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A GUID as Entra writes it (lowercase, hyphenated). Tenant ids and object
/// ids are both of this form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(String);

impl Guid {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        uuid::Uuid::try_parse(raw.trim())
            .map(|u| Self(u.hyphenated().to_string()))
            .map_err(|_| IdError::NotAGuid(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The directory (tenant) id of an Entra ID organisation.
pub type EntraTenantId = Guid;

/// The id of an Entra directory object (a user, a group). Graph's ids are
/// GUIDs; what matters here is that the id becomes part of table keys
/// (`USER#<id>`, `MEMBER#<group>#<user>`), so an empty one or one with a
/// key separator is refused where Graph's answer is parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntraObjectId(String);

impl EntraObjectId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.is_empty() {
            return Err(IdError::EmptyObjectId);
        }
        if raw.chars().count() > 128
            || raw
                .chars()
                .any(|c| c == '#' || c == '/' || c.is_whitespace())
        {
            return Err(IdError::ObjectIdCharacters(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EntraObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for EntraObjectId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<EntraObjectId> for String {
    fn eq(&self, other: &EntraObjectId) -> bool {
        *self == other.0
    }
}

impl std::borrow::Borrow<str> for EntraObjectId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Test fixtures only: a literal id, which must be a valid one.
#[cfg(test)]
impl From<&str> for EntraObjectId {
    fn from(raw: &str) -> Self {
        Self::parse(raw).expect("a valid object id in a test")
    }
}

#[cfg(test)]
impl From<String> for EntraObjectId {
    fn from(raw: String) -> Self {
        Self::parse(&raw).expect("a valid object id in a test")
    }
}

impl From<EntraObjectId> for String {
    fn from(id: EntraObjectId) -> Self {
        id.0
    }
}

impl PartialEq<str> for EntraObjectId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for EntraObjectId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_that_could_break_keys_or_secret_names_are_refused() {
        assert!(TenantId::parse("acme-01").is_ok());
        assert_eq!(TenantId::parse(""), Err(IdError::EmptyTenantId));
        assert_eq!(TenantId::parse("a#b"), Err(IdError::TenantIdCharacter('#')));
        assert_eq!(TenantId::parse("a/b"), Err(IdError::TenantIdCharacter('/')));
        assert_eq!(
            TenantId::parse(&"x".repeat(129)),
            Err(IdError::TenantIdTooLong)
        );
    }

    #[test]
    fn object_ids_that_could_break_keys_are_refused() {
        assert!(EntraObjectId::parse("5eed0001-0000-4000-8000-000000000001").is_ok());
        assert_eq!(EntraObjectId::parse(""), Err(IdError::EmptyObjectId));
        for bad in ["a#b", "a/b", "a b", &"x".repeat(129)] {
            assert!(
                matches!(
                    EntraObjectId::parse(bad),
                    Err(IdError::ObjectIdCharacters(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn guids_are_normalised_to_lowercase() {
        let g = Guid::parse("6A2D4E1F-0000-4000-8000-00000000ABCD").unwrap();
        assert_eq!(g.as_str(), "6a2d4e1f-0000-4000-8000-00000000abcd");
        assert!(Guid::parse("contoso.com").is_err());
    }
}
