//! Property test: random generated topologies, then random sequences of valid and invalid
//! mutations through the real queue and store. After every step the stored topology keeps
//! the post-apply invariants, the version rises by exactly one per accepted write, and a
//! refused mutation leaves the stored topology byte-identical.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::sync::Arc;

use common::Harness;
use decnet_domain::generator::GeneratorConfig;
use decnet_domain::issue::errors;
use decnet_domain::validate::{Scope, validate};
use decnet_domain::{Name, Topology, TopologyId};
use decnet_store::Store;
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Step {
    op: u8,
    a: u8,
    b: u8,
    c: u8,
}

fn pick(names: &[String], selector: u8, fresh: &str) -> String {
    if names.is_empty() || selector.is_multiple_of(5) {
        format!("{fresh}-{selector}")
    } else {
        names[selector as usize % names.len()].clone()
    }
}

const SERVICES: [&str; 6] = ["ssh", "http", "ftp", "smtp", "smtp_relay", "gopher"];

fn services(mask: u8) -> Vec<&'static str> {
    SERVICES.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, s)| *s).collect()
}

/// Turns random bytes into an (op, payload) that may or may not be acceptable.
fn payload(t: &Topology, step: &Step) -> (&'static str, Value) {
    let lans: Vec<String> = t.design.lans.keys().map(Name::to_string).collect();
    let deckies: Vec<String> = t.design.deckies.keys().map(Name::to_string).collect();
    let lan = pick(&lans, step.a, "lan");
    let decky = pick(&deckies, step.b, "d");
    match step.op % 9 {
        0 if step.c.is_multiple_of(3) => {
            ("add_lan", json!({"name": lan, "subnet": format!("10.200.{}.0/24", step.b % 4)}))
        }
        0 => ("add_lan", json!({"name": lan})),
        1 => ("remove_lan", json!({"name": lan})),
        2 => (
            "add_decky",
            // Mostly valid service sets; every fourth may hold clashes or unknown services.
            json!({"name": decky, "lan": lan, "services": services(if step.c.is_multiple_of(4) { step.c } else { step.c & 0b111 }),
                   "forwards_l3": step.c.is_multiple_of(7)}),
        ),
        3 => (
            "attach_decky",
            json!({"decky": decky, "lan": lan, "forwards_l3": step.c.is_multiple_of(3), "force": step.c.is_multiple_of(2)}),
        ),
        4 => ("detach_decky", json!({"decky": decky, "lan": lan})),
        5 => ("remove_decky", json!({"decky": decky})),
        6 if step.c.is_multiple_of(2) => ("update_decky", json!({"decky": decky, "services": services(step.a)})),
        6 => (
            "update_decky",
            json!({"decky": decky, "patch": {"forwards_l3": step.a.is_multiple_of(2)}, "force": step.b.is_multiple_of(2)}),
        ),
        7 if step.c.is_multiple_of(2) => ("update_lan", json!({"name": lan, "x": f64::from(step.b)})),
        7 => ("update_lan", json!({"name": lan, "patch": {"subnet": "10.250.0.0/24"}})),
        // Malformed: refused at enqueue, never queued.
        _ => ("add_decky", json!({"lan": lan, "colour": "blue"})),
    }
}

async fn check_invariants(h: &Harness, id: TopologyId, t: &Topology) {
    let ctx = h.store.claims(Some(id)).await.unwrap();
    let issues = validate(&t.design, &ctx, Scope::PostApply);
    let blocking: Vec<_> = errors(&issues).collect();
    assert!(blocking.is_empty(), "invariants broken: {blocking:?}");
}

async fn run_case(config: GeneratorConfig, steps: Vec<Step>) {
    let h = Harness::new().await;
    let id = h.engine.generate(Name::parse("prop").unwrap(), config).await.unwrap().header.id;
    h.engine.deploy(id).await.unwrap();
    for step in &steps {
        let before: Arc<Topology> = h.store.topology(id).await.unwrap();
        let (op, body) = payload(&before, step);
        match h.engine.enqueue(id, op, &body, Some(before.header.version)).await {
            Err(_) => {
                // Refused at the door: nothing was written.
                assert_eq!(*h.store.topology(id).await.unwrap(), *before, "{op} {body}");
                continue;
            }
            Ok((_, version)) => assert_eq!(version, before.header.version + 1, "enqueue bumps exactly once"),
        }
        let queued = h.store.topology(id).await.unwrap();
        let report = h.engine.run_until_idle().await.unwrap();
        let after = h.store.topology(id).await.unwrap();
        if report.applied == 1 {
            assert_eq!(after.header.version, queued.header.version, "apply keeps the version: {op} {body}");
            let changed = i64::from(after.design != queued.design);
            assert_eq!(after.header.generation, queued.header.generation + changed, "one design bump: {op} {body}");
            check_invariants(&h, id, &after).await;
        } else {
            assert_eq!(report.refused, 1, "{op} {body}");
            assert_eq!(after.header, queued.header, "refused {op} {body} touched the topology");
            assert_eq!(after.design, queued.design, "refused {op} {body} touched the design");
        }
    }
    // The runtime still matches the stored design.
    assert!(h.engine.converge(id).await.unwrap().converged());
}

fn generator() -> impl Strategy<Value = GeneratorConfig> {
    (1u32..=3, 1u32..=3, 0u32..=2, 1u32..=3, 0.0f64..=1.0, 0.0f64..=0.5, any::<u64>()).prop_map(
        |(depth, branching, min, extra, bridge_forward_p, cross_edge_p, seed)| GeneratorConfig {
            depth,
            branching,
            deckies_per_lan_min: min,
            deckies_per_lan_max: min + extra,
            bridge_forward_p,
            cross_edge_p,
            seed,
            ..GeneratorConfig::default()
        },
    )
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()), 1..30)
        .prop_map(|v| v.into_iter().map(|(op, a, b, c)| Step { op, a, b, c }).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_mutation_sequences_keep_every_invariant(config in generator(), steps in steps()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run_case(config, steps));
    }
}
