//! Property test: the incremental post-apply check (`validate_change`, what planning uses)
//! finds exactly the error codes of the full check on every drafted design, over random
//! topologies and random op sequences.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use decnet_domain::generator::{GeneratorConfig, generate};
use decnet_domain::model::TopologyHeader;
use decnet_domain::validate::{Context, Scope, validate, validate_change};
use decnet_domain::{Design, Issue, Mode, MutationOp, Name, TopologyId, TopologyStatus, draft};
use proptest::prelude::*;
use serde_json::{Value, json};

fn header() -> TopologyHeader {
    let now = Utc::now();
    TopologyHeader {
        id: TopologyId(uuid::Uuid::nil()),
        name: Name::parse("t").unwrap(),
        mode: Mode::Unihost,
        target_host: None,
        status: TopologyStatus::Active,
        version: 1,
        generation: 1,
        observed: 0,
        created_at: now,
        status_changed_at: now,
        config_snapshot: json!({}),
    }
}

fn error_codes(issues: &[Issue]) -> BTreeSet<&'static str> {
    issues.iter().filter(|i| i.is_error()).map(|i| i.code.as_str()).collect()
}

/// An op built from random bytes against the current design; often invalid on purpose.
fn op(design: &Design, kind: u8, a: u8, b: u8, c: u8) -> Option<MutationOp> {
    let lans: Vec<&Name> = design.lans.keys().collect();
    let deckies: Vec<&Name> = design.deckies.keys().collect();
    let lan = lans[a as usize % lans.len()].to_string();
    let decky = deckies.get(b as usize % deckies.len().max(1)).map_or("x".to_owned(), |d| d.to_string());
    // An address in the target LAN (often taken, sometimes reserved), or now and then in
    // another LAN (outside the target's subnet).
    let subnet_of = if c.is_multiple_of(5) { lans[c as usize % lans.len()] } else { lans[a as usize % lans.len()] };
    let base = u32::from(design.lans[subnet_of].subnet.network());
    let ip = std::net::Ipv4Addr::from(base + u32::from(c % 8)).to_string();
    let services = ["ssh", "http", "smtp", "smtp_relay", "gopher"];
    let pick: Vec<&str> = services.iter().enumerate().filter(|(i, _)| c & (1 << i) != 0).map(|(_, s)| *s).collect();
    let payload: (&str, Value) = match kind % 8 {
        0 => (
            "add_lan",
            json!({"name": format!("n{a}"), "subnet": format!("10.{}.{}.0/{}", 100 + b % 3, c % 4, 22 + c % 8)}),
        ),
        1 => ("remove_lan", json!({"name": lan})),
        2 => (
            "add_decky",
            json!({"name": format!("n{a}"), "lan": lan, "services": pick, "forwards_l3": c.is_multiple_of(5), "ip": ip}),
        ),
        3 => (
            "attach_decky",
            json!({"decky": decky, "lan": lan, "ip": ip, "forwards_l3": c.is_multiple_of(3), "force": true}),
        ),
        4 => ("detach_decky", json!({"decky": decky, "lan": lan})),
        5 => ("remove_decky", json!({"decky": decky})),
        6 => (
            "update_decky",
            json!({"decky": decky, "services": pick, "patch": {"forwards_l3": c.is_multiple_of(2)}, "force": true}),
        ),
        _ => ("add_lan", json!({"name": format!("d{a}"), "is_dmz": c.is_multiple_of(2)})),
    };
    MutationOp::parse(payload.0, &payload.1).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_and_full_checks_agree(
        seed in any::<u64>(),
        depth in 1u32..=3,
        steps in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()), 1..40),
    ) {
        let config = GeneratorConfig { seed, depth, branching: 3, cross_edge_p: 0.3, ..GeneratorConfig::default() };
        let mut design = Arc::new(generate(&config, &[]).unwrap());
        let header = header();
        let ctx = Context::default();
        for (kind, a, b, c) in steps {
            let Some(op) = op(&design, kind, a, b, c) else { continue };
            let Ok(drafted) = draft(&header, &design, &op, &ctx) else { continue };
            let full = error_codes(&validate(&drafted.design, &ctx, Scope::PostApply));
            let incremental = error_codes(&validate_change(&design, &drafted.design, &ctx));
            prop_assert_eq!(&full, &incremental, "{:?}", op);
            if full.is_empty() {
                design = Arc::new(drafted.design);
            }
        }
    }
}
