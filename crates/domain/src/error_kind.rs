//! What kind of failure an error is, whatever the transport: the API maps a kind to an
//! HTTP status and the CLI to an exit code, each in one function. Every library error
//! (`StoreError`, `RuntimeError`, `EngineError`) says its kind.

use serde::{Deserialize, Serialize};

/// The kind of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input cannot be understood or a parameter is out of range (malformed JSON,
    /// a bad flag or query parameter, an unusable file).
    BadRequest,
    /// A well-formed body of the wrong shape (unknown field, wrong type).
    InvalidBody,
    /// A body in a media type the server does not take.
    UnsupportedMediaType,
    /// A body larger than the server takes.
    TooLarge,
    /// No valid credentials.
    Unauthenticated,
    /// The credentials do not allow it.
    Forbidden,
    /// What was named does not exist.
    NotFound,
    /// A stale version, a taken name, or a status that forbids it.
    Conflict,
    /// Understood, but validation or a guard refused it; nothing changed.
    Refused,
    /// Too many requests or open streams.
    RateLimited,
    /// The container runtime failed or cannot be reached.
    Unavailable,
    /// A route of the original API this system does not offer.
    NotImplemented,
    /// A fault of ours.
    Internal,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::BadRequest,
        ErrorKind::InvalidBody,
        ErrorKind::UnsupportedMediaType,
        ErrorKind::TooLarge,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Refused,
        ErrorKind::RateLimited,
        ErrorKind::Unavailable,
        ErrorKind::NotImplemented,
        ErrorKind::Internal,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::InvalidBody => "invalid_body",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Refused => "refused",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::NotImplemented => "not_implemented",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind of a wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_spelling() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::parse("nope"), None);
    }
}
