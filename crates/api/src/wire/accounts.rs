//! Accounts on the wire: login answers, SSE tickets, whoami and users.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A login's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    /// The bearer token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// `admin` or `viewer`.
    pub role: String,
}

/// A single-use ticket for one event stream (`?ticket=`), for browsers' EventSource,
/// which cannot send an Authorization header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SseTicket {
    /// Pass as `?ticket=`; valid once.
    pub ticket: String,
    /// Seconds until it expires unused.
    pub expires_in: u64,
}

/// Who the token belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// Username.
    pub username: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
}

/// A user (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserRow {
    /// Username.
    pub username: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&decnet_store::User> for UserRow {
    fn from(u: &decnet_store::User) -> Self {
        Self {
            username: u.username.clone(),
            role: u.role.as_str().to_owned(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}
