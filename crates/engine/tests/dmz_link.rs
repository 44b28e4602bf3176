//! A DMZ on a host interface (macvlan), on the real Docker Engine, on a network segment
//! this test builds: a namespace holding a Linux bridge (the "switch"), a veth from this
//! machine into it (the host interface the DMZ sits on, with the host's own address), an
//! attacker host and, for a while, a squatter that already holds an address of the range.
//!
//! - An address another host answers for is refused before anything is created.
//! - A deploy that fails after the DMZ network and its shim exist leaves nothing behind.
//! - Deployed: the attacker's `nmap -sn` finds every DMZ decky with its own address and
//!   MAC (its persona's vendor); `ssh` to a decky's own address reaches its decoy and the
//!   event records the attacker's address; nothing answers on the host's own address; the
//!   host reaches its deckies through the shim.
//! - A DMZ decky added and removed live, a base and the shim removed by hand and healed.
//! - Teardown leaves no container, network or shim.
//!
//! Segment 10.241.0.0/24 (host .2, attacker .50, squatter .96, range .96/27 whose last
//! address .127 is the host's shim); internal LANs under 10.242.0.0/16. Needs `ip`,
//! `nmap`, `ssh`, `arping` and `nc` (scripts/test-deps.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use decnet_domain::attachment::{Attachment, HostLink};
use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{Name, TopologyStatus};
use decnet_engine::EngineError;
use decnet_runtime::{Runtime, spec};
use decnet_store::Store;
use serde_json::json;
use support::{Cleanup, client_files, lab, text, wait_event};

const SEGMENT: &str = "10.241.0.0/24";
const ROUTER: &str = "10.241.0.1";
const HOST: &str = "10.241.0.2";
const ATTACKER: &str = "10.241.0.50";
const SQUATTED: &str = "10.241.0.96";
const RANGE: &str = "10.241.0.96/27";
const SHIM_ADDRESS: &str = "10.241.0.127";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The segment: a bridge in its own namespace, the host's interface on it, and the hosts
/// plugged into it. Deleting the namespaces deletes every veth pair.
struct Segment {
    switch: String,
    host_if: String,
    attacker: String,
    squatter: Option<String>,
}

impl Segment {
    fn new() -> Segment {
        let pid = std::process::id();
        let segment = Segment {
            switch: format!("dn-switch-{pid}"),
            host_if: format!("dnl{}", pid % 100_000),
            attacker: format!("dn-lanatt-{pid}"),
            squatter: Some(format!("dn-squat-{pid}")),
        };
        let switch = segment.switch.as_str();
        ip(&["netns", "add", switch]);
        ip(&["-n", switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", switch, "link", "set", "br0", "up"]);
        // The host's interface: a veth whose other end is a switch port.
        ip(&["link", "add", &segment.host_if, "type", "veth", "peer", "name", "up0", "netns", switch]);
        ip(&["-n", switch, "link", "set", "up0", "master", "br0", "up"]);
        ip(&["addr", "add", &format!("{HOST}/24"), "dev", &segment.host_if]);
        ip(&["link", "set", &segment.host_if, "up"]);
        segment.plug(&segment.attacker, "p1", ATTACKER);
        segment.plug(segment.squatter.as_deref().unwrap(), "p2", SQUATTED);
        segment
    }

    /// A host namespace `ns` with `address`, on switch port `port`.
    fn plug(&self, ns: &str, port: &str, address: &str) {
        ip(&["netns", "add", ns]);
        ip(&["-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", &self.switch]);
        ip(&["-n", &self.switch, "link", "set", port, "master", "br0", "up"]);
        ip(&["-n", ns, "addr", "add", &format!("{address}/24"), "dev", "eth0"]);
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    fn unplug_squatter(&mut self) {
        if let Some(ns) = self.squatter.take() {
            ip(&["netns", "del", &ns]);
        }
    }

    fn attacker(&self, program: &str) -> Command {
        support::in_namespace(&self.attacker, 60, program)
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        for ns in [Some(&self.attacker), self.squatter.as_ref(), Some(&self.switch)].into_iter().flatten() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).output();
    }
}

fn config(host_if: &str) -> GeneratorConfig {
    GeneratorConfig {
        depth: 1,
        branching: 1,
        deckies_per_lan_min: 1,
        deckies_per_lan_max: 1,
        services: Some(vec!["ssh".into()]),
        subnet_base: "10.242.0.0/16".parse().unwrap(),
        seed: 5,
        dmz_attachment: Attachment::Macvlan(HostLink {
            interface: host_if.to_owned(),
            gateway: ROUTER.parse().unwrap(),
            ip_range: RANGE.parse().unwrap(),
        }),
        dmz_subnet: Some(SEGMENT.parse().unwrap()),
        ..GeneratorConfig::default()
    }
}

fn interface_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// What `docker` lists with the topology's label (containers and networks).
fn labelled(id: decnet_domain::TopologyId) -> Vec<String> {
    let filter = format!("label=decnet.topology.id={id}");
    let mut found = Vec::new();
    for list in [vec!["ps", "-aq"], vec!["network", "ls", "-q"]] {
        let out = Command::new("docker").args(&list).args(["--filter", &filter]).output().unwrap();
        found.extend(String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned));
    }
    found
}

/// The addresses and MACs `nmap -sn` finds on the range, from the attacker.
fn scan(segment: &Segment) -> Vec<(String, String)> {
    let out = segment.attacker("nmap").args(["-sn", "-n", RANGE]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut hosts = Vec::new();
    let mut current = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(address) = line.strip_prefix("Nmap scan report for ") {
            current = Some(address.trim().to_owned());
        } else if let Some(mac) = line.strip_prefix("MAC Address: ")
            && let Some(address) = current.take()
        {
            hosts.push((address, mac.split_whitespace().next().unwrap_or_default().to_lowercase()));
        }
    }
    hosts
}

fn reachable(segment: Option<&Segment>, address: &str, port: &str) -> bool {
    let mut command = match segment {
        Some(segment) => segment.attacker("nc"),
        None => Command::new("nc"),
    };
    command.args(["-z", "-w", "2", address, port]).status().unwrap().success()
}

fn wait_reachable(segment: Option<&Segment>, address: &str, port: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reachable(segment, address, port) {
        assert!(Instant::now() < deadline, "{address}:{port} never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_macvlan_dmz_puts_deckies_on_the_segment_with_their_own_addresses_and_macs() {
    let lab = lab().await;
    let mut segment = Segment::new();
    let name = |n: &str| Name::parse(n).unwrap();

    // 1. The squatter holds the first address of the range: refused, nothing created.
    let first = lab.engine.generate(name("edge-taken"), config(&segment.host_if)).await.unwrap();
    let id = first.header.id;
    let _cleanup_first = Cleanup(id);
    let dmz = first.design.dmz().unwrap().clone();
    let gateway = first.design.gateways().next().unwrap().clone();
    assert_eq!(gateway.ips[&dmz.name].to_string(), SQUATTED, "the range's first address");
    let shim = spec::shim_name(&spec::network_name(id, &dmz.name));
    match lab.engine.deploy(id).await {
        Err(EngineError::Refused(refusal)) => {
            let issue = &refusal.issues[0];
            assert_eq!(issue.code.as_str(), "ADDRESS_IN_USE", "{refusal}");
            assert!(issue.message.contains(SQUATTED), "{refusal}");
            assert_eq!(issue.target.decky.as_deref(), Some(gateway.name.as_str()), "{refusal}");
        }
        other => panic!("a squatted address must be refused: {other:?}"),
    }
    assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Pending);
    assert!(labelled(id).is_empty() && !interface_exists(&shim), "nothing was created");

    // 2. The squatter leaves; a network of the internal LAN's subnet exists already, so the
    //    deploy fails after the DMZ's network and shim: both go.
    segment.unplug_squatter();
    let inner = first.design.lans.values().find(|l| !l.is_dmz).unwrap().subnet.to_string();
    let blocker = format!("dn-blocker-{}", std::process::id());
    let out = Command::new("docker").args(["network", "create", "--subnet", &inner, &blocker]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let failed = lab.engine.deploy(id).await;
    let _ = Command::new("docker").args(["network", "rm", &blocker]).output();
    assert_eq!(failed.unwrap().status, TopologyStatus::Failed);
    assert!(labelled(id).is_empty(), "a failed deploy leaves nothing: {:?}", labelled(id));
    assert!(!interface_exists(&shim), "a failed deploy removes its shim");
    lab.engine.delete(id).await.unwrap();

    // 3. Deployed for real.
    let topology = lab.engine.generate(name("edge"), config(&segment.host_if)).await.unwrap();
    let id = topology.header.id;
    let _cleanup = Cleanup(id);
    let shim = spec::shim_name(&spec::network_name(id, &dmz.name));
    let _shim_guard = ShimGuard(shim.clone());
    let deployed = lab.engine.deploy(id).await.unwrap().status;
    let states = lab.store.topology(id).await.unwrap().decky_status.clone();
    assert_eq!(deployed, TopologyStatus::Active, "{states:?}");
    let gateway = topology.design.gateways().next().unwrap().clone();
    let gw_ip = gateway.ips[&dmz.name].to_string();
    assert!(interface_exists(&shim), "the shim exists while the topology runs");

    // A second DMZ decky, added live.
    let payload =
        json!({"name": "files", "lan": dmz.name.as_str(), "services": ["ssh"], "archetype": "windows-server"});
    lab.engine.enqueue(id, "add_decky", &payload, None).await.unwrap();
    assert_eq!(lab.engine.run_until_idle().await.unwrap().applied, 1);
    let design = lab.store.topology(id).await.unwrap().design.clone();
    let files_ip = design.deckies[&name("files")].ips[&dmz.name].to_string();
    assert_ne!(files_ip, gw_ip);
    let history = lab.store.status_events(id, 3).await.unwrap();
    assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Active, "{history:?}");

    // The attacker's ping scan finds both, each with its own MAC and its persona's vendor.
    wait_reachable(Some(&segment), &files_ip, "22");
    let hosts = scan(&segment);
    let mac_of = |address: &str| hosts.iter().find(|(a, _)| a == address).map(|(_, m)| m.clone());
    let (gw_mac, files_mac) = (mac_of(&gw_ip), mac_of(&files_ip));
    assert!(gw_mac.is_some() && files_mac.is_some(), "{hosts:?}");
    assert_ne!(gw_mac, files_mac, "{hosts:?}");
    assert!(files_mac.as_deref().unwrap().starts_with("00:14:22"), "a Windows server on Dell hardware: {hosts:?}");
    assert!(mac_of(SHIM_ADDRESS).is_some(), "the host's shim is a neighbour too: {hosts:?}");

    // ssh to the gateway's own address reaches its decoy, which records the attacker.
    let dir = tempfile::tempdir().unwrap();
    let (ssh_config, askpass) = client_files(dir.path(), "admin");
    let out = segment
        .attacker("ssh")
        .args(["-F", &ssh_config, &format!("root@{gw_ip}"), "hostname"])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), gateway.hostname.as_ref().unwrap().as_str());
    let gw_ssh = spec::service_name(id, &gateway.name, "ssh");
    let login = wait_event(&gw_ssh, "login", |e| e["event"] == "auth_attempt");
    assert_eq!(login["src_ip"], ATTACKER, "{login}");

    // Nothing is published on the host: no port bindings, and the host's own address on
    // the segment does not answer the decoy's port.
    let base = spec::base_name(id, &gateway.name);
    let out =
        Command::new("docker").args(["inspect", "-f", "{{json .NetworkSettings.Ports}}", &base]).output().unwrap();
    let ports = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(ports == "{}" || ports == "null", "published: {ports}");
    assert!(!reachable(Some(&segment), HOST, "22"), "the host's own address must not answer ssh");
    // The host reaches its deckies through the shim.
    assert!(reachable(None, &gw_ip, "22"), "the host reaches its decky through the shim");

    // Healing: the added decky's base and the shim removed by hand come back.
    let files_base = spec::base_name(id, &name("files"));
    assert!(Command::new("docker").args(["rm", "-f", &files_base]).output().unwrap().status.success());
    ip(&["link", "del", &shim]);
    let report = lab.engine.converge(id).await.unwrap();
    assert!(report.converged(), "{report:?}");
    assert!(lab.docker.observe(id).await.unwrap().containers[&files_base].running);
    assert!(interface_exists(&shim), "the shim is back");
    wait_reachable(Some(&segment), &files_ip, "22");
    assert!(reachable(None, &files_ip, "22"), "the host reaches the healed decky again");

    // Live attach and detach: an internal decky joins the DMZ with an address of the
    // range (probed first), answers the attacker there, then leaves it.
    let inner = topology.design.lans.values().find(|l| !l.is_dmz).unwrap().name.to_string();
    lab.engine
        .enqueue(id, "add_decky", &json!({"name": "vault", "lan": inner, "services": ["ssh"]}), None)
        .await
        .unwrap();
    lab.engine.enqueue(id, "attach_decky", &json!({"decky": "vault", "lan": dmz.name.as_str()}), None).await.unwrap();
    assert_eq!(lab.engine.run_until_idle().await.unwrap().applied, 2);
    let vault_ip = lab.store.topology(id).await.unwrap().design.deckies[&name("vault")].ips[&dmz.name].to_string();
    assert!(
        vault_ip.parse::<std::net::Ipv4Addr>().is_ok_and(|a| RANGE.parse::<ipnet::Ipv4Net>().unwrap().contains(&a))
    );
    wait_reachable(Some(&segment), &vault_ip, "22");
    let vault_mac = scan(&segment).into_iter().find(|(a, _)| *a == vault_ip).map(|(_, m)| m).unwrap_or_default();
    assert!(vault_mac.starts_with("00:25:90"), "a link joined live takes the persona's MAC too: {vault_mac:?}");
    lab.engine.enqueue(id, "detach_decky", &json!({"decky": "vault", "lan": dmz.name.as_str()}), None).await.unwrap();
    assert_eq!(lab.engine.run_until_idle().await.unwrap().applied, 1);
    assert!(!reachable(Some(&segment), &vault_ip, "22"), "detached from the DMZ");
    assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Active);

    // Live remove.
    lab.engine.enqueue(id, "remove_decky", &json!({"decky": "files"}), None).await.unwrap();
    assert_eq!(lab.engine.run_until_idle().await.unwrap().applied, 1);
    assert!(!lab.docker.observe(id).await.unwrap().containers.contains_key(&files_base));
    assert!(!reachable(Some(&segment), &files_ip, "22"));

    // Teardown: nothing left, shim included.
    lab.engine.teardown(id).await.unwrap();
    assert!(labelled(id).is_empty(), "{:?}", labelled(id));
    assert!(!interface_exists(&shim), "teardown removes the shim");
}

/// Removes the shim however the test ends (teardown removes it when the test passes).
struct ShimGuard(String);

impl Drop for ShimGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}
