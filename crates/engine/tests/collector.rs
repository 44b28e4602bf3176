//! Decoy event collection over the memory runtime: lines a decoy container writes become
//! stored events attributed by its labels, bad lines are kept as such, every event is
//! announced as `attacker.observed`, an engine started later resumes after the last
//! stored line, and retention bounds the log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::Harness;
use decnet_runtime::spec::service_name;
use decnet_store::{EventFilter, Events, Store};
use serde_json::json;

fn line(event: &str, src: &str) -> String {
    json!({ "v": 2, "ts": "2026-11-22T06:00:00Z", "service": "ssh", "event": event, "session": "s1", "src_ip": src,
            "src_port": 40000, "dst_ip": "10.0.0.2", "dst_port": 22 })
    .to_string()
}

#[tokio::test]
async fn decoy_lines_become_events_and_a_later_engine_resumes_after_the_last_one() {
    let h = Harness::new().await;
    let id = h.deployed("watched", 5).await;
    let topology = h.store.topology(id).await.unwrap();
    let (decky, service) = topology
        .design
        .deckies
        .values()
        .find_map(|d| d.services.first().map(|s| (d.name.clone(), s.clone())))
        .expect("a decky with a service");
    let container = service_name(id, &decky, &service);
    let mut bus = h.engine.bus().subscribe();

    h.runtime.write_log(&container, &line("connect", "203.0.113.5"));
    h.runtime.write_log(&container, "garbage from a confused decoy");
    assert!(h.engine.collect().await.unwrap() > 0, "the service containers are followed");
    assert_eq!(h.engine.collect().await.unwrap(), 0, "and only once");
    h.runtime.write_log(&container, &line("auth_attempt", "203.0.113.5"));

    // Every stored event is announced; wait for the three.
    let mut announced = Vec::new();
    while announced.len() < 3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), bus.recv())
            .await
            .expect("announced in time")
            .unwrap();
        if event.topic == "attacker.observed" {
            announced.push(event.payload["event"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(announced, ["connect", "decoy.bad_line", "auth_attempt"]);
    let filter =
        EventFilter { topology_id: Some(id), decky: Some(decky.to_string()), limit: 100, ..Default::default() };
    let stored = h.store.events(&filter).await.unwrap();
    let kinds: Vec<_> = stored.iter().filter(|e| e.service.is_some()).map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["connect", "decoy.bad_line", "auth_attempt"]);
    let attempt = stored.iter().find(|e| e.kind == "auth_attempt").unwrap();
    assert_eq!(attempt.source_ip.as_deref(), Some("203.0.113.5"));
    assert_eq!(attempt.service.as_deref(), Some(&*service));
    let by_source = EventFilter { source_ip: Some("203.0.113.5".into()), limit: 10, ..Default::default() };
    assert_eq!(h.store.events(&by_source).await.unwrap().len(), 2);

    // Another engine on the same store and runtime (a replica) leaves the topology to the
    // engine that collects it.
    let replica = h.second_engine("replica").await;
    assert_eq!(replica.collect().await.unwrap(), 0, "one engine follows a topology's decoys");

    // The first engine stops; a second one on the same store and runtime (a restart)
    // records only what is new.
    h.engine.stop_collecting().await;
    h.runtime.end_log_followers(&container);
    let later = h.second_engine("engine-after-restart").await;
    h.runtime.write_log(&container, &line("disconnect", "203.0.113.5"));
    let mut bus = later.bus().subscribe();
    later.collect().await.unwrap();
    loop {
        let event =
            tokio::time::timeout(std::time::Duration::from_secs(20), bus.recv()).await.expect("in time").unwrap();
        if event.topic == "attacker.observed" {
            assert_eq!(event.payload["event"], "disconnect", "nothing recorded before is recorded again");
            break;
        }
    }
    let stored = h.store.events(&filter).await.unwrap();
    assert_eq!(stored.iter().filter(|e| e.kind == "connect" && e.service.is_some()).count(), 1);
}

#[tokio::test]
async fn retention_keeps_the_newest_events() {
    let h = Harness::new().await;
    let id = h.deployed("kept", 6).await;
    let all = EventFilter { limit: 10_000, ..Default::default() };
    let before = h.store.events(&all).await.unwrap().len() as i64;
    assert!(before > 3);
    let pruned = h.store.prune_events(chrono::Utc::now() - chrono::Duration::days(1), 3).await.unwrap();
    assert_eq!(pruned as i64, before - 3);
    let left = h.store.events(&all).await.unwrap();
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|e| e.topology_id == Some(id)));
    let pruned = h.store.prune_events(chrono::Utc::now() + chrono::Duration::days(1), 1_000).await.unwrap();
    assert_eq!(pruned, 3, "everything older than the cut-off goes");
}
