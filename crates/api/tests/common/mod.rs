//! Shared by the API test binaries: a real server on a loopback port over a fresh store,
//! logged in as the first admin, and request helpers.

#![allow(dead_code, missing_docs, clippy::unwrap_used)] // Each test binary uses a part.

pub mod sse;

use std::sync::Arc;

use axum::http::StatusCode;
use decnet_api::{AppState, Auth, AuthConfig};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_store::SqliteStore;
use serde_json::{Value, json};

/// The first admin's password in tests.
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";

/// A running server and a client logged in as `admin`.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The HTTP client.
    pub client: reqwest::Client,
    /// The admin's token.
    pub token: String,
}

/// A server over a fresh database and the memory runtime, with default auth settings.
pub async fn app() -> (tempfile::TempDir, Engine, Server) {
    app_with(AuthConfig::default()).await
}

/// [`app`] with the reconciler running, as `decnet serve` runs it.
pub async fn app_running() -> (tempfile::TempDir, Engine, Server) {
    let (dir, engine, server) = app_with(AuthConfig::default()).await;
    let reconciler = engine.clone();
    tokio::spawn(async move { reconciler.run(std::future::pending()).await });
    (dir, engine, server)
}

/// [`app`] with chosen auth settings.
pub async fn app_with(config: AuthConfig) -> (tempfile::TempDir, Engine, Server) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("api.db")).await.unwrap();
    let engine = Engine::new(Arc::new(store), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
    let created = decnet_api::auth::ensure_first_admin(engine.store().as_ref(), Some(ADMIN_PASSWORD.into())).await;
    assert_eq!(created.unwrap(), decnet_api::FirstAdmin::Created);
    let auth = Arc::new(Auth::load(engine.store().as_ref(), config).await.unwrap());
    let state = AppState::new(engine.clone(), auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // The server task ends with the test's runtime.
    tokio::spawn(decnet_api::serve(listener, state, std::future::pending()));
    decnet_sinks::use_ring_for_tls();
    let client = reqwest::Client::new();
    let mut server = Server { base, client, token: String::new() };
    server.token = login(&server, "admin", ADMIN_PASSWORD).await.unwrap();
    (dir, engine, server)
}

/// Logs in; the token, or the failed answer's status.
pub async fn login(server: &Server, username: &str, password: &str) -> Result<String, StatusCode> {
    let (status, _, body) = request_as(
        server,
        None,
        "POST",
        "/api/v1/auth/login",
        Some(json!({ "username": username, "password": password }).to_string()),
        None,
    )
    .await;
    if status == StatusCode::OK { Ok(body["access_token"].as_str().unwrap().to_owned()) } else { Err(status) }
}

/// One request with `token` (none when `None`); the answer's status, ETag and JSON body
/// (`Null` when empty or not JSON).
pub async fn request_as(
    server: &Server,
    token: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<String>,
    if_none_match: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut builder = server
        .client
        .request(method, format!("{}{uri}", server.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    if let Some(etag) = if_none_match {
        builder = builder.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    let response = builder.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let etag = response.headers().get(reqwest::header::ETAG).map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.unwrap();
    (status, etag, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// One request as the admin.
pub async fn request(
    server: &Server,
    method: &str,
    uri: &str,
    body: Option<String>,
    if_none_match: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    request_as(server, Some(&server.token), method, uri, body, if_none_match).await
}

/// A request as the admin without conditions; status and body.
pub async fn send(server: &Server, method: &str, uri: &str, body: Option<String>) -> (StatusCode, Value) {
    let (status, _, body) = request(server, method, uri, body, None).await;
    (status, body)
}

/// Asserts the one error body shape and its code.
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"], code, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert!(body["issues"].is_array(), "{body}");
}
