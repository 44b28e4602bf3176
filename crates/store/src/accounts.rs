//! The accounts contract: API users, revoked tokens, event-stream tickets and server
//! settings.
//!
//! Kept apart from the topology contract ([`crate::Store`]) because nothing in the engine
//! needs it; the store implements both, so one handle serves the API.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreError;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and writes everything, manages users.
    Admin,
    /// Reads only.
    Viewer,
}

impl Role {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?} (admin or viewer)")),
        }
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Login name.
    pub username: String,
    /// PHC-format password hash (never the password).
    pub password_hash: String,
    /// What the user may do.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of hash or role.
    pub updated_at: DateTime<Utc>,
}

/// A change to a user; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New password hash.
    pub password_hash: Option<String>,
    /// New role.
    pub role: Option<Role>,
}

impl UserChange {
    /// Whether applying it to `user` takes an admin's role away (refused for the last one).
    pub(crate) fn demotes_admin(&self, user: &User) -> bool {
        user.role == Role::Admin && self.role == Some(Role::Viewer)
    }

    /// `user` with this change applied at `now`.
    pub(crate) fn applied_to(&self, mut user: User, now: DateTime<Utc>) -> User {
        if let Some(hash) = &self.password_hash {
            user.password_hash = hash.clone();
        }
        if let Some(role) = self.role {
            user.role = role;
        }
        user.updated_at = now;
        user
    }
}

/// A single-use ticket standing for a token, for one event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTicket {
    /// The ticket (random).
    pub ticket: String,
    /// Whose.
    pub username: String,
    /// The token it stands for.
    pub jti: String,
    /// When that token expires.
    pub token_expires_at: DateTime<Utc>,
    /// When the ticket expires unused.
    pub expires_at: DateTime<Utc>,
}

/// The accounts contract. Every method is one transaction.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Creates a user; [`StoreError::UserTaken`] if the name exists.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;

    /// Creates `user` only if there is no user at all (first start); says whether it did.
    async fn create_first_user(&self, user: &User) -> Result<bool, StoreError>;

    /// One user.
    async fn user(&self, username: &str) -> Result<User, StoreError>;

    /// Every user, by name.
    async fn users(&self) -> Result<Vec<User>, StoreError>;

    /// Changes a user. Demoting the last admin is refused ([`StoreError::LastAdmin`]).
    async fn update_user(&self, username: &str, change: &UserChange, now: DateTime<Utc>) -> Result<User, StoreError>;

    /// Deletes a user. Deleting the last admin is refused ([`StoreError::LastAdmin`]).
    async fn delete_user(&self, username: &str) -> Result<(), StoreError>;

    /// Records a revoked token id until `expires_at`, and forgets revocations of tokens
    /// that have expired by then.
    async fn revoke_token(&self, jti: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Ids of revoked tokens that have not expired at `now`.
    async fn revoked_tokens(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError>;

    /// Whether the token `jti` is revoked (and not yet expired), as of now.
    async fn is_revoked(&self, jti: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Stores an event-stream ticket until it is redeemed or expires (dropping expired ones).
    async fn issue_ticket(&self, ticket: &StreamTicket, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Uses up a ticket: what it stands for if it exists and has not expired; a ticket is
    /// redeemed once, by whichever replica is asked first.
    async fn redeem_ticket(&self, ticket: &str, now: DateTime<Utc>) -> Result<Option<StreamTicket>, StoreError>;

    /// The setting `key`, storing `value` first if it has none; returns what is stored.
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError>;
}
