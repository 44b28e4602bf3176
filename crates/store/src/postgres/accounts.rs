//! [`Accounts`] on PostgreSQL.
//!
//! A write that depends on how many admins there are (the first user, demoting or deleting
//! an admin) locks the users table against other writers first, so two replicas can never
//! both remove "the other" admin.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::PgStore;
use crate::StoreError;
use crate::accounts::{Accounts, StreamTicket, User, UserChange};

const USER_COLUMNS: &str = "SELECT username, password_hash, role, created_at, updated_at FROM users";

fn user(row: &PgRow) -> Result<User, StoreError> {
    let username: String = row.try_get(0)?;
    let role: String = row.try_get(2)?;
    Ok(User {
        password_hash: row.try_get(1)?,
        role: role.parse().map_err(|e| StoreError::corrupt(format!("role of user {username}"), e))?,
        created_at: row.try_get(3)?,
        updated_at: row.try_get(4)?,
        username,
    })
}

fn not_found(username: &str) -> StoreError {
    StoreError::NotFound { what: "user", key: username.to_string() }
}

/// Holds other writers of users off until the transaction ends (readers go on).
async fn lock_users(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(conn).await?;
    Ok(())
}

async fn insert(conn: &mut PgConnection, user: &User) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (username) DO NOTHING",
    )
    .bind(&user.username)
    .bind(&user.password_hash)
    .bind(user.role.as_str())
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Admins other than `username`.
async fn other_admins(conn: &mut PgConnection, username: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND username <> $1")
        .bind(username)
        .fetch_one(conn)
        .await?)
}

#[async_trait]
impl Accounts for PgStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if insert(&mut tx, user).await? == 0 {
            return Err(StoreError::UserTaken { username: user.username.clone() });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_first_user(&self, user: &User) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_users(&mut tx).await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
        if count > 0 {
            return Ok(false);
        }
        insert(&mut tx, user).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn user(&self, username: &str) -> Result<User, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{USER_COLUMNS} WHERE username = $1")))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found(username))?;
        user(&row)
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("{USER_COLUMNS} ORDER BY username"))).fetch_all(&self.pool).await?;
        rows.iter().map(user).collect()
    }

    async fn update_user(&self, username: &str, change: &UserChange, now: DateTime<Utc>) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_users(&mut tx).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{USER_COLUMNS} WHERE username = $1")))
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| not_found(username))?;
        let current = user(&row)?;
        if change.demotes_admin(&current) && other_admins(&mut tx, username).await? == 0 {
            return Err(StoreError::LastAdmin);
        }
        let current = change.applied_to(current, now);
        sqlx::query("UPDATE users SET password_hash = $2, role = $3, updated_at = $4 WHERE username = $1")
            .bind(username)
            .bind(&current.password_hash)
            .bind(current.role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(current)
    }

    async fn delete_user(&self, username: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_users(&mut tx).await?;
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        match role.as_deref() {
            None => return Err(not_found(username)),
            Some("admin") if other_admins(&mut tx, username).await? == 0 => return Err(StoreError::LastAdmin),
            Some(_) => {}
        }
        sqlx::query("DELETE FROM users WHERE username = $1").bind(username).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_token(&self, jti: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoked_tokens(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT jti FROM revoked_tokens WHERE expires_at > $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn is_revoked(&self, jti: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let found = sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1 AND expires_at > $2")
            .bind(jti)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn issue_ticket(&self, ticket: &StreamTicket, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM stream_tickets WHERE expires_at <= $1").bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO stream_tickets (ticket, username, jti, token_expires_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&ticket.ticket)
        .bind(&ticket.username)
        .bind(&ticket.jti)
        .bind(ticket.token_expires_at)
        .bind(ticket.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn redeem_ticket(&self, ticket: &str, now: DateTime<Utc>) -> Result<Option<StreamTicket>, StoreError> {
        // One statement: of two replicas redeeming the same ticket, one deletes the row.
        let row = sqlx::query(
            "DELETE FROM stream_tickets WHERE ticket = $1 RETURNING ticket, username, jti, token_expires_at, expires_at",
        )
        .bind(ticket)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let found = crate::decode::stream_ticket(&row)?;
        Ok(Some(found).filter(|t| t.expires_at > now))
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        // Two statements, not one transaction: an insert that meets another replica's
        // uncommitted insert of the same key waits for it, and the select after it then
        // reads that replica's committed value (one statement's snapshot would miss it).
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(&self.pool).await?)
    }
}
