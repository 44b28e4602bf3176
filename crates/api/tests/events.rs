//! The event log over HTTP: the live SSE stream (snapshot, ordered mutation states,
//! resume with Last-Event-ID, per-user cap, an incident announced live) and the filtered,
//! paginated listing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use axum::http::StatusCode;
use common::sse::{Frame, SseClient};
use common::{Server, assert_error, send};
use decnet_domain::Name;
use decnet_domain::generator::GeneratorConfig;
use decnet_engine::Engine;
use serde_json::{Value, json};

async fn deployed(engine: &Engine, name: &str) {
    let config = GeneratorConfig { seed: 3, depth: 2, ..Default::default() };
    let topology = engine.generate(Name::parse(name).unwrap(), config).await.unwrap();
    engine.deploy(topology.header.id).await.unwrap();
}

async fn enqueue(server: &Server, topology: &str, op: &str, payload: Value) -> i64 {
    let uri = format!("/api/v1/topologies/{topology}/mutations");
    let (status, body) = send(server, "POST", &uri, Some(json!({ "op": op, "payload": payload }).to_string())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["mutation_id"].as_i64().unwrap()
}

fn settles(mutation: i64) -> impl Fn(&Frame) -> bool {
    move |f| {
        f.data["payload"]["mutation_id"] == mutation
            && matches!(f.event.as_str(), "mutation.applied" | "mutation.failed")
    }
}

/// The kinds of the frames about one mutation, in order.
fn states_of(frames: &[Frame], mutation: i64) -> Vec<String> {
    frames.iter().filter(|f| f.data["payload"]["mutation_id"] == mutation).map(|f| f.event.clone()).collect()
}

#[tokio::test]
async fn a_subscriber_sees_the_snapshot_then_each_mutation_state_in_order() {
    let (_dir, engine, server) = common::app_running().await;
    deployed(&engine, "live").await;
    let mut stream = SseClient::open(&server, "live", None).await.unwrap();
    let snapshot = stream.next().await;
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.id, None, "the snapshot does not move the client's resume point");
    assert_eq!(snapshot.data["topology"]["status"], "active");
    assert_eq!(snapshot.data["in_flight"], json!([]));

    let accepted = enqueue(&server, "live", "add_lan", json!({ "name": "lab" })).await;
    let refused = enqueue(&server, "live", "remove_lan", json!({ "name": "lan-00" })).await;
    let mut frames = stream.until(settles(accepted)).await;
    frames.extend(stream.until(settles(refused)).await);

    assert_eq!(states_of(&frames, accepted), ["mutation.enqueued", "mutation.applying", "mutation.applied"]);
    assert_eq!(states_of(&frames, refused), ["mutation.enqueued", "mutation.applying", "mutation.failed"]);
    let failed = frames.iter().find(|f| f.event == "mutation.failed").unwrap();
    assert!(failed.data["payload"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{}", failed.data);
    assert!(failed.data["payload"]["codes"].as_array().is_some_and(|c| !c.is_empty()), "{}", failed.data);
    let ids: Vec<i64> = frames.iter().map(|f| f.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert!(ids[0] > snapshot.data["last_event_id"].as_i64().unwrap());
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_misses_nothing() {
    let (_dir, engine, server) = common::app_running().await;
    deployed(&engine, "resume").await;
    let mut stream = SseClient::open(&server, "resume", None).await.unwrap();
    stream.next().await; // snapshot
    let first = enqueue(&server, "resume", "add_lan", json!({ "name": "one" })).await;
    let seen = stream.until(settles(first)).await;
    let last_seen = seen.last().unwrap().id.unwrap();
    drop(stream);

    // Work goes on while the client is away.
    let second = enqueue(&server, "resume", "add_lan", json!({ "name": "two" })).await;
    let third = enqueue(&server, "resume", "add_lan", json!({ "name": "three" })).await;
    let mut stream = SseClient::open(&server, "resume", Some(last_seen)).await.unwrap();
    let resumed = stream.until(settles(third)).await;
    assert_ne!(resumed[0].event, "snapshot");
    assert_eq!(states_of(&resumed, second), ["mutation.enqueued", "mutation.applying", "mutation.applied"]);
    assert_eq!(states_of(&resumed, third), ["mutation.enqueued", "mutation.applying", "mutation.applied"]);

    // Exactly the log after the resume point, up to what was read.
    let uri = format!("/api/v1/events?topology=resume&cursor={last_seen}&limit=1000");
    let (_, log) = send(&server, "GET", &uri, None).await;
    let logged: Vec<i64> = log["data"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let streamed: Vec<i64> = resumed.iter().map(|f| f.id.unwrap()).collect();
    assert_eq!(streamed, logged[..streamed.len()]);
}

#[tokio::test]
async fn streams_are_capped_per_user_and_check_their_input() {
    let (_dir, engine, server) = common::app().await;
    deployed(&engine, "capped").await;
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(SseClient::open(&server, "capped", None).await.unwrap());
    }
    let (status, body) = SseClient::open(&server, "capped", None).await.err().unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&body, "too_many_streams");
    open.pop();
    // The server learns that a client left when writing to it fails, so events are made
    // until the slot is free again (bounded).
    let mut reopened = None;
    for round in 0..50 {
        enqueue(&server, "capped", "add_lan", json!({ "name": format!("wake-{round}") })).await;
        if let Ok(stream) = SseClient::open(&server, "capped", None).await {
            reopened = Some(stream);
            break;
        }
    }
    assert!(reopened.is_some(), "a closed stream frees its slot");

    let (status, body) = SseClient::open(&server, "nowhere", None).await.err().unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let response = server
        .client
        .get(format!("{}/api/v1/topologies/capped/events", server.base))
        .bearer_auth(&server.token)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let anonymous = server.client.get(format!("{}/api/v1/topologies/capped/events", server.base)).send().await;
    assert_eq!(anonymous.unwrap().status(), 401);
}

#[tokio::test]
async fn the_event_listing_filters_and_pages_with_a_cursor() {
    let (_dir, engine, server) = common::app_running().await;
    deployed(&engine, "listed").await;
    let other = GeneratorConfig { seed: 4, depth: 1, ..Default::default() };
    engine.generate(Name::parse("other").unwrap(), other).await.unwrap();
    let (status, all) = send(&server, "GET", "/api/v1/events?topology=listed&limit=1000", None).await;
    assert_eq!(status, StatusCode::OK);
    let all = all["data"].as_array().unwrap().clone();
    assert!(all.len() > 4, "created, two status changes and decky states");
    assert!(all.iter().all(|e| e["topology_id"] == all[0]["topology_id"]));

    // Pages of 2 walk the same list.
    let mut walked = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let uri = match cursor {
            Some(c) => format!("/api/v1/events?topology=listed&limit=2&cursor={c}"),
            None => "/api/v1/events?topology=listed&limit=2".to_owned(),
        };
        let (_, page) = send(&server, "GET", &uri, None).await;
        walked.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_i64() {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, all);

    let (_, statuses) = send(&server, "GET", "/api/v1/events?topology=listed&type=topology.status", None).await;
    let to: Vec<_> = statuses["data"].as_array().unwrap().iter().map(|e| e["payload"]["to"].clone()).collect();
    assert_eq!(to, [json!("deploying"), json!("active")]);
    let decky = all.iter().find(|e| e["kind"] == "decky.state").unwrap()["decky"].as_str().unwrap().to_owned();
    let (_, one) = send(&server, "GET", &format!("/api/v1/events?decky={decky}&topology=listed"), None).await;
    assert!(one["data"].as_array().unwrap().iter().all(|e| e["decky"] == decky.as_str()));
    let (_, future) = send(&server, "GET", "/api/v1/events?since=2999-01-01T00:00:00Z", None).await;
    assert_eq!(future["data"], json!([]));

    for bad in ["limit=0", "limit=5000", "cursor=-1", "source_ip=not-an-ip", "since=yesterday", "colour=red"] {
        let (status, body) = send(&server, "GET", &format!("/api/v1/events?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_error(&body, "invalid_parameter");
    }
    assert_eq!(send(&server, "GET", "/api/v1/events?topology=nowhere", None).await.0, StatusCode::NOT_FOUND);
}

/// An incident the alerter opens reaches the topology's live stream, named by its type.
#[tokio::test]
async fn an_incident_reaches_the_topology_stream() {
    let (_dir, engine, server) = common::app_running().await;
    deployed(&engine, "watched").await;
    let config = decnet_domain::alerts::AlertConfig::default();
    engine.alert_pass(&config).await.unwrap();
    let id = engine.store().resolve("watched").await.unwrap();
    let decky = engine.store().topology(id).await.unwrap().design.deckies.keys().next().unwrap().to_string();
    let mut stream = SseClient::open(&server, "watched", None).await.unwrap();
    assert_eq!(stream.next().await.event, "snapshot");
    let login = decnet_store::NewEvent {
        at: chrono::Utc::now(),
        topology_id: Some(id),
        kind: "auth_attempt".into(),
        decky: Some(decky),
        service: Some("ssh".into()),
        source_ip: Some("203.0.113.50".into()),
        payload: json!({ "event": "auth_attempt", "principal": "root", "details": { "outcome": "success" } }),
    };
    engine.store().record_events(&[login]).await.unwrap();
    assert_eq!(engine.alert_pass(&config).await.unwrap().announced, 1);
    let frames = stream.until(|f| f.event == "incident.opened").await;
    let opened = frames.last().unwrap();
    assert_eq!(
        (opened.data["payload"]["rule"].as_str(), opened.data["payload"]["severity"].as_str()),
        (Some("login-success"), Some("high"))
    );
}
