//! Shared by the API test binaries: an app over a fresh store, and one request helper.

#![allow(dead_code, missing_docs, clippy::unwrap_used)] // Each test binary uses a part.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use decnet_api::{AppState, router};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_store::SqliteStore;
use serde_json::Value;
use tower::ServiceExt;

/// A router over a fresh database and the memory runtime.
pub async fn app() -> (tempfile::TempDir, Engine, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("api.db")).await.unwrap();
    let engine = Engine::new(Arc::new(store), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
    let app = router(AppState { engine: engine.clone() });
    (dir, engine, app)
}

/// One request; the answer's status, ETag and JSON body (`Null` when empty).
pub async fn request(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<String>,
    if_none_match: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut builder = Request::builder().method(method).uri(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(etag) = if_none_match {
        builder = builder.header(header::IF_NONE_MATCH, etag);
    }
    let request = builder.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let etag = response.headers().get(header::ETAG).map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    (status, etag, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A request without conditions; status and body.
pub async fn send(app: &axum::Router, method: &str, uri: &str, body: Option<String>) -> (StatusCode, Value) {
    let (status, _, body) = request(app, method, uri, body, None).await;
    (status, body)
}
