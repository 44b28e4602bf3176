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

    // Several in order: the decky goes into the LAN the first op adds; a refused op in the
    // middle changes nothing for the ones after it; an unknown op is refused in place.
    let plan_all = "/api/v1/topologies/maze/mutations:plan-all";
    let ops = json!({ "ops": [
        { "op": "add_lan", "payload": { "name": "dry" } },
        { "op": "remove_lan", "payload": { "name": "lan-01" } },
        { "op": "add_decky", "payload": { "name": "dry-1", "lan": "dry", "services": ["ssh"] } },
        { "op": "explode" },
    ] });
    let (status, body) = send(&app, "POST", plan_all, Some(ops.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    let accepted: Vec<_> = results.iter().map(|r| r["accepted"].as_bool().unwrap()).collect();
    assert_eq!(accepted, [true, false, true, false]);
    assert_eq!(results[1]["codes"], json!(["HOME_LAN_REMOVE"]));
    assert_eq!(results[3]["codes"], json!(["UNKNOWN_OP"]));
    let (status, body) =
        send(&app, "POST", "/api/v1/topologies/maze/mutations:plan", Some(ops["ops"][2].to_string())).await;
    assert_eq!((status, body["accepted"].as_bool()), (StatusCode::OK, Some(false)), "alone, the LAN is missing");
    let (status, _) = send(&app, "POST", plan_all, Some(r#"{"ops":[]}"#.to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, list) = send(&app, "GET", uri, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "dry runs queue nothing");
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

/// Waits (at most 10 s) until every listed mutation of `topology` is settled; returns the
/// list, oldest first.
async fn settled(app: &common::Server, topology: &str, count: usize) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, list) = send(app, "GET", &format!("/api/v1/topologies/{topology}/mutations"), None).await;
        let mut list = list.as_array().cloned().unwrap_or_default();
        if list.len() == count && list.iter().all(|m| m["state"] == "applied" || m["state"] == "failed") {
            list.reverse();
            return list;
        }
        assert!(tokio::time::Instant::now() < deadline, "mutations not settled: {list:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn staged_edits_commit_with_consecutive_versions_while_the_engine_applies_them() {
    let (_dir, engine, app) = common::app_running().await;
    let t = engine
        .generate(Name::parse("staged").unwrap(), GeneratorConfig { seed: 3, ..Default::default() })
        .await
        .unwrap();
    engine.deploy(t.header.id).await.unwrap();
    let (_, detail) = send(&app, "GET", "/api/v1/topologies/staged", None).await;
    let v = detail["topology"]["version"].as_i64().unwrap();
    let uri = "/api/v1/topologies/staged/mutations";

    // An editor staged two edits against v and v+1; the engine applies the first before
    // the second is sent, which must not invalidate the second's expected version.
    let first = json!({"op": "add_lan", "payload": {"name": "lab"}, "expected_version": v}).to_string();
    let (status, body) = send(&app, "POST", uri, Some(first)).await;
    assert_eq!((status, body["version"].as_i64()), (StatusCode::ACCEPTED, Some(v + 1)), "{body}");
    settled(&app, "staged", 1).await;
    let second = json!({"op": "add_decky", "payload": {"name": "lab-1", "lan": "lab", "services": ["ssh"]},
                        "expected_version": v + 1})
    .to_string();
    let (status, body) = send(&app, "POST", uri, Some(second)).await;
    assert_eq!((status, body["version"].as_i64()), (StatusCode::ACCEPTED, Some(v + 2)), "{body}");

    let list = settled(&app, "staged", 2).await;
    let seen: Vec<_> = list.iter().map(|m| (m["op"].as_str().unwrap(), m["state"].as_str().unwrap())).collect();
    assert_eq!(seen, [("add_lan", "applied"), ("add_decky", "applied")], "in order: {list:?}");
    let (_, detail) = send(&app, "GET", "/api/v1/topologies/staged", None).await;
    assert_eq!(detail["topology"]["version"], v + 2, "applying counted nothing new");
    let stale = json!({"op": "remove_decky", "payload": {"decky": "lab-1"}, "expected_version": v + 1}).to_string();
    let (status, body) = send(&app, "POST", uri, Some(stale)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("version_conflict")), "{body}");
}
