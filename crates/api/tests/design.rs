//! Design-time routes over real HTTP: blank topologies, pending-only CRUD of LANs,
//! deckies and edges with `expected_version`, address suggestions, the orphan reaper, a
//! topology's stored placement.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use axum::http::StatusCode;
use common::{Server, assert_error, send};
use serde_json::{Value, json};

async fn call(server: &Server, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    send(server, method, uri, if body.is_null() { None } else { Some(body.to_string()) }).await
}

async fn version(server: &Server, topology: &str) -> i64 {
    send(server, "GET", &format!("/api/v1/topologies/{topology}"), None).await.1["topology"]["version"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_blank_topology_has_a_dmz_and_its_gateway() {
    let (_dir, _engine, server) = common::app().await;
    let (status, created) = call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "canvas" })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "pending");
    let (_, shown) = send(&server, "GET", "/api/v1/topologies/canvas", None).await;
    assert_eq!(shown["lans"][0]["name"], "dmz");
    assert_eq!(shown["lans"][0]["is_dmz"], true);
    assert!(shown["lans"][0]["subnet"].as_str().unwrap().ends_with("/24"));
    let gateway = &shown["deckies"][0];
    assert_eq!(gateway["name"], "dmz-gateway");
    assert_eq!(gateway["services"], json!(["ssh"]));
    assert_eq!(gateway["is_gateway"], true);
    // It validates as it is.
    let (status, _) = send(&server, "POST", "/api/v1/topologies/canvas/deploy", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (status, body) = call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "canvas" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "name_taken");
    let (status, body) = call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "Not Valid" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_parameter");
    let (status, _) = call(&server, "POST", "/api/v1/topologies/blank", json!({ "nom": "x" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn pending_lans_deckies_and_edges_are_edited_one_atomic_step_at_a_time() {
    let (_dir, engine, server) = common::app().await;
    call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "draw" })).await;
    let base = "/api/v1/topologies/draw";
    let v0 = version(&server, "draw").await;

    let (status, body) =
        call(&server, "POST", &format!("{base}/lans"), json!({ "name": "lab", "expected_version": v0 })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["topology_version"], v0 + 1);
    assert_eq!(body["name"], "lab");
    assert!(body["subnet"].as_str().unwrap().ends_with("/24"), "a subnet is allocated");
    let (status, body) = call(&server, "POST", &format!("{base}/lans"), json!({ "name": "lab" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "name_taken");
    let (status, body) =
        call(&server, "POST", &format!("{base}/lans"), json!({ "name": "x", "expected_version": v0 })).await;
    assert_eq!(status, StatusCode::CONFLICT, "stale version");
    assert_error(&body, "version_conflict");

    let decky = json!({ "name": "web", "lan": "lab", "services": ["http"] });
    let (status, body) = call(&server, "POST", &format!("{base}/deckies"), decky).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["decky_config"]["ips_by_lan"]["lab"].is_string());
    let patch = json!({ "services": ["http", "ssh"], "x": 5.0, "archetype": "deaddeck" });
    let (status, body) = call(&server, "PATCH", &format!("{base}/deckies/web"), patch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["services"], json!(["http", "ssh"]));
    assert_eq!(body["decky_config"]["archetype"], "deaddeck");
    let (status, body) = call(&server, "PATCH", &format!("{base}/deckies/web"), json!({ "colour": "red" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = call(&server, "PATCH", &format!("{base}/deckies/ghost"), json!({ "x": 1.0 })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, edge) = call(&server, "POST", &format!("{base}/edges"), json!({ "decky": "web", "lan": "dmz" })).await;
    assert_eq!(status, StatusCode::CREATED, "{edge}");
    assert!(edge["lan_id"].is_string(), "{edge}");
    let (status, edge) = call(&server, "POST", &format!("{base}/edges"), json!({ "decky": "web", "lan": "dmz" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "already attached: {edge}");
    assert_eq!(send(&server, "DELETE", &format!("{base}/edges/web/dmz"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(&server, "DELETE", &format!("{base}/edges/web/dmz"), None).await.0, StatusCode::NOT_FOUND);

    // While pending, a LAN may be renamed and re-addressed; its members follow.
    let change = json!({ "name": "lab2", "subnet": "10.250.7.0/24" });
    let (status, body) = call(&server, "PATCH", &format!("{base}/lans/lab"), change).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (field, value) in [("name", json!("lab2")), ("subnet", json!("10.250.7.0/24")), ("is_dmz", json!(false))] {
        assert_eq!(body[field], value, "{body}");
    }
    let (_, shown) = send(&server, "GET", base, None).await;
    let web = shown["deckies"].as_array().unwrap().iter().find(|d| d["name"] == "web").unwrap().clone();
    assert_eq!(web["home_lan"], "lab2");
    assert_eq!(web["decky_config"]["ips_by_lan"], json!({ "lab2": "10.250.7.2" }));

    // The DMZ moves onto a host interface: its members take addresses of the range, and
    // the row shows the attachment; one that does not fit is refused, nothing changes.
    let macvlan =
        json!({ "mode": "macvlan", "interface": "eth9", "gateway": "192.168.77.1", "ip_range": "192.168.77.64/28" });
    let change = json!({ "subnet": "192.168.77.0/24", "attachment": macvlan });
    let (status, body) = call(&server, "PATCH", &format!("{base}/lans/dmz"), change).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["attachment"], macvlan, "{body}");
    let (_, shown) = send(&server, "GET", base, None).await;
    let gateway = shown["deckies"].as_array().unwrap().iter().find(|d| d["name"] == "dmz-gateway").unwrap().clone();
    assert_eq!(gateway["decky_config"]["ips_by_lan"]["dmz"], "192.168.77.64", "{gateway}");
    let (_, next) = send(&server, "GET", &format!("{base}/lans/dmz/next-ip"), None).await;
    assert_eq!(next["ip"], "192.168.77.65", "{next}");
    let before = version(&server, "draw").await;
    let outside = json!({ "attachment": { "mode": "ipvlan", "interface": "eth9", "gateway": "192.168.77.1", "ip_range": "10.1.0.0/28" } });
    let (status, body) = call(&server, "PATCH", &format!("{base}/lans/dmz"), outside).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("ATTACHMENT_INVALID"), "{body}");
    let (status, body) =
        call(&server, "PATCH", &format!("{base}/lans/dmz"), json!({ "attachment": { "mode": "vxlan" } })).await;
    assert!(status.is_client_error(), "{body}");
    assert_eq!(version(&server, "draw").await, before, "refused edits change nothing");
    let bridge = json!({ "attachment": { "mode": "bridge" }, "subnet": "10.250.9.0/24" });
    let (status, body) = call(&server, "PATCH", &format!("{base}/lans/dmz"), bridge).await;
    assert_eq!((status, body["attachment"].clone()), (StatusCode::OK, json!({ "mode": "bridge" })), "{body}");

    // A LAN that is some decky's home cannot go; nothing changes.
    let before = version(&server, "draw").await;
    let (status, body) = send(&server, "DELETE", &format!("{base}/lans/lab2"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["issues"][0]["code"], "HOME_LAN_REMOVE");
    assert_eq!(version(&server, "draw").await, before);
    let stale = format!("{base}/deckies/web?expected_version={}", before - 1);
    assert_eq!(send(&server, "DELETE", &stale, None).await.0, StatusCode::CONFLICT);
    assert_eq!(
        send(&server, "DELETE", &format!("{base}/deckies/web?expected_version={before}"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(send(&server, "DELETE", &format!("{base}/lans/lab2"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(&server, "DELETE", &format!("{base}/lans/lab2"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&server, "DELETE", "/api/v1/topologies/nowhere/lans/x", None).await.0, StatusCode::NOT_FOUND);

    // Deployed, the design changes only through the queue.
    let mut events = engine.bus().subscribe();
    assert_eq!(send(&server, "POST", &format!("{base}/deploy"), None).await.0, StatusCode::ACCEPTED);
    while !(events.recv().await.unwrap().payload["status"] == "active") {}
    let (status, body) = call(&server, "POST", &format!("{base}/lans"), json!({ "name": "late" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "wrong_status");
    assert!(body["detail"].as_str().unwrap().contains("mutation"), "{body}");
}

#[tokio::test]
async fn address_suggestions_and_the_reaper() {
    let (_dir, _engine, server) = common::app().await;
    call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "first" })).await;
    let (_, shown) = send(&server, "GET", "/api/v1/topologies/first", None).await;
    let taken = shown["lans"][0]["subnet"].as_str().unwrap().to_owned();

    let (status, body) = send(&server, "GET", "/api/v1/topologies/next-subnet", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(body["subnet"], taken.as_str(), "a held subnet is not suggested");
    let (_, body) = send(&server, "GET", "/api/v1/topologies/next-subnet?base=192.168.0.0/16", None).await;
    assert_eq!(body["subnet"], "192.168.0.0/24");
    let (status, body) = send(&server, "GET", "/api/v1/topologies/next-subnet?base=banana", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_parameter");
    let (status, _) = send(&server, "GET", "/api/v1/topologies/next-subnet?base=10.0.0.0/28", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = send(&server, "GET", "/api/v1/topologies/first/lans/dmz/next-ip", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["subnet"], taken.as_str());
    let gateway_ip = shown["deckies"][0]["decky_config"]["ips_by_lan"]["dmz"].as_str().unwrap();
    assert_ne!(body["ip"], gateway_ip, "an address in use is not suggested");
    assert_eq!(
        send(&server, "GET", "/api/v1/topologies/first/lans/nowhere/next-ip", None).await.0,
        StatusCode::NOT_FOUND
    );

    let (status, body) = send(&server, "POST", "/api/v1/topologies/reap-orphans", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["orphan_prefixes"], json!([]), "{body}");
    assert_eq!(body["containers_removed"], json!([]), "{body}");
}

/// The `x`, `y` of the row named `name` in `rows` of a topology's detail.
fn position(shown: &Value, rows: &str, name: &str) -> (Value, Value) {
    let row = shown[rows].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap();
    (row["x"].clone(), row["y"].clone())
}

#[tokio::test]
async fn a_layout_moves_lans_and_deckies_in_any_status_without_a_version_bump() {
    let (_dir, engine, server) = common::app().await;
    call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "canvas" })).await;
    let base = "/api/v1/topologies/canvas";
    let layout = format!("{base}/layout");
    let (_, before) = send(&server, "GET", base, None).await;
    let (v0, g0) = (before["topology"]["version"].clone(), before["topology"]["generation"].as_i64().unwrap());

    // Pending: saved and shown, the version untouched.
    let moves =
        json!({ "lans": { "dmz": { "x": 10.5, "y": -4.0 } }, "deckies": { "dmz-gateway": { "x": 200.0, "y": 80.0 } } });
    let (status, body) = call(&server, "PUT", &layout, moves).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "generation": g0 + 1, "lans": 1, "deckies": 1 }));
    let (_, shown) = send(&server, "GET", base, None).await;
    assert_eq!(position(&shown, "lans", "dmz"), (json!(10.5), json!(-4.0)));
    assert_eq!(position(&shown, "deckies", "dmz-gateway"), (json!(200.0), json!(80.0)));
    assert_eq!(shown["topology"]["version"], v0);
    assert_eq!(shown["topology"]["generation"], g0 + 1);

    // An unknown decky refuses the whole layout; nothing moves.
    let bad = json!({ "deckies": { "dmz-gateway": { "x": 1.0, "y": 1.0 }, "ghost": { "x": 2.0, "y": 2.0 } } });
    let (status, body) = call(&server, "PUT", &layout, bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "refused");
    assert_eq!(body["issues"][0]["code"], "DECKY_NOT_FOUND");
    // A name that breaks the naming rule, a far position, an unknown field: 422 as well.
    let (status, body) = call(&server, "PUT", &layout, json!({ "lans": { "DMZ": { "x": 0.0, "y": 0.0 } } })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "invalid_body");
    assert_eq!(body["issues"][0]["code"], "NAME_INVALID");
    let (status, body) = call(&server, "PUT", &layout, json!({ "lans": { "dmz": { "x": 1e8, "y": 0.0 } } })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["issues"][0]["code"], "PAYLOAD_INVALID");
    assert_eq!(call(&server, "PUT", &layout, json!({ "edges": {} })).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, unchanged) = send(&server, "GET", base, None).await;
    assert_eq!(unchanged, shown);
    let nowhere = json!({ "lans": {} });
    assert_eq!(call(&server, "PUT", "/api/v1/topologies/nowhere/layout", nowhere).await.0, StatusCode::NOT_FOUND);

    // Deployed (memory runtime): saved the same way, by id as well as by name.
    let mut events = engine.bus().subscribe();
    assert_eq!(send(&server, "POST", &format!("{base}/deploy"), None).await.0, StatusCode::ACCEPTED);
    while !(events.recv().await.unwrap().payload["status"] == "active") {}
    let (_, deployed) = send(&server, "GET", base, None).await;
    let id = deployed["topology"]["id"].as_str().unwrap().to_owned();
    let moves = json!({ "deckies": { "dmz-gateway": { "x": -7.25, "y": 3.0 } } });
    let (status, body) = call(&server, "PUT", &format!("/api/v1/topologies/{id}/layout"), moves).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["lans"].as_u64(), body["deckies"].as_u64()), (Some(0), Some(1)));
    let (_, shown) = send(&server, "GET", base, None).await;
    assert_eq!(shown["topology"]["status"], "active");
    assert_eq!(position(&shown, "deckies", "dmz-gateway"), (json!(-7.25), json!(3.0)));
    assert_eq!(position(&shown, "lans", "dmz"), (json!(10.5), json!(-4.0)));
    assert_eq!(shown["topology"]["version"], deployed["topology"]["version"]);
    assert_eq!(shown["topology"]["generation"], deployed["topology"]["generation"].as_i64().unwrap() + 1);
}

#[tokio::test]
async fn an_op_of_the_mutation_vocabulary_edits_a_pending_design_at_once() {
    let (_dir, engine, server) = common::app().await;
    call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "ops" })).await;
    let base = "/api/v1/topologies/ops";
    let edits = format!("{base}/edits");
    let v0 = version(&server, "ops").await;

    let add = json!({ "op": "add_lan", "payload": { "name": "lab", "x": 400.0, "y": 40.0 }, "expected_version": v0 });
    let (status, body) = call(&server, "POST", &edits, add.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "op": "add_lan", "version": v0 + 1 }));
    let (_, shown) = send(&server, "GET", base, None).await;
    assert_eq!(position(&shown, "lans", "lab"), (json!(400.0), json!(40.0)));
    let attach = json!({ "op": "attach_decky", "payload": { "decky": "dmz-gateway", "lan": "lab" } });
    assert_eq!(call(&server, "POST", &edits, attach).await.0, StatusCode::OK);

    // A stale version, a refused op and an unknown op change nothing.
    let (status, body) = call(&server, "POST", &edits, add).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let nowhere = json!({ "op": "attach_decky", "payload": { "decky": "dmz-gateway", "lan": "nowhere" } });
    let (status, body) = call(&server, "POST", &edits, nowhere).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["issues"].as_array().unwrap().iter().any(|i| i["code"] == "LAN_NOT_FOUND"), "{body}");
    let (status, body) = call(&server, "POST", &edits, json!({ "op": "rename_everything" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "refused");
    assert_eq!(version(&server, "ops").await, v0 + 2);

    // Deployed, it is refused: the queue is the way.
    let mut events = engine.bus().subscribe();
    assert_eq!(send(&server, "POST", &format!("{base}/deploy"), None).await.0, StatusCode::ACCEPTED);
    while !(events.recv().await.unwrap().payload["status"] == "active") {}
    let late = json!({ "op": "add_lan", "payload": { "name": "late" } });
    let (status, body) = call(&server, "POST", &edits, late).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "wrong_status");
}

/// Placement is stored per topology and replaced whole; a refused write changes nothing.
#[tokio::test]
async fn a_placement_is_replaced_whole_by_name_and_refused_for_unknown_items_odd_nodes_and_agents() {
    let (_dir, _engine, server) = common::app().await;
    call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "placed" })).await;
    let uri = "/api/v1/topologies/placed/placement";
    let (status, empty) = send(&server, "GET", uri, None).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(
        (empty["policy"].clone(), empty["lans"].clone(), empty["deckies"].clone()),
        (json!(null), json!({}), json!({}))
    );
    assert_eq!(empty["mode"], "unihost");

    let wanted =
        json!({ "policy": "pack", "lans": { "dmz": "node-a" }, "deckies": { "dmz-gateway": "node-b.example" } });
    let (status, stored) = call(&server, "PUT", uri, wanted.clone()).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(
        (&stored["policy"], &stored["lans"], &stored["deckies"]),
        (&wanted["policy"], &wanted["lans"], &wanted["deckies"])
    );
    assert_eq!(send(&server, "GET", uri, None).await.1, stored, "stored");

    for (body, why) in [
        (json!({ "deckies": { "nobody": "node-a" } }), "an unknown decky"),
        (json!({ "lans": { "nowhere": "node-a" } }), "an unknown LAN"),
        (json!({ "deckies": { "dmz-gateway": "node a; rm -rf /" } }), "a node no swarm could have"),
        (json!({ "deckies": { "dmz-gateway": "" } }), "an empty node"),
    ] {
        let (status, body) = call(&server, "PUT", uri, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {body}");
        assert_error(&body, "refused");
    }
    for body in [json!({ "policy": "scatter" }), json!({ "pins": {} })] {
        let (status, _) = call(&server, "PUT", uri, body.clone()).await;
        assert!(status.is_client_error() && status != StatusCode::NOT_FOUND, "{body}: {status}");
    }
    assert_eq!(send(&server, "GET", uri, None).await.1, stored, "refused writes change nothing");
    let (status, cleared) = call(&server, "PUT", uri, json!({})).await;
    assert_eq!(
        (status, cleared["policy"].clone(), cleared["deckies"].clone()),
        (StatusCode::OK, json!(null), json!({}))
    );

    let agent = json!({ "name": "whole", "mode": "agent", "target_host_uuid": "node-7", "seed": 1 });
    assert_eq!(call(&server, "POST", "/api/v1/topologies", agent).await.0, StatusCode::CREATED);
    let (_, shown) = send(&server, "GET", "/api/v1/topologies/whole/placement", None).await;
    assert_eq!((shown["mode"].as_str(), shown["target_host_uuid"].as_str()), (Some("agent"), Some("node-7")));
    let (status, body) =
        call(&server, "PUT", "/api/v1/topologies/whole/placement", json!({ "policy": "spread" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an agent topology runs whole on its host: {body}");
    assert_eq!(send(&server, "GET", "/api/v1/topologies/nowhere/placement", None).await.0, StatusCode::NOT_FOUND);
}
