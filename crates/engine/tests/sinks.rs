//! Sinks over the real store: while 100,000 events are stored, a stalled webhook's spool
//! stops at its bound and the excess is counted as dropped; when the receiver answers
//! again the spool drains in order, each event once; a healthy file sink beside it gets
//! every event meanwhile (one sink's stall delays no other).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

#[path = "../../sinks/tests/common/mod.rs"]
mod sinks_common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_sinks::SinkStatus;
use decnet_store::{Events as _, NewEvent, SqliteStore};
use serde_json::{Value, json};

const EVENTS: usize = 100_000;

async fn status_until(
    statuses: impl Fn() -> Vec<SinkStatus>,
    what: &str,
    check: impl Fn(&[SinkStatus]) -> bool,
) -> Vec<SinkStatus> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = statuses();
        if check(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}: not within 120 s: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_sink_spools_to_its_bound_drops_the_excess_then_drains_while_others_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("sinks.db")).await.unwrap());
    let engine = Engine::new(store.clone(), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
    let receiver = sinks_common::Receiver::start((503, "{}")).await;
    let file = dir.path().join("all.jsonl");
    let yaml = format!(
        "sinks:\n  - name: hook\n    batch: 1000\n    spool_max_events: 10000\n    retry_max_secs: 1\n    webhook: {{ url: {:?} }}\n  - name: file\n    batch: 5000\n    file: {{ path: {:?}, max_bytes: 1073741824 }}\n",
        receiver.url("/hook"),
        file.display().to_string()
    );
    let config = decnet_sinks::Config::parse(Path::new("test.yaml"), &yaml).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sinks = engine.start_sinks(config.sinks, move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    });
    let statuses = || sinks.statuses();
    status_until(statuses, "both sinks take their cursors", |s| s.iter().all(|s| s.active)).await;

    let template = NewEvent {
        at: chrono::Utc::now(),
        topology_id: None,
        kind: "auth_attempt".into(),
        decky: Some("web01".into()),
        service: Some("ssh".into()),
        source_ip: Some("203.0.113.7".into()),
        payload: json!({ "event": "auth_attempt" }),
    };
    let batch: Vec<NewEvent> = std::iter::repeat_n(template, 1000).collect();
    for _ in 0..EVENTS / 1000 {
        store.record_events(&batch).await.unwrap();
    }
    let settled = status_until(statuses, "the file has all, the stalled hook dropped the excess", |s| {
        s[1].delivered == EVENTS as u64 && s[0].dropped == (EVENTS - 10_000) as u64 && s[0].retried >= 1
    })
    .await;
    assert_eq!((settled[0].delivered, settled[0].spooled, settled[0].healthy), (0, 10_000, false), "{settled:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), EVENTS, "the file sink was not held up");

    // The receiver answers again: the last 10,000, in order, once.
    *receiver.default.lock().unwrap() = (200, "{}".into());
    receiver.received.lock().unwrap().clear();
    let drained = status_until(statuses, "the spool drains", |s| s[0].delivered == 10_000).await;
    assert_eq!((drained[0].dropped, drained[0].healthy), ((EVENTS - 10_000) as u64, true));
    let ids: Vec<i64> = receiver
        .requests()
        .iter()
        .filter(|r| r.header("x-decnet-timestamp").is_some())
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect::<Vec<_>>()
        })
        .collect();
    let first = ids[0];
    assert_eq!(ids, (first..first + 10_000).collect::<Vec<i64>>(), "in log order, each once");
    assert_eq!(
        first + 9_999,
        store
            .events(&decnet_store::EventFilter { limit: 1, after: Some(first + 9_998), ..Default::default() })
            .await
            .unwrap()[0]
            .id,
        "the newest ones"
    );
    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(30), sinks.stopped()).await.expect("the sinks stop when told");
}
