//! The k8s decoy against curl, as kubectl and cluster scanners probe an API server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, nmap_version, text};

fn curl(decoy: &Decoy, args: &[&str], path: &str) -> String {
    let url = format!("https://{}{path}", decoy.addr);
    let mut all = vec!["-s", "-k", "-i", "--max-time", "10"];
    all.extend_from_slice(args);
    all.push(&url);
    text(&client("curl", &all, None))
}

#[test]
fn an_anonymous_client_reads_the_version_and_is_forbidden_the_rest() {
    let mut decoy = Decoy::start("k8s", &format!("{}:0", loopback()), None, &[]);
    let version = curl(&decoy, &[], "/version");
    assert!(version.starts_with("HTTP/1.1 200 OK") && version.contains("\"gitVersion\": \"v1.28.2\""), "{version}");
    assert!(version.contains("Audit-Id: "), "{version}");
    let secrets = curl(&decoy, &[], "/api/v1/namespaces/kube-system/secrets");
    assert!(secrets.starts_with("HTTP/1.1 403 Forbidden"), "{secrets}");
    assert!(
        secrets.contains(r#"secrets is forbidden: User \"system:anonymous\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-system\""#),
        "{secrets}"
    );
    let handshake = decoy.wait_kind("handshake", |_| true);
    assert_schema(&handshake, "k8s");
    let command = decoy.wait_kind("command", |e| e["details"]["resource"] == "secrets");
    assert_eq!(command["details"]["namespace"], "kube-system");
    assert_eq!(command["details"]["verb"], "list");
}

#[test]
fn a_stolen_token_is_recorded_and_refused_and_exec_is_a_command() {
    let mut decoy = Decoy::start("k8s", &format!("{}:0", loopback()), None, &[]);
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpkZWZhdWx0In0.c2ln";
    let out = curl(&decoy, &["-H", &format!("Authorization: Bearer {token}")], "/api/v1/namespaces/default/pods");
    assert!(out.starts_with("HTTP/1.1 401 Unauthorized"), "{out}");
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!((attempt["principal"].as_str(), attempt["secret"]["value"].as_str()), (Some("bearer"), Some(token)));
    let exec = curl(&decoy, &["-X", "POST"], "/api/v1/namespaces/default/pods/web-0/exec?command=id&stdout=true");
    assert!(exec.starts_with("HTTP/1.1 403"), "{exec}");
    decoy.wait_kind("command", |e| e["details"]["subresource"] == "exec");
}

#[test]
fn plain_http_gets_gos_answer_and_nmap_sees_tls() {
    let decoy = Decoy::start("k8s", &format!("{}:6443", loopback()), None, &[]);
    let plain = text(&client("curl", &["-s", "--max-time", "10", &format!("http://{}/", decoy.addr)], None));
    assert_eq!(plain, "Client sent an HTTP request to an HTTPS server.\n");
    let line = nmap_version(decoy.addr);
    assert!(line.starts_with("6443/tcp open  ssl/"), "{line}");
}
