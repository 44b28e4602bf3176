//! Deploy, teardown and delete against the memory runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Harness, name};
use decnet_domain::document::TopologyDocument;
use decnet_domain::{DeckyState, TopologyStatus};
use decnet_engine::EngineError;
use decnet_runtime::spec;
use decnet_store::Queue as _;
use decnet_store::{Store, StoreError};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn deploy_materialises_every_lan_and_decky() {
    let h = Harness::new().await;
    let id = h.generate("maze", 7).await;
    let header = h.engine.deploy(id).await.unwrap();
    assert_eq!(header.status, TopologyStatus::Active);
    let topology = h.store.topology(id).await.unwrap();
    let design = &topology.design;
    assert_eq!(h.runtime.network_names().len(), design.lans.len());
    for lan in design.lans.values() {
        let net = h.runtime.network(&spec::network_name(id, &lan.name)).unwrap();
        assert_eq!((net.subnet, net.internal), (lan.subnet, !lan.is_dmz));
    }
    let services: usize = design.deckies.values().map(|d| d.services.len()).sum();
    assert_eq!(h.runtime.container_names().len(), design.deckies.len() + services);
    for decky in design.deckies.values() {
        let (_, networks) = h.runtime.container(&spec::base_name(id, &decky.name)).unwrap();
        let expected: Vec<_> = decky.ips.iter().map(|(l, ip)| (spec::network_name(id, l), *ip)).collect();
        assert_eq!(networks.into_iter().collect::<Vec<_>>(), expected);
        assert_eq!(topology.decky_status[&decky.name].state, DeckyState::Running);
    }
    let history: Vec<_> = h.store.status_events(id, 10).await.unwrap().iter().map(|e| e.to).collect();
    assert_eq!(history, [TopologyStatus::Active, TopologyStatus::Deploying]);
}

#[tokio::test]
async fn an_invalid_topology_is_refused_with_every_issue_and_stays_pending() {
    let h = Harness::new().await;
    let doc: TopologyDocument = serde_json::from_value(json!({
        "name": "broken",
        "lans": [{"name": "a", "subnet": "10.5.0.0/24"}, {"name": "b", "subnet": "10.5.1.0/24"}],
        "deckies": [{"name": "d", "home_lan": "a", "networks": [{"lan": "a"}], "services": ["gopher"]}]
    }))
    .unwrap();
    let id = h.engine.create(doc, "test").await.unwrap().header.id;
    let err = h.engine.deploy(id).await.unwrap_err();
    let EngineError::Refused(refusal) = err else { panic!("{err}") };
    assert_eq!(refusal.codes(), ["DMZ_MISSING", "UNKNOWN_SERVICE"]);
    assert_eq!(h.store.header(id).await.unwrap().status, TopologyStatus::Pending);
    assert!(h.runtime.calls().is_empty(), "no runtime call before validation passes");
}

#[tokio::test]
async fn deploy_only_from_pending() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 1).await;
    let err = h.engine.deploy(id).await.unwrap_err();
    assert!(matches!(err, EngineError::Store(StoreError::WrongStatus { .. })), "{err}");
}

#[tokio::test]
async fn defect_13_a_failed_network_fails_the_deploy_and_removes_what_it_created() {
    let h = Harness::new().await;
    let id = h.generate("maze", 7).await;
    h.runtime.fail_on("-lan-02");
    let header = h.engine.deploy(id).await.unwrap();
    assert_eq!(header.status, TopologyStatus::Failed);
    let reason = &h.store.status_events(id, 1).await.unwrap()[0].reason;
    assert!(reason.contains("injected failure"), "{reason}");
    assert!(h.runtime.container_names().is_empty() && h.runtime.network_names().is_empty());
}

#[tokio::test]
async fn defect_03_a_failed_decky_degrades_and_healing_returns_to_active() {
    let h = Harness::new().await;
    let id = h.generate("maze", 7).await;
    h.runtime.fail_on("-decky-003");
    assert_eq!(h.engine.deploy(id).await.unwrap().status, TopologyStatus::Degraded);
    let status = &h.store.topology(id).await.unwrap().decky_status[&name("decky-003")];
    assert_eq!(status.state, DeckyState::Failed);
    assert!(status.last_error.as_deref().unwrap_or("").contains("injected failure"));
    // Still broken: stays degraded.
    h.engine.run_once().await.unwrap();
    assert_eq!(h.store.header(id).await.unwrap().status, TopologyStatus::Degraded);
    h.runtime.heal();
    h.engine.run_once().await.unwrap();
    assert_eq!(h.store.header(id).await.unwrap().status, TopologyStatus::Active, "defect 3: degraded is not sticky");
    assert_eq!(h.store.topology(id).await.unwrap().decky_status[&name("decky-003")].state, DeckyState::Running);
}

#[tokio::test]
async fn defect_14_teardown_removes_everything_and_is_retryable_never_stuck() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    h.engine.enqueue(id, "add_lan", &json!({"name": "late"}), None).await.unwrap();
    h.runtime.fail_on("-decky-002");
    let err = h.engine.teardown(id).await.unwrap_err();
    assert!(matches!(err, EngineError::Runtime(_)), "{err}");
    assert_eq!(h.store.header(id).await.unwrap().status, TopologyStatus::TearingDown, "interrupted, not stuck");
    h.runtime.heal();
    assert_eq!(h.engine.teardown(id).await.unwrap().status, TopologyStatus::TornDown);
    assert!(h.runtime.container_names().is_empty() && h.runtime.network_names().is_empty());
    let topology = h.store.topology(id).await.unwrap();
    assert!(topology.decky_status.values().all(|s| s.state == DeckyState::TornDown), "defect 21: no stale running");
    let queued = h.store.mutations(id, None).await.unwrap();
    assert_eq!(queued[0].codes, ["TOPOLOGY_NOT_LIVE"], "queued work does not outlive the topology");
    h.engine.delete(id).await.unwrap();
    assert!(matches!(h.store.topology(id).await, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn delete_refuses_a_deployed_topology() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    let err = h.engine.delete(id).await.unwrap_err();
    assert!(matches!(err, EngineError::Store(StoreError::WrongStatus { .. })), "{err}");
}

#[tokio::test]
async fn defect_12_subnets_are_reserved_transactionally_across_topologies() {
    let h = Harness::new().await;
    let (a, b) = tokio::join!(
        h.engine.generate(name("a"), Default::default()),
        h.engine.generate(name("b"), Default::default())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut subnets: Vec<_> = a.design.lans.values().chain(b.design.lans.values()).map(|l| l.subnet).collect();
    let total = subnets.len();
    subnets.sort();
    subnets.dedup();
    assert_eq!(subnets.len(), total, "concurrent creations never share a subnet");
    // An explicit subnet that overlaps another topology is refused at creation.
    let taken = a.design.lans.values().next().unwrap().subnet.to_string();
    let doc: TopologyDocument = serde_json::from_value(json!({
        "name": "c", "lans": [{"name": "dmz", "subnet": taken, "is_dmz": true}], "deckies": []
    }))
    .unwrap();
    let err = h.engine.create(doc, "test").await.unwrap_err();
    let EngineError::Store(StoreError::Refused(refusal)) = err else { panic!("{err}") };
    assert_eq!(refusal.codes(), ["SUBNET_TAKEN"]);
}

#[tokio::test]
async fn deploy_refuses_a_gateway_port_another_deployed_topology_publishes() {
    let h = Harness::new().await;
    let config = || decnet_domain::generator::GeneratorConfig {
        services: Some(vec!["ssh".into()]),
        depth: 1,
        ..Default::default()
    };
    let first = h.engine.generate(name("first"), config()).await.unwrap().header.id;
    h.engine.deploy(first).await.unwrap();
    let second = h.engine.generate(name("second"), config()).await.unwrap().header.id;
    let err = h.engine.deploy(second).await.unwrap_err();
    let EngineError::Refused(refusal) = err else { panic!("{err}") };
    assert_eq!(refusal.codes(), ["PORT_CLASH"]);
}

#[tokio::test]
async fn agent_mode_needs_a_target_host_and_unihost_refuses_one() {
    let h = Harness::new().await;
    for (mode, host) in [("agent", None), ("unihost", Some("host-1"))] {
        let doc: TopologyDocument = serde_json::from_value(json!({
            "name": "remote", "mode": mode, "target_host": host,
            "lans": [{"name": "dmz", "is_dmz": true}], "deckies": []
        }))
        .unwrap();
        let err = h.engine.create(doc, "test").await.unwrap_err();
        let EngineError::Refused(refusal) = err else { panic!("{err}") };
        assert_eq!(refusal.issues[0].target.field.as_deref(), Some("target_host"), "{mode}");
    }
}

#[tokio::test]
async fn orphans_of_topologies_the_store_forgot_are_reaped_and_nothing_else() {
    let h = Harness::new().await;
    let kept = h.deployed("kept", 7).await;
    // The same runtime seen from a database that never heard of `kept`'s sibling.
    let other_dir = tempfile::tempdir().unwrap();
    let other_store =
        std::sync::Arc::new(decnet_store::SqliteStore::open(&other_dir.path().join("o.db")).await.unwrap());
    let other = decnet_engine::Engine::new(
        other_store,
        h.runtime.clone(),
        decnet_engine::Bus::default(),
        decnet_engine::EngineConfig::default(),
    );
    let orphan = other
        .generate(
            name("orphan"),
            decnet_domain::generator::GeneratorConfig {
                seed: 1,
                depth: 1,
                subnet_base: "10.99.0.0/16".parse().unwrap(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .header
        .id;
    other.deploy(orphan).await.unwrap();
    assert_eq!(h.engine.reap_orphans(None).await.unwrap().reaped, [orphan]);
    let left: Vec<String> = h.runtime.container_names();
    assert!(!left.is_empty() && left.iter().all(|c| c.contains(&kept.simple())), "{left:?}");
    assert!(h.engine.reap_orphans(None).await.unwrap().reaped.is_empty(), "idempotent");
}

#[tokio::test]
async fn a_decky_that_keeps_failing_is_retried_with_exponential_backoff() {
    let h = Harness::new().await;
    let patient = decnet_engine::Engine::new(
        h.store.clone(),
        h.runtime.clone(),
        decnet_engine::Bus::default(),
        decnet_engine::EngineConfig { backoff_base: std::time::Duration::from_secs(3600), ..Default::default() },
    );
    let id = h.generate("maze", 7).await;
    h.runtime.fail_on("-decky-003");
    assert_eq!(patient.deploy(id).await.unwrap().status, TopologyStatus::Degraded);
    // The first retry is immediate; it fails again and the decky starts backing off.
    let retried = patient.converge(id).await.unwrap();
    assert!(!retried.decky_errors[&name("decky-003")].contains("backoff"));
    let waiting = patient.converge(id).await.unwrap();
    assert!(waiting.decky_errors[&name("decky-003")].contains("retrying after a backoff"), "{waiting:?}");
    // Even once the runtime is fine again, the decky waits out its backoff...
    h.runtime.heal();
    patient.converge(id).await.unwrap();
    assert_eq!(h.store.header(id).await.unwrap().status, TopologyStatus::Degraded);
    // ...while an engine without backoff repairs it at once.
    h.engine.converge(id).await.unwrap();
    assert_eq!(h.store.header(id).await.unwrap().status, TopologyStatus::Active);
}

/// Whether an engine other than the harness's could take `id`'s reconcile lease now.
async fn free_for_another_engine(h: &Harness, id: decnet_domain::TopologyId) -> bool {
    let store = decnet_store::SqliteStore::open(&h.dir.path().join("engine.db")).await.unwrap();
    let now = chrono::Utc::now();
    store
        .lease_topology(id, decnet_store::LeasePurpose::Reconcile, "engine-b", now, Duration::from_secs(30))
        .await
        .unwrap()
}

#[test]
fn deploy_and_teardown_give_the_topology_up_before_they_return() {
    // Each call runs on a runtime that is dropped as soon as the call returns, as a CLI
    // process exits: whatever the call left to a background task never runs.
    let once = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (h, id) = once().block_on(async {
        let h = Harness::new().await;
        let id = h.generate("maze", 7).await;
        (h, id)
    });
    once().block_on(h.engine.deploy(id)).unwrap();
    assert!(once().block_on(free_for_another_engine(&h, id)), "the deploy still holds the topology");
    once().block_on(h.store.release_topology(id, decnet_store::LeasePurpose::Reconcile, "engine-b")).unwrap();
    once().block_on(h.engine.teardown(id)).unwrap();
    assert!(once().block_on(free_for_another_engine(&h, id)), "the teardown still holds the topology");
}

/// A generated maze whose DMZ is on host interface `eth9`, network 192.168.50.0/24,
/// range .64/29 (deckies .64-.70, the host's shim .71).
async fn host_linked(h: &Harness) -> decnet_domain::TopologyId {
    use decnet_domain::attachment::{Attachment, HostLink};
    let config = decnet_domain::generator::GeneratorConfig {
        seed: 3,
        depth: 1,
        branching: 1,
        dmz_attachment: Attachment::Macvlan(HostLink {
            interface: "eth9".into(),
            gateway: "192.168.50.1".parse().unwrap(),
            ip_range: "192.168.50.64/29".parse().unwrap(),
        }),
        dmz_subnet: Some("192.168.50.0/24".parse().unwrap()),
        ..decnet_domain::generator::GeneratorConfig::default()
    };
    h.engine.generate(name("edge"), config).await.unwrap().header.id
}

#[tokio::test]
async fn a_host_linked_dmz_address_in_use_is_refused_before_anything_is_created() {
    let h = Harness::new().await;
    let id = host_linked(&h).await;
    // The host's own shim address counts too.
    h.runtime.occupy("192.168.50.71".parse().unwrap());
    match h.engine.deploy(id).await {
        Err(EngineError::Refused(refusal)) => {
            assert_eq!(refusal.codes(), ["ADDRESS_IN_USE"], "{refusal}");
            assert!(refusal.to_string().contains("192.168.50.71"), "{refusal}");
        }
        other => panic!("refused expected: {other:?}"),
    }
    assert!(h.runtime.calls().is_empty(), "nothing was created: {:?}", h.runtime.calls());
    assert_eq!(h.store.header(id).await.unwrap().status, TopologyStatus::Pending);
}

#[tokio::test]
async fn a_live_add_onto_a_taken_address_fails_that_decky_alone_naming_the_address() {
    let h = Harness::new().await;
    let id = host_linked(&h).await;
    assert_eq!(h.engine.deploy(id).await.unwrap().status, TopologyStatus::Active);
    let dmz = h.store.topology(id).await.unwrap().design.dmz().unwrap().clone();
    let network = h.runtime.network(&spec::network_name(id, &dmz.name)).unwrap();
    let link = network.link.expect("a host-linked network");
    assert_eq!((link.driver, link.parent.as_str()), ("macvlan", "eth9"));
    assert_eq!(link.host_address.to_string(), "192.168.50.71");
    assert_eq!(network.gateway.to_string(), "192.168.50.1", "the operator's router");
    // The next free address of the range is taken by someone on the network.
    let taken = h.engine.next_ip(id, &dmz.name).await.unwrap().1;
    h.runtime.occupy(taken);
    h.engine.enqueue(id, "add_decky", &json!({"name": "late", "lan": dmz.name.as_str()}), None).await.unwrap();
    h.engine.run_until_idle().await.unwrap();
    let topology = h.store.topology(id).await.unwrap();
    let late = &topology.decky_status[&name("late")];
    assert_eq!(late.state, DeckyState::Failed);
    assert!(late.last_error.as_deref().unwrap_or_default().contains(&taken.to_string()), "{late:?}");
    assert!(h.runtime.network(&spec::network_name(id, &dmz.name)).is_some());
    let created: Vec<_> = h.runtime.calls().into_iter().filter(|c| c.subject().contains("-late")).collect();
    assert!(created.is_empty(), "nothing of the decky was created: {created:?}");
}
