//! Drop-in compatibility with the original API (reference `mazenet.md` §1 and §9): one
//! test per route group, sending the original's request bodies and asserting the fields,
//! JSON types, status codes and the error texts its clients parse.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use axum::http::StatusCode;
use common::sse::SseClient;
use common::{Server, send};
use serde_json::{Value, json};

async fn call(server: &Server, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    send(server, method, uri, if body.is_null() { None } else { Some(body.to_string()) }).await
}

/// Asserts that `value` has every field with a value of the named JSON type
/// (`s`tring, `n`umber, `b`oolean, `o`bject, `a`rray, `z` null, `s?` string or null, ...).
fn shape(value: &Value, fields: &[(&str, &str)]) {
    for (field, kind) in fields {
        let v = value.get(*field).unwrap_or_else(|| panic!("{field} missing in {value}"));
        let ok = kind.split('|').any(|k| match k {
            "s" => v.is_string(),
            "n" => v.is_number(),
            "i" => v.is_i64(),
            "b" => v.is_boolean(),
            "o" => v.is_object(),
            "a" => v.is_array(),
            "z" => v.is_null(),
            other => panic!("unknown kind {other}"),
        });
        assert!(ok, "{field} should be {kind}: {v} in {value}");
    }
}

const SUMMARY: &[(&str, &str)] = &[
    ("id", "s"),
    ("name", "s"),
    ("mode", "s"),
    ("target_host_uuid", "s|z"),
    ("status", "s"),
    ("status_changed_at", "s"),
    ("created_at", "s"),
    ("version", "i"),
    ("needs_resync", "b"),
    ("config_snapshot", "o"),
];

/// The original's generate body, every field given.
fn generate_body(name: &str) -> Value {
    json!({
        "name": name, "mode": "unihost", "depth": 2, "branching_factor": 2,
        "deckies_per_lan_min": 1, "deckies_per_lan_max": 2, "bridge_forward_probability": 1.0,
        "cross_edge_probability": 0.0, "randomize_services": true, "services_explicit": null,
        "seed": 11, "target_host_uuid": null,
    })
}

#[tokio::test]
async fn topologies_generate_list_and_the_hydrated_detail() {
    let (_dir, _engine, server) = common::app().await;
    let (status, created) = call(&server, "POST", "/api/v1/topologies", generate_body("maze")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    shape(&created, SUMMARY);
    assert_eq!((created["status"].as_str(), created["needs_resync"].as_bool()), (Some("pending"), Some(false)));

    // What the original refuses with 400, each naming the field.
    for (body, words) in [
        (json!({ "depth": 2 }), "name"),
        (json!({ "name": "x", "depth": 17 }), "depth"),
        (json!({ "name": "x", "deckies_per_lan_min": 3, "deckies_per_lan_max": 2 }), "deckies_per_lan_min"),
        (json!({ "name": "x", "randomize_services": false }), "services_explicit"),
        (json!({ "name": "x", "bridge_forward_probability": 1.5 }), "bridge_forward_probability"),
        (json!({ "name": "x", "mode": "agent" }), "target_host_uuid"),
        (json!({ "name": "x", "mode": "unihost", "target_host_uuid": "h-1" }), "target_host_uuid"),
        (json!({ "name": "x", "mode": "cluster" }), "mode"),
    ] {
        let (status, error) = call(&server, "POST", "/api/v1/topologies", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert!(error["detail"].as_str().unwrap().contains(words), "{body}: {error}");
    }
    let (status, _) = call(&server, "POST", "/api/v1/topologies", generate_body("maze")).await;
    assert_eq!(status, StatusCode::CONFLICT, "a taken name");
    let agent = json!({ "name": "pinned", "mode": "agent", "target_host_uuid": "host-7", "seed": 1 });
    let (status, pinned) = call(&server, "POST", "/api/v1/topologies", agent).await;
    assert_eq!((status, pinned["target_host_uuid"].as_str()), (StatusCode::CREATED, Some("host-7")), "{pinned}");

    let (status, page) = send(&server, "GET", "/api/v1/topologies?limit=1&offset=0", None).await;
    assert_eq!(status, StatusCode::OK);
    shape(&page, &[("total", "i"), ("limit", "i"), ("offset", "i"), ("data", "a")]);
    assert_eq!((page["total"].as_i64(), page["data"][0]["name"].as_str()), (Some(2), Some("pinned")), "newest first");

    let id = created["id"].as_str().unwrap();
    let (status, detail) = send(&server, "GET", &format!("/api/v1/topologies/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    shape(&detail["topology"], SUMMARY);
    let lans = detail["lans"].as_array().unwrap();
    for lan in lans {
        shape(lan, &[("id", "s"), ("name", "s"), ("subnet", "s"), ("is_dmz", "b"), ("x", "n|z"), ("y", "n|z")]);
    }
    let names: Vec<&str> = lans.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "LANs sorted by name: {names:?}");
    let deckies = detail["deckies"].as_array().unwrap();
    for decky in deckies {
        shape(
            decky,
            &[
                ("uuid", "s"),
                ("name", "s"),
                ("services", "a"),
                ("decky_config", "o"),
                ("ip", "s"),
                ("state", "s"),
                ("last_error", "s|z"),
                ("x", "n|z"),
                ("y", "n|z"),
            ],
        );
        let config = &decky["decky_config"];
        shape(config, &[("name", "s"), ("ips_by_lan", "o"), ("forwards_l3", "b"), ("service_config", "o")]);
        assert_eq!(config["name"], decky["name"]);
        // The first key of ips_by_lan is the home LAN, whose IP is the row's `ip`.
        let (home, ip) = config["ips_by_lan"].as_object().unwrap().iter().next().unwrap();
        assert_eq!((home.as_str(), ip), (decky["home_lan"].as_str().unwrap(), &decky["ip"]), "{decky}");
    }
    let lan_ids: Vec<&Value> = lans.iter().map(|l| &l["id"]).collect();
    let decky_ids: Vec<&Value> = deckies.iter().map(|d| &d["uuid"]).collect();
    let edges = detail["edges"].as_array().unwrap();
    assert!(!edges.is_empty());
    for edge in edges {
        shape(edge, &[("id", "s"), ("decky_uuid", "s"), ("lan_id", "s"), ("is_bridge", "b"), ("forwards_l3", "b")]);
        assert!(decky_ids.contains(&&edge["decky_uuid"]) && lan_ids.contains(&&edge["lan_id"]), "{edge}");
    }
}

#[tokio::test]
async fn pending_child_crud_by_the_original_ids_and_bodies() {
    let (_dir, _engine, server) = common::app().await;
    let (status, error) =
        call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "c", "target_host_uuid": "h" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unihost with a host: {error}");
    assert!(error["detail"].as_str().unwrap().contains("target_host_uuid"));
    let (status, blank) = call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "canvas" })).await;
    assert_eq!(status, StatusCode::CREATED);
    shape(&blank, SUMMARY);
    let base = format!("/api/v1/topologies/{}", blank["id"].as_str().unwrap());
    let (_, detail) = send(&server, "GET", &base, None).await;
    let dmz_id = detail["lans"][0]["id"].as_str().unwrap().to_owned();
    let version = detail["topology"]["version"].as_i64().unwrap();

    // LANs: create, rename through their id (the id stays), next-ip by id.
    let body =
        json!({ "name": "lab", "subnet": null, "is_dmz": false, "x": 10.0, "y": 20.0, "expected_version": version });
    let (status, lab) = call(&server, "POST", &format!("{base}/lans"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{lab}");
    shape(&lab, &[("id", "s"), ("name", "s"), ("subnet", "s"), ("is_dmz", "b"), ("x", "n")]);
    let lab_id = lab["id"].as_str().unwrap().to_owned();
    let (status, conflict) =
        call(&server, "POST", &format!("{base}/lans"), json!({ "name": "late", "expected_version": version })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["detail"], format!("Version conflict: expected {version}, current {}", version + 1));
    let (status, renamed) = call(&server, "PATCH", &format!("{base}/lans/{lab_id}"), json!({ "name": "lab-a" })).await;
    assert_eq!(
        (status, renamed["id"].as_str(), renamed["name"].as_str()),
        (StatusCode::OK, Some(&*lab_id), Some("lab-a"))
    );
    let (status, next) = send(&server, "GET", &format!("{base}/lans/{lab_id}/next-ip"), None).await;
    assert_eq!(status, StatusCode::OK);
    shape(&next, &[("subnet", "s"), ("ip", "s")]);
    let ghost = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        call(&server, "PATCH", &format!("{base}/lans/{ghost}"), json!({ "x": 1.0 })).await.0,
        StatusCode::NOT_FOUND
    );

    // Deckies: the original's body, LANs named in decky_config.ips_by_lan (home first).
    let body = json!({
        "name": "files", "services": ["ftp", "ssh"], "x": 1.0, "y": 2.0,
        "decky_config": { "ips_by_lan": { "lab-a": null, "dmz": "" }, "forwards_l3": false, "archetype": "deaddeck",
                          "service_config": { "ftp": { "anonymous": true } } },
    });
    let (status, files) = call(&server, "POST", &format!("{base}/deckies"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{files}");
    shape(
        &files,
        &[("uuid", "s"), ("name", "s"), ("services", "a"), ("decky_config", "o"), ("ip", "s"), ("state", "s")],
    );
    assert_eq!(files["home_lan"], "lab-a");
    assert_eq!(files["decky_config"]["ips_by_lan"].as_object().unwrap().len(), 2, "{files}");
    let uuid = files["uuid"].as_str().unwrap().to_owned();
    let (status, error) = call(&server, "POST", &format!("{base}/deckies"), json!({ "name": "nowhere" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a decky needs a LAN: {error}");

    // Edges: the one to the DMZ, by its id; then a new one by the original's body.
    let (_, detail) = send(&server, "GET", &base, None).await;
    let edge = detail["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["decky_uuid"] == uuid.as_str() && e["lan_id"] == dmz_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(edge["is_bridge"], true);
    let edge_id = edge["id"].as_str().unwrap();
    assert_eq!(send(&server, "DELETE", &format!("{base}/edges/{edge_id}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(&server, "DELETE", &format!("{base}/edges/{edge_id}"), None).await.0, StatusCode::NOT_FOUND);
    let body = json!({ "decky_uuid": uuid, "lan_id": dmz_id, "is_bridge": true, "forwards_l3": false });
    let (status, created) = call(&server, "POST", &format!("{base}/edges"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    shape(&created, &[("id", "s"), ("decky_uuid", "s"), ("lan_id", "s"), ("is_bridge", "b"), ("forwards_l3", "b")]);
    assert_eq!(created["id"].as_str(), Some(edge_id), "an edge's id is stable for the same decky and LAN");
    let stranger = json!({ "decky_uuid": ghost, "lan_id": dmz_id, "is_bridge": false, "forwards_l3": false });
    assert_eq!(call(&server, "POST", &format!("{base}/edges"), stranger).await.0, StatusCode::BAD_REQUEST);

    // PATCH by uuid with a replaced decky_config: the DMZ membership goes, config changes.
    let patch = json!({ "services": ["ftp"], "decky_config": { "ips_by_lan": { "lab-a": files["ip"] }, "archetype": "deaddeck" } });
    let (status, patched) = call(&server, "PATCH", &format!("{base}/deckies/{uuid}"), patch).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        (patched["services"].clone(), patched["decky_config"]["ips_by_lan"].as_object().unwrap().len()),
        (json!(["ftp"]), 1)
    );
    let (status, _) = call(&server, "PATCH", &format!("{base}/deckies/{uuid}"), json!({ "name": "renamed" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "names do not change");

    assert_eq!(send(&server, "DELETE", &format!("{base}/deckies/{uuid}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(&server, "DELETE", &format!("{base}/lans/{lab_id}"), None).await.0, StatusCode::NO_CONTENT);
    let (_, detail) = send(&server, "GET", &base, None).await;
    assert_eq!((detail["lans"].as_array().unwrap().len(), detail["deckies"].as_array().unwrap().len()), (1, 1));
}

#[tokio::test]
async fn mutations_and_status_events_as_the_original_lists_them() {
    let (_dir, engine, server) = common::app().await;
    let (_, created) = call(&server, "POST", "/api/v1/topologies", generate_body("live")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    engine.deploy(decnet_domain::TopologyId(id.parse().unwrap())).await.unwrap();
    let uri = format!("/api/v1/topologies/{id}/mutations");
    let (status, queued) = call(&server, "POST", &uri, json!({ "op": "add_lan", "payload": { "name": "lab" } })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    shape(&queued, &[("mutation_id", "i"), ("state", "s")]);
    assert_eq!(queued["state"], "pending");
    let (status, _) = call(&server, "POST", &uri, json!({ "op": "explode", "payload": {} })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an unknown op");
    engine.run_until_idle().await.unwrap();
    let (_, rows) = send(&server, "GET", &uri, None).await;
    let row = &rows[0];
    shape(
        row,
        &[
            ("id", "i"),
            ("topology_id", "s"),
            ("op", "s"),
            ("payload", "o"),
            ("state", "s"),
            ("requested_at", "s"),
            ("applied_at", "s"),
            ("reason", "z"),
        ],
    );
    assert_eq!((row["state"].as_str(), row["payload"]["name"].as_str()), (Some("applied"), Some("lab")));

    let (_, events) = send(&server, "GET", &format!("/api/v1/topologies/{id}/status-events"), None).await;
    let newest = &events[0];
    shape(
        newest,
        &[("id", "i"), ("topology_id", "s"), ("from_status", "s"), ("to_status", "s"), ("at", "s"), ("reason", "s")],
    );
    assert_eq!((newest["from_status"].as_str(), newest["to_status"].as_str()), (Some("deploying"), Some("active")));
}

#[tokio::test]
async fn catalogue_addresses_and_the_reaper() {
    let (_dir, _engine, server) = common::app().await;
    let (_, services) = send(&server, "GET", "/api/v1/topologies/services", None).await;
    assert!(services["services"].as_array().unwrap().iter().all(Value::is_string), "{services}");
    assert!(services["services"].as_array().unwrap().contains(&json!("ssh")));
    assert!(services["fleet_singletons"].as_array().unwrap().iter().all(Value::is_string));
    let (status, schema) = send(&server, "GET", "/api/v1/topologies/services/ssh/schema", None).await;
    assert_eq!(status, StatusCode::OK);
    shape(&schema, &[("name", "s"), ("ports", "a"), ("fleet_singleton", "b"), ("fields", "a")]);
    assert_eq!(schema["ports"], json!([22]));
    for field in schema["fields"].as_array().unwrap() {
        shape(
            field,
            &[
                ("key", "s"),
                ("label", "s"),
                ("type", "s"),
                ("secret", "b"),
                ("help", "s"),
                ("enum", "a|z"),
                ("placeholder", "s|z"),
            ],
        );
        assert!(field.get("default").is_some());
    }
    assert_eq!(send(&server, "GET", "/api/v1/topologies/services/gopher/schema", None).await.0, StatusCode::NOT_FOUND);
    let (_, archetypes) = send(&server, "GET", "/api/v1/topologies/archetypes", None).await;
    for archetype in archetypes["archetypes"].as_array().unwrap() {
        shape(
            archetype,
            &[
                ("slug", "s"),
                ("display_name", "s"),
                ("description", "s"),
                ("services", "a"),
                ("preferred_distros", "a"),
                ("nmap_os", "s"),
            ],
        );
    }
    let (_, next) = send(&server, "GET", "/api/v1/topologies/next-subnet", None).await;
    let subnet: ipnet::Ipv4Net = next["subnet"].as_str().unwrap().parse().unwrap();
    assert!(
        "172.16.0.0/12".parse::<ipnet::Ipv4Net>().unwrap().contains(&subnet),
        "the original's default base: {subnet}"
    );
    let (status, report) = send(&server, "POST", "/api/v1/topologies/reap-orphans", None).await;
    assert_eq!(status, StatusCode::OK);
    shape(
        &report,
        &[
            ("live_prefixes", "a"),
            ("orphan_prefixes", "a"),
            ("containers_removed", "a"),
            ("networks_removed", "a"),
            ("errors", "a"),
        ],
    );
}

#[tokio::test]
async fn sse_frames_and_single_use_tickets() {
    let (_dir, engine, server) = common::app_running().await;
    let (_, created) = call(&server, "POST", "/api/v1/topologies", generate_body("watched")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    engine.deploy(decnet_domain::TopologyId(id.parse().unwrap())).await.unwrap();

    let (status, ticket) = send(&server, "POST", "/api/v1/auth/sse-ticket", None).await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    let mut stream = SseClient::open_with_ticket(&server, &id, &ticket).await.unwrap();
    let (status, error) = SseClient::open_with_ticket(&server, &id, &ticket).await.err().unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a ticket is used once: {error}");
    assert_eq!(SseClient::open_with_ticket(&server, &id, "forged").await.err().unwrap().0, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&server, "GET", &format!("/api/v1/topologies?ticket={ticket}"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a ticket is no parameter of other routes");

    let snapshot = stream.next().await;
    assert_eq!(snapshot.event, "snapshot");
    shape(&snapshot.data, &[("topology_id", "s"), ("status", "s"), ("in_flight", "a")]);
    assert_eq!((snapshot.data["topology_id"].as_str(), snapshot.data["status"].as_str()), (Some(&*id), Some("active")));

    let uri = format!("/api/v1/topologies/{id}/mutations");
    call(&server, "POST", &uri, json!({ "op": "add_lan", "payload": { "name": "lab" } })).await;
    let frames = stream.until(|f| f.event == "mutation.applied").await;
    let names: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(names, ["mutation.enqueued", "mutation.applying", "mutation.applied"]);
    for frame in &frames {
        shape(&frame.data, &[("topic", "s"), ("type", "s"), ("ts", "s"), ("payload", "o")]);
        assert_eq!(frame.data["topic"], format!("topology.{id}.{}", frame.event));
        assert_eq!(frame.data["type"], frame.event.as_str());
    }

    // A status change is named `status`, with the original's `state`.
    call(&server, "POST", &format!("/api/v1/topologies/{id}/teardown"), Value::Null).await;
    let frames = stream.until(|f| f.event == "status" && f.data["payload"]["state"] == "torn_down").await;
    let status = frames.iter().find(|f| f.event == "status").unwrap();
    assert_eq!(status.data["topic"], format!("topology.{id}.status"));
    assert_eq!(status.data["payload"]["state"], "tearing_down");
}

#[tokio::test]
async fn per_decky_service_routes_edit_pending_and_queue_deployed() {
    let (_dir, engine, server) = common::app().await;
    call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "svc" })).await;
    let base = "/api/v1/topologies/svc/deckies/dmz-gateway/services";
    let add = json!({ "name": "http", "config": { "server_header": "nginx/1.18.0" } });
    let (status, body) = call(&server, "POST", base, add.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    shape(&body, &[("decky_name", "s"), ("topology_id", "s"), ("services", "a")]);
    assert_eq!(body["services"], json!(["http", "ssh"]));
    assert_eq!(call(&server, "POST", base, add).await.0, StatusCode::CONFLICT, "already present");
    assert_eq!(call(&server, "POST", base, json!({ "name": "gopher" })).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(call(&server, "POST", base, json!({ "name": "sniffer" })).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = call(&server, "POST", base, json!({ "name": "ftp", "config": { "colour": "red" } })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a config key the service does not have: {body}");
    let (status, _) =
        call(&server, "POST", "/api/v1/topologies/svc/deckies/ghost/services", json!({ "name": "ftp" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let config = json!({ "config": { "server_header": "Apache/2.4.59 (Debian)" } });
    let (status, saved) = call(&server, "PUT", &format!("{base}/http/config"), config.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    shape(
        &saved,
        &[("decky_name", "s"), ("service_name", "s"), ("topology_id", "s"), ("config", "o"), ("recreated", "b")],
    );
    assert_eq!(saved["recreated"], false, "nothing runs while pending");
    let (status, applied) = call(&server, "POST", &format!("{base}/http/apply"), config).await;
    assert_eq!(status, StatusCode::CREATED, "{applied}");
    let (_, detail) = send(&server, "GET", "/api/v1/topologies/svc", None).await;
    assert_eq!(
        detail["deckies"][0]["decky_config"]["service_config"]["http"]["server_header"],
        "Apache/2.4.59 (Debian)"
    );
    let (status, removed) = send(&server, "DELETE", &format!("{base}/http"), None).await;
    assert_eq!((status, removed["services"].clone()), (StatusCode::OK, json!(["ssh"])), "{removed}");
    assert_eq!(send(&server, "DELETE", &format!("{base}/http"), None).await.0, StatusCode::CONFLICT, "not present");

    // Deployed, the same route queues the change for the reconciler.
    let id = detail["topology"]["id"].as_str().unwrap();
    engine.deploy(decnet_domain::TopologyId(id.parse().unwrap())).await.unwrap();
    let (status, queued) = call(&server, "POST", base, json!({ "name": "redis" })).await;
    assert_eq!(status, StatusCode::CREATED, "{queued}");
    assert!(queued["mutation_id"].is_i64(), "{queued}");
    engine.run_until_idle().await.unwrap();
    let (_, detail) = send(&server, "GET", "/api/v1/topologies/svc", None).await;
    assert_eq!(detail["deckies"][0]["services"], json!(["redis", "ssh"]));
    let (status, saved) = call(&server, "PUT", &format!("{base}/redis/config"), json!({ "config": {} })).await;
    assert_eq!((status, saved["recreated"].as_bool()), (StatusCode::OK, Some(true)), "{saved}");
}

#[tokio::test]
async fn personas_are_replaced_whole_and_invalid_entries_dropped() {
    let (_dir, _engine, server) = common::app().await;
    call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "mail" })).await;
    let uri = "/api/v1/topologies/mail/personas";
    let (status, empty) = send(&server, "GET", uri, None).await;
    assert_eq!(status, StatusCode::OK);
    shape(&empty, &[("topology_id", "s"), ("topology_name", "s"), ("language_default", "s"), ("personas", "a")]);
    assert_eq!((empty["language_default"].as_str(), empty["personas"].clone()), (Some("en"), json!([])));

    let personas = json!({ "personas": [
        { "name": "Ana Reis", "email": "ana@example.test", "role": "finance" },
        { "name": "no address" },
        "not an object",
    ] });
    let (status, kept) = call(&server, "PUT", uri, personas).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["personas"], json!([{ "name": "Ana Reis", "email": "ana@example.test", "role": "finance" }]));
    assert_eq!(send(&server, "GET", uri, None).await.1, kept, "stored");
    let (status, _) = call(&server, "PUT", uri, json!({ "personas": { "email": "a@b" } })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a list");
    let (status, _) = call(&server, "PUT", uri, json!({ "personas": [{ "email": "nobody" }] })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "all invalid");
    assert_eq!(send(&server, "GET", uri, None).await.1, kept, "a refused write changes nothing");
    assert_eq!(send(&server, "GET", "/api/v1/topologies/nowhere/personas", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_tarpit_routes_say_they_are_not_offered() {
    let (_dir, _engine, server) = common::app().await;
    call(&server, "POST", "/api/v1/topologies/blank", json!({ "name": "slow" })).await;
    let uri = "/api/v1/topologies/slow/deckies/dmz-gateway/tarpit";
    for method in ["POST", "GET", "DELETE"] {
        let body = if method == "POST" { json!({ "ports": [22], "delay_ms": 500 }) } else { Value::Null };
        let (status, error) = call(&server, method, uri, body).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{method}");
        assert!(error["detail"].as_str().unwrap().contains("tarpit"), "{error}");
    }
}
