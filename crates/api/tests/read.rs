//! The read routes over the real router (no network: `oneshot`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use decnet_api::{AppState, router};
use decnet_domain::Name;
use decnet_domain::generator::GeneratorConfig;
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_store::SqliteStore;
use serde_json::Value;
use tower::ServiceExt;

async fn app() -> (tempfile::TempDir, Engine, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("api.db")).await.unwrap();
    let engine = Engine::new(Arc::new(store), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
    let app = router(AppState { engine: engine.clone() });
    (dir, engine, app)
}

async fn get(app: &axum::Router, uri: &str, etag: Option<&str>) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::get(uri);
    if let Some(etag) = etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let etag = response.headers().get(header::ETAG).map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    (status, etag, body)
}

fn assert_error_shape(body: &Value, code: &str) {
    assert_eq!(body["error"], code, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert!(body["issues"].is_array(), "{body}");
}

#[tokio::test]
async fn health_and_readiness() {
    let (_dir, _engine, app) = app().await;
    assert_eq!(get(&app, "/healthz", None).await.0, StatusCode::OK);
    assert_eq!(get(&app, "/readyz", None).await.0, StatusCode::OK);
    let (status, _, body) = get(&app, "/api/v1/nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "not_found");
}

#[tokio::test]
async fn topologies_list_with_filters_and_paging() {
    let (_dir, engine, app) = app().await;
    for (name, seed) in [("one", 1), ("two", 2)] {
        engine
            .generate(Name::parse(name).unwrap(), GeneratorConfig { seed, depth: 1, ..Default::default() })
            .await
            .unwrap();
    }
    let (status, _, body) = get(&app, "/api/v1/topologies?limit=1&offset=1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["total"].as_i64(), body["data"].as_array().unwrap().len()), (Some(2), 1));
    let (_, _, active) = get(&app, "/api/v1/topologies?status=active", None).await;
    assert_eq!(active["total"], 0);
    for bad in ["status=bogus", "limit=0", "limit=501", "offset=-1", "colour=blue"] {
        let (status, _, body) = get(&app, &format!("/api/v1/topologies?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_error_shape(&body, "invalid_parameter");
    }
}

#[tokio::test]
async fn a_topology_reads_with_an_etag_that_follows_its_version() {
    let (_dir, engine, app) = app().await;
    let t =
        engine.generate(Name::parse("maze").unwrap(), GeneratorConfig { seed: 7, ..Default::default() }).await.unwrap();
    let (status, etag, body) = get(&app, "/api/v1/topologies/maze", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["topology"]["id"], t.header.id.to_string());
    assert_eq!(body["deckies"].as_array().unwrap().len(), t.design.deckies.len());
    let etag = etag.unwrap();
    let (status, _, _) = get(&app, &format!("/api/v1/topologies/{}", t.header.id), Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    engine.deploy(t.header.id).await.unwrap();
    let (status, fresh, body) = get(&app, "/api/v1/topologies/maze", Some(&etag)).await;
    assert_eq!(status, StatusCode::OK, "a status change is a new version");
    assert_ne!(fresh.unwrap(), etag);
    assert_eq!(body["topology"]["status"], "active");
    let (status, _, body) = get(&app, "/api/v1/topologies/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "not_found");
}

#[tokio::test]
async fn the_catalogue_routes() {
    let (_dir, _engine, app) = app().await;
    let (_, _, services) = get(&app, "/api/v1/topologies/services", None).await;
    assert_eq!(services["services"].as_array().unwrap().len(), 28);
    assert_eq!(services["fleet_singletons"], serde_json::json!(["sniffer"]));
    let (status, _, ssh) = get(&app, "/api/v1/topologies/services/ssh/schema", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ssh["tcp_ports"], serde_json::json!([22]));
    assert!(ssh["fields"].as_array().unwrap().iter().any(|f| f["key"] == "user_password" && f["secret"] == true));
    let (status, _, body) = get(&app, "/api/v1/topologies/services/gopher/schema", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "not_found");
    let (_, _, archetypes) = get(&app, "/api/v1/topologies/archetypes", None).await;
    assert_eq!(archetypes["archetypes"].as_array().unwrap().len(), 15);
}
