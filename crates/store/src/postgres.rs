//! The PostgreSQL store, for several replicas on one database.
//!
//! Built up contract by contract: [`Accounts`](crate::Accounts) so far; the topology,
//! queue and event contracts follow. Every write runs in one READ COMMITTED transaction
//! that locks what it is about to check, so replicas never act on a stale read: the users
//! table is locked against other writers of users while an admin count decides a write.

mod accounts;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::StoreError;

/// The PostgreSQL implementation of the store contracts.
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`) and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let open = |source| StoreError::Open { path: redacted(url), source };
        let options: PgConnectOptions = url.parse().map_err(open)?;
        let pool = PgPoolOptions::new().max_connections(8).connect_with(options).await.map_err(open)?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(Self { pool })
    }
}

/// `url` without its password (in the authority or as a `password=` parameter), for
/// error messages.
fn redacted(url: &str) -> String {
    let url = match url
        .split_once("://")
        .and_then(|(scheme, rest)| rest.split_once('@').map(|(auth, host)| (scheme, auth, host)))
    {
        Some((scheme, auth, host)) if auth.contains(':') => {
            let user = auth.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    };
    match url.split_once('?') {
        Some((base, query)) => {
            let params: Vec<&str> =
                query.split('&').map(|p| if p.starts_with("password=") { "password=***" } else { p }).collect();
            format!("{base}?{}", params.join("&"))
        }
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_password_never_reaches_an_error_message() {
        assert_eq!(redacted("postgres://decnet:s3cret@db:5432/decnet"), "postgres://decnet:***@db:5432/decnet");
        assert_eq!(redacted("postgres:///x?host=/tmp/pg"), "postgres:///x?host=/tmp/pg");
        assert_eq!(redacted("postgres://decnet@db/decnet"), "postgres://decnet@db/decnet");
        assert_eq!(redacted("postgres://db/decnet?user=a&password=s3cret"), "postgres://db/decnet?user=a&password=***");
    }
}
