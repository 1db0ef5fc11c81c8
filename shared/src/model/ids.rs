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
    fn guids_are_normalised_to_lowercase() {
        let g = Guid::parse("6A2D4E1F-0000-4000-8000-00000000ABCD").unwrap();
        assert_eq!(g.as_str(), "6a2d4e1f-0000-4000-8000-00000000abcd");
        assert!(Guid::parse("contoso.com").is_err());
    }
}
