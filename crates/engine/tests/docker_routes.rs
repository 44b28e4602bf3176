//! Against the real Docker Engine: routes as the design says. Every base holds exactly
//! its decky's routes (`routing::routes_of`), a decky reaches a LAN two forwarders away
//! and back, the routes follow live ops in place, and a route deleted by hand inside a
//! base comes back.
//!
//! Needs a daemon, the static decoy binary (`DECNET_DECOY_BIN`) and `nsenter`/`ip` on the
//! host (the "by hand" part); subnet base 10.226.0.0/16.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use decnet_domain::generator::GeneratorConfig;
use decnet_domain::routing::{Route, routes_of};
use decnet_domain::{Design, Name, TopologyId, TopologyStatus};
use decnet_runtime::Runtime;
use decnet_store::Store;
use serde_json::{Value, json};
use support::{Cleanup, Lab, lab, probe_from};

/// The managed routes `base` holds, as its own `routes show` reports them.
fn held(base: &str) -> Vec<(String, String)> {
    let out = Command::new("docker").args(["exec", base, "/decnet-decoy", "routes", "show"]).output().unwrap();
    assert!(out.status.success(), "routes show in {base}: {}", String::from_utf8_lossy(&out.stderr));
    let routes: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    routes.iter().map(|r| (r["destination"].as_str().unwrap().into(), r["gateway"].as_str().unwrap().into())).collect()
}

fn wanted(routes: &[Route]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = routes.iter().map(|r| (r.destination.to_string(), r.gateway.to_string())).collect();
    pairs.sort();
    pairs
}

/// Every base holds exactly the routes the design gives its decky.
fn assert_routes_as_designed(id: TopologyId, design: &Design, when: &str) {
    for decky in design.deckies.values() {
        let base = decnet_runtime::spec::base_name(id, &decky.name);
        assert_eq!(held(&base), wanted(&routes_of(design, decky)), "{when}: {}", decky.name);
    }
}

async fn apply(lab: &Lab, id: TopologyId, op: &str, payload: Value) -> Design {
    lab.engine.enqueue(id, op, &payload, None).await.unwrap();
    assert_eq!(lab.engine.run_until_idle().await.unwrap().applied, 1, "{op} {payload}");
    assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Active, "{op}");
    Design::clone(&lab.store.topology(id).await.unwrap().design)
}

#[tokio::test]
async fn routes_are_installed_as_designed_follow_live_ops_and_heal() {
    let lab = lab().await;
    // DMZ → lan-01 → lan-02, one forwarder between each pair, two deckies per LAN.
    let config = GeneratorConfig {
        depth: 2,
        branching: 1,
        deckies_per_lan_min: 2,
        deckies_per_lan_max: 2,
        services: Some(vec!["ssh".into()]),
        subnet_base: "10.226.0.0/16".parse().unwrap(),
        bridge_forward_p: 1.0,
        seed: 5,
        ..GeneratorConfig::default()
    };
    let topology = lab.engine.generate(Name::parse("routes").unwrap(), config).await.unwrap();
    let id = topology.header.id;
    let _cleanup = Cleanup(id);
    assert_eq!(lab.engine.deploy(id).await.unwrap().status, TopologyStatus::Active);
    let mut design = Design::clone(&lab.store.topology(id).await.unwrap().design);
    assert_routes_as_designed(id, &design, "after deploy");

    // A DMZ decky that is no bridge reaches a decky two LANs deep, through two forwarders,
    // and the answer finds its way back.
    let dmz = design.lans.values().find(|l| l.is_dmz).unwrap().name.clone();
    let deepest = design.lans.values().max_by_key(|l| l.subnet.network()).unwrap().name.clone();
    let outside = design.deckies.values().find(|d| d.ips.len() == 1 && d.home_lan == dmz).unwrap().clone();
    let deep = design.deckies.values().find(|d| d.ips.len() == 1 && d.home_lan == deepest).unwrap().clone();
    assert!(!routes_of(&design, &outside).is_empty(), "the DMZ decky has routes inward");
    let image = lab.docker.image();
    let from = decnet_runtime::spec::base_name(id, &outside.name);
    let deep_ssh = format!("{}:22", deep.ips[&deepest]);
    assert!(probe_from(image, &from, &deep_ssh), "two LANs deep through the forwarders");

    // Nothing leaves the maze: the host's side of the DMZ bridge (where the host listens
    // on every address) is as closed as the world; the listener never sees a connection.
    let host = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    host.set_nonblocking(true).unwrap();
    let host_side = decnet_domain::alloc::gateway(design.lans[&dmz].subnet);
    let port = host.local_addr().unwrap().port();
    assert!(!probe_from(image, &from, &format!("{host_side}:{port}")), "a decky opened a connection to the host");
    assert!(host.accept().is_err(), "the host saw a connection from a decky");

    // Live ops: a new LAN behind a forwarder becomes reachable, and stops being when the
    // forwarder leaves it; a forwarder that stops forwarding takes its LANs with it.
    let forwarder = design.deckies.values().find(|d| d.forwards_l3 && d.ips.contains_key(&deepest)).unwrap().clone();
    design = apply(&lab, id, "add_lan", json!({"name": "extra"})).await;
    assert_routes_as_designed(id, &design, "add_lan");
    design = apply(&lab, id, "attach_decky", json!({"decky": forwarder.name, "lan": "extra"})).await;
    let extra = design.lans[&Name::parse("extra").unwrap()].subnet;
    assert!(routes_of(&design, &outside).iter().any(|r| r.destination == extra));
    assert_routes_as_designed(id, &design, "attach_decky");
    design = apply(&lab, id, "detach_decky", json!({"decky": forwarder.name, "lan": "extra"})).await;
    assert_routes_as_designed(id, &design, "detach_decky");
    design = apply(
        &lab,
        id,
        "update_decky",
        json!({"decky": forwarder.name, "patch": {"forwards_l3": false}, "force": true}),
    )
    .await;
    assert!(routes_of(&design, &outside).iter().all(|r| r.destination != design.lans[&deepest].subnet));
    assert_routes_as_designed(id, &design, "forwarding off");
    assert!(!probe_from(image, &from, &deep_ssh), "no forwarder, no way in");
    design = apply(
        &lab,
        id,
        "update_decky",
        json!({"decky": forwarder.name, "patch": {"forwards_l3": true}, "force": true}),
    )
    .await;
    assert_routes_as_designed(id, &design, "forwarding on");
    assert!(probe_from(image, &from, &deep_ssh), "the way in is back");

    // A route deleted by hand inside the base comes back.
    let route = routes_of(&design, &outside).into_iter().next().unwrap();
    let pid = Command::new("docker").args(["inspect", "-f", "{{.State.Pid}}", &from]).output().unwrap();
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_owned();
    let deleted = Command::new("nsenter")
        .args(["-t", &pid, "-n", "ip", "route", "del", &route.destination.to_string()])
        .status()
        .unwrap();
    assert!(deleted.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if held(&from) == wanted(&routes_of(&design, &outside)) {
            break;
        }
        assert!(Instant::now() < deadline, "the deleted route {route:?} was not restored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lab.engine.teardown(id).await.unwrap();
}
