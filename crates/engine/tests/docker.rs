//! Against the real Docker Engine: deploy, inspect, live edits, drift, teardown.
//!
//! Needs a daemon and the static decoy binary (`DECNET_DECOY_BIN`, which
//! `scripts/test.sh` builds and sets). Each test works in its own subnet base, and a guard
//! removes everything labelled with its topology id even when the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use bollard::query_parameters::InspectContainerOptions;
use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{Name, TopologyId, TopologyStatus};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::{Runtime, spec};
use decnet_store::Store;
use serde_json::json;
use support::{Cleanup, Lab, config, deployed, lab, lab_on, probe_from};

#[tokio::test]
async fn a_deployed_topology_is_exactly_what_docker_reports() {
    let lab = lab().await;
    let topology = lab
        .engine
        .generate(Name::parse("inspect").unwrap(), config("10.211.0.0/16", true, &["mqtt", "redis"]))
        .await
        .unwrap();
    let id = topology.header.id;
    let _cleanup = Cleanup(id);
    let design = &topology.design;
    assert!(design.lans.len() >= 3 && design.deckies.len() >= 6);
    assert!(design.deckies.values().any(|d| d.is_bridge()) && design.gateways().next().is_some());

    assert_eq!(lab.engine.deploy(id).await.unwrap().status, TopologyStatus::Active);
    let client = lab.docker.client();
    for lan in design.lans.values() {
        let net = client.inspect_network(&spec::network_name(id, &lan.name), None).await.unwrap();
        assert_eq!(net.internal, Some(!lan.is_dmz), "{}", lan.name);
        let subnet = net.ipam.and_then(|i| i.config).and_then(|c| c.into_iter().next()).and_then(|c| c.subnet);
        assert_eq!(subnet, Some(lan.subnet.to_string()));
        let labels = net.labels.unwrap_or_default();
        assert_eq!(labels.get("decnet.topology.id"), Some(&id.to_string()));
        assert_eq!(labels.get("decnet.topology.lan"), Some(&lan.name.to_string()));
    }
    for decky in design.deckies.values() {
        let base =
            client.inspect_container(&spec::base_name(id, &decky.name), None::<InspectContainerOptions>).await.unwrap();
        let config = base.config.unwrap();
        let hostname = decky.hostname.as_ref().expect("a stored decky has a host name");
        assert_eq!(config.hostname.as_deref(), Some(hostname.as_str()));
        assert_ne!(hostname, &decky.name, "the label is not the host name");
        let labels = config.labels.unwrap();
        assert_eq!(labels.get("decnet.topology.role").map(String::as_str), Some("base"));
        assert_eq!(labels.get("decnet.topology.decky").map(String::as_str), Some(decky.name.as_str()));
        let host = base.host_config.unwrap();
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        // Every base keeps its own routes; nothing else is added back.
        assert_eq!(host.cap_add.unwrap_or_default(), vec!["NET_ADMIN".to_owned()]);
        let sysctls: BTreeMap<String, String> = host.sysctls.unwrap().into_iter().collect();
        let wanted = spec::base(id, design, decky, lab.docker.image());
        assert_eq!(sysctls, wanted.sysctls, "{}", decky.name);
        assert_eq!(sysctls.contains_key("net.ipv4.ip_forward"), decky.forwards_l3);
        assert_eq!(labels.get("decnet.topology.spec_hash").map(String::as_str), Some(wanted.spec_hash()));
        let ips: BTreeMap<String, String> = base
            .network_settings
            .unwrap()
            .networks
            .unwrap()
            .into_iter()
            .map(|(net, s)| (net, s.ip_address.unwrap_or_default()))
            .collect();
        let expected: BTreeMap<String, String> =
            decky.ips.iter().map(|(lan, ip)| (spec::network_name(id, lan), ip.to_string())).collect();
        assert_eq!(ips, expected, "{}", decky.name);
        for service in &decky.services {
            let svc = client
                .inspect_container(&spec::service_name(id, &decky.name, service), None::<InspectContainerOptions>)
                .await
                .unwrap();
            let svc_config = svc.config.unwrap();
            assert_eq!(svc_config.user.as_deref(), Some(spec::SERVICE_USER));
            let svc_labels = svc_config.labels.unwrap();
            assert_eq!(svc_labels.get("decnet.topology.service_name"), Some(service));
            assert_eq!(svc_labels.get("decnet.topology.role").map(String::as_str), Some("service"));
            let host = svc.host_config.unwrap();
            assert_eq!(host.network_mode, Some(format!("container:{}", base.id.clone().unwrap())));
            assert_eq!(host.readonly_rootfs, Some(true));
        }
    }
    // The gateway's published port answers on loopback, and the decoy records it.
    let stream = tokio::net::TcpStream::connect("127.0.0.1:1883").await.unwrap();
    drop(stream);

    assert_eq!(lab.engine.teardown(id).await.unwrap().status, TopologyStatus::TornDown);
    let left = lab.docker.observe(id).await.unwrap();
    assert!(left.containers.is_empty() && left.networks.is_empty(), "{left:?}");
}

/// Container id and start time of every container of the topology.
async fn fingerprints(lab: &Lab, id: TopologyId) -> BTreeMap<String, (String, String)> {
    let observed = lab.docker.observe(id).await.unwrap();
    let mut out = BTreeMap::new();
    for name in observed.containers.keys() {
        let c = lab.docker.client().inspect_container(name, None::<InspectContainerOptions>).await.unwrap();
        out.insert(name.clone(), (c.id.unwrap(), c.state.unwrap().started_at.unwrap()));
    }
    out
}

#[tokio::test]
async fn live_ops_touch_only_what_they_name_and_drift_heals() {
    let lab = lab().await;
    let (topology, _cleanup) = deployed(&lab, "live", "10.212.0.0/16", &["ssh"]).await;
    let id = topology.header.id;
    let lan = topology.design.lans.values().find(|l| !l.is_dmz).unwrap().name.to_string();
    let other = topology.design.deckies.values().find(|d| !d.ips.contains_key(lan.as_str())).unwrap().name.to_string();

    for (op, payload, touched) in [
        ("add_decky", json!({"name": "web", "lan": lan, "services": ["http"]}), vec!["-web", "-web_http"]),
        ("attach_decky", json!({"decky": other, "lan": lan}), vec![]),
        ("update_decky", json!({"decky": "web", "services": ["http", "ftp"]}), vec!["-web_ftp"]),
        ("detach_decky", json!({"decky": other, "lan": lan}), vec![]),
        ("remove_decky", json!({"decky": "web"}), vec!["-web", "-web_http", "-web_ftp"]),
    ] {
        let before = fingerprints(&lab, id).await;
        lab.engine.enqueue(id, op, &payload, None).await.unwrap();
        let report = lab.engine.run_until_idle().await.unwrap();
        assert_eq!(report.applied, 1, "{op}");
        let after = fingerprints(&lab, id).await;
        for (name, print) in &before {
            if touched.iter().any(|t| name.ends_with(t)) {
                continue;
            }
            assert_eq!(after.get(name), Some(print), "{op} disturbed {name}");
        }
        assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Active, "{op}");
    }
    // attach/detach connected and disconnected the running base, without a restart.
    let base =
        lab.docker.observe(id).await.unwrap().containers[&spec::base_name(id, &Name::parse(&other).unwrap())].clone();
    assert!(!base.networks.contains_key(&spec::network_name(id, &Name::parse(&lan).unwrap())));

    // Drift: a base killed, a service removed, by hand. Convergence repairs both.
    let victim = topology.design.deckies.values().next().unwrap();
    let base = spec::base_name(id, &victim.name);
    let service = spec::service_name(id, &victim.name, "ssh");
    assert!(Command::new("docker").args(["kill", &base]).output().unwrap().status.success());
    assert!(Command::new("docker").args(["rm", "-f", &service]).output().unwrap().status.success());
    let report = lab.engine.converge(id).await.unwrap();
    assert!(report.converged(), "{report:?}");
    let observed = lab.docker.observe(id).await.unwrap();
    assert!(observed.containers[&base].running && observed.containers[&service].running);
    assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Active);

    lab.engine.teardown(id).await.unwrap();
}

#[tokio::test]
async fn reaping_removes_only_resources_of_topologies_the_store_does_not_know() {
    let home = lab().await;
    let small = GeneratorConfig {
        depth: 1,
        deckies_per_lan_min: 1,
        deckies_per_lan_max: 1,
        ..config("10.213.0.0/16", false, &["ftp"])
    };
    let id = home.engine.generate(Name::parse("forgotten").unwrap(), small).await.unwrap().header.id;
    let _cleanup = Cleanup(id);
    home.engine.deploy(id).await.unwrap();
    // Reaping is scoped to this topology so that nothing this test did not create is
    // touched. Its own engine knows it: nothing to reap.
    let scope = std::collections::BTreeSet::from([id]);
    assert!(home.engine.reap_orphans(Some(&scope)).await.unwrap().reaped.is_empty());
    assert!(!home.docker.observe(id).await.unwrap().containers.is_empty());
    // Another engine, on a database without this topology, finds it orphaned.
    let stranger = lab().await;
    assert_eq!(stranger.engine.reap_orphans(Some(&scope)).await.unwrap().reaped, [id]);
    let left = home.docker.observe(id).await.unwrap();
    assert!(left.containers.is_empty() && left.networks.is_empty(), "{left:?}");
}

#[tokio::test]
async fn lan_ops_config_changes_and_routing_flips_touch_only_what_they_name() {
    let lab = lab().await;
    let (topology, _cleanup) = deployed(&lab, "more", "10.214.0.0/16", &["ssh"]).await;
    let id = topology.header.id;
    let design = &topology.design;
    let visitor = design.deckies.values().find(|d| !d.is_bridge()).unwrap().name.to_string();
    let router = design.deckies.values().find(|d| d.is_bridge() && d.forwards_l3).unwrap().name.to_string();
    let extra_net = spec::network_name(id, &Name::parse("extra").unwrap());

    for (op, payload, touched) in [
        ("add_lan", json!({"name": "extra"}), vec![]),
        ("update_lan", json!({"name": "extra", "x": 1.0, "y": 2.0}), vec![]),
        ("attach_decky", json!({"decky": visitor, "lan": "extra"}), vec![]),
        ("remove_lan", json!({"name": "extra"}), vec![]),
        (
            "update_decky",
            json!({"decky": visitor, "patch": {"service_config": {"ssh": {"hostname": "web01"}}}}),
            vec![format!("-{visitor}_ssh")],
        ),
        (
            "update_decky",
            json!({"decky": router, "patch": {"forwards_l3": false}, "force": true}),
            vec![format!("-{router}"), format!("-{router}_ssh")],
        ),
    ] {
        let before = fingerprints(&lab, id).await;
        lab.engine.enqueue(id, op, &payload, None).await.unwrap();
        assert_eq!(lab.engine.run_until_idle().await.unwrap().applied, 1, "{op}");
        let after = fingerprints(&lab, id).await;
        for (name, print) in &before {
            let named = touched.iter().any(|t| name.ends_with(t.as_str()));
            if named {
                assert_ne!(after.get(name), Some(print), "{op} should have recreated {name}");
            } else {
                assert_eq!(after.get(name), Some(print), "{op} disturbed {name}");
            }
        }
        let networks = lab.docker.observe(id).await.unwrap().networks;
        let on_visitor = lab.docker.observe(id).await.unwrap().containers
            [&spec::base_name(id, &Name::parse(&visitor).unwrap())]
            .networks
            .contains_key(&extra_net);
        match op {
            "add_lan" | "update_lan" => assert!(networks.contains_key(&extra_net), "{op}"),
            "attach_decky" => assert!(on_visitor),
            "remove_lan" => assert!(!networks.contains_key(&extra_net) && !on_visitor),
            _ => {}
        }
    }
    // The flipped router no longer routes: no ip_forward (NET_ADMIN stays: its routes).
    let base = lab
        .docker
        .client()
        .inspect_container(&spec::base_name(id, &Name::parse(&router).unwrap()), None::<InspectContainerOptions>)
        .await
        .unwrap();
    let host = base.host_config.unwrap();
    assert!(!host.sysctls.unwrap_or_default().contains_key("net.ipv4.ip_forward"));
    assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Active);
    lab.engine.teardown(id).await.unwrap();
}

#[tokio::test]
async fn a_network_removed_by_hand_is_recreated_and_its_members_reattached() {
    let lab = lab().await;
    let (topology, _cleanup) = deployed(&lab, "netdrift", "10.215.0.0/16", &["ftp"]).await;
    let id = topology.header.id;
    let lan = topology.design.lans.values().find(|l| !l.is_dmz).unwrap();
    let net = spec::network_name(id, &lan.name);
    let members: Vec<String> = topology
        .design
        .deckies
        .values()
        .filter(|d| d.ips.contains_key(&lan.name))
        .map(|d| spec::base_name(id, &d.name))
        .collect();
    for member in &members {
        assert!(
            Command::new("docker")
                .args(["network", "disconnect", "-f", &net, member])
                .output()
                .unwrap()
                .status
                .success()
        );
    }
    assert!(Command::new("docker").args(["network", "rm", &net]).output().unwrap().status.success());
    let report = lab.engine.converge(id).await.unwrap();
    assert!(report.converged(), "{report:?}");
    let observed = lab.docker.observe(id).await.unwrap();
    assert!(observed.networks.contains_key(&net));
    for member in &members {
        assert!(observed.containers[member].networks.contains_key(&net), "{member} not reattached");
    }
    lab.engine.teardown(id).await.unwrap();
}

#[tokio::test]
async fn a_taken_host_port_degrades_the_gateway_until_it_is_free() {
    // Hold the gateway's port on the host so Docker cannot publish it.
    let holder = std::net::TcpListener::bind("0.0.0.0:27017").expect("port 27017 must be free for this test");
    let lab = lab().await;
    let topology = lab
        .engine
        .generate(Name::parse("portclash").unwrap(), config("10.216.0.0/16", true, &["mongodb"]))
        .await
        .unwrap();
    let id = topology.header.id;
    let _cleanup = Cleanup(id);
    let header = lab.engine.deploy(id).await.unwrap();
    assert_eq!(header.status, TopologyStatus::Degraded);
    let gateway = topology.design.gateways().next().unwrap().name.clone();
    let status = lab.store.topology(id).await.unwrap().decky_status[&gateway].clone();
    assert_eq!(status.state, decnet_domain::DeckyState::Failed);
    let error = status.last_error.unwrap_or_default();
    assert!(error.contains("27017") || error.contains("address already in use"), "{error}");
    drop(holder);
    lab.engine.converge(id).await.unwrap();
    let after = lab.store.topology(id).await.unwrap();
    assert_eq!(after.header.status, TopologyStatus::Active);
    assert_eq!(after.decky_status[&gateway].state, decnet_domain::DeckyState::Running);
    lab.engine.teardown(id).await.unwrap();
}

#[tokio::test]
async fn a_deploy_cut_short_is_finished_by_the_next_engine_without_duplicates() {
    let lab = lab().await;
    let topology = lab
        .engine
        .generate(Name::parse("cutshort").unwrap(), config("10.217.0.0/16", false, &["ssh", "http"]))
        .await
        .unwrap();
    let id = topology.header.id;
    let _cleanup = Cleanup(id);
    // The engine "dies" a fraction of the way through creating 21 containers.
    let cut = tokio::time::timeout(std::time::Duration::from_millis(300), lab.engine.deploy(id)).await;
    assert!(cut.is_err(), "the deploy finished before it could be interrupted");
    assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Deploying);
    // A new engine on the same database finishes it (with no lease to wait out: the
    // first engine is gone for good).
    let next = lab_on(lab.store.clone(), std::time::Duration::ZERO).await;
    next.engine.heal().await.unwrap();
    assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Active);
    let observed = lab.docker.observe(id).await.unwrap();
    let wanted: usize = topology.design.deckies.values().map(|d| 1 + d.services.len()).sum();
    assert_eq!(observed.containers.len(), wanted, "no duplicates, no leftovers");
    assert!(observed.containers.values().all(|c| c.running));
    assert_eq!(observed.networks.len(), topology.design.lans.len());
    lab.engine.teardown(id).await.unwrap();
}

#[tokio::test]
async fn deckies_reach_their_lan_peers_and_nothing_outside_their_topology() {
    let lab = lab().await;
    let mine =
        lab.engine.generate(Name::parse("reach").unwrap(), config("10.218.0.0/16", false, &["ssh"])).await.unwrap();
    let theirs =
        lab.engine.generate(Name::parse("elsewhere").unwrap(), config("10.219.0.0/16", false, &["ssh"])).await.unwrap();
    let _cleanup = (Cleanup(mine.header.id), Cleanup(theirs.header.id));
    lab.engine.deploy(mine.header.id).await.unwrap();
    lab.engine.deploy(theirs.header.id).await.unwrap();
    let design = &mine.design;
    let lan = design.lans.values().find(|l| !l.is_dmz).unwrap();
    let members: Vec<_> = design.deckies.values().filter(|d| d.ips.contains_key(&lan.name)).collect();
    let (from, peer) = (members[0], members[1]);
    let base = spec::base_name(mine.header.id, &from.name);
    let image = lab.docker.image();
    assert!(probe_from(image, &base, &format!("{}:22", peer.ips[&lan.name])), "a LAN peer's service port answers");
    let stranger =
        theirs.design.deckies.values().find(|d| !d.ips.keys().any(|l| theirs.design.lans[l].is_dmz)).unwrap();
    let stranger_ip = stranger.ips.values().next().unwrap();
    assert!(!probe_from(image, &base, &format!("{stranger_ip}:22")), "another topology is unreachable");
    lab.engine.teardown(mine.header.id).await.unwrap();
    lab.engine.teardown(theirs.header.id).await.unwrap();
}

#[tokio::test]
async fn the_running_engine_heals_a_killed_base_within_two_intervals() {
    let lab = lab().await;
    let (topology, _cleanup) = deployed(&lab, "healer", "10.220.0.0/16", &["ssh"]).await;
    let id = topology.header.id;
    let tick = std::time::Duration::from_secs(1);
    let engine = Engine::new(
        lab.store.clone(),
        lab.docker.clone(),
        Bus::default(),
        EngineConfig { tick, ..EngineConfig::default() },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut ready = engine.bus().subscribe();
    let worker = tokio::spawn(async move { engine.run(async { stopped.await.unwrap_or(()) }).await });
    while ready.recv().await.unwrap().topic != "engine.ready" {}
    let victim = spec::base_name(id, &topology.design.deckies.values().next().unwrap().name);
    let before = lab.docker.observe(id).await.unwrap().containers[&victim].clone();
    assert!(before.running);
    assert!(Command::new("docker").args(["kill", &victim]).output().unwrap().status.success());
    let killed_at = std::time::Instant::now();
    // Watch Docker's own view until the base runs again, at most two intervals.
    loop {
        let now = lab.docker.observe(id).await.unwrap();
        if now.containers.get(&victim).is_some_and(|c| c.running) {
            break;
        }
        assert!(killed_at.elapsed() < 2 * tick, "not healed within two intervals");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(lab.store.header(id).await.unwrap().status, TopologyStatus::Active);
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    lab.engine.teardown(id).await.unwrap();
}

#[tokio::test]
async fn a_container_death_reported_by_docker_is_healed_without_waiting_for_the_interval() {
    let lab = lab().await;
    let (topology, _cleanup) = deployed(&lab, "events", "10.221.0.0/16", &["ssh"]).await;
    let id = topology.header.id;
    // An interval far longer than the test: only Docker's events can trigger healing.
    let engine = Engine::new(
        lab.store.clone(),
        lab.docker.clone(),
        Bus::default(),
        EngineConfig { tick: std::time::Duration::from_secs(3600), ..EngineConfig::default() },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut events = engine.bus().subscribe();
    let worker = tokio::spawn(async move { engine.run(async { stopped.await.unwrap_or(()) }).await });
    // Remove a service by hand once the loop has healed at start and watches Docker.
    while events.recv().await.unwrap().topic != "engine.ready" {}
    let victim = spec::service_name(id, &topology.design.deckies.values().next().unwrap().name, "ssh");
    assert!(Command::new("docker").args(["rm", "-f", &victim]).output().unwrap().status.success());
    let removed_at = std::time::Instant::now();
    loop {
        if lab.docker.observe(id).await.unwrap().containers.get(&victim).is_some_and(|c| c.running) {
            break;
        }
        assert!(removed_at.elapsed() < std::time::Duration::from_secs(10), "not healed from the event");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    lab.engine.teardown(id).await.unwrap();
}

#[tokio::test]
async fn a_labelled_container_that_is_not_desired_is_removed() {
    let lab = lab().await;
    let (topology, _cleanup) = deployed(&lab, "stray", "10.222.0.0/16", &["ftp"]).await;
    let id = topology.header.id;
    let stray = format!("decnet-{}-ghost", id.simple());
    let started = Command::new("docker")
        .args(["run", "-d", "--name", &stray, "--label", &format!("decnet.topology.id={id}"), "--read-only"])
        .args(["--cap-drop", "ALL", "--network", "none", lab.docker.image(), "base"])
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    assert!(lab.docker.observe(id).await.unwrap().containers.contains_key(&stray));
    let report = lab.engine.converge(id).await.unwrap();
    assert!(report.converged() && report.changes == 1, "{report:?}");
    assert!(!lab.docker.observe(id).await.unwrap().containers.contains_key(&stray));
    lab.engine.teardown(id).await.unwrap();
}

#[tokio::test]
async fn decoy_events_arrive_through_the_collector() {
    use std::io::{Read, Write};
    let lab = lab().await;
    let (topology, _cleanup) = deployed(&lab, "watched", "10.223.0.0/16", &["http", "redis"]).await;
    let id = topology.header.id;
    // A decky on the DMZ: its network is not internal, so this host reaches it.
    let dmz = topology.design.lans.values().find(|l| l.is_dmz).unwrap().name.clone();
    let decky = topology.design.deckies.values().find(|d| d.home_lan == dmz).unwrap();
    let ip = decky.ips[&dmz];
    let mut bus = lab.engine.bus().subscribe();
    assert!(lab.engine.collect().await.unwrap() >= 2, "the decky's service containers are followed");

    let mut http = std::net::TcpStream::connect((ip, 80)).unwrap();
    http.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    http.write_all(b"GET /admin HTTP/1.0\r\nUser-Agent: docker-test\r\n\r\n").unwrap();
    let mut answer = String::new();
    http.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 404"), "{answer}");
    let mut redis = std::net::TcpStream::connect((ip, 6379)).unwrap();
    redis.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    redis.write_all(b"PING\r\n").unwrap();
    let mut pong = [0u8; 7];
    redis.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");

    // Both arrive on the bus as the collector stores them.
    let mut seen = BTreeMap::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), bus.recv())
            .await
            .expect("events in time")
            .unwrap();
        if event.topic == "attacker.observed" && event.payload["decky"] == decky.name.as_str() {
            let kind = event.payload["event"].as_str().unwrap().to_owned();
            if kind == "request" || kind == "command" {
                seen.insert(event.payload["service"].as_str().unwrap().to_owned(), kind);
            }
        }
    }
    assert_eq!(seen.get("http").map(String::as_str), Some("request"));
    assert_eq!(seen.get("redis").map(String::as_str), Some("command"));
    let filter = decnet_store::EventFilter {
        topology_id: Some(id),
        decky: Some(decky.name.to_string()),
        service: Some("http".into()),
        kind: Some("request".into()),
        limit: 10,
        ..Default::default()
    };
    let stored = decnet_store::Events::events(&*lab.store, &filter).await.unwrap();
    let request = &stored[0];
    assert_eq!(request.payload["details"]["path"], "/admin");
    assert_eq!(request.payload["details"]["user_agent"], "docker-test");
    assert_eq!(request.payload["dst_ip"], ip.to_string(), "the decoy saw the decky's own address");
    assert!(request.source_ip.is_some());

    // The metrics count them, and a healing pass samples the decoys' memory from Docker.
    lab.engine.heal().await.unwrap();
    let registry = prometheus::Registry::new();
    lab.engine.metrics().register(&registry).unwrap();
    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap();
    let value = |sample: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(sample));
        line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
    };
    assert!(value(r#"decnet_events_total{service="http",type="request"}"#) >= 1.0, "{text}");
    let http_memory = value(r#"decnet_decoy_memory_bytes{service="http"}"#);
    assert!(http_memory > 100_000.0 && http_memory < 64.0 * 1024.0 * 1024.0, "an http decoy's memory: {http_memory}");
}

/// What `nmap -O --osscan-guess` makes of `ip` (one open port, one closed): its first
/// guess and that guess's confidence in percent (100 for an exact match).
fn nmap_os_guess(ip: &str, open: u16) -> (String, u32) {
    let out = Command::new("timeout")
        .args(["120", "nmap", "-O", "--osscan-guess", "-n", "-Pn", "-p"])
        .arg(format!("{open},1"))
        .arg(ip)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "nmap failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    if let Some(exact) = text.lines().find_map(|l| l.strip_prefix("OS details: ")) {
        return (exact.to_owned(), 100);
    }
    let guesses = text
        .lines()
        .find_map(|l| l.strip_prefix("Aggressive OS guesses: "))
        .unwrap_or_else(|| panic!("nmap made no OS guess for {ip}:\n{text}"));
    let first = guesses.split("%), ").next().unwrap();
    let (name, percent) = first.rsplit_once(" (").unwrap();
    (name.to_owned(), percent.trim_end_matches("%)").parse().unwrap())
}

/// Waits (bounded) until `ip:port` accepts a connection.
fn wait_open(ip: &str, port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let address: std::net::SocketAddr = format!("{ip}:{port}").parse().unwrap();
    while std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(1)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{address} never answered");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[tokio::test]
async fn nmap_reads_a_windows_decky_as_windows_and_its_services_still_answer() {
    let lab = lab().await;
    let doc: decnet_domain::document::TopologyDocument = serde_json::from_value(json!({
        "name": "osfp",
        "lans": [{"name": "dmz", "subnet": "10.233.0.0/24", "is_dmz": true}],
        "deckies": [
            {"name": "files", "home_lan": "dmz", "networks": [{"lan": "dmz", "ip": "10.233.0.10"}],
             "archetype": "windows-server", "services": ["smb", "rdp"]},
            {"name": "web", "home_lan": "dmz", "networks": [{"lan": "dmz", "ip": "10.233.0.11"}],
             "archetype": "linux-server", "services": ["ssh"]}
        ]
    }))
    .unwrap();
    let id = lab.engine.create(doc, "test").await.unwrap().header.id;
    let _cleanup = Cleanup(id);
    assert_eq!(lab.engine.deploy(id).await.unwrap().status, TopologyStatus::Active);
    wait_open("10.233.0.10", 445);
    wait_open("10.233.0.11", 22);

    let (guess, confidence) = nmap_os_guess("10.233.0.10", 445);
    eprintln!("nmap -O reads the Windows decky as {guess} ({confidence}%)");
    assert!(
        guess.starts_with("Microsoft Windows") && confidence >= 95,
        "the Windows decky reads as {guess} ({confidence}%)"
    );
    let (guess, _) = nmap_os_guess("10.233.0.11", 22);
    assert!(!guess.contains("Windows"), "the Linux decky beside it reads as {guess}");

    // Sessions still work through the reshaped stack: an anonymous share listing.
    let out = Command::new("timeout").args(["30", "smbclient", "-N", "-L", "//10.233.0.10"]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && listing.contains("IPC$"), "smbclient -L: {listing}");
    lab.engine.teardown(id).await.unwrap();
}
