//! Routes as the design says: which LANs each decky reaches, and through whom.
//!
//! A decky reaches its own LANs directly. It reaches another LAN when a chain of
//! forwarding deckies (`forwards_l3`, on two or more LANs) leads there: from a LAN it is
//! on, through a forwarder on that LAN and the next, and so on. Its route to such a LAN
//! names the first forwarder of a shortest chain, at that forwarder's address on the
//! decky's own LAN. A bridge that does not forward carries nobody's traffic. Forwarders
//! pass traffic both ways, so reachability is symmetric: a reply always has a way back.
//!
//! Pure: the runtime installs these routes in each base's namespace, and they change with
//! the design like any other desired state.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::{Decky, Design};
use crate::name::Name;

/// One route of a decky: `destination` via `gateway`, an address on the decky's LAN `lan`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Route {
    /// The subnet reached.
    pub destination: Ipv4Net,
    /// The LAN it is reached through (the decky's interface on it).
    pub lan: Name,
    /// The next hop: the first forwarder's address on `lan`.
    pub gateway: Ipv4Addr,
}

/// Whether `decky` carries traffic between its LANs.
pub fn forwards(decky: &Decky) -> bool {
    decky.forwards_l3 && decky.ips.len() >= 2
}

/// The forwarders on each LAN, by LAN name (each list in decky-name order).
fn forwarders_by_lan(design: &Design) -> BTreeMap<&Name, Vec<&Decky>> {
    let mut by_lan: BTreeMap<&Name, Vec<&Decky>> = BTreeMap::new();
    for decky in design.deckies.values().map(|d| &**d).filter(|d| forwards(d)) {
        for lan in decky.ips.keys() {
            by_lan.entry(lan).or_default().push(decky);
        }
    }
    by_lan
}

/// The routes of `decky` in `design`: one per LAN it reaches through a forwarder, in
/// destination order. LANs it is on need none (the kernel's connected routes).
pub fn routes_of(design: &Design, decky: &Decky) -> Vec<Route> {
    routes_with(design, &forwarders_by_lan(design), decky)
}

fn routes_with(design: &Design, forwarders: &BTreeMap<&Name, Vec<&Decky>>, decky: &Decky) -> Vec<Route> {
    // Breadth-first over LANs from the decky's own; each LAN reached remembers the first
    // hop (forwarder and the decky's LAN it is met on). LANs, deckies and their LANs are
    // visited in name order, so the chosen chain is deterministic.
    let mut first_hop: BTreeMap<&Name, Option<(&Name, Ipv4Addr)>> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for lan in decky.ips.keys() {
        first_hop.insert(lan, None);
        queue.push_back(lan);
    }
    while let Some(lan) = queue.pop_front() {
        let via = first_hop.get(lan).copied().flatten();
        for forwarder in forwarders.get(lan).into_iter().flatten() {
            if forwarder.name == decky.name {
                // Its own forwarding does not route its own traffic: its LANs are direct.
                continue;
            }
            for next in forwarder.ips.keys() {
                if first_hop.contains_key(next) {
                    continue;
                }
                // Met on one of the decky's own LANs: this forwarder is the first hop.
                let hop = via.or_else(|| forwarder.ips.get(lan).map(|ip| (lan, *ip)));
                first_hop.insert(next, hop);
                queue.push_back(next);
            }
        }
    }
    let mut routes: Vec<Route> = first_hop
        .into_iter()
        .filter_map(|(lan, hop)| {
            let (via_lan, gateway) = hop?;
            let destination = design.lans.get(lan)?.subnet;
            Some(Route { destination, lan: via_lan.clone(), gateway })
        })
        .collect();
    routes.sort();
    routes
}

/// The routes of every decky, by decky name.
pub fn routes(design: &Design) -> BTreeMap<Name, Vec<Route>> {
    let forwarders = forwarders_by_lan(design);
    design.deckies.iter().map(|(name, decky)| (name.clone(), routes_with(design, &forwarders, decky))).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::model::{ItemId, Lan};

    fn name(text: &str) -> Name {
        Name::parse(text).unwrap()
    }

    /// A decky in a test design: name, whether it forwards, and its (LAN, host number)s,
    /// home first.
    type Spec<'a> = (&'a str, bool, &'a [(&'a str, u8)]);

    /// LANs a..e as 10.0.N.0/24 and the deckies given.
    fn design(deckies: &[Spec<'_>]) -> Design {
        let mut design = Design::default();
        for (i, lan) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let subnet = format!("10.0.{i}.0/24").parse().unwrap();
            let lan = Lan {
                id: ItemId::default(),
                name: name(lan),
                subnet,
                is_dmz: i == 0,
                attachment: Default::default(),
                x: None,
                y: None,
            };
            design.lans.insert(lan.name.clone(), lan);
        }
        for (decky, forwards_l3, memberships) in deckies {
            let ips: BTreeMap<Name, Ipv4Addr> = memberships
                .iter()
                .map(|(lan, host)| {
                    let base = design.lans[*lan].subnet.network().octets();
                    (name(lan), Ipv4Addr::new(base[0], base[1], base[2], *host))
                })
                .collect();
            let decky = Decky {
                id: ItemId::default(),
                name: name(decky),
                hostname: None,
                home_lan: name(memberships[0].0),
                ips,
                services: vec![],
                forwards_l3: *forwards_l3,
                archetype: None,
                service_config: Default::default(),
                x: None,
                y: None,
            };
            design.deckies.insert(decky.name.clone(), Arc::new(decky));
        }
        design
    }

    fn route(destination: &str, lan: &str, gateway: &str) -> Route {
        Route { destination: destination.parse().unwrap(), lan: name(lan), gateway: gateway.parse().unwrap() }
    }

    #[test]
    fn a_chain_of_forwarders_reaches_every_lan_through_the_first_hop() {
        // a -[f1]- b -[f2]- c, and a leaf on each end.
        let d = design(&[
            ("f1", true, &[("a", 2), ("b", 2)]),
            ("f2", true, &[("b", 3), ("c", 2)]),
            ("left", false, &[("a", 9)]),
            ("right", false, &[("c", 9)]),
        ]);
        let all = routes(&d);
        assert_eq!(all[&name("left")], [route("10.0.1.0/24", "a", "10.0.0.2"), route("10.0.2.0/24", "a", "10.0.0.2")]);
        assert_eq!(all[&name("right")], [route("10.0.0.0/24", "c", "10.0.2.2"), route("10.0.1.0/24", "c", "10.0.2.2")]);
        assert_eq!(all[&name("f1")], [route("10.0.2.0/24", "b", "10.0.1.3")]);
        assert_eq!(all[&name("f2")], [route("10.0.0.0/24", "b", "10.0.1.2")]);
    }

    #[test]
    fn a_bridge_that_does_not_forward_routes_nobody() {
        let d = design(&[("bridge", false, &[("a", 2), ("b", 2)]), ("left", false, &[("a", 9)])]);
        let all = routes(&d);
        assert!(all[&name("left")].is_empty(), "{:?}", all[&name("left")]);
        assert!(all[&name("bridge")].is_empty(), "its own LANs are direct");
    }
}
