//! The mutation routes over the real router: enqueue, list, dry-run plan.

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
use serde_json::{Value, json};
use tower::ServiceExt;

async fn send(app: &axum::Router, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn enqueue_list_and_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("api.db")).await.unwrap();
    let engine = Engine::new(Arc::new(store), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
    let app = router(AppState { engine: engine.clone() });
    let t =
        engine.generate(Name::parse("maze").unwrap(), GeneratorConfig { seed: 7, ..Default::default() }).await.unwrap();
    let uri = "/api/v1/topologies/maze/mutations";
    let add = r#"{"op":"add_lan","payload":{"name":"lab"}}"#;

    let (status, body) = send(&app, "POST", uri, Some(add)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("wrong_status")), "pending: {body}");

    engine.deploy(t.header.id).await.unwrap();
    let (status, body) = send(&app, "POST", uri, Some(add)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["state"], "pending");
    let version = body["version"].as_i64().unwrap();

    let stale = json!({"op": "add_lan", "payload": {"name": "x"}, "expected_version": version - 1}).to_string();
    let (status, body) = send(&app, "POST", uri, Some(&stale)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("version_conflict")));

    let (status, body) = send(&app, "POST", uri, Some(r#"{"op":"explode"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["issues"][0]["code"], "UNKNOWN_OP");
    let (status, body) = send(&app, "POST", uri, Some(r#"{"op":"add_lan","payload":{"nom":"x"}}"#)).await;
    assert_eq!(
        (status, body["issues"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("PAYLOAD_INVALID"))
    );
    let (status, body) = send(&app, "POST", uri, Some("{not json")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_body")));
    let (status, body) = send(&app, "POST", uri, Some(r#"{"payload":{}}"#)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")));

    let (status, list) = send(&app, "GET", &format!("{uri}?state=pending"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let plan = "/api/v1/topologies/maze/mutations:plan";
    let (status, body) = send(&app, "POST", plan, Some(r#"{"op":"remove_lan","payload":{"name":"lan-01"}}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["accepted"].as_bool(), body["codes"].clone()), (Some(false), json!(["HOME_LAN_REMOVE"])));
    let (_, body) = send(&app, "POST", plan, Some(r#"{"op":"add_lan","payload":{"name":"dry"}}"#)).await;
    assert_eq!(body["actions"], json!([{"action": "create_network", "lan": "dry"}]));
    let (_, list) = send(&app, "GET", uri, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "a dry run queues nothing");
}
