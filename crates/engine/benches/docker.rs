//! Docker benchmarks: deploy wall time (≈20 and 100 deckies), live add_decky
//! enqueue → running latency, decoy image size and idle memory per decky.
//!
//! Run with `DECNET_DECOY_BIN=$(./scripts/build-decoy.sh) cargo bench -p decnet-engine --bench docker`.
//! Everything created is labelled and removed at the end, also when a step fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark aborts on any failure.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{Name, TopologyId};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::{DecoyBinary, DockerRuntime, Runtime};
use decnet_store::SqliteStore;
use serde_json::json;

struct Cleanup(Vec<TopologyId>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in &self.0 {
            let filter = format!("label=decnet.topology.id={id}");
            for (list, remove) in
                [(&["ps", "-aq"][..], &["rm", "-f"][..]), (&["network", "ls", "-q"][..], &["network", "rm"][..])]
            {
                let out = Command::new("docker").args(list).args(["--filter", &filter]).output().unwrap();
                let ids: Vec<String> =
                    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();
                if !ids.is_empty() {
                    let _ = Command::new("docker").args(remove).args(&ids).output();
                }
            }
        }
    }
}

fn mib(text: &str) -> f64 {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let value: f64 = number.parse().unwrap_or(0.0);
    match unit {
        "KiB" => value / 1024.0,
        "MiB" => value,
        "GiB" => value * 1024.0,
        "B" => value / 1024.0 / 1024.0,
        _ => value,
    }
}

async fn deploy(
    engine: &Engine,
    cleanup: &mut Cleanup,
    name: &str,
    base: &str,
    depth: u32,
    per_lan: u32,
) -> (TopologyId, Duration, usize, usize) {
    let config = GeneratorConfig {
        depth,
        branching: 1,
        deckies_per_lan_min: per_lan,
        deckies_per_lan_max: per_lan,
        services: Some(vec!["ssh".into(), "http".into()]),
        subnet_base: base.parse().unwrap(),
        gateway: false,
        seed: 5,
        ..GeneratorConfig::default()
    };
    let topology = engine.generate(Name::parse(name).unwrap(), config).await.unwrap();
    let id = topology.header.id;
    cleanup.0.push(id);
    let start = Instant::now();
    let header = engine.deploy(id).await.unwrap();
    let took = start.elapsed();
    assert_eq!(header.status, decnet_domain::TopologyStatus::Active);
    (id, took, topology.design.deckies.len(), topology.design.lans.len())
}

async fn run() {
    let binary = std::env::var("DECNET_DECOY_BIN").expect("set DECNET_DECOY_BIN=$(./scripts/build-decoy.sh)");
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).await.unwrap());
    let docker = Arc::new(DockerRuntime::connect(&DecoyBinary::read(binary.as_ref()).unwrap()).await.unwrap());
    let engine = Engine::new(store, docker.clone(), Bus::default(), EngineConfig::default());
    let mut cleanup = Cleanup(Vec::new());

    let size =
        Command::new("docker").args(["image", "inspect", "--format", "{{.Size}}", docker.image()]).output().unwrap();
    let bytes: f64 = String::from_utf8_lossy(&size.stdout).trim().parse().unwrap_or(0.0);
    println!("decoy image {}: {:.2} MiB", docker.image(), bytes / 1024.0 / 1024.0);

    let (small, took, deckies, lans) = deploy(&engine, &mut cleanup, "small", "10.230.0.0/16", 3, 6).await;
    println!("deploy {deckies} deckies / {lans} LANs / {} containers: {took:.2?}", deckies * 3);

    // Live add_decky: enqueue, then wait for the decky's running event.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let looping = engine.clone();
    let worker = tokio::spawn(async move { looping.run(async { stopped.await.unwrap_or(()) }).await.unwrap() });
    let mut events = engine.bus().subscribe();
    let mut latencies = Vec::new();
    for i in 0..10 {
        let name = format!("live-{i}");
        let start = Instant::now();
        engine
            .enqueue(small, "add_decky", &json!({"name": name, "lan": "lan-01", "services": ["ssh", "http"]}), None)
            .await
            .unwrap();
        loop {
            let event = events.recv().await.unwrap();
            if event.topic == format!("decky.{name}.state") {
                assert_eq!(event.payload["state"], "running", "{}", event.payload);
                break;
            }
        }
        latencies.push(start.elapsed());
    }
    let _ = stop.send(());
    worker.await.unwrap();
    latencies.sort();
    println!(
        "live add_decky enqueue->running (n=10): p50 {:.2?}, p95 {:.2?}, max {:.2?}",
        latencies[5], latencies[9], latencies[9]
    );

    // Idle memory of a decky: its base and two services, from Docker's own stats.
    let stats =
        Command::new("docker").args(["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"]).output().unwrap();
    // Container names are `decnet-<id>-<decky>` and `decnet-<id>-<decky>_<service>`.
    let topology_prefix = format!("decnet-{}-", small.simple());
    let mut per_decky: std::collections::BTreeMap<String, f64> = Default::default();
    for line in String::from_utf8_lossy(&stats.stdout).lines() {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(used)) = (parts.next(), parts.next()) else { continue };
        let Some(rest) = name.strip_prefix(&topology_prefix) else { continue };
        let decky = rest.split('_').next().unwrap_or(rest).to_owned();
        *per_decky.entry(decky).or_default() += mib(used);
    }
    let mut values: Vec<f64> = per_decky.values().copied().collect();
    values.sort_by(f64::total_cmp);
    if !values.is_empty() {
        println!(
            "idle memory per decky (base + 2 services), {} deckies: median {:.2} MiB, max {:.2} MiB",
            values.len(),
            values[values.len() / 2],
            values[values.len() - 1]
        );
    }
    let start = Instant::now();
    engine.teardown(small).await.unwrap();
    println!("teardown of {} deckies: {:.2?}", deckies + 10, start.elapsed());

    let (large, took, deckies, lans) = deploy(&engine, &mut cleanup, "large", "10.231.0.0/16", 4, 25).await;
    println!("deploy {deckies} deckies / {lans} LANs / {} containers: {took:.2?}", deckies * 3);
    let start = Instant::now();
    engine.teardown(large).await.unwrap();
    println!("teardown of {deckies} deckies: {:.2?}", start.elapsed());
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}
