//! `GET /api/v1/attackers` and `/api/v1/attackers/{id}` over decoy events as the collector
//! stores them: a login on the gateway, a tunnel from it, and the session that tunnel
//! made on a decky deeper in, are one attacker's path gateway → db, with its LANs and
//! credentials; an unknown attacker is a 404.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::{app, assert_error, send};
use decnet_domain::document::TopologyDocument;
use decnet_store::NewEvent;
use serde_json::{Value, json};

fn decoy_event(topology: decnet_domain::TopologyId, decky: &str, kind: &str, payload: Value) -> NewEvent {
    NewEvent {
        at: Utc::now(),
        topology_id: Some(topology),
        kind: kind.into(),
        decky: Some(decky.into()),
        service: Some("ssh".into()),
        source_ip: payload["src_ip"].as_str().map(str::to_owned),
        payload,
    }
}

#[tokio::test]
async fn an_attackers_path_is_linked_across_deckies_with_its_lans_and_credentials() {
    let (_dir, engine, server) = app().await;
    let doc: TopologyDocument = serde_json::from_value(json!({
        "name": "walk",
        "lans": [
            {"name": "dmz", "subnet": "10.77.0.0/24", "is_dmz": true},
            {"name": "lan-b", "subnet": "10.77.2.0/24"}
        ],
        "deckies": [
            {"name": "gw", "home_lan": "dmz", "networks": [{"lan": "dmz", "ip": "10.77.0.2"}, {"lan": "lan-b", "ip": "10.77.2.2"}],
             "services": ["ssh"], "forwards_l3": true},
            {"name": "db", "home_lan": "lan-b", "networks": [{"lan": "lan-b", "ip": "10.77.2.9"}], "services": ["ssh"]}
        ]
    }))
    .unwrap();
    let id = engine.create(doc, "test").await.unwrap().header.id;
    let session = |s: &str, src: &str, port: u16, dst: &str| json!({"session": s, "src_ip": src, "src_port": port, "dst_ip": dst});
    let mut login = session("s1", "198.51.100.7", 50000, "10.77.0.2");
    login["principal"] = json!("root");
    login["secret"] = json!({"kind": "password", "value": "admin"});
    login["details"] = json!({"outcome": "success"});
    let mut tunnel = session("s1", "198.51.100.7", 50000, "10.77.0.2");
    tunnel["details"] = json!({"tunnel": "open", "outcome": "open", "from": "10.77.2.2:41000"});
    let mut command = session("s2", "10.77.2.2", 41000, "10.77.2.9");
    command["command"] = json!("cat /etc/shadow");
    let events = [
        decoy_event(id, "gw", "auth_attempt", login),
        decoy_event(id, "gw", "tunnel", tunnel),
        decoy_event(id, "db", "connect", session("s2", "10.77.2.2", 41000, "10.77.2.9")),
        decoy_event(id, "db", "command", command),
    ];
    engine.store().record_events(&events).await.unwrap();

    let (status, list) = send(&server, "GET", "/api/v1/attackers?topology=walk", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let attackers = list["attackers"].as_array().unwrap();
    assert_eq!(attackers.len(), 1, "{list}");
    let attacker = &attackers[0];
    assert_eq!(attacker["id"], "198.51.100.7");
    assert_eq!(attacker["deepest_hop"], 1);
    assert_eq!(attacker["lans"], json!(["dmz", "lan-b"]));
    assert_eq!(attacker["deckies"], json!(["db", "gw"]));
    assert_eq!(attacker["credentials"], json!([{"user": "root", "secret": "admin", "accepted": true}]));

    let (status, detail) = send(&server, "GET", "/api/v1/attackers/198.51.100.7", None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let path = detail["path"].as_array().unwrap();
    assert_eq!(path.len(), 2);
    assert_eq!(
        (path[0]["decky"].as_str(), path[0]["lan"].as_str(), path[0]["depth"].as_u64()),
        (Some("gw"), Some("dmz"), Some(0))
    );
    assert_eq!(
        (path[1]["decky"].as_str(), path[1]["lan"].as_str(), path[1]["depth"].as_u64()),
        (Some("db"), Some("lan-b"), Some(1))
    );
    assert_eq!(path[1]["via"], "s1");
    assert_eq!(path[1]["commands"], json!(["cat /etc/shadow"]));

    let (status, body) = send(&server, "GET", "/api/v1/attackers/203.0.113.1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let (status, _) = send(&server, "GET", "/api/v1/attackers?topology=nowhere", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_topologys_lures_follow_its_density_and_lead_to_deckies_that_accept_them() {
    let (_dir, _engine, server) = app().await;
    for (name, density) in [("rich-maze", "rich"), ("bare-maze", "none"), ("plain-maze", "sparse")] {
        let body = json!({"name": name, "depth": 3, "seed": 21, "lures": density});
        let (status, created) = send(&server, "POST", "/api/v1/topologies", Some(body.to_string())).await;
        assert!(status.is_success(), "{created}");
        let (status, list) = send(&server, "GET", &format!("/api/v1/topologies/{name}/lures"), None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["density"], density);
        let lures = list["lures"].as_array().unwrap();
        match density {
            "none" => assert!(lures.is_empty()),
            _ => {
                assert!(!lures.is_empty(), "{list}");
                let rich = lures.iter().any(|l| l["files"].as_array().unwrap().iter().any(|f| f == "~/.ssh/config"));
                assert_eq!(rich, density == "rich");
                assert!(lures.iter().all(|l| l["service"] == "ssh" && !l["password"].as_str().unwrap().is_empty()));
            }
        }
    }
    let (status, body) =
        send(&server, "POST", "/api/v1/topologies", Some(json!({"name": "x", "lures": "lots"}).to_string())).await;
    assert!(status.is_client_error(), "{body}");
}
