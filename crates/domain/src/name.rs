//! Validated names for topologies, LANs and deckies.
//!
//! A name is 1-63 characters of `a-z`, `0-9` and `-`, starting with a letter. The rule is
//! checked exactly once, when a [`Name`] is built, so every name that reaches Docker, the
//! event bus or the database is already safe there (no dots that split bus topics, no
//! upper case that collides after lower-casing, nothing Docker refuses).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The longest name accepted (a DNS label).
pub const MAX_NAME_LEN: usize = 63;

/// A validated name. Shared (`Arc`), so copying a design copies no name text, and two
/// copies of one name compare equal without reading it.
#[derive(Debug, Clone, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(Arc<str>);

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // By content, like equality.
        self.0.hash(state);
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) { std::cmp::Ordering::Equal } else { self.0.cmp(&other.0) }
    }
}

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The string is empty.
    #[error("must not be empty")]
    Empty,
    /// The string is longer than [`MAX_NAME_LEN`].
    #[error("must be at most {MAX_NAME_LEN} characters (got {0})")]
    TooLong(usize),
    /// The first character is not a lower-case letter.
    #[error("must start with a lower-case letter (got {0:?})")]
    BadStart(char),
    /// A character outside `a-z 0-9 -`.
    #[error("may only contain a-z, 0-9 and '-' (got {0:?})")]
    BadChar(char),
}

impl Name {
    /// Checks `value` against the naming rule.
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let mut chars = value.chars();
        let first = chars.next().ok_or(NameError::Empty)?;
        let len = value.chars().count();
        if len > MAX_NAME_LEN {
            return Err(NameError::TooLong(len));
        }
        if !first.is_ascii_lowercase() {
            return Err(NameError::BadStart(first));
        }
        if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            return Err(NameError::BadChar(bad));
        }
        Ok(Self(Arc::from(value)))
    }

    /// Like [`Name::parse`], but the error names the field it came from.
    pub fn parse_field(field: &str, value: &str) -> Result<Self, FieldError> {
        Self::parse(value).map_err(|reason| FieldError {
            field: field.to_owned(),
            message: format!("invalid name {value:?}: {reason}"),
        })
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        name.0.to_string()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// An input error attached to the field that carried it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path of the offending field, e.g. `payload.lan`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_label_style_names() {
        for ok in ["a", "lan-00", "decky-001", "x9", &"a".repeat(63)] {
            assert!(Name::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        assert_eq!(Name::parse(""), Err(NameError::Empty));
        assert_eq!(Name::parse(&"a".repeat(64)), Err(NameError::TooLong(64)));
        assert_eq!(Name::parse("1lan"), Err(NameError::BadStart('1')));
        assert_eq!(Name::parse("-lan"), Err(NameError::BadStart('-')));
        assert_eq!(Name::parse("DMZ"), Err(NameError::BadStart('D')));
        assert_eq!(Name::parse("lan.1"), Err(NameError::BadChar('.')));
        assert_eq!(Name::parse("lan_1"), Err(NameError::BadChar('_')));
        assert_eq!(Name::parse("lAn"), Err(NameError::BadChar('A')));
    }

    #[test]
    fn field_errors_name_the_field() {
        let err = Name::parse_field("payload.lan", "Bad Name").unwrap_err();
        assert_eq!(err.field, "payload.lan");
        assert!(err.to_string().starts_with("payload.lan: invalid name"));
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<Name>("\"ok-name\"").is_ok());
        assert!(serde_json::from_str::<Name>("\"Not.Ok\"").is_err());
    }
}
