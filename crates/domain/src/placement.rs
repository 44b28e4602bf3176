//! Where a topology's deckies run when the runtime has several hosts (Docker Swarm): a
//! policy for the deckies nobody pinned, and pins of single deckies or of whole LANs to one
//! node. The store keeps pins by item id, so renaming a decky or a LAN keeps its pin;
//! operators read and write them by name ([`NamedPlacement`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::issue::{Code, Target};
use crate::model::{Decky, Design, ItemId, Mode};
use crate::mutation::Refusal;
use crate::name::Name;

/// Longest node name or id a pin may give (a DNS name's limit).
pub const MAX_NODE_LEN: usize = 253;

/// Most pins one topology keeps (deckies and LANs together).
pub const MAX_PINS: usize = 10_000;

/// Where deckies nobody pinned go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// On the ready node with the fewest deckies.
    #[default]
    Spread,
    /// On the first ready node; deckies of a lost node wait for it.
    Pack,
}

impl Policy {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Spread => "spread",
            Policy::Pack => "pack",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "spread" => Ok(Policy::Spread),
            "pack" => Ok(Policy::Pack),
            other => Err(format!("unknown placement policy {other:?} (expected spread or pack)")),
        }
    }
}

/// A topology's placement as stored: pins by item id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Placement {
    /// The topology's policy; `None` leaves it to the engine's default.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// LAN id → node: the deckies whose home LAN it is run there, unless pinned themselves.
    #[serde(default)]
    pub lans: BTreeMap<ItemId, String>,
    /// Decky id → node.
    #[serde(default)]
    pub deckies: BTreeMap<ItemId, String>,
}

/// A topology's placement as operators write it: pins by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamedPlacement {
    /// The topology's policy; `None` leaves it to the engine's default.
    pub policy: Option<Policy>,
    /// LAN name → node.
    pub lans: BTreeMap<String, String>,
    /// Decky name → node.
    pub deckies: BTreeMap<String, String>,
}

/// Refuses `node` unless it can name a swarm node (its id or host name).
fn check_node(node: &str, target: Target) -> Result<(), Refusal> {
    let fits = (1..=MAX_NODE_LEN).contains(&node.len())
        && node.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if fits {
        Ok(())
    } else {
        Err(Refusal::one(
            Code::PayloadInvalid,
            target,
            format!("a node is a swarm node's id or host name: 1 to {MAX_NODE_LEN} letters, digits, '.', '-' or '_'"),
        ))
    }
}

impl Placement {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.policy.is_none() && self.lans.is_empty() && self.deckies.is_empty()
    }

    /// The pins by name, leaving out those of items no longer in `design`.
    pub fn named(&self, design: &Design) -> NamedPlacement {
        let lans = design
            .lans
            .values()
            .filter_map(|lan| Some((lan.name.to_string(), self.lans.get(&lan.id)?.clone())))
            .collect();
        let deckies = design
            .deckies
            .values()
            .filter_map(|decky| Some((decky.name.to_string(), self.deckies.get(&decky.id)?.clone())))
            .collect();
        NamedPlacement { policy: self.policy, lans, deckies }
    }

    /// The placement `named` asks for on a topology in `mode` with `design`; refused when
    /// it names an item the design lacks, a node no swarm could have, or pins an
    /// agent-mode topology (which runs whole on its target host).
    pub fn from_named(named: &NamedPlacement, mode: Mode, design: &Design) -> Result<Self, Refusal> {
        if mode == Mode::Agent && (named.policy.is_some() || !named.lans.is_empty() || !named.deckies.is_empty()) {
            return Err(Refusal::one(
                Code::PayloadInvalid,
                Target::field("mode"),
                "an agent-mode topology runs whole on its target host; it takes no policy or pins",
            ));
        }
        if named.lans.len() + named.deckies.len() > MAX_PINS {
            return Err(Refusal::one(
                Code::PayloadInvalid,
                Target::field("deckies"),
                format!("at most {MAX_PINS} pins"),
            ));
        }
        let mut placement = Placement { policy: named.policy, ..Placement::default() };
        for (name, node) in &named.lans {
            let lan = Name::parse(name).ok().and_then(|n| design.lans.get(&n));
            let lan = lan.ok_or_else(|| {
                Refusal::one(Code::LanNotFound, Target::lan(name.clone()), format!("no LAN is named {name:?}"))
            })?;
            check_node(node, Target::lan(name.clone()))?;
            placement.lans.insert(lan.id, node.clone());
        }
        for (name, node) in &named.deckies {
            let decky = Name::parse(name).ok().and_then(|n| design.deckies.get(&n));
            let decky = decky.ok_or_else(|| {
                Refusal::one(Code::DeckyNotFound, Target::decky(name.clone()), format!("no decky is named {name:?}"))
            })?;
            check_node(node, Target::decky(name.clone()))?;
            placement.deckies.insert(decky.id, node.clone());
        }
        Ok(placement)
    }

    /// The node `decky` is pinned to: its own pin, else its home LAN's.
    pub fn node_of<'a>(&'a self, decky: &Decky, design: &Design) -> Option<&'a str> {
        let home_lan = || design.lans.get(&decky.home_lan).and_then(|lan| self.lans.get(&lan.id));
        self.deckies.get(&decky.id).or_else(home_lan).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::generator::{GeneratorConfig, generate};

    fn design() -> Design {
        let mut design = generate(&GeneratorConfig { seed: 7, ..GeneratorConfig::default() }, &[]).unwrap();
        for (n, lan) in design.lans.values_mut().enumerate() {
            lan.id = ItemId(uuid::Uuid::from_u128(1 + n as u128));
        }
        for (n, decky) in design.deckies.values_mut().enumerate() {
            std::sync::Arc::make_mut(decky).id = ItemId(uuid::Uuid::from_u128(1000 + n as u128));
        }
        design
    }

    #[test]
    fn a_decky_pin_wins_over_its_home_lan_pin_and_others_follow_their_lan() {
        let design = design();
        // The generator puts at least two deckies on some LAN: one pinned, one following its LAN.
        let (pinned, other) = design
            .deckies
            .values()
            .find_map(|a| Some((a, design.deckies.values().find(|b| b.name != a.name && b.home_lan == a.home_lan)?)))
            .unwrap();
        let named = NamedPlacement {
            policy: Some(Policy::Pack),
            lans: BTreeMap::from([(pinned.home_lan.to_string(), "lan-node".into())]),
            deckies: BTreeMap::from([(pinned.name.to_string(), "decky-node".into())]),
        };
        let placement = Placement::from_named(&named, Mode::Unihost, &design).unwrap();
        assert_eq!(placement.node_of(pinned, &design), Some("decky-node"));
        assert_eq!(placement.node_of(other, &design), Some("lan-node"));
        let elsewhere = design.deckies.values().find(|d| d.home_lan != pinned.home_lan).unwrap();
        assert_eq!(placement.node_of(elsewhere, &design), None);
        assert_eq!(placement.named(&design), named, "names survive the trip through ids");
    }

    #[test]
    fn pins_of_items_gone_from_the_design_are_left_out() {
        let mut design = design();
        let first = design.deckies.keys().next().unwrap().clone();
        let named =
            NamedPlacement { deckies: BTreeMap::from([(first.to_string(), "n1".into())]), ..NamedPlacement::default() };
        let placement = Placement::from_named(&named, Mode::Unihost, &design).unwrap();
        design.deckies.remove(&first);
        assert!(placement.named(&design).deckies.is_empty());
    }

    #[test]
    fn unknown_items_odd_nodes_and_agent_topologies_are_refused() {
        let design = design();
        let decky = design.deckies.keys().next().unwrap().to_string();
        let unknown =
            NamedPlacement { deckies: BTreeMap::from([("nope".into(), "n1".into())]), ..NamedPlacement::default() };
        let refused = Placement::from_named(&unknown, Mode::Unihost, &design).unwrap_err();
        assert_eq!(refused.issues[0].code, Code::DeckyNotFound);
        let lan = NamedPlacement { lans: BTreeMap::from([("nope".into(), "n1".into())]), ..NamedPlacement::default() };
        assert_eq!(Placement::from_named(&lan, Mode::Unihost, &design).unwrap_err().issues[0].code, Code::LanNotFound);
        for node in ["", "a b", "n;rm -rf /", &"x".repeat(MAX_NODE_LEN + 1)] {
            let odd = NamedPlacement {
                deckies: BTreeMap::from([(decky.clone(), node.to_string())]),
                ..NamedPlacement::default()
            };
            let refused = Placement::from_named(&odd, Mode::Unihost, &design).unwrap_err();
            assert_eq!(refused.issues[0].code, Code::PayloadInvalid, "node {node:?}");
        }
        let agent = NamedPlacement { policy: Some(Policy::Spread), ..NamedPlacement::default() };
        assert!(Placement::from_named(&agent, Mode::Agent, &design).is_err());
        assert!(Placement::from_named(&NamedPlacement::default(), Mode::Agent, &design).is_ok());
    }

    #[test]
    fn policies_parse_from_their_spelling_only() {
        for policy in [Policy::Spread, Policy::Pack] {
            assert_eq!(policy.as_str().parse::<Policy>(), Ok(policy));
        }
        assert!("Spread".parse::<Policy>().is_err());
    }
}
