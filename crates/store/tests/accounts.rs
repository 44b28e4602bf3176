//! The accounts contract on both backends: SQLite, and PostgreSQL from the test server
//! that `scripts/test.sh` starts (`DECNET_TEST_PG_URL`; each test makes its own database).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use chrono::{TimeDelta, Utc};
use decnet_store::{Accounts, PgStore, Role, SqliteStore, StoreError, User, UserChange};
use sqlx::Connection;
use tempfile::TempDir;

fn user(name: &str, role: Role) -> User {
    let now = Utc::now();
    User { username: name.into(), password_hash: format!("hash-of-{name}"), role, created_at: now, updated_at: now }
}

fn demote() -> UserChange {
    UserChange { password_hash: None, role: Some(Role::Viewer) }
}

async fn sqlite() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("accounts.db")).await.unwrap();
    (dir, store)
}

/// A database of its own on the PostgreSQL test server, dropped by [`Pg::drop_database`].
struct Pg {
    store: PgStore,
    server: String,
    name: String,
}

impl Pg {
    async fn new() -> Pg {
        let server = std::env::var("DECNET_TEST_PG_URL")
            .expect("DECNET_TEST_PG_URL names the PostgreSQL test server (scripts/test.sh starts one)");
        let name = format!("accounts_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
        let store = PgStore::connect(&database_url(&server, &name)).await.unwrap();
        Pg { store, server, name }
    }

    async fn drop_database(self) {
        drop(self.store);
        let mut admin = sqlx::PgConnection::connect(&self.server).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {} WITH (FORCE)", self.name)))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

/// `server` (`postgres://…/db?…`) naming database `name` instead.
fn database_url(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap_or_default();
    let mut url = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Runs the contract test `$name` (an `async fn(&impl Accounts)`) on each backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (_dir, store) = super::sqlite().await;
                super::$name(&store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = super::Pg::new().await;
                super::$name(&db.store).await;
                db.drop_database().await;
            }
        }
    )*};
}

on_both_backends!(
    the_first_user_is_made_once,
    a_taken_name_is_a_conflict,
    the_last_admin_can_be_neither_demoted_nor_deleted,
    two_admins_deleting_each_other_at_once_leave_one,
    revoked_tokens_are_kept_until_they_expire,
    the_first_setting_written_wins_even_at_once,
);

async fn the_first_user_is_made_once(store: &impl Accounts) {
    assert!(store.create_first_user(&user("admin", Role::Admin)).await.unwrap());
    assert!(!store.create_first_user(&user("second", Role::Admin)).await.unwrap());
    let admin = store.user("admin").await.unwrap();
    assert_eq!((admin.role, admin.password_hash.as_str()), (Role::Admin, "hash-of-admin"));
    assert!(matches!(store.user("second").await, Err(StoreError::NotFound { .. })));
    store.create_user(&user("bob", Role::Viewer)).await.unwrap();
    store.create_user(&user("alice", Role::Viewer)).await.unwrap();
    let names: Vec<_> = store.users().await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
}

async fn a_taken_name_is_a_conflict(store: &impl Accounts) {
    store.create_user(&user("carol", Role::Viewer)).await.unwrap();
    let err = store.create_user(&user("carol", Role::Admin)).await.unwrap_err();
    assert!(matches!(err, StoreError::UserTaken { ref username } if username == "carol"), "{err}");
    assert_eq!(store.user("carol").await.unwrap().role, Role::Viewer, "the first one is unchanged");
}

async fn the_last_admin_can_be_neither_demoted_nor_deleted(store: &impl Accounts) {
    store.create_user(&user("root", Role::Admin)).await.unwrap();
    store.create_user(&user("eve", Role::Viewer)).await.unwrap();
    assert!(matches!(store.update_user("root", &demote(), Utc::now()).await, Err(StoreError::LastAdmin)));
    assert!(matches!(store.delete_user("root").await, Err(StoreError::LastAdmin)));
    assert!(matches!(store.delete_user("nobody").await, Err(StoreError::NotFound { .. })));
    let promoted = UserChange { password_hash: Some("new".into()), role: Some(Role::Admin) };
    let later = Utc::now() + TimeDelta::seconds(5);
    let eve = store.update_user("eve", &promoted, later).await.unwrap();
    assert_eq!((eve.role, eve.password_hash.as_str()), (Role::Admin, "new"));
    assert_eq!(store.user("eve").await.unwrap().updated_at.timestamp(), later.timestamp());
    store.update_user("root", &demote(), Utc::now()).await.unwrap();
    store.delete_user("root").await.unwrap();
    assert_eq!(store.users().await.unwrap().len(), 1);
}

async fn two_admins_deleting_each_other_at_once_leave_one(store: &impl Accounts) {
    store.create_user(&user("admin-0", Role::Admin)).await.unwrap();
    let mut survivor = "admin-0".to_owned();
    for round in 1..=40 {
        // Two admins; each is deleted at the same moment: one delete must be refused.
        let other = format!("admin-{round}");
        store.create_user(&user(&other, Role::Admin)).await.unwrap();
        let (first, second) = tokio::join!(store.delete_user(&survivor), store.delete_user(&other));
        let refused = [&first, &second].iter().filter(|r| matches!(r, Err(StoreError::LastAdmin))).count();
        assert_eq!(refused, 1, "round {round}: exactly one delete is refused ({first:?}, {second:?})");
        let admins: Vec<_> =
            store.users().await.unwrap().into_iter().filter(|u| u.role == Role::Admin).map(|u| u.username).collect();
        assert_eq!(admins.len(), 1, "round {round}: one admin is left");
        survivor = admins[0].clone();
    }
}

async fn revoked_tokens_are_kept_until_they_expire(store: &impl Accounts) {
    let now = Utc::now();
    store.revoke_token("old", now - TimeDelta::minutes(1), now - TimeDelta::minutes(2)).await.unwrap();
    store.revoke_token("live", now + TimeDelta::hours(1), now).await.unwrap();
    store.revoke_token("live", now + TimeDelta::hours(1), now).await.unwrap();
    assert_eq!(store.revoked_tokens(now).await.unwrap(), ["live"]);
    assert!(store.revoked_tokens(now + TimeDelta::hours(2)).await.unwrap().is_empty());
}

async fn the_first_setting_written_wins_even_at_once(store: &impl Accounts) {
    assert_eq!(store.setting_or_insert("token_key", "first").await.unwrap(), "first");
    assert_eq!(store.setting_or_insert("token_key", "second").await.unwrap(), "first");
    let calls = (0..8).map(|i| store.setting_or_insert("other_key", if i % 2 == 0 { "even" } else { "odd" }));
    let values: Vec<String> = futures_util::future::join_all(calls).await.into_iter().map(Result::unwrap).collect();
    assert!(values.windows(2).all(|w| w[0] == w[1]), "every caller reads the same value: {values:?}");
}
