//! The read routes, over real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use axum::http::StatusCode;
use decnet_domain::Name;
use decnet_domain::generator::GeneratorConfig;
use serde_json::{Value, json};

async fn get(app: &common::Server, uri: &str, etag: Option<&str>) -> (StatusCode, Option<String>, Value) {
    common::request(app, "GET", uri, None, etag).await
}

#[tokio::test]
async fn health_and_readiness() {
    let (_dir, _engine, app) = common::app().await;
    assert_eq!(get(&app, "/healthz", None).await.0, StatusCode::OK);
    assert_eq!(get(&app, "/readyz", None).await.0, StatusCode::OK);
    let (status, _, body) = get(&app, "/api/v1/nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    common::assert_error(&body, "not_found");
}

#[tokio::test]
async fn topologies_list_with_filters_and_paging() {
    let (_dir, engine, app) = common::app().await;
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
        common::assert_error(&body, "invalid_parameter");
    }
}

async fn fresh_etag(app: &common::Server) -> String {
    get(app, "/api/v1/topologies/maze", None).await.1.unwrap()
}

#[tokio::test]
async fn a_topology_reads_with_an_etag_that_follows_its_version() {
    let (_dir, engine, app) = common::app().await;
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

    // An observed decky state is not a version, but it is news to a reader: the ETag and
    // the (cached) body follow it.
    let etag = fresh_etag(&app).await;
    let decky = t.design.deckies.keys().next().unwrap().clone();
    let failed = decnet_domain::DeckyStatus {
        state: decnet_domain::DeckyState::Failed,
        last_error: Some("container exited".into()),
    };
    engine.store().set_decky_status(t.header.id, &decky, &failed).await.unwrap();
    let (status, changed, body) = get(&app, "/api/v1/topologies/maze", Some(&etag)).await;
    assert_eq!(status, StatusCode::OK, "a decky state change invalidates the ETag");
    assert_ne!(changed.unwrap(), etag);
    let shown = body["deckies"].as_array().unwrap().iter().find(|d| d["name"] == decky.as_str()).unwrap().clone();
    assert_eq!((shown["state"].as_str(), shown["last_error"].as_str()), (Some("failed"), Some("container exited")));

    let (status, _, body) = get(&app, "/api/v1/topologies/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    common::assert_error(&body, "not_found");
}

#[tokio::test]
async fn the_catalogue_routes() {
    let (_dir, _engine, app) = common::app().await;
    let (_, _, services) = get(&app, "/api/v1/topologies/services", None).await;
    assert_eq!(services["services"].as_array().unwrap().len(), 28);
    assert_eq!(services["fleet_singletons"], serde_json::json!(["sniffer"]));
    let (status, _, ssh) = get(&app, "/api/v1/topologies/services/ssh/schema", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ssh["tcp_ports"], serde_json::json!([22]));
    assert!(ssh["fields"].as_array().unwrap().iter().any(|f| f["key"] == "user_password" && f["secret"] == true));
    let (status, _, body) = get(&app, "/api/v1/topologies/services/gopher/schema", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    common::assert_error(&body, "not_found");
    let (_, _, archetypes) = get(&app, "/api/v1/topologies/archetypes", None).await;
    assert_eq!(archetypes["archetypes"].as_array().unwrap().len(), 15);
}

#[tokio::test]
async fn the_openapi_document_and_swagger_ui_are_served_offline_without_a_token() {
    let (_dir, _engine, app) = common::app().await;
    let (status, _, doc) = common::request_as(&app, None, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/topologies",
        "/api/v1/topologies/{id}",
        "/api/v1/topologies/{id}/mutations",
        "/api/v1/topologies/{id}/events",
        "/api/v1/topologies/{id}/lans/{lan}",
        "/api/v1/topologies/{id}/layout",
        "/api/v1/topologies/{id}/edits",
        "/api/v1/topologies/{id}/mutations:plan-all",
        "/api/v1/events",
        "/api/v1/users/{username}",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    assert_eq!(paths.values().map(|p| p.as_object().unwrap().len()).sum::<usize>(), 60, "every operation");
    assert_eq!(doc["paths"]["/api/v1/topologies"]["get"]["security"], json!([{ "bearer": [] }]));
    assert_eq!(doc["paths"]["/api/v1/auth/login"]["post"]["security"], json!([{}]));
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let page = app.client.get(format!("{}/api/docs/", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let bundle = app.client.get(format!("{}/api/docs/swagger-ui-bundle.js", app.base)).send().await.unwrap();
    assert_eq!(bundle.status(), 200, "the UI's script is served from the binary, not a CDN");
}
