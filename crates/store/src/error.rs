//! Store errors.

use decnet_domain::status::IllegalTransition;
use decnet_domain::{ErrorKind, Refusal, TopologyStatus};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such row.
    #[error("{what} {key} not found")]
    NotFound {
        /// Kind of thing.
        what: &'static str,
        /// How it was looked up.
        key: String,
    },
    /// A topology with that name exists.
    #[error("a topology named {name} already exists")]
    NameTaken {
        /// The name.
        name: String,
    },
    /// A user with that name exists.
    #[error("a user named {username} already exists")]
    UserTaken {
        /// The name.
        username: String,
    },
    /// The change would leave no admin.
    #[error("the last admin cannot be removed or demoted")]
    LastAdmin,
    /// The caller's version is stale.
    #[error("Version conflict: expected {expected}, current {current}")]
    VersionConflict {
        /// Current version.
        current: i64,
        /// Version the caller expected.
        expected: i64,
    },
    /// The operation is not allowed in the topology's status.
    #[error("topology is {status}; {action} needs {allowed}")]
    WrongStatus {
        /// Current status.
        status: TopologyStatus,
        /// What was attempted.
        action: String,
        /// The statuses that allow it.
        allowed: String,
    },
    /// The status machine refused a transition.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// The design builder refused.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// A stored row does not decode.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// Which row.
        what: String,
        /// What is wrong.
        detail: String,
    },
    /// The database failed.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Opening or migrating the database failed.
    #[error("cannot open database {path}")]
    Open {
        /// The database path.
        path: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err)
    }
}

impl StoreError {
    /// A corrupt-row error.
    pub(crate) fn corrupt(what: impl Into<String>, detail: impl ToString) -> Self {
        StoreError::Corrupt { what: what.into(), detail: detail.to_string() }
    }
}

impl StoreError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::NameTaken { .. }
            | StoreError::UserTaken { .. }
            | StoreError::LastAdmin
            | StoreError::VersionConflict { .. }
            | StoreError::WrongStatus { .. }
            | StoreError::IllegalTransition(_) => ErrorKind::Conflict,
            StoreError::Refused(_) => ErrorKind::Refused,
            StoreError::Corrupt { .. } | StoreError::Database(_) | StoreError::Open { .. } | StoreError::Migrate(_) => {
                ErrorKind::Internal
            }
        }
    }
}
