//! Generate, deploy, teardown and delete over the real router.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::send;

use std::sync::Arc;

use axum::http::StatusCode;
use decnet_domain::document::TopologyDocument;
use serde_json::json;

/// Waits for the topology's status event `to` on the engine's bus.
async fn status_reaches(events: &mut tokio::sync::broadcast::Receiver<Arc<decnet_engine::Event>>, to: &str) {
    loop {
        let event = events.recv().await.unwrap();
        if event.topic.ends_with(".status") && event.payload["status"] == to {
            return;
        }
    }
}

#[tokio::test]
async fn generate_deploy_teardown_delete() {
    let (_dir, engine, app) = common::app().await;
    let mut events = engine.bus().subscribe();

    let (status, created) =
        send(&app, "POST", "/api/v1/topologies", Some(json!({"name": "maze", "depth": 2, "seed": 7}).to_string()))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "pending");
    let (status, body) = send(&app, "POST", "/api/v1/topologies", Some(json!({"name": "maze"}).to_string())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("name_taken")));
    let (status, _) =
        send(&app, "POST", "/api/v1/topologies", Some(json!({"name": "x", "depth": 17}).to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(&app, "POST", "/api/v1/topologies", Some(json!({"name": "Bad.Name"}).to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = send(&app, "DELETE", "/api/v1/topologies/maze", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "a pending topology can be deleted: {body}");
    send(&app, "POST", "/api/v1/topologies", Some(json!({"name": "maze", "depth": 2, "seed": 7}).to_string())).await;

    let (status, _) = send(&app, "POST", "/api/v1/topologies/maze/deploy", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    status_reaches(&mut events, "active").await;
    let (status, body) = send(&app, "POST", "/api/v1/topologies/maze/deploy", None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("wrong_status")));
    let (status, _) = send(&app, "DELETE", "/api/v1/topologies/maze", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "an active topology is not deleted");

    let (status, _) = send(&app, "POST", "/api/v1/topologies/maze/teardown", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    status_reaches(&mut events, "torn_down").await;
    let (_, history) = send(&app, "GET", "/api/v1/topologies/maze/status-events?limit=10", None).await;
    let to: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["to_status"].as_str().unwrap()).collect();
    assert_eq!(to, ["torn_down", "tearing_down", "active", "deploying"]);
    let (status, _) = send(&app, "DELETE", "/api/v1/topologies/maze", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, "GET", "/api/v1/topologies/maze", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deploying_an_invalid_topology_answers_422_with_every_issue() {
    let (_dir, engine, app) = common::app().await;
    let doc: TopologyDocument = serde_json::from_value(json!({
        "name": "broken",
        "lans": [{"name": "a", "subnet": "10.5.0.0/24"}],
        "deckies": [{"name": "d", "home_lan": "a", "networks": [{"lan": "a"}], "services": ["gopher"]}]
    }))
    .unwrap();
    engine.create(doc, "test").await.unwrap();
    let (status, body) = send(&app, "POST", "/api/v1/topologies/broken/deploy", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<&str> = body["issues"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["DMZ_MISSING", "UNKNOWN_SERVICE"]);
    let (_, shown) = send(&app, "GET", "/api/v1/topologies/broken", None).await;
    assert_eq!(shown["topology"]["status"], "pending", "a refused deploy changes nothing");
    let (status, report) = send(&app, "GET", "/api/v1/topologies/broken/validate", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["valid"], false);
    assert_eq!(report["issues"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn export_and_import_round_trip() {
    let (_dir, _engine, app) = common::app().await;
    let generate = json!({"name": "orig", "depth": 2, "seed": 5, "lures": "rich"}).to_string();
    assert_eq!(send(&app, "POST", "/api/v1/topologies", Some(generate)).await.0, StatusCode::CREATED);
    let (status, report) = send(&app, "GET", "/api/v1/topologies/orig/validate", None).await;
    assert_eq!((status, report["valid"].as_bool()), (StatusCode::OK, Some(true)), "{report}");
    let (status, document) = send(&app, "GET", "/api/v1/topologies/orig/export", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["name"], "orig");
    assert_eq!(document["lures"], "rich", "the lure density travels with the design");
    // The subnets are held by the original, so it goes first.
    assert_eq!(send(&app, "DELETE", "/api/v1/topologies/orig", None).await.0, StatusCode::NO_CONTENT);
    let (status, created) = send(&app, "POST", "/api/v1/topologies/import", Some(document.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, again) = send(&app, "GET", "/api/v1/topologies/orig/export", None).await;
    assert_eq!(again, document, "the same design, names, subnets, IPs and lure density");
    let (_, lures) = send(&app, "GET", "/api/v1/topologies/orig/lures", None).await;
    assert_eq!(lures["density"], "rich", "{lures}");
    let (status, body) = send(&app, "POST", "/api/v1/topologies/import", Some(document.to_string())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let bad = json!({"name": "bad", "lans": [{"name": "a", "subnet": "not-a-subnet"}]}).to_string();
    let (status, body) = send(&app, "POST", "/api/v1/topologies/import", Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(!body["issues"].as_array().unwrap().is_empty());
}
