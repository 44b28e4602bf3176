//! The elasticsearch decoy against curl and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, nmap_version, text};

fn curl(decoy: &Decoy, args: &[&str], path: &str) -> String {
    let url = format!("http://{}{path}", decoy.addr);
    let mut all = vec!["-s", "-m", "10"];
    all.extend_from_slice(args);
    all.push(&url);
    let out = client("curl", &all, None);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_reads_the_banner_and_bait_and_writes_deletes_and_scripts_are_recorded() {
    let mut decoy = Decoy::start(
        "elasticsearch",
        &format!("{}:0", loopback()),
        None,
        &[("DECNET_HOSTNAME", "search-01"), ("DECNET_DISTRO", "debian")],
    );
    let banner: serde_json::Value = serde_json::from_str(&curl(&decoy, &[], "/")).unwrap();
    assert_eq!(banner["name"], "search-01");
    assert_eq!(banner["tagline"], "You Know, for Search");
    assert!(banner["version"]["number"].as_str().unwrap().starts_with("7."), "{banner}");
    assert_eq!(banner["version"]["build_type"], "deb");
    let request = decoy.wait_kind("request", |e| e["details"]["path"] == "/");
    assert_schema(&request, "elasticsearch");

    let indices = curl(&decoy, &[], "/_cat/indices?v");
    assert!(indices.starts_with("health status index") && indices.contains("customers") && indices.contains("users"));
    let health: serde_json::Value = serde_json::from_str(&curl(&decoy, &[], "/_cluster/health")).unwrap();
    assert_eq!(health["status"], "yellow");
    let nodes: serde_json::Value = serde_json::from_str(&curl(&decoy, &[], "/_nodes")).unwrap();
    assert_eq!(nodes["_nodes"]["total"], 1);

    let found: serde_json::Value = serde_json::from_str(&curl(&decoy, &[], "/users/_search?pretty")).unwrap();
    let hits = found["hits"]["hits"].as_array().unwrap();
    assert!(hits.iter().any(|h| h["_source"]["username"] == "admin"), "{found}");
    assert!(hits.iter().all(|h| h["_source"]["password_hash"].as_str().unwrap().starts_with("$2a$10$")));
    let search = decoy.wait_kind("command", |e| e["details"]["action"] == "search");
    assert_eq!(search["details"]["index"], "users");

    let deleted = curl(&decoy, &["-X", "DELETE"], "/customers");
    assert_eq!(deleted, "{\"acknowledged\":true}");
    decoy.wait_kind("command", |e| e["details"]["action"] == "delete" && e["details"]["index"] == "customers");
    let still = curl(&decoy, &[], "/customers/_count");
    assert!(still.contains("\"count\":4"), "a delete is never applied: {still}");

    let put = curl(
        &decoy,
        &["-X", "PUT", "-H", "Content-Type: application/json", "-d", "{\"ransom\":\"pay 0.1 BTC\"}"],
        "/readme/_doc/1",
    );
    assert!(put.contains("\"result\":\"created\""), "{put}");
    let write = decoy.wait_kind("command", |e| e["details"]["action"] == "write");
    assert!(write["details"]["payload"].as_str().unwrap().contains("pay 0.1 BTC"));

    let script = r#"{"size":1,"script_fields":{"x":{"script":"java.lang.Math.class.forName(\"java.lang.Runtime\").getRuntime().exec(\"id\")"}}}"#;
    curl(&decoy, &["-H", "Content-Type: application/json", "-d", script], "/_search");
    let rce = decoy.wait_kind("command", |e| e["details"]["action"] == "script");
    assert!(rce["details"]["payload"].as_str().unwrap().contains("getRuntime"));

    let security = curl(&decoy, &["-u", "elastic:changeme"], "/_security/user");
    assert!(security.contains("\"status\":"), "{security}");
    decoy.wait_kind("command", |e| e["details"]["action"] == "security_probe");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["principal"] == "elastic");
    assert_eq!(attempt["secret"]["value"], "changeme");
}

#[test]
fn nmap_names_the_elasticsearch_rest_api_and_its_version() {
    let decoy =
        Decoy::start("elasticsearch", &format!("{}:9200", loopback()), None, &[("DECNET_HOSTNAME", "search-01")]);
    let line = nmap_version(decoy.addr);
    assert!(line.contains("Elasticsearch REST API 7."), "{line}");
    assert!(line.contains("name: search-01"), "{line}");
}
