//! Authentication and roles over real HTTP: tokens, 401/403, logout, rate limits, users.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::num::NonZeroU32;

use axum::http::StatusCode;
use common::{ADMIN_PASSWORD, assert_error, login, request_as, send};
use decnet_api::{AuthConfig, FirstAdmin};
use serde_json::json;

#[tokio::test]
async fn every_route_but_login_and_health_needs_a_valid_token() {
    let (_dir, _engine, server) = common::app().await;
    for (token, why) in [(None, "no token"), (Some("not-a-jwt"), "garbage"), (Some(""), "empty")] {
        let (status, _, body) = request_as(&server, token, "GET", "/api/v1/topologies", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}");
        assert_error(&body, "unauthorized");
    }
    let response = server.client.get(format!("{}/api/v1/users", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    for open in ["/healthz", "/readyz"] {
        assert_eq!(request_as(&server, None, "GET", open, None, None).await.0, StatusCode::OK, "{open}");
    }
    let (status, _, body) = request_as(&server, Some(&server.token), "GET", "/api/v1/auth/me", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "username": "admin", "role": "admin", "expires_at": body["expires_at"] }));
}

#[tokio::test]
async fn bad_credentials_answer_401_alike_for_unknown_users() {
    let (_dir, _engine, server) = common::app().await;
    let wrong = json!({ "username": "admin", "password": "wrong-password" }).to_string();
    let (status, _, known) = request_as(&server, None, "POST", "/api/v1/auth/login", Some(wrong), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let unknown = json!({ "username": "nobody", "password": "wrong-password" }).to_string();
    let (status, _, body) = request_as(&server, None, "POST", "/api/v1/auth/login", Some(unknown), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(known, body, "the answer does not tell which usernames exist");
    let (status, _, body) =
        request_as(&server, None, "POST", "/api/v1/auth/login", Some(r#"{"username":"admin"}"#.into()), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid_body");
}

#[tokio::test]
async fn viewers_read_but_cannot_write() {
    let (_dir, _engine, server) = common::app().await;
    let new_user = json!({ "username": "eve", "password": "viewer-password", "role": "viewer" });
    let (status, body) = send(&server, "POST", "/api/v1/users", Some(new_user.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["role"], "viewer");
    assert!(body.get("password_hash").is_none());
    let viewer = login(&server, "eve", "viewer-password").await.unwrap();
    let as_viewer = |method: &'static str, uri: &'static str, body: Option<String>| {
        let viewer = viewer.clone();
        let server = &server;
        async move { request_as(server, Some(&viewer), method, uri, body, None).await }
    };
    assert_eq!(as_viewer("GET", "/api/v1/topologies", None).await.0, StatusCode::OK);
    assert_eq!(as_viewer("GET", "/api/v1/topologies/services", None).await.0, StatusCode::OK);
    let (status, _, body) = as_viewer("POST", "/api/v1/topologies", Some(json!({"name": "x"}).to_string())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "forbidden");
    assert_eq!(as_viewer("DELETE", "/api/v1/topologies/x", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(as_viewer("GET", "/api/v1/users", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(as_viewer("POST", "/api/v1/users", Some(new_user.to_string())).await.0, StatusCode::FORBIDDEN);
    // A viewer changes their own password, but not their role.
    let promote = json!({ "role": "admin" }).to_string();
    assert_eq!(as_viewer("PATCH", "/api/v1/users/eve", Some(promote)).await.0, StatusCode::FORBIDDEN);
    let change = json!({ "password": "another-password" }).to_string();
    assert_eq!(as_viewer("PATCH", "/api/v1/users/eve", Some(change)).await.0, StatusCode::OK);
    assert_eq!(login(&server, "eve", "viewer-password").await, Err(StatusCode::UNAUTHORIZED));
    assert!(login(&server, "eve", "another-password").await.is_ok());
    // Promotion by an admin takes effect on the viewer's existing token at once.
    let (status, _) = send(&server, "PATCH", "/api/v1/users/eve", Some(json!({"role": "admin"}).to_string())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(as_viewer("GET", "/api/v1/users", None).await.0, StatusCode::OK);
    // Deleting a user invalidates their tokens.
    assert_eq!(send(&server, "DELETE", "/api/v1/users/eve", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(as_viewer("GET", "/api/v1/topologies", None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn user_management_errors() {
    let (_dir, _engine, server) = common::app().await;
    let user = |name: &str, password: &str| json!({ "username": name, "password": password }).to_string();
    let (status, body) = send(&server, "POST", "/api/v1/users", Some(user("bob", "long-enough"))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["role"], "viewer", "viewer is the default role");
    let (status, body) = send(&server, "POST", "/api/v1/users", Some(user("bob", "long-enough"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "name_taken");
    let (status, body) = send(&server, "POST", "/api/v1/users", Some(user("carol", "short"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["detail"].as_str().unwrap().starts_with("password:"), "{body}");
    let (status, _) = send(&server, "POST", "/api/v1/users", Some(user("no spaces", "long-enough"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_role = json!({ "username": "dan", "password": "long-enough", "role": "root" }).to_string();
    assert_eq!(send(&server, "POST", "/api/v1/users", Some(bad_role)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = send(&server, "DELETE", "/api/v1/users/admin", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "last_admin");
    let demote = json!({ "role": "viewer" }).to_string();
    assert_eq!(send(&server, "PATCH", "/api/v1/users/admin", Some(demote)).await.0, StatusCode::CONFLICT);
    assert_eq!(send(&server, "DELETE", "/api/v1/users/nobody", None).await.0, StatusCode::NOT_FOUND);
    let (status, list) = send(&server, "GET", "/api/v1/users", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = list.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "bob"]);
}

#[tokio::test]
async fn logout_revokes_only_that_token() {
    let (_dir, _engine, server) = common::app().await;
    let second = login(&server, "admin", ADMIN_PASSWORD).await.unwrap();
    let (status, _, _) = request_as(&server, Some(&second), "POST", "/api/v1/auth/logout", None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = request_as(&server, Some(&second), "GET", "/api/v1/topologies", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["detail"].as_str().unwrap().contains("revoked"), "{body}");
    assert_eq!(send(&server, "GET", "/api/v1/topologies", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn expired_and_forged_tokens_are_refused() {
    let (_dir, engine, server) = common::app().await;
    // The signing key is in the store; a token signed with it but expired is refused.
    let key = engine.store().setting_or_insert("token_signing_key", "unused").await.unwrap();
    let sign = |secret: &[u8], exp: i64| {
        let claims = json!({ "sub": "admin", "jti": "t1", "iat": exp - 60, "exp": exp });
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(secret))
            .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let expired = sign(key.as_bytes(), now - 10);
    let (status, _, body) = request_as(&server, Some(&expired), "GET", "/api/v1/topologies", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["detail"].as_str().unwrap().contains("expired"), "{body}");
    let valid = sign(key.as_bytes(), now + 600);
    assert_eq!(request_as(&server, Some(&valid), "GET", "/api/v1/topologies", None, None).await.0, StatusCode::OK);
    let forged = sign(b"some other key", now + 600);
    assert_eq!(
        request_as(&server, Some(&forged), "GET", "/api/v1/topologies", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_username_and_per_source() {
    let config = AuthConfig {
        logins_per_user_per_minute: NonZeroU32::new(3).unwrap(),
        logins_per_ip_per_minute: NonZeroU32::new(6).unwrap(),
        ..AuthConfig::default()
    };
    let (_dir, _engine, server) = common::app_with(config).await; // one login used
    for _ in 0..2 {
        assert_eq!(login(&server, "admin", "wrong-password").await, Err(StatusCode::UNAUTHORIZED));
    }
    let response = server
        .client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "the right password does not bypass the limit");
    assert!(response.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    // Other names still get through until the source's own limit.
    assert_eq!(login(&server, "ghost", "wrong-password").await, Err(StatusCode::UNAUTHORIZED));
    assert_eq!(login(&server, "ghost2", "wrong-password").await, Err(StatusCode::UNAUTHORIZED));
    assert_eq!(login(&server, "ghost3", "wrong-password").await, Err(StatusCode::TOO_MANY_REQUESTS));
    // The admin's existing token is unaffected.
    assert_eq!(send(&server, "GET", "/api/v1/topologies", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn first_admin_is_generated_once_or_taken_from_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let store = decnet_store::SqliteStore::open(&dir.path().join("a.db")).await.unwrap();
    let err = decnet_api::auth::ensure_first_admin(&store, Some("short".into())).await.unwrap_err();
    assert!(err.to_string().contains("DECNET_ADMIN_PASSWORD"), "{err}");
    let FirstAdmin::Generated(password) = decnet_api::auth::ensure_first_admin(&store, None).await.unwrap() else {
        panic!("a password is generated when none is given");
    };
    assert!(password.len() >= 16);
    use decnet_store::Accounts;
    let admin = store.user("admin").await.unwrap();
    assert!(admin.password_hash.starts_with("$argon2id$"), "stored as an argon2id hash");
    assert!(!admin.password_hash.contains(&password));
    // Later starts leave it alone, whatever the environment says.
    let again = decnet_api::auth::ensure_first_admin(&store, Some("another-password".into())).await.unwrap();
    assert_eq!(again, FirstAdmin::Existing);
}
