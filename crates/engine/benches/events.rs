//! Events end to end on this machine, in one run: 100,000 decoy events (an ssh
//! `auth_attempt` each, as the decoys write them) stored in batches of 100 (as the
//! collector stores them) in SQLite, while
//!
//! 1. no sink runs;
//! 2. four sinks run (a file, syslog over UDP and over TCP, a webhook answered 200): the
//!    time until each has delivered every event gives the end-to-end rate;
//! 3. one stalled webhook runs (its receiver accepts and never answers) with a spool of
//!    10,000: storing keeps its speed, memory stays flat, the excess is counted dropped;
//! 4. from decoy stdout: the lines a decoy container writes (memory runtime) followed and
//!    parsed by the collector, stored, and delivered by the same four sinks.
//!
//! `cargo bench -p decnet-engine --bench events`; results also go to bench-out/events.txt.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark aborts on any failure.

#[path = "../../sinks/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_store::{Events as _, NewEvent, SqliteStore};

const EVENTS: usize = 100_000;
const BATCH: usize = 100;

fn events() -> Vec<NewEvent> {
    (1..=EVENTS as i64)
        .map(|n| {
            let e = common::event(n);
            NewEvent {
                at: e.timestamp,
                topology_id: None,
                kind: e.kind,
                decky: e.decky,
                service: e.service,
                source_ip: e.source_ip,
                payload: e.payload,
            }
        })
        .collect()
}

/// The resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

/// A decoy's stdout line for event `n` (schema 2).
fn stdout_line(n: usize) -> String {
    serde_json::json!({
        "v": 2, "ts": "2026-12-07T18:00:00.000000Z", "service": "ssh", "session": format!("s{n}"),
        "event": "auth_attempt", "src_ip": "203.0.113.7", "src_port": 40000 + n % 20000, "dst_ip": "10.0.0.2",
        "dst_port": 22, "principal": format!("user{n}"), "secret": { "kind": "password", "value": "hunter2" },
        "details": { "outcome": "failure" },
    })
    .to_string()
}

/// Scenario 4: lines written on a decoy container's stdout, through the collector.
async fn from_stdout(yaml: &str) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).await.unwrap());
    let runtime = Arc::new(MemoryRuntime::new());
    let engine = Engine::new(store.clone(), runtime.clone(), Bus::default(), EngineConfig::default());
    let config = decnet_domain::generator::GeneratorConfig { seed: 1, depth: 1, branching: 1, ..Default::default() };
    let id = engine.generate(decnet_domain::Name::parse("bench").unwrap(), config).await.unwrap().header.id;
    engine.deploy(id).await.unwrap();
    let topology = decnet_store::Store::topology(&*store, id).await.unwrap();
    let (decky, service) =
        topology.design.deckies.values().find_map(|d| d.services.first().map(|s| (d.name.clone(), s.clone()))).unwrap();
    let container = decnet_runtime::spec::service_name(id, &decky, &service);
    let sinks_config = decnet_sinks::Config::parse(Path::new("bench.yaml"), yaml).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sinks = engine.start_sinks(sinks_config.sinks, move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    });
    while !sinks.statuses().iter().all(|s| s.active) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(engine.collect().await.unwrap() > 0);
    let lines: Vec<String> = (0..EVENTS).map(stdout_line).collect();
    let mut observed = engine.bus().subscribe();
    let mut seen = 0usize;
    let started = Instant::now();
    // The memory runtime's follower holds 1,024 lines: at most 1,000 are kept in flight.
    for (n, chunk) in lines.chunks(500).enumerate() {
        while seen + 500 < n * 500 {
            match observed.recv().await {
                Ok(event) if event.topic == "attacker.observed" => seen += 1,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => seen += missed as usize,
                Err(e) => panic!("{e}"),
            }
        }
        for line in chunk {
            runtime.write_log(&container, line);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while decnet_store::Events::event_stats(&*store).await.unwrap().rows < EVENTS as i64 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stored = started.elapsed();
    while !sinks.statuses().iter().all(|s| s.delivered >= EVENTS as u64) {
        assert!(Instant::now() < deadline, "{:?}", sinks.statuses());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered = started.elapsed();
    let _ = stop_tx.send(true);
    sinks.stopped().await;
    (stored, delivered)
}

struct Run {
    stored: Duration,
    delivered: Option<Duration>,
    rss_growth_kib: i64,
    dropped: u64,
}

async fn run(yaml: &str, wait_for: impl Fn(&[decnet_sinks::SinkStatus]) -> bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).await.unwrap());
    let engine = Engine::new(store.clone(), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
    let config = decnet_sinks::Config::parse(Path::new("bench.yaml"), yaml).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sinks = engine.start_sinks(config.sinks, move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    });
    // Every sink holds its cursor (at the log's end) before the events come.
    while !sinks.statuses().iter().all(|s| s.active) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let events = events();
    let rss_before = rss_kib() as i64;
    let started = Instant::now();
    for batch in events.chunks(BATCH) {
        store.record_events(batch).await.unwrap();
    }
    let stored = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !wait_for(&sinks.statuses()) {
        assert!(Instant::now() < deadline, "{:?}", sinks.statuses());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered = (!sinks.statuses().is_empty()).then(|| started.elapsed());
    let rss_growth_kib = rss_kib() as i64 - rss_before;
    let dropped = sinks.statuses().iter().map(|s| s.dropped).sum();
    let _ = stop_tx.send(true);
    sinks.stopped().await;
    Run { stored, delivered, rss_growth_kib, dropped }
}

fn rate(d: Duration) -> String {
    format!("{:.0}", EVENTS as f64 / d.as_secs_f64())
}

#[tokio::main]
async fn main() {
    decnet_sinks::use_ring_for_tls();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl").display().to_string();
    let udp = common::draining_udp().await;
    let tcp = common::silent_tcp().await;
    let hook = common::Receiver::start((200, "{}")).await;
    let stalled = common::silent_tcp().await;

    let none = run("sinks: []\n", |_| true).await;
    let four = format!(
        "sinks:\n  - name: file\n    file: {{ path: {file:?} }}\n  - name: udp\n    syslog: {{ transport: udp, address: \"{udp}\" }}\n  - name: tcp\n    syslog: {{ transport: tcp, address: \"{tcp}\" }}\n  - name: hook\n    webhook: {{ url: {:?} }}\n",
        hook.url("/hook")
    );
    let all = run(&four, |s| s.iter().all(|s| s.delivered == EVENTS as u64)).await;
    let stall = format!(
        "sinks:\n  - name: stalled\n    spool_max_events: 10000\n    retry_max_secs: 1\n    webhook: {{ url: \"http://{stalled}/hook\", timeout_secs: 1 }}\n"
    );
    let stalled_run = run(&stall, |s| s.iter().all(|s| s.dropped >= (EVENTS - 10_000) as u64)).await;
    let (stdout_stored, stdout_delivered) = from_stdout(&four.replace("events.jsonl", "stdout.jsonl")).await;

    let report = format!(
        "{EVENTS} events stored in batches of {BATCH} (SQLite), one run\n\
         | sinks | stored in | stored events/s | every sink delivered in | end-to-end events/s | RSS growth | dropped |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n\
         | none | {:.2} s | {} | - | - | {} KiB | 0 |\n\
         | file, syslog UDP, syslog TCP, webhook | {:.2} s | {} | {:.2} s | {} | {} KiB | {} |\n\
         | one stalled webhook, spool 10,000 | {:.2} s | {} | - | - | {} KiB | {} |\n\
         | from decoy stdout (collector), the four sinks | {:.2} s | {} | {:.2} s | {} | - | - |\n",
        none.stored.as_secs_f64(),
        rate(none.stored),
        none.rss_growth_kib,
        all.stored.as_secs_f64(),
        rate(all.stored),
        all.delivered.unwrap().as_secs_f64(),
        rate(all.delivered.unwrap()),
        all.rss_growth_kib,
        all.dropped,
        stalled_run.stored.as_secs_f64(),
        rate(stalled_run.stored),
        stalled_run.rss_growth_kib,
        stalled_run.dropped,
        stdout_stored.as_secs_f64(),
        rate(stdout_stored),
        stdout_delivered.as_secs_f64(),
        rate(stdout_delivered),
    );
    print!("{report}");
    std::fs::create_dir_all("bench-out").unwrap();
    std::fs::File::create("bench-out/events.txt").unwrap().write_all(report.as_bytes()).unwrap();
}
