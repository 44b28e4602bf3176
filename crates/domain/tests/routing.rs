//! Property tests of route computation over generated topologies: a decky reaches exactly
//! the closure of its LANs over forwarders, every route's next hop is a forwarder on the
//! decky's own LAN, and reachability is symmetric (every reply has a way back); and the
//! routes the bases hold after any sequence of live ops, following the plans' actions,
//! are the routes computed from scratch.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use decnet_domain::generator::{GeneratorConfig, generate};
use decnet_domain::routing::{Route, forwards, routes, routes_of};
use decnet_domain::validate::Context;
use decnet_domain::{Design, Name, RuntimeAction, plan};
use proptest::prelude::*;

/// The LANs `decky` reaches, by a fixpoint independent of the route search: its own, then
/// every LAN of any other forwarder that is on a LAN already reached.
fn closure(design: &Design, decky: &Name) -> BTreeSet<Name> {
    let me = &design.deckies[decky];
    let mut reached: BTreeSet<Name> = me.ips.keys().cloned().collect();
    loop {
        let before = reached.len();
        for other in design.deckies.values().filter(|d| forwards(d) && d.name != *decky) {
            if other.ips.keys().any(|l| reached.contains(l)) {
                reached.extend(other.ips.keys().cloned());
            }
        }
        if reached.len() == before {
            return reached;
        }
    }
}

fn config() -> impl Strategy<Value = GeneratorConfig> {
    (1u32..=4, 1u32..=3, 0u32..=3, 0.0f64..=1.0, 0.0f64..=1.0, any::<u64>()).prop_map(
        |(depth, branching, min, forward, cross, seed)| GeneratorConfig {
            depth,
            branching,
            deckies_per_lan_min: min,
            deckies_per_lan_max: min.max(1) + 1,
            bridge_forward_p: forward,
            cross_edge_p: cross,
            services: Some(vec!["ssh".into()]),
            seed,
            ..GeneratorConfig::default()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn routes_reach_exactly_the_closure_over_forwarders(config in config()) {
        let design = generate(&config, &[]).unwrap();
        let all = routes(&design);
        for (name, decky) in &design.deckies {
            let direct: BTreeSet<Name> = decky.ips.keys().cloned().collect();
            let routed: BTreeSet<Name> = all[name]
                .iter()
                .map(|r| design.lans.values().find(|l| l.subnet == r.destination).unwrap().name.clone())
                .collect();
            prop_assert!(routed.is_disjoint(&direct), "{name}: a route to a LAN it is on");
            let reached: BTreeSet<Name> = direct.union(&routed).cloned().collect();
            prop_assert_eq!(reached, closure(&design, name), "{}", name);
            for route in &all[name] {
                // The next hop is on the decky's own LAN, and it is a forwarder there.
                prop_assert!(decky.ips.contains_key(&route.lan));
                let hop = design.deckies.values().find(|d| d.ips.get(&route.lan) == Some(&route.gateway));
                prop_assert!(hop.is_some_and(|h| forwards(h) && h.name != *name), "{name}: {route:?}");
            }
        }
    }

    #[test]
    fn every_reply_has_a_way_back(config in config()) {
        // A decky sends through a route from its address on the route's LAN; every decky on
        // the destination must reach that LAN to answer.
        let design = generate(&config, &[]).unwrap();
        let reach: std::collections::BTreeMap<&Name, BTreeSet<Name>> =
            design.deckies.keys().map(|d| (d, closure(&design, d))).collect();
        for (a, routes_of_a) in &routes(&design) {
            for route in routes_of_a {
                let on_destination =
                    design.deckies.values().filter(|d| d.ips.keys().any(|l| design.lans[l].subnet == route.destination));
                for b in on_destination {
                    prop_assert!(reach[&b.name].contains(&route.lan), "{a} reaches {} but no answer comes back: {route:?}", b.name);
                }
            }
        }
    }
}

/// The routes each running base holds after performing `actions` of a plan whose design
/// is `next`: a started or recreated base comes up with its routes, `SetRoutes` replaces
/// them, a removed decky holds none; the others keep what they had.
fn perform(installed: &mut BTreeMap<Name, Vec<Route>>, next: &Design, actions: &[RuntimeAction]) {
    for action in actions {
        match action {
            RuntimeAction::StartDecky { decky }
            | RuntimeAction::RecreateBase { decky }
            | RuntimeAction::SetRoutes { decky } => {
                installed.insert(decky.clone(), routes_of(next, &next.deckies[decky]));
            }
            RuntimeAction::RemoveDecky { decky, .. } => {
                installed.remove(decky);
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn routes_after_every_live_op_equal_routes_computed_from_scratch(
        seed in any::<u64>(),
        depth in 1u32..=3,
        steps in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()), 1..40),
    ) {
        let config = GeneratorConfig { seed, depth, branching: 3, cross_edge_p: 0.3, bridge_forward_p: 0.5, ..GeneratorConfig::default() };
        let mut design = generate(&config, &[]).unwrap();
        let mut installed = routes(&design);
        let header = common::header();
        for (kind, a, b, c) in steps {
            let Some(op) = common::op(&design, kind, a, b, c) else { continue };
            let Ok(plan) = plan(&header, &design, &op, &Context::default()) else { continue };
            perform(&mut installed, &plan.design, &plan.actions);
            prop_assert_eq!(&installed, &routes(&plan.design), "after {:?}", op);
            design = plan.design;
        }
    }
}
