//! The maze walked from outside, on the real Docker Engine, with the real OpenSSH client
//! run from an attacker host (a network namespace this test makes, with its own address,
//! reaching the gateway's published port as a machine on the network would):
//!
//! - `ssh -J` through the gateway logs into a decky two LANs deep, behind a forwarder;
//! - `ssh -D` and curl's SOCKS client fetch that decky's web page;
//! - a tunnel to the host's side of the DMZ bridge is refused, recorded, and the host
//!   never sees a packet;
//! - the gateway's events record the attacker's own address, and the tunnel's record names
//!   the address the next decky saw;
//! - at the keyboard, the gateway's shell fetches db's page with curl, `ssh` hops on to fw
//!   and from fw's shell to db, and `exit` comes back hop by hop;
//! - the engine links it all into one attacker whose path is gateway → fw → db, with the
//!   LANs and the credentials of each hop.
//!
//! The maze is generated, four LANs in a chain (depth 3), ssh and http on every decky.
//! Subnet base 10.227.0.0/16; the attacker link is 10.232.0.0/30. Needs `ip`, `ssh`,
//! `curl` (scripts/test-deps.sh) and host ports 22 and 80 free (no sshd or web server on
//! the test machine).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{Name, TopologyStatus};
use decnet_runtime::spec;
use decnet_store::{Events, Store};
use serde_json::json;
use support::{Cleanup, client_files, lab, text, wait_event};

/// The attacker host: a namespace with one veth link to this machine.
struct Attacker {
    ns: String,
}

const HOST_SIDE: &str = "10.232.0.1";
const ATTACKER: &str = "10.232.0.2";

impl Attacker {
    fn new() -> Attacker {
        let ns = format!("dn-attacker-{}", std::process::id());
        let attacker = Attacker { ns: ns.clone() };
        let host_if = format!("dnh{}", std::process::id() % 100_000);
        for args in [
            vec!["netns", "add", &ns],
            vec!["link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns", &ns],
            vec!["addr", "add", "10.232.0.1/30", "dev", &host_if],
            vec!["link", "set", &host_if, "up"],
            vec!["-n", &ns, "addr", "add", "10.232.0.2/30", "dev", "eth0"],
            vec!["-n", &ns, "link", "set", "eth0", "up"],
            vec!["-n", &ns, "link", "set", "lo", "up"],
        ] {
            let out = Command::new("ip").args(&args).output().unwrap();
            assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        attacker
    }

    fn command(&self, program: &str) -> Command {
        support::in_namespace(&self.ns, 30, program)
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the veth pair, and so the pair.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_attacker_walks_the_maze_through_the_gateway_and_cannot_leave_it() {
    let lab = lab().await;
    // A generated maze four LANs deep in a chain (DMZ → lan-01 → lan-02 → lan-03), every
    // bridge forwarding, ssh and http on every decky. The walk: the gateway (in the DMZ),
    // fw (the forwarder between lan-01 and lan-02) and db, two LANs in from the DMZ, each
    // reached through forwarders.
    let config = GeneratorConfig {
        depth: 3,
        branching: 1,
        deckies_per_lan_min: 2,
        deckies_per_lan_max: 2,
        services: Some(vec!["ssh".into(), "http".into()]),
        subnet_base: "10.227.0.0/16".parse().unwrap(),
        bridge_forward_p: 1.0,
        seed: 9,
        ..GeneratorConfig::default()
    };
    let id = lab.engine.generate(Name::parse("walk").unwrap(), config).await.unwrap().header.id;
    let _cleanup = Cleanup(id);
    assert_eq!(lab.engine.deploy(id).await.unwrap().status, TopologyStatus::Active);
    let topology = lab.store.topology(id).await.unwrap();
    let design = &topology.design;
    assert!(design.lans.len() >= 4, "depth 3 below the DMZ");
    let name = |n: &str| Name::parse(n).unwrap();
    let gateway = design.gateways().next().expect("a gateway");
    let (gw, dmz) = (gateway.name.to_string(), gateway.home_lan.to_string());
    // The generator bridges each LAN into its parent from the child's side: the DMZ's
    // bridge leads to lan-a, lan-a's next bridge (fw) to lan-b, where db lives.
    let bridge = |on: &str, not_on: Option<&str>| {
        design
            .deckies
            .values()
            .find(|d| {
                d.name != gateway.name
                    && d.forwards_l3
                    && d.ips.len() == 2
                    && d.ips.contains_key(&name(on))
                    && not_on.is_none_or(|l| !d.ips.contains_key(&name(l)))
            })
            .unwrap_or_else(|| panic!("a forwarder on {on}"))
    };
    let lan_a = bridge(&dmz, None).home_lan.to_string();
    let forwarder = bridge(&lan_a, Some(&dmz));
    let fw = forwarder.name.to_string();
    let lan_b = forwarder.ips.keys().find(|l| l.as_str() != lan_a).unwrap().to_string();
    let db_decky = design.deckies.values().find(|d| d.ips.len() == 1 && d.home_lan.as_str() == lan_b).unwrap();
    let db = db_decky.name.to_string();
    let db_ip = db_decky.ips[&name(&lan_b)].to_string();
    let gw_dmz = gateway.ips[&name(&dmz)].to_string();
    let gw_ssh = spec::service_name(id, &name(&gw), "ssh");

    let attacker = Attacker::new();
    let dir = tempfile::tempdir().unwrap();
    let (config, askpass) = client_files(dir.path(), "admin");
    // The gateway's published port answers the attacker (bounded wait for the decoy).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !attacker.command("nc").args(["-z", "-w", "1", HOST_SIDE, "22"]).status().unwrap().success() {
        assert!(Instant::now() < deadline, "the gateway's ssh never answered the attacker");
        std::thread::sleep(Duration::from_millis(100));
    }

    // ssh -J through the gateway into db's own shell, two LANs deep.
    let out = attacker
        .command("ssh")
        .args(["-F", &config, "-J", &format!("root@{HOST_SIDE}"), &format!("root@{db_ip}"), "hostname"])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out).trim(), db_decky.hostname.as_ref().unwrap().as_str());
    // The gateway recorded the attacker's own address, and the tunnel left from its address.
    let login = wait_event(&gw_ssh, "login", |e| e["event"] == "auth_attempt" && e["details"]["outcome"] == "success");
    assert_eq!(login["src_ip"], ATTACKER, "{login}");
    let tunnel = wait_event(&gw_ssh, "tunnel", |e| {
        e["details"]["tunnel"] == "close" && e["details"]["destination"] == format!("{db_ip}:22")
    });
    assert!(tunnel["details"]["from"].as_str().unwrap().starts_with(&format!("{gw_dmz}:")), "{tunnel}");

    // ssh -D, then curl through the SOCKS proxy to db's web page.
    let mut proxy = attacker.command("ssh");
    proxy
        .args(["-F", &config, "-N", "-D", "127.0.0.1:1080", &format!("root@{HOST_SIDE}")])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .stdin(Stdio::null());
    let mut proxy = KillOnDrop(proxy.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !attacker.command("nc").args(["-z", "-w", "1", "127.0.0.1", "1080"]).status().unwrap().success() {
        assert!(proxy.0.try_wait().unwrap().is_none(), "ssh -D exited");
        assert!(Instant::now() < deadline, "ssh -D never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let page = attacker
        .command("curl")
        .args(["-sS", "-i", "--max-time", "10", "--socks5-hostname", "127.0.0.1:1080", &format!("http://{db_ip}/")])
        .output()
        .unwrap();
    assert!(page.status.success() && text(&page).starts_with("HTTP/1.1 200"), "{}", text(&page));
    drop(proxy);

    // The host's side of the DMZ bridge is outside the maze: refused, recorded, untouched.
    let host = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    host.set_nonblocking(true).unwrap();
    let outside = format!(
        "{}:{}",
        decnet_domain::alloc::gateway(design.lans[&name(&dmz)].subnet),
        host.local_addr().unwrap().port()
    );
    let out = attacker
        .command("ssh")
        .args(["-F", &config, "-W", &outside, &format!("root@{HOST_SIDE}")])
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let refused = wait_event(&gw_ssh, "refused tunnel", |e| e["details"]["outcome"] == "refused");
    assert!(refused["details"]["reason"].as_str().unwrap().contains("outside the maze"), "{refused}");
    assert!(host.accept().is_err(), "the host saw a connection from the maze");

    // At the keyboard: log in to the gateway, fetch db's page with curl, then ssh on to fw
    // and from fw's own shell to db, and exit back out hop by hop.
    let prompt = |decky: &str| format!("root@{}:~# ", design.deckies[&name(decky)].hostname.as_ref().unwrap());
    let fw_ip = forwarder.ips[&name(&lan_a)].to_string();
    let steps = json!([
        ["password: ", "admin\r"],
        [prompt(&gw), "cat ~/notes.txt\r"],
        [prompt(&gw), format!("curl http://{db_ip}/\r")],
        [prompt(&gw), format!("ssh root@{fw_ip}\r")],
        ["password: ", "admin\r"],
        [prompt(&fw), format!("ssh root@{db_ip}\r")],
        ["password: ", "admin\r"],
        [prompt(&db), "hostname\r"],
        [prompt(&db), "exit\r"],
        [prompt(&fw), "exit\r"],
        [prompt(&gw), "exit\r"]
    ]);
    let steps_file = dir.path().join("steps.json");
    std::fs::write(&steps_file, steps.to_string()).unwrap();
    let driver = concat!(env!("CARGO_MANIFEST_DIR"), "/../decoy/tests/pty_drive.py");
    let out = attacker
        .command("python3")
        .args([driver, steps_file.to_str().unwrap(), "ssh", "-F", &config, &format!("root@{HOST_SIDE}")])
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "every prompt came: {said}");
    assert!(said.contains("<html") || said.contains("<!DOCTYPE"), "curl printed db's page: {said}");
    assert!(
        said.contains(&format!("Connection to {db_ip} closed."))
            && said.contains(&format!("Connection to {fw_ip} closed."))
    );
    // The gateway's notes name its lure: a deeper decky, the login it accepts.
    let seed = decnet_domain::lures::seed_of(id);
    let density = decnet_domain::lures::Density::default();
    let gw_lures = decnet_domain::lures::lures_of(design, seed, density, gateway);
    assert!(!gw_lures.is_empty(), "the gateway has a lure");
    for lure in &gw_lures {
        let line = format!("({}) {} / {}", lure.target_ip, lure.account.user, lure.account.password);
        assert!(said.contains(&line), "notes.txt names {line}: {said}");
    }
    // Every lure of the maze works: its login opens its target's shell (through the gateway).
    let every = decnet_domain::lures::lures(design, seed, density);
    assert!(every.len() >= 3, "lures on the deckies: {every:?}");
    for lure in every.values().flatten() {
        let askpass = dir.path().join("lure-askpass");
        let password = &lure.account.password;
        let script = format!("#!/bin/sh\ncase \"$1\" in root@*) echo admin ;; *) echo '{password}' ;; esac\n");
        std::fs::write(&askpass, script).unwrap();
        std::fs::set_permissions(&askpass, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let target = format!("{}@{}", lure.account.user, lure.target_ip);
        let out = attacker
            .command("ssh")
            .args(["-F", &config, "-J", &format!("root@{HOST_SIDE}"), &target, "hostname"])
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{lure:?}: {}", text(&out));
        assert_eq!(text(&out).trim(), lure.target_hostname, "{lure:?}");
    }

    // At the keyboard again: the gateway's lure, read and used from its shell, lands in its
    // target's shell, and `exit` comes back; an ssh to the host's side of the DMZ goes
    // nowhere and the host's listener never sees it.
    let lure = &gw_lures[0];
    let outside = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    outside.set_nonblocking(true).unwrap();
    let outside_port = outside.local_addr().unwrap().port().to_string();
    let host_side = decnet_domain::alloc::gateway(design.lans[&name(&dmz)].subnet).to_string();
    let far = format!("{}@{}:~$ ", lure.account.user, lure.target_hostname);
    let steps = json!([
        ["password: ", "admin\r"],
        [prompt(&gw), "cat ~/notes.txt\r"],
        [prompt(&gw), format!("ssh {}@{}\r", lure.account.user, lure.target_ip)],
        ["password: ", format!("{}\r", lure.account.password)],
        [far, "hostname\r"],
        [far, "exit\r"],
        [prompt(&gw), format!("ssh -p {outside_port} root@{host_side}\r")],
        [prompt(&gw), "exit\r"]
    ]);
    std::fs::write(&steps_file, steps.to_string()).unwrap();
    let out = attacker
        .command("python3")
        .args([driver, steps_file.to_str().unwrap(), "ssh", "-F", &config, &format!("root@{HOST_SIDE}")])
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "every prompt came: {said}");
    assert!(said.contains(&format!("Connection to {} closed.", lure.target_ip)), "{said}");
    assert!(said.contains(&format!("connect to host {host_side} port {outside_port}: Connection timed out")), "{said}");
    assert!(outside.accept().is_err(), "the host saw a hop from the maze");

    // The engine links it all into one attacker: gateway → fw → db, with LANs and logins.
    assert!(lab.engine.collect().await.unwrap() >= 3, "the decoys' logs are followed");
    let deadline = Instant::now() + Duration::from_secs(30);
    let attacker = loop {
        let found = lab.engine.attackers_of(Some(id)).await.unwrap();
        if let Some((_, a)) = found.into_iter().find(|(_, a)| a.id == ATTACKER && a.deepest() >= 2) {
            break a;
        }
        assert!(Instant::now() < deadline, "the path through fw to db was never linked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let hop = |session: &str| attacker.hops.iter().find(|h| h.session == session).unwrap();
    let deep = attacker.hops.iter().find(|h| h.decky == db && h.depth == 2).unwrap();
    let middle = hop(deep.via.as_deref().unwrap());
    let first = hop(middle.via.as_deref().unwrap());
    assert_eq!((first.decky.as_str(), middle.decky.as_str()), (gw.as_str(), fw.as_str()));
    assert_eq!(
        (first.lan.as_deref(), middle.lan.as_deref(), deep.lan.as_deref()),
        (Some(dmz.as_str()), Some(lan_a.as_str()), Some(lan_b.as_str()))
    );
    assert!(middle.credentials.iter().any(|c| c.user == "root" && c.secret == "admin" && c.accepted));
    assert!(deep.commands.iter().any(|c| c == "hostname"));
    // (The lures it used took it further still.)
    assert!([dmz.as_str(), lan_a.as_str(), lan_b.as_str()].iter().all(|l| attacker.lans().contains(l)));
    // Each hop was also stored (and streamed) as it was seen.
    let filter = decnet_store::EventFilter {
        topology_id: Some(id),
        kind: Some("attacker.hop".into()),
        limit: 100,
        ..decnet_store::EventFilter::default()
    };
    let hops = lab.store.events(&filter).await.unwrap();
    assert!(hops.iter().any(|e| e.payload["from"] == fw.as_str() && e.payload["to"] == db.as_str()), "{hops:?}");
    lab.engine.teardown(id).await.unwrap();
}
