//! `GET /metrics`: served without a token in the Prometheus text format, counting HTTP
//! requests by route pattern and status, and accepted by Prometheus's own checker
//! (`promtool check metrics`, Debian's `prometheus` package).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use axum::http::StatusCode;
use common::send;

#[tokio::test]
async fn metrics_count_requests_by_route_and_pass_promtool() {
    let (_dir, _engine, server) = common::app().await;
    send(&server, "POST", "/api/v1/topologies/blank", Some(r#"{"name":"measured"}"#.into())).await;
    assert_eq!(send(&server, "GET", "/api/v1/topologies/measured", None).await.0, StatusCode::OK);
    assert_eq!(send(&server, "GET", "/api/v1/topologies/nowhere", None).await.0, StatusCode::NOT_FOUND);

    let response = reqwest::Client::new().get(format!("{}/metrics", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200, "no token needed");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.unwrap();

    let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).map(str::to_owned);
    let found = line(r#"decnet_http_requests_total{method="GET",route="/api/v1/topologies/{id}",status="404"}"#);
    assert!(found.is_some_and(|l| l.ends_with(" 1")), "requests by route pattern and status:\n{text}");
    assert!(line("decnet_mutation_queue_depth 0").is_some(), "{text}");
    // Families with no sample yet (events, sessions) are left out until they have one.
    for family in ["decnet_mutation_latency_seconds", "decnet_converge_passes_total", "decnet_heal_passes_total"] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    assert!(!text.contains("measured"), "names of topologies stay out of the labels");

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package, installed by scripts/test-deps.sh)");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool refused the metrics: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
