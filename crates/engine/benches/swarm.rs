//! Deploy time of 300 deckies (one ssh decoy each, ten LANs behind the DMZ) on a one-node swarm and spread
//! over a three-node swarm, in one run: the swarm lab of the swarm test (daemons in
//! network namespaces of their own), each deploy timed from the request to the topology
//! active, then torn down.
//!
//! `DECNET_DECOY_BIN=$(./scripts/build-decoy.sh) cargo bench -p decnet-engine --bench swarm`
//! (root); results also go to bench-out/swarm.txt. The lab is removed at the end, also
//! when a step fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark aborts on any failure.

#[path = "../tests/swarm_lab/mod.rs"]
mod swarm_lab;

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use decnet_domain::TopologyStatus;
use decnet_domain::placement::Policy;
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::{DecoyBinary, SwarmConfig, SwarmRuntime};
use decnet_store::{SqliteStore, Store};
use swarm_lab::SwarmLab;

async fn deploy_on(nodes: usize, decoy: &DecoyBinary) -> String {
    let lab = SwarmLab::up(nodes);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).await.unwrap());
    let config = SwarmConfig { manager: lab.endpoint(1), tls: None, placement: Policy::Spread };
    let swarm = Arc::new(SwarmRuntime::connect(config, decoy).await.unwrap());
    let engine = Engine::new(store.clone(), swarm.clone(), Bus::default(), EngineConfig::default());
    // The DMZ and ten LANs; in each LAN a forwarder from the DMZ and 29 deckies: 300.
    let mut lans = vec![serde_json::json!({"name": "dmz", "is_dmz": true, "subnet": "10.228.0.0/24"})];
    let mut deckies = Vec::new();
    for lan in 1..=10 {
        let name = format!("lan-{lan:02}");
        lans.push(serde_json::json!({"name": name, "subnet": format!("10.228.{lan}.0/24")}));
        deckies.push(serde_json::json!({
            "name": format!("fw-{lan:02}"), "home_lan": name, "forwards_l3": true,
            "networks": [{"lan": name}, {"lan": "dmz"}], "services": ["ssh"]
        }));
        for n in 1..=29 {
            deckies.push(serde_json::json!({
                "name": format!("d-{lan:02}-{n:02}"), "home_lan": name, "networks": [{"lan": name}], "services": ["ssh"]
            }));
        }
    }
    let document =
        serde_json::from_value(serde_json::json!({"name": "bench", "lans": lans, "deckies": deckies})).unwrap();
    let id = engine.create(document, "bench").await.unwrap().header.id;
    let deckies = store.topology(id).await.unwrap().design.deckies.len();
    let started = Instant::now();
    assert_eq!(engine.deploy(id).await.unwrap().status, TopologyStatus::Active);
    let deployed = started.elapsed();
    let per_node: Vec<usize> = swarm.deckies().await.unwrap().values().map(Vec::len).collect();
    let started = Instant::now();
    engine.teardown(id).await.unwrap();
    let torn_down = started.elapsed();
    format!(
        "{nodes} node(s): {deckies} deckies ({per_node:?} per node) deployed in {:.1} s = {:.1} deckies/s; torn down in {:.1} s",
        deployed.as_secs_f64(),
        deckies as f64 / deployed.as_secs_f64(),
        torn_down.as_secs_f64()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let path = std::env::var("DECNET_DECOY_BIN").expect("DECNET_DECOY_BIN: the static decoy binary");
    let decoy = DecoyBinary::read(path.as_ref()).unwrap();
    let mut lines = Vec::new();
    for nodes in [1, 3] {
        let line = deploy_on(nodes, &decoy).await;
        println!("{line}");
        lines.push(line);
    }
    // The workspace's bench-out/, whatever directory cargo runs the benchmark in.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-out");
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = std::fs::File::create(dir.join("swarm.txt")).unwrap();
    for line in &lines {
        writeln!(out, "{line}").unwrap();
    }
}
