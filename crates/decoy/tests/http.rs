//! The http decoy against the real `curl` and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, text};
use serde_json::json;

fn curl(args: &[&str]) -> String {
    let mut all = vec!["-s", "-i", "--max-time", "10"];
    all.extend_from_slice(args);
    text(&client("curl", &all, None))
}

#[test]
fn requests_are_recorded_with_headers_agent_and_body() {
    let config = json!({ "server_header": "nginx/1.18.0 (Ubuntu)", "extra_headers": "X-Powered-By: PHP/8.1.2" });
    let mut decoy = Decoy::start("http", &format!("{}:0", loopback()), Some(config), &[]);
    let base = format!("http://{}", decoy.addr);
    let page = curl(&["-A", "Mozilla/5.0 (scanner)", &format!("{base}/")]);
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("Server: nginx/1.18.0 (Ubuntu)") && page.contains("X-Powered-By: PHP/8.1.2"), "{page}");
    assert!(page.contains("Welcome to nginx!"), "{page}");
    let missing = curl(&[&format!("{base}/.env")]);
    assert!(
        missing.starts_with("HTTP/1.1 404 Not Found") && missing.contains("<center>nginx/1.18.0</center>"),
        "{missing}"
    );
    curl(&["-d", "probe=1", &format!("{base}/api")]);

    let first = decoy.wait_kind("request", |e| e["details"]["path"] == "/");
    assert_schema(&first, "http");
    assert_eq!(first["details"]["method"], "GET");
    assert_eq!(first["details"]["user_agent"], "Mozilla/5.0 (scanner)");
    assert!(first["details"]["headers"]["host"].is_string(), "{first}");
    let post = decoy.wait_kind("request", |e| e["details"]["path"] == "/api");
    assert_eq!(post["details"]["body"], "probe=1");
    assert_eq!(post["command"], "POST /api");
}

#[test]
fn a_wordpress_login_form_captures_credentials_and_refuses_them() {
    let mut decoy = Decoy::start("http", &format!("{}:0", loopback()), Some(json!({ "fake_app": "wordpress" })), &[]);
    let base = format!("http://{}", decoy.addr);
    let form = curl(&[&format!("{base}/wp-login.php")]);
    assert!(form.contains("name=\"log\"") && form.contains("name=\"pwd\""), "{form}");
    let answer = curl(&["--data", "log=admin&pwd=Summer2024%21&wp-submit=Log+In", &format!("{base}/wp-login.php")]);
    assert!(
        answer.contains("The password you entered for the username <strong>admin</strong> is incorrect"),
        "{answer}"
    );
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_schema(&attempt, "http");
    assert_eq!(attempt["principal"], "admin");
    assert_eq!(attempt["secret"], json!({ "kind": "password", "value": "Summer2024!" }));
    assert_eq!(attempt["details"]["source"], "form");
    let redirect = curl(&[&format!("{base}/wp-admin/")]);
    assert!(redirect.starts_with("HTTP/1.1 302") && redirect.contains("Location: /wp-login.php"), "{redirect}");
}

#[test]
fn basic_auth_on_the_tomcat_manager_is_captured() {
    let mut decoy = Decoy::start("http", &format!("{}:0", loopback()), Some(json!({ "fake_app": "tomcat" })), &[]);
    let answer = curl(&["-u", "tomcat:s3cret", &format!("http://{}/manager/html", decoy.addr)]);
    assert!(
        answer.starts_with("HTTP/1.1 401")
            && answer.contains("WWW-Authenticate: Basic realm=\"Tomcat Manager Application\""),
        "{answer}"
    );
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!((attempt["principal"].as_str(), attempt["secret"]["value"].as_str()), (Some("tomcat"), Some("s3cret")));
    assert_eq!(attempt["details"]["source"], "basic");
}

#[test]
fn phpmyadmin_and_jenkins_present_their_login_pages() {
    let decoy = Decoy::start("http", &format!("{}:0", loopback()), Some(json!({ "fake_app": "phpmyadmin" })), &[]);
    let page = curl(&[&format!("http://{}/", decoy.addr)]);
    assert!(page.contains("<title>phpMyAdmin</title>") && page.contains("pma_password"), "{page}");
    let mut decoy = Decoy::start("http", &format!("{}:0", loopback()), Some(json!({ "fake_app": "jenkins" })), &[]);
    let page = curl(&[&format!("http://{}/login", decoy.addr)]);
    assert!(page.contains("Sign in [Jenkins]") && page.contains("j_password"), "{page}");
    curl(&["-d", "j_username=admin&j_password=admin", &format!("http://{}/j_spring_security_check", decoy.addr)]);
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!((attempt["principal"].as_str(), attempt["secret"]["value"].as_str()), (Some("admin"), Some("admin")));
}

#[test]
fn malformed_requests_are_answered_400_and_recorded() {
    let mut decoy = Decoy::start("http", &format!("{}:0", loopback()), None, &[]);
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(decoy.addr).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nBroken Header Line\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
    let error = decoy.wait_kind("protocol_error", |_| true);
    assert!(error["details"]["reason"].as_str().unwrap().contains("malformed request"), "{error}");
}

#[test]
fn nmap_names_the_configured_web_server() {
    let listen = format!("{}:80", loopback());
    let decoy = Decoy::start("http", &listen, Some(json!({ "server_header": "nginx/1.18.0 (Ubuntu)" })), &[]);
    let line = common::nmap_version(decoy.addr);
    assert!(line.contains("nginx 1.18.0"), "{line}");
}

#[test]
fn https_presents_the_hosts_certificate_and_serves_the_same_site() {
    let env = [("DECNET_HOSTNAME", "web-prod-02")];
    let mut decoy = Decoy::start("https", &format!("{}:0", loopback()), Some(json!({ "fake_app": "wordpress" })), &env);
    let url = format!("https://{}/wp-login.php", decoy.addr);
    let out =
        client("curl", &["-s", "-k", "-v", "--max-time", "10", "--resolve", "intranet.corp:443:127.0.0.1", &url], None);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Powered by WordPress"), "{stdout}");
    assert!(stderr.contains("CN=web-prod-02"), "the certificate names the host: {stderr}");
    let handshake = decoy.wait_kind("handshake", |_| true);
    assert_schema(&handshake, "https");
    assert!(handshake["details"]["tls_version"].as_str().unwrap().starts_with("TLS"), "{handshake}");
    assert_eq!(handshake["details"]["alpn"], "http/1.1", "{handshake}");
    decoy.wait_kind("request", |e| e["details"]["path"] == "/wp-login.php");

    // Plain HTTP to the TLS port is a violation, recorded.
    let plain = client("curl", &["-s", "--max-time", "10", &format!("http://{}/", decoy.addr)], None);
    assert!(!plain.status.success(), "{plain:?}");
    let error = decoy.wait_kind("protocol_error", |_| true);
    assert!(error["details"]["reason"].as_str().unwrap().contains("TLS handshake failed"), "{error}");
}

#[test]
fn nmap_names_the_web_server_behind_tls() {
    let listen = format!("{}:443", loopback());
    let decoy = Decoy::start("https", &listen, Some(json!({ "server_header": "nginx/1.22.1" })), &[]);
    let line = common::nmap_version(decoy.addr);
    assert!(line.contains("ssl/http") && line.contains("nginx 1.22.1"), "{line}");
}
