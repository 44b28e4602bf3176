//! A DMZ on a host interface (macvlan) against the default bridge DMZ, side by side in one
//! run: deploy wall time of the same maze, live add_decky latency on the DMZ (a macvlan
//! add probes its address first), teardown, and what one duplicate-address probe costs.
//!
//! Run with `DECNET_DECOY_BIN=$(./scripts/build-decoy.sh) cargo bench -p decnet-engine --bench dmz_link`.
//! The host interface is a veth into a namespace holding a Linux bridge (10.243.0.0/24;
//! internal LANs under 10.244.0.0/16); everything created is removed at the end, also when
//! a step fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark aborts on any failure.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_domain::attachment::{Attachment, HostLink};
use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{Name, TopologyStatus};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::{DecoyBinary, DockerRuntime, LinkProbe, Runtime};
use decnet_store::SqliteStore;
use serde_json::json;

const SWITCH: &str = "dn-bench-switch";
const HOST_IF: &str = "dnbench0";

/// The segment and every topology's resources (the tests' per-topology cleanup), removed
/// however the run ends.
struct Cleanup(Vec<support::Cleanup>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.0.clear();
        let _ = Command::new("ip").args(["netns", "del", SWITCH]).output();
        let _ = Command::new("ip").args(["link", "del", HOST_IF]).output();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn segment() {
    ip(&["netns", "add", SWITCH]);
    ip(&["-n", SWITCH, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", SWITCH, "link", "set", "br0", "up"]);
    ip(&["link", "add", HOST_IF, "type", "veth", "peer", "name", "up0", "netns", SWITCH]);
    ip(&["-n", SWITCH, "link", "set", "up0", "master", "br0", "up"]);
    ip(&["addr", "add", "10.243.0.2/24", "dev", HOST_IF]);
    ip(&["link", "set", HOST_IF, "up"]);
}

fn config(attachment: Attachment) -> GeneratorConfig {
    let linked = attachment.link().is_some();
    GeneratorConfig {
        depth: 2,
        branching: 1,
        deckies_per_lan_min: 3,
        deckies_per_lan_max: 3,
        services: Some(vec!["ssh".into(), "http".into()]),
        subnet_base: "10.244.0.0/16".parse().unwrap(),
        seed: 5,
        dmz_attachment: attachment,
        dmz_subnet: linked.then(|| "10.243.0.0/24".parse().unwrap()),
        ..GeneratorConfig::default()
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn measure(engine: &Engine, cleanup: &mut Cleanup, label: &str, attachment: Attachment) {
    let topology = engine.generate(Name::parse(&format!("bench-{label}")).unwrap(), config(attachment)).await.unwrap();
    let id = topology.header.id;
    cleanup.0.push(support::Cleanup(id));
    let dmz = topology.design.dmz().unwrap().name.to_string();
    let start = Instant::now();
    assert_eq!(engine.deploy(id).await.unwrap().status, TopologyStatus::Active);
    let deployed = start.elapsed();
    let mut adds = Vec::new();
    for n in 0..10 {
        let start = Instant::now();
        let payload = json!({"name": format!("extra-{n}"), "lan": dmz, "services": ["ssh"]});
        engine.enqueue(id, "add_decky", &payload, None).await.unwrap();
        assert_eq!(engine.run_until_idle().await.unwrap().applied, 1);
        adds.push(start.elapsed());
    }
    assert_eq!(engine.store().header(id).await.unwrap().status, TopologyStatus::Active);
    let start = Instant::now();
    engine.teardown(id).await.unwrap();
    let torn = start.elapsed();
    println!(
        "{label:8} deploy {} deckies / {} LANs: {:.2}s | live add_decky on the DMZ (n=10): p50 {:.0}ms, max {:.0}ms | teardown {:.2}s",
        topology.design.deckies.len(),
        topology.design.lans.len(),
        deployed.as_secs_f64(),
        median(adds.clone()).as_secs_f64() * 1000.0,
        adds.iter().max().unwrap().as_secs_f64() * 1000.0,
        torn.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let decoy = DecoyBinary::read(std::env::var("DECNET_DECOY_BIN").expect("DECNET_DECOY_BIN").as_ref()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).await.unwrap());
    let docker = Arc::new(DockerRuntime::connect(&decoy).await.unwrap());
    let engine = Engine::new(store, docker.clone(), Bus::default(), EngineConfig::default());
    let mut cleanup = Cleanup(Vec::new());
    segment();

    for count in [1usize, 32] {
        let addresses =
            (0..count).map(|i| std::net::Ipv4Addr::new(10, 243, 0, 100 + u8::try_from(i).unwrap())).collect();
        let probe = LinkProbe {
            driver: "macvlan",
            interface: HOST_IF.into(),
            subnet: "10.243.0.0/24".parse().unwrap(),
            addresses,
        };
        let start = Instant::now();
        docker.probe_link(&probe).await.unwrap();
        println!("probe of {count:2} free addresses: {:.2}s", start.elapsed().as_secs_f64());
    }
    measure(&engine, &mut cleanup, "bridge", Attachment::Bridge).await;
    let link = HostLink {
        interface: HOST_IF.into(),
        gateway: "10.243.0.1".parse().unwrap(),
        ip_range: "10.243.0.64/26".parse().unwrap(),
    };
    measure(&engine, &mut cleanup, "macvlan", Attachment::Macvlan(link)).await;
}
