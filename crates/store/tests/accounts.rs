//! The accounts contract on both backends (see `backends`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use backends::TestDb;
use chrono::{TimeDelta, Utc};
use decnet_store::{Role, StoreError, User, UserChange};

mod backends;

fn user(name: &str, role: Role) -> User {
    let now = Utc::now();
    User { username: name.into(), password_hash: format!("hash-of-{name}"), role, created_at: now, updated_at: now }
}

fn demote() -> UserChange {
    UserChange { password_hash: None, role: Some(Role::Viewer) }
}

on_both_backends!(
    the_first_user_is_made_once,
    a_taken_name_is_a_conflict,
    the_last_admin_can_be_neither_demoted_nor_deleted,
    two_admins_deleting_each_other_at_once_leave_one,
    revoked_tokens_are_kept_until_they_expire,
    the_first_setting_written_wins_even_at_once,
    a_stream_ticket_is_redeemed_once_by_whichever_replica_is_asked_first,
);

async fn the_first_user_is_made_once(db: &TestDb) {
    let store = db.open().await;
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

async fn a_taken_name_is_a_conflict(db: &TestDb) {
    let store = db.open().await;
    store.create_user(&user("carol", Role::Viewer)).await.unwrap();
    let err = store.create_user(&user("carol", Role::Admin)).await.unwrap_err();
    assert!(matches!(err, StoreError::UserTaken { ref username } if username == "carol"), "{err}");
    assert_eq!(store.user("carol").await.unwrap().role, Role::Viewer, "the first one is unchanged");
}

async fn the_last_admin_can_be_neither_demoted_nor_deleted(db: &TestDb) {
    let store = db.open().await;
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

async fn two_admins_deleting_each_other_at_once_leave_one(db: &TestDb) {
    let store = db.open().await;
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

async fn revoked_tokens_are_kept_until_they_expire(db: &TestDb) {
    let store = db.open().await;
    let now = Utc::now();
    store.revoke_token("old", now - TimeDelta::minutes(1), now - TimeDelta::minutes(2)).await.unwrap();
    store.revoke_token("live", now + TimeDelta::hours(1), now).await.unwrap();
    store.revoke_token("live", now + TimeDelta::hours(1), now).await.unwrap();
    assert_eq!(store.revoked_tokens(now).await.unwrap(), ["live"]);
    assert!(store.revoked_tokens(now + TimeDelta::hours(2)).await.unwrap().is_empty());
    assert!(store.is_revoked("live", now).await.unwrap());
    assert!(!store.is_revoked("live", now + TimeDelta::hours(2)).await.unwrap(), "expired");
    assert!(!store.is_revoked("never", now).await.unwrap());
}

async fn the_first_setting_written_wins_even_at_once(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.setting_or_insert("token_key", "first").await.unwrap(), "first");
    assert_eq!(store.setting_or_insert("token_key", "second").await.unwrap(), "first");
    let calls = (0..8).map(|i| store.setting_or_insert("other_key", if i % 2 == 0 { "even" } else { "odd" }));
    let values: Vec<String> = futures_util::future::join_all(calls).await.into_iter().map(Result::unwrap).collect();
    assert!(values.windows(2).all(|w| w[0] == w[1]), "every caller reads the same value: {values:?}");
}

async fn a_stream_ticket_is_redeemed_once_by_whichever_replica_is_asked_first(db: &TestDb) {
    let store = db.open().await;
    let now = Utc::now();
    let ticket = |id: &str, expires_at| decnet_store::StreamTicket {
        ticket: id.into(),
        username: "alice".into(),
        jti: format!("jti-{id}"),
        token_expires_at: now + TimeDelta::hours(1),
        expires_at,
    };
    let live = ticket("live", now + TimeDelta::seconds(30));
    store.issue_ticket(&live, now).await.unwrap();
    store.issue_ticket(&ticket("stale", now + TimeDelta::seconds(1)), now).await.unwrap();
    let replicas = futures_util::future::join_all((0..4).map(|_| db.open())).await;
    let redeemed = futures_util::future::join_all(replicas.iter().map(|r| r.redeem_ticket("live", now))).await;
    let winners: Vec<_> = redeemed.into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(winners.len(), 1, "redeemed exactly once");
    let winner = &winners[0];
    assert_eq!(
        (winner.username.as_str(), winner.jti.as_str(), winner.token_expires_at.timestamp()),
        ("alice", "jti-live", live.token_expires_at.timestamp())
    );
    assert_eq!(store.redeem_ticket("stale", now + TimeDelta::seconds(5)).await.unwrap(), None, "expired");
    assert_eq!(store.redeem_ticket("unknown", now).await.unwrap(), None);
}
