//! The `decnet` binary on a two-node Docker Swarm (the engine tests' swarm lab), node 2
//! reached over TCP with TLS: `--runtime swarm` deploys, `cluster nodes` shows each node
//! with its deckies, and a topology in the original's agent mode runs whole on its target
//! host.
//!
//! Needs root, `ip`, `nsenter`, `dockerd` and `openssl`; subnets 10.229.0.0/16 and
//! 10.230.0.0/16; the lab's segment 10.251.0.0/24.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

#[path = "../../engine/tests/swarm_lab/mod.rs"]
mod swarm_lab;

use std::process::{Command, Output};

use serde_json::Value;
use swarm_lab::SwarmLab;

struct Decnet<'a> {
    db: tempfile::TempDir,
    lab: &'a SwarmLab,
}

impl Decnet<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_decnet"))
            .args(args)
            .env("DECNET_DB", self.db.path().join("decnet.db"))
            .env("DECNET_RUNTIME", "swarm")
            .env("DECNET_SWARM_MANAGER", self.lab.endpoint(1))
            .env("DECNET_SWARM_TLS", self.lab.tls_dir())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "decnet {args:?}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Node id → the `topology/decky` names `cluster nodes` lists on it.
    fn deckies_by_node(&self) -> Vec<(String, Vec<String>)> {
        let nodes: Value = serde_json::from_str(&self.ok(&["cluster", "nodes", "--json"])).unwrap();
        nodes
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                assert_eq!(n["usable"], true, "{n}");
                let expected =
                    if n["id"] == self.lab.node_id(2) { self.lab.engine_api(2) } else { self.lab.endpoint(1) };
                assert_eq!(n["endpoint"], expected.as_str(), "node 2 over TLS, node 1 on its socket");
                let deckies = n["deckies"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned());
                (n["id"].as_str().unwrap().to_owned(), deckies.collect())
            })
            .collect()
    }
}

#[test]
fn over_tls_cluster_nodes_shows_where_deckies_run_and_agent_mode_pins_a_topology_to_its_host() {
    let lab = SwarmLab::up_with_tls(2, &[2]);
    let decnet = Decnet { db: tempfile::tempdir().unwrap(), lab: &lab };

    // The original's agent mode: the whole topology on node 2.
    let deckies: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|name| serde_json::json!({"name": name, "home_lan": "dmz", "networks": [{"lan": "dmz"}], "services": ["ssh"]}))
        .collect();
    let document = serde_json::json!({
        "name": "remote", "mode": "agent", "target_host": lab.node_id(2),
        "lans": [{"name": "dmz", "is_dmz": true, "subnet": "10.229.0.0/24"}],
        "deckies": deckies,
    });
    let file = decnet.db.path().join("remote.json");
    std::fs::write(&file, document.to_string()).unwrap();
    decnet.ok(&["topology", "create", "--from", file.to_str().unwrap()]);
    decnet.ok(&["topology", "deploy", "remote"]);

    // Spread: a generated maze over both nodes.
    decnet.ok(&[
        "topology",
        "generate",
        "--name",
        "spread",
        "--depth",
        "2",
        "--seed",
        "5",
        "--subnet-base",
        "10.230.0.0/16",
    ]);
    decnet.ok(&["topology", "deploy", "spread"]);
    let shown: Value = serde_json::from_str(&decnet.ok(&["topology", "show", "spread", "--json"])).unwrap();
    let spread_count = shown["deckies"].as_array().unwrap().len();

    let nodes = decnet.deckies_by_node();
    assert_eq!(nodes.len(), 2);
    for (node, deckies) in &nodes {
        let remote: Vec<&String> = deckies.iter().filter(|d| d.starts_with("remote/")).collect();
        let expected = if node == lab.node_id(2) { vec!["remote/a", "remote/b", "remote/c"] } else { vec![] };
        assert_eq!(remote, expected, "node {node}");
    }
    // Spread counts what each node already runs (the agent-mode topology's three too).
    let (first, second) = (nodes[0].1.len(), nodes[1].1.len());
    assert!(first.abs_diff(second) <= 1, "spread evens the nodes out: {nodes:?}");
    let spread_total: usize = nodes.iter().map(|(_, d)| d.iter().filter(|d| d.starts_with("spread/")).count()).sum();
    assert_eq!(spread_total, spread_count);
    let table = decnet.ok(&["cluster", "nodes"]);
    assert!(table.contains(&lab.node_id(2)[..12]) && table.contains("remote/a"), "{table}");

    decnet.ok(&["topology", "teardown", "remote"]);
    decnet.ok(&["topology", "teardown", "spread"]);
    assert!(decnet.deckies_by_node().iter().all(|(_, deckies)| deckies.is_empty()));
}
