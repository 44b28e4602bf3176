//! The cost per event of each sink's transport, in one run: 100,000 decoy events (an ssh
//! `auth_attempt` each, as the decoys write them) delivered in batches of 500 to a local
//! receiver: a file, syslog over UDP and over TCP to sockets that only read, a webhook and
//! a bulk endpoint answered 200 by a minimal HTTP receiver.
//!
//! `cargo bench -p decnet-sinks --bench sinks`; results also go to bench-out/sinks.txt.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark aborts on any failure.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use decnet_sinks::{Config, SinkEvent};

const EVENTS: i64 = 100_000;
const BATCH: usize = 500;

async fn time(name: &str, yaml: String, events: &[SinkEvent]) -> String {
    let config = Config::parse(Path::new("bench.yaml"), &format!("sinks:\n  - name: bench\n{yaml}")).unwrap();
    let mut sink = decnet_sinks::open(&config.sinks[0]).unwrap();
    let started = Instant::now();
    for batch in events.chunks(BATCH) {
        sink.deliver(batch).await.unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    format!("| {name} | {:.0} | {:.2} |", events.len() as f64 / took, took * 1e6 / events.len() as f64)
}

#[tokio::main]
async fn main() {
    decnet_sinks::use_ring_for_tls();
    let events: Vec<SinkEvent> = (1..=EVENTS).map(common::event).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl").display().to_string();
    let (udp, tcp) = (common::draining_udp().await, common::silent_tcp().await);
    let hook = common::Receiver::start((200, "{}")).await;
    let bulk = common::Receiver::start((200, r#"{"errors":false,"items":[]}"#)).await;
    let mut rows = vec!["| sink | events/s | µs per event |".to_owned(), "| --- | ---: | ---: |".to_owned()];
    rows.push(time("file (JSON lines, 100 MiB rotation)", format!("    file: {{ path: {file:?} }}\n"), &events).await);
    rows.push(
        time("syslog over UDP (RFC 5424)", format!("    syslog: {{ transport: udp, address: \"{udp}\" }}\n"), &events)
            .await,
    );
    rows.push(
        time(
            "syslog over TCP (octet-counted)",
            format!("    syslog: {{ transport: tcp, address: \"{tcp}\" }}\n"),
            &events,
        )
        .await,
    );
    rows.push(
        time(
            "webhook (JSON, HMAC-SHA256)",
            format!("    webhook: {{ url: {:?}, secret: s }}\n", hook.url("/hook")),
            &events,
        )
        .await,
    );
    rows.push(
        time("elasticsearch bulk (ECS)", format!("    elasticsearch: {{ url: {:?} }}\n", bulk.url("")), &events).await,
    );
    let report = format!("{EVENTS} events in batches of {BATCH}, one run\n{}\n", rows.join("\n"));
    print!("{report}");
    std::fs::create_dir_all("bench-out").unwrap();
    std::fs::File::create("bench-out/sinks.txt").unwrap().write_all(report.as_bytes()).unwrap();
}
