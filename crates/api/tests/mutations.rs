//! The mutation routes over the real router: enqueue, list, dry-run plan.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::send;

use axum::http::StatusCode;
use decnet_domain::Name;
use decnet_domain::generator::GeneratorConfig;
use serde_json::json;

#[tokio::test]
async fn enqueue_list_and_dry_run() {
    let (_dir, engine, app) = common::app().await;
    let t =
        engine.generate(Name::parse("maze").unwrap(), GeneratorConfig { seed: 7, ..Default::default() }).await.unwrap();
    let uri = "/api/v1/topologies/maze/mutations";
    let add = r#"{"op":"add_lan","payload":{"name":"lab"}}"#;

    let (status, body) = send(&app, "POST", uri, Some(add.to_string())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("wrong_status")), "pending: {body}");

    engine.deploy(t.header.id).await.unwrap();
    let (status, body) = send(&app, "POST", uri, Some(add.to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["state"], "pending");
    let version = body["version"].as_i64().unwrap();

    let stale = json!({"op": "add_lan", "payload": {"name": "x"}, "expected_version": version - 1}).to_string();
    let (status, body) = send(&app, "POST", uri, Some(stale.clone())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("version_conflict")));

    let (status, body) = send(&app, "POST", uri, Some(r#"{"op":"explode"}"#.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["issues"][0]["code"], "UNKNOWN_OP");
    let (status, body) = send(&app, "POST", uri, Some(r#"{"op":"add_lan","payload":{"nom":"x"}}"#.to_string())).await;
    assert_eq!(
        (status, body["issues"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("PAYLOAD_INVALID"))
    );
    let (status, body) = send(&app, "POST", uri, Some("{not json".to_string())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_body")));
    let (status, body) = send(&app, "POST", uri, Some(r#"{"payload":{}}"#.to_string())).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")));

    let (status, list) = send(&app, "GET", &format!("{uri}?state=pending"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let plan = "/api/v1/topologies/maze/mutations:plan";
    let (status, body) =
        send(&app, "POST", plan, Some(r#"{"op":"remove_lan","payload":{"name":"lan-01"}}"#.to_string())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["accepted"].as_bool(), body["codes"].clone()), (Some(false), json!(["HOME_LAN_REMOVE"])));
    let (_, body) = send(&app, "POST", plan, Some(r#"{"op":"add_lan","payload":{"name":"dry"}}"#.to_string())).await;
    assert_eq!(body["actions"], json!([{"action": "create_network", "lan": "dry"}]));
    let (_, list) = send(&app, "GET", uri, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "a dry run queues nothing");
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_before_it_is_read() {
    let (_dir, engine, app) = common::app().await;
    let t =
        engine.generate(Name::parse("big").unwrap(), GeneratorConfig { seed: 7, ..Default::default() }).await.unwrap();
    engine.deploy(t.header.id).await.unwrap();
    let filler = "x".repeat(decnet_api::MAX_BODY_BYTES + 1);
    let body = json!({ "op": "add_lan", "payload": { "name": "lab", "filler": filler } }).to_string();
    let (status, body) = send(&app, "POST", "/api/v1/topologies/big/mutations", Some(body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "body_too_large", "{body}");
    let (_, list) = send(&app, "GET", "/api/v1/topologies/big/mutations", None).await;
    assert_eq!(list, json!([]), "nothing was queued");
}
