//! The mutation reconciler: every op materialised live and touching only what it names,
//! events, failures, crash safety and restart recovery.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use decnet_store::Queue as _;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{Harness, name};
use decnet_domain::{DeckyState, MutationState, TopologyId, TopologyStatus};
use decnet_runtime::{Call, spec};
use decnet_store::Store;
use serde_json::{Value, json};

/// Enqueues one op, drains, and returns the runtime calls it caused.
async fn apply(h: &Harness, id: TopologyId, op: &str, payload: Value) -> Vec<Call> {
    h.runtime.clear_calls();
    h.engine.enqueue(id, op, &payload, None).await.unwrap();
    let report = h.engine.run_until_idle().await.unwrap();
    assert_eq!(
        report.applied,
        1,
        "{op} {payload} was not applied: {:?}",
        h.store.mutations(id, None).await.unwrap()[0]
    );
    h.runtime.calls()
}

/// Every call but route and firewall updates (which change running deckies in place, on
/// every decky whose routes an op changes) is about one of `subjects`.
fn only_touches(calls: &[Call], subjects: &[&str]) {
    for call in calls.iter().filter(|c| !matches!(c, Call::SetRoutes(_) | Call::EnsureFirewall(_))) {
        assert!(subjects.iter().any(|s| call.subject().ends_with(s)), "unexpected {call:?}; allowed {subjects:?}");
    }
    assert!(!calls.is_empty());
}

#[tokio::test]
async fn each_op_materialises_live_and_touches_only_what_it_names() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    let t = h.store.topology(id).await.unwrap();
    let base = |d: &str| spec::base_name(id, &name(d));
    let net = |l: &str| spec::network_name(id, &name(l));

    let calls = apply(&h, id, "add_lan", json!({"name": "lan-new"})).await;
    assert_eq!(calls, [Call::EnsureNetwork(net("lan-new")), Call::EnsureFirewall(id)], "the firewall names every LAN");

    let calls = apply(&h, id, "add_decky", json!({"name": "web", "lan": "lan-new", "services": ["http", "ssh"]})).await;
    only_touches(&calls, &["-web", "-web_http", "-web_ssh"]);
    assert_eq!(calls.len(), 3);

    let calls = apply(&h, id, "attach_decky", json!({"decky": "decky-001", "lan": "lan-new"})).await;
    let ip = h.store.topology(id).await.unwrap().design.deckies["decky-001"].ips[&name("lan-new")];
    // Connected without a restart; decky-001 forwards, so the others get a route to
    // lan-new through it, in place.
    assert_eq!(calls[0], Call::Connect(net("lan-new"), base("decky-001"), ip), "connect, no restart");
    assert!(calls[1..].iter().all(|c| matches!(c, Call::SetRoutes(_))), "{calls:?}");

    let calls = apply(&h, id, "detach_decky", json!({"decky": "decky-001", "lan": "lan-new"})).await;
    assert_eq!(calls[0], Call::Disconnect(net("lan-new"), base("decky-001")));
    assert!(calls[1..].iter().all(|c| matches!(c, Call::SetRoutes(_))), "{calls:?}");

    let calls = apply(&h, id, "update_decky", json!({"decky": "web", "services": ["http", "ftp"]})).await;
    only_touches(&calls, &["-web_ssh", "-web_ftp"]);

    let calls = apply(
        &h,
        id,
        "update_decky",
        json!({"decky": "web", "patch": {"service_config": {"http": {"fake_app": "tomcat"}}}}),
    )
    .await;
    only_touches(&calls, &["-web_http"]);

    let gw = t.design.gateways().next().unwrap().name.to_string();
    let calls =
        apply(&h, id, "update_decky", json!({"decky": gw, "patch": {"forwards_l3": false}, "force": true})).await;
    let suffixes: Vec<String> = std::iter::once(format!("-{gw}"))
        .chain(t.design.deckies[gw.as_str()].services.iter().map(|s| format!("-{gw}_{s}")))
        .collect();
    only_touches(&calls, &suffixes.iter().map(String::as_str).collect::<Vec<_>>());

    let calls = apply(&h, id, "update_lan", json!({"name": "lan-new", "x": 3.0, "y": 4.0})).await;
    assert!(calls.is_empty(), "coordinates are not a runtime change");

    let calls = apply(&h, id, "remove_decky", json!({"decky": "web"})).await;
    only_touches(&calls, &["-web", "-web_http", "-web_ftp"]);

    let calls = apply(&h, id, "remove_lan", json!({"name": "lan-new"})).await;
    assert_eq!(calls, [Call::RemoveNetwork(net("lan-new")), Call::EnsureFirewall(id)]);

    assert_eq!(h.store.header(id).await.unwrap().status, TopologyStatus::Active);
    // The runtime still matches the design exactly: converging finds nothing to do.
    h.runtime.clear_calls();
    assert_eq!(h.engine.converge(id).await.unwrap().changes, 0);
}

#[tokio::test]
async fn events_follow_a_mutation_through_its_states() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    let mut events = h.engine.bus().subscribe();
    h.engine.enqueue(id, "add_lan", &json!({"name": "x"}), None).await.unwrap();
    h.engine.enqueue(id, "remove_lan", &json!({"name": "nope"}), None).await.unwrap();
    h.engine.run_until_idle().await.unwrap();
    let mut seen: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
    let mut last_seq = 0;
    while let Ok(event) = events.try_recv() {
        assert!(event.seq > last_seq, "sequence numbers only grow");
        last_seq = event.seq;
        if event.topic.contains(".mutation.") {
            let mutation = event.payload["mutation_id"].as_i64().unwrap();
            seen.entry(mutation).or_default().push(event.topic.rsplit('.').next().unwrap().to_owned());
        }
        if event.topic.ends_with(".mutation.failed") {
            assert_eq!(event.payload["codes"], json!(["LAN_NOT_FOUND"]));
        }
    }
    let states: Vec<_> = seen.into_values().collect();
    assert_eq!(states, [["enqueued", "applying", "applied"], ["enqueued", "applying", "failed"]]);
}

#[tokio::test]
async fn a_runtime_failure_is_recorded_on_the_decky_and_degrades_until_healed() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    h.runtime.fail_on("-newbie");
    h.engine
        .enqueue(id, "add_decky", &json!({"name": "newbie", "lan": "lan-01", "services": ["ssh"]}), None)
        .await
        .unwrap();
    let report = h.engine.run_until_idle().await.unwrap();
    assert_eq!(report.applied, 1, "the design change is committed; only materialisation failed");
    let t = h.store.topology(id).await.unwrap();
    assert_eq!(t.header.status, TopologyStatus::Degraded);
    assert_eq!(t.decky_status[&name("newbie")].state, DeckyState::Failed);
    assert!(t.decky_status[&name("newbie")].last_error.as_deref().unwrap().contains("injected failure"));
    h.runtime.heal();
    h.engine.run_once().await.unwrap();
    let t = h.store.topology(id).await.unwrap();
    assert_eq!((t.header.status, t.decky_status[&name("newbie")].state), (TopologyStatus::Active, DeckyState::Running));
}

#[tokio::test]
async fn a_refused_mutation_leaves_the_topology_and_its_status_alone() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    h.engine.enqueue(id, "detach_decky", &json!({"decky": "decky-002", "lan": "lan-01"}), None).await.unwrap();
    let before = h.store.topology(id).await.unwrap();
    h.runtime.clear_calls();
    let report = h.engine.run_until_idle().await.unwrap();
    assert_eq!(report.refused, 1);
    assert_eq!(*h.store.topology(id).await.unwrap(), *before);
    assert!(h.runtime.calls().is_empty());
    let failed = h.store.mutations(id, Some(MutationState::Failed)).await.unwrap();
    assert_eq!(failed[0].codes, ["HOME_LAN_DETACH"]);
}

#[tokio::test]
async fn mutations_of_one_topology_apply_in_order() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    // The second only makes sense after the first.
    h.engine.enqueue(id, "add_lan", &json!({"name": "late"}), None).await.unwrap();
    h.engine.enqueue(id, "attach_decky", &json!({"decky": "decky-001", "lan": "late"}), None).await.unwrap();
    h.engine.enqueue(id, "remove_lan", &json!({"name": "late"}), None).await.unwrap();
    let report = h.engine.run_until_idle().await.unwrap();
    assert_eq!((report.applied, report.refused), (3, 0));
    let order: Vec<_> = h.store.mutations(id, None).await.unwrap().iter().rev().map(|m| m.finished_at).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn an_engine_stopped_mid_apply_is_taken_over_and_nothing_applies_twice() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    for i in 0..5 {
        h.engine.enqueue(id, "add_lan", &json!({"name": format!("x{i}")}), None).await.unwrap();
    }
    // Engine A claims the first two mutations and dies before committing (its lease ran
    // out long ago).
    let long_ago = Utc::now() - TimeDelta::minutes(10);
    let orphans = h.store.claim_next(id, "engine-dead", long_ago, Duration::from_secs(60), 2).await.unwrap();
    assert_eq!(orphans.len(), 2);
    // Engine B, on its own connection to the same database, takes over.
    let b = h.second_engine("engine-b").await;
    let report = b.run_until_idle().await.unwrap();
    assert_eq!(report.applied, 5);
    let mutations = h.store.mutations(id, None).await.unwrap();
    assert!(mutations.iter().all(|m| m.state == MutationState::Applied));
    for orphan in &orphans {
        let taken_over = mutations.iter().find(|m| m.id == orphan.id).unwrap();
        assert_eq!((taken_over.attempts, taken_over.lease_owner.as_deref()), (2, Some("engine-b")));
    }
    let lans = &h.store.topology(id).await.unwrap().design.lans;
    assert_eq!(lans.keys().filter(|l| l.as_str().starts_with('x')).count(), 5, "each applied exactly once");
    // Nothing is left for a third engine.
    assert_eq!(h.second_engine("engine-c").await.run_until_idle().await.unwrap().applied, 0);
}

#[tokio::test]
async fn two_engines_draining_together_apply_each_mutation_once() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    for i in 0..20 {
        h.engine.enqueue(id, "add_lan", &json!({"name": format!("x{i}")}), None).await.unwrap();
    }
    let b = h.second_engine("engine-b").await;
    let (ra, rb) = tokio::join!(h.engine.run_until_idle(), b.run_until_idle());
    assert_eq!(ra.unwrap().applied + rb.unwrap().applied, 20);
    let lans = &h.store.topology(id).await.unwrap().design.lans;
    assert_eq!(lans.keys().filter(|l| l.as_str().starts_with('x')).count(), 20);
}

#[tokio::test]
async fn a_restarted_engine_recreates_what_the_runtime_lost() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    let expected = (h.runtime.network_names(), h.runtime.container_names());
    // A new process: fresh runtime state, same database.
    let fresh = Harness::with_store(tempfile::tempdir().unwrap(), h.store.clone(), "engine-new").await;
    assert!(fresh.runtime.container_names().is_empty());
    fresh.engine.heal().await.unwrap();
    assert_eq!((fresh.runtime.network_names(), fresh.runtime.container_names()), expected);
    assert_eq!(h.store.header(id).await.unwrap().status, TopologyStatus::Active);
}

#[tokio::test]
async fn drift_is_repaired_by_convergence() {
    let h = Harness::new().await;
    let id = h.deployed("maze", 7).await;
    let victim = spec::base_name(id, &name("decky-002"));
    h.runtime.kill(&victim);
    h.runtime.clear_calls();
    let report = h.engine.converge(id).await.unwrap();
    assert!(report.converged());
    let calls = h.runtime.calls();
    assert!(calls.contains(&Call::CreateContainer(victim.clone())), "{calls:?}");
    // Only the killed base and the services living in its namespace were touched.
    assert!(calls.iter().all(|c| c.subject().contains("-decky-002")), "{calls:?}");
}
