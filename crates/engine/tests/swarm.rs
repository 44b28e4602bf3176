//! Against a real three-node Docker Swarm (three daemons in network namespaces of their
//! own, `swarm_lab`): a topology spread over the nodes, with the stored pins of its path,
//! deploys; deckies on different nodes reach each other on one LAN and through a
//! forwarder across LANs; a live op places a new decky by its LAN's stored pin; a node
//! whose engine stops loses its deckies, which are re-created on the others; teardown
//! leaves nothing on any node.
//!
//! Needs root, `ip`, `nsenter`, `dockerd` and the static decoy binary
//! (`DECNET_DECOY_BIN`); subnet base 10.227.0.0/16, underlay 10.251.0.0/24 inside the
//! lab's namespaces.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod support;
mod swarm_lab;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use decnet_domain::placement::{NamedPlacement, Policy};
use decnet_domain::{Design, Name, TopologyId, TopologyStatus};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::{MemoryRuntime, Runtime, SwarmConfig, SwarmRuntime, spec};
use decnet_store::{SqliteStore, Store};
use serde_json::json;
use support::{config, decoy_bin};
use swarm_lab::{SwarmLab, wait_until};

const DEADLINE: Duration = Duration::from_secs(60);

/// Node id of every decky of `id` the swarm runs.
async fn placement(swarm: &SwarmRuntime, id: TopologyId) -> BTreeMap<String, String> {
    let mut of = BTreeMap::new();
    for (node, deckies) in swarm.deckies().await.unwrap() {
        for (topology, decky) in deckies {
            if topology == id {
                of.insert(decky, node.clone());
            }
        }
    }
    of
}

/// Whether `from`'s namespace, on node `node` of the lab, connects to `target` (ip:port).
fn reaches(lab: &SwarmLab, node: usize, image: &str, from: &str, target: &str) -> bool {
    let out = lab.docker(
        node,
        &[
            "run",
            "--rm",
            "--network",
            &format!("container:{from}"),
            "--read-only",
            "--cap-drop",
            "ALL",
            "--user",
            spec::SERVICE_USER,
            image,
            "probe",
            target,
            "--timeout-ms",
            "1500",
        ],
    );
    match out.status.code() {
        Some(0) => true,
        Some(3) => false,
        other => panic!("probe failed to run ({other:?}): {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// The lab's node number of a swarm node id.
fn number(lab: &SwarmLab, node: &str) -> usize {
    (1..=3).find(|n| lab.node_id(*n) == node).unwrap()
}

/// Asserts that decky `from` reaches decky `to` at its first address (its ssh port),
/// waiting for the overlay to learn the addresses.
fn assert_reaches(
    lab: &SwarmLab,
    image: &str,
    id: TopologyId,
    on: &BTreeMap<String, String>,
    design: &Design,
    from: &str,
    to: &str,
) {
    let target = design.deckies.get(&Name::parse(to).unwrap()).unwrap();
    let ip = target.ips.values().next().unwrap();
    let from_node = number(lab, &on[from]);
    let base = spec::base_name(id, &Name::parse(from).unwrap());
    wait_until(&format!("{from} (node {from_node}) reaching {to} at {ip}"), DEADLINE, || {
        reaches(lab, from_node, image, &base, &format!("{ip}:22"))
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topology_spread_over_three_swarm_nodes_deploys_routes_heals_and_tears_down() {
    let mut lab = SwarmLab::up(3);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("swarm.db")).await.unwrap());
    // DMZ → lan-01 → lan-02, a forwarder between each pair, three deckies per LAN;
    // designed before any runtime is asked.
    let designer = Engine::new(store.clone(), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
    let generated = designer.generate(Name::parse("spread").unwrap(), config("10.227.0.0/16", false, &["ssh"])).await;
    let id = generated.unwrap().header.id;
    let design = Design::clone(&store.topology(id).await.unwrap().design);
    // A forwarder, a decky only on its first LAN, two only on its second.
    let (from, forwarder, to, neighbour) = design
        .deckies
        .values()
        .filter(|d| d.forwards_l3 && d.ips.len() == 2)
        .find_map(|f| {
            let lans: Vec<&Name> = f.ips.keys().collect();
            let only_on = |l: &Name| -> Vec<String> {
                design
                    .deckies
                    .values()
                    .filter(|d| d.ips.len() == 1 && d.ips.contains_key(l))
                    .map(|d| d.name.to_string())
                    .collect()
            };
            let (first, second) = (only_on(lans[0]), only_on(lans[1]));
            Some((first.first()?.clone(), f.name.to_string(), second.first()?.clone(), second.get(1)?.clone()))
        })
        .expect("a forwarder with one decky on one side and two on the other");

    // The path pinned across the three nodes, in the store; everything else spread.
    let (node1, node2, node3) = (lab.node_id(1).to_owned(), lab.node_id(2).to_owned(), lab.node_id(3).to_owned());
    let pins = BTreeMap::from([
        (from.clone(), node1.clone()),
        (forwarder.clone(), node2.clone()),
        (to.clone(), node3.clone()),
        (neighbour.clone(), node1.clone()),
    ]);
    let pinned = NamedPlacement { deckies: pins, ..NamedPlacement::default() };
    assert_eq!(designer.set_placement(id, &pinned).await.unwrap(), pinned);
    let swarm_config = SwarmConfig { manager: lab.endpoint(1), tls: None, placement: Policy::Spread };
    let swarm = Arc::new(SwarmRuntime::connect(swarm_config, &decoy_bin()).await.unwrap());
    let image = swarm.image().to_owned();
    assert_eq!(swarm.nodes().await.unwrap().iter().filter(|n| n.usable).count(), 3);
    let bus = Bus::default();
    let engine = Engine::new(store.clone(), swarm.clone(), bus.clone(), EngineConfig::default());
    assert_eq!(engine.deploy(id).await.unwrap().status, TopologyStatus::Active);
    let on = placement(&swarm, id).await;
    assert_eq!(on.len(), design.deckies.len(), "every decky runs somewhere: {on:?}");
    assert_eq!([&on[&from], &on[&forwarder], &on[&to], &on[&neighbour]], [&node1, &node2, &node3, &node1], "pinned");
    let mut per_node: BTreeMap<&String, usize> = BTreeMap::new();
    for node in on.values() {
        *per_node.entry(node).or_default() += 1;
    }
    let (fewest, most) = (per_node.values().min().unwrap(), per_node.values().max().unwrap());
    assert!(per_node.len() == 3 && most - fewest <= 2, "the rest spread evenly around the pins: {on:?}");

    // One LAN across nodes (1 → 3), and across LANs through the forwarder (1 → 2 → 3).
    assert_reaches(&lab, &image, id, &on, &design, &neighbour, &to);
    assert_reaches(&lab, &image, id, &on, &design, &from, &to);
    let lan = design.deckies.get(&Name::parse(&to).unwrap()).unwrap().home_lan.clone();

    // The placement replaced by a pin of the whole LAN to node 2 (running deckies stay):
    // a live op places a new decky there, and it is reachable from another node.
    let by_lan =
        NamedPlacement { lans: BTreeMap::from([(lan.to_string(), node2.clone())]), ..NamedPlacement::default() };
    engine.set_placement(id, &by_lan).await.unwrap();
    engine.enqueue(id, "add_decky", &json!({"name": "late-1", "lan": lan, "services": ["ssh"]}), None).await.unwrap();
    assert_eq!(engine.run_until_idle().await.unwrap().applied, 1);
    let design = Design::clone(&store.topology(id).await.unwrap().design);
    let on = placement(&swarm, id).await;
    assert_eq!(on["late-1"], node2, "placed by its LAN's stored pin");
    assert_eq!(on[&to], node3, "running deckies stay where they are");
    let peer = design
        .deckies
        .values()
        .find(|d| d.ips.contains_key(&lan) && on.get(d.name.as_str()) != on.get("late-1"))
        .unwrap();
    assert_reaches(&lab, &image, id, &on, &design, peer.name.as_str(), "late-1");

    // Node 3's engine stops: its deckies are re-created on nodes 1 and 2.
    let lost: Vec<String> = on.iter().filter(|(_, n)| *n == lab.node_id(3)).map(|(d, _)| d.clone()).collect();
    assert!(!lost.is_empty());
    let mut states = bus.subscribe();
    lab.stop_node(3);
    let until = tokio::time::Instant::now() + DEADLINE;
    while !swarm.nodes().await.unwrap().iter().any(|n| n.id == node3 && n.state == "down") {
        assert!(tokio::time::Instant::now() < until, "the manager never saw node 3 down");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let report = engine.converge(id).await.unwrap();
        let on = placement(&swarm, id).await;
        if report.converged() && on.len() == design.deckies.len() {
            assert!(on.values().all(|n| *n != node3), "{on:?}");
            assert_eq!(on[&to], node2, "re-created where its LAN is now pinned");
            break;
        }
        assert!(tokio::time::Instant::now() < until, "node 3's deckies were not re-created: {report:?} {on:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(store.header(id).await.unwrap().status, TopologyStatus::Active);
    // On the way, each was failed with the reason.
    let mut failed = BTreeSet::new();
    while let Ok(event) = states.try_recv() {
        let payload = &event.payload;
        if payload["state"] == "failed" && payload["last_error"].as_str().is_some_and(|e| e.contains(&node3)) {
            failed.insert(payload["decky"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(failed, lost.iter().cloned().collect::<BTreeSet<_>>(), "failed on the way, naming node 3");
    // The path through the forwarder holds with its end re-created elsewhere.
    assert!(lost.contains(&to));
    assert_reaches(&lab, &image, id, &placement(&swarm, id).await, &design, &from, &to);

    // Teardown leaves nothing on the nodes that remain.
    assert_eq!(engine.teardown(id).await.unwrap().status, TopologyStatus::TornDown);
    let prefix = format!("decnet-{}", id.simple());
    for n in 1..=2 {
        let left: Vec<String> = lab.containers(n).into_iter().filter(|c| c.starts_with(&prefix)).collect();
        assert!(left.is_empty(), "node {n} still has {left:?}");
    }
    // The manager removes a network once every node has let it go.
    let until = tokio::time::Instant::now() + DEADLINE;
    while !swarm.owners().await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < until, "the swarm still has the topology's overlays");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The manager's own copies of the overlays go when the swarm has released them.
    wait_until("the overlays to leave node 1", DEADLINE, || {
        !lab.must_docker(1, &["network", "ls", "--format", "{{.Name}}"]).contains(&prefix)
    });
}
