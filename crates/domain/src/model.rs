//! The topology model: a design (LANs and deckies) plus the topology's metadata.
//!
//! A decky lists every LAN it is on with its fixed IP, and names one of them as its
//! explicit `home_lan`: that field is the single definition of "home LAN" in the system.
//! Edges (decky ↔ LAN) are derived from those memberships, so they can never disagree
//! with the IPs.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::attachment::Attachment;
use crate::name::Name;
use crate::status::{DeckyState, TopologyStatus};

/// A topology's unique id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopologyId(pub uuid::Uuid);

impl TopologyId {
    /// The id as 32 lower-case hex digits, the form used in runtime resource names.
    pub fn simple(&self) -> String {
        self.0.simple().to_string()
    }
}

impl fmt::Display for TopologyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for TopologyId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(TopologyId)
    }
}

/// The id of a LAN or a decky: stable for the item's life (renames and edits keep it), so
/// clients can address it. Nil until the store first stores the item; the store assigns
/// it ([`Design::assign_ids`]), since the domain has no source of randomness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ItemId(pub uuid::Uuid);

impl ItemId {
    /// Whether the store assigned it.
    pub fn is_assigned(&self) -> bool {
        !self.0.is_nil()
    }

    /// The id of the edge between a decky and a LAN: derived from both, so it is stable
    /// while the membership exists and needs no storage of its own.
    pub fn edge(decky: ItemId, lan: ItemId) -> uuid::Uuid {
        uuid::Uuid::new_v5(&decky.0, lan.0.as_bytes())
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Where a topology runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// On the engine's own Docker host.
    #[default]
    Unihost,
    /// On a remote agent host.
    Agent,
}

impl Mode {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Unihost => "unihost",
            Mode::Agent => "agent",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unihost" => Ok(Mode::Unihost),
            "agent" => Ok(Mode::Agent),
            other => Err(format!("unknown mode {other:?} (expected unihost or agent)")),
        }
    }
}

/// One LAN: a bridge network.
#[derive(Debug, Clone, PartialEq)]
pub struct Lan {
    /// Stable id (nil until stored).
    pub id: ItemId,
    /// Unique within the topology.
    pub name: Name,
    /// The LAN's IPv4 subnet; `.1` is the bridge gateway.
    pub subnet: Ipv4Net,
    /// Whether this is the DMZ (reachable from outside, not `internal`).
    pub is_dmz: bool,
    /// How its network meets the host's (only the DMZ may be other than a bridge).
    pub attachment: Attachment,
    /// Canvas position.
    pub x: Option<f64>,
    /// Canvas position.
    pub y: Option<f64>,
}

/// Per-service configuration: service slug → key → value.
pub type ServiceConfig = BTreeMap<String, Map<String, Value>>;

/// One decky: a decoy host.
#[derive(Debug, Clone, PartialEq)]
pub struct Decky {
    /// Stable id (nil until stored).
    pub id: ItemId,
    /// Unique within the topology: the operator's label, never shown to an attacker.
    pub name: Name,
    /// The host name its persona answers with (`web01`, `fs02`, ...): given, or assigned
    /// once when the decky is first stored ([`Design::assign_hostnames`]) and kept.
    pub hostname: Option<Name>,
    /// The LAN the decky lives in; always a key of `ips`.
    pub home_lan: Name,
    /// Every LAN the decky is on, with its fixed IP there.
    pub ips: BTreeMap<Name, Ipv4Addr>,
    /// Decoy service slugs, sorted and unique.
    pub services: Vec<String>,
    /// Whether the decky routes between its LANs; DMZ-homed, it is the gateway.
    pub forwards_l3: bool,
    /// Archetype slug, which also picks the OS fingerprint.
    pub archetype: Option<String>,
    /// Per-service configuration.
    pub service_config: ServiceConfig,
    /// Canvas position.
    pub x: Option<f64>,
    /// Canvas position.
    pub y: Option<f64>,
}

impl Decky {
    /// Whether the decky is on two or more LANs.
    pub fn is_bridge(&self) -> bool {
        self.ips.len() >= 2
    }
}

/// A derived decky ↔ LAN membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// The decky.
    pub decky: Name,
    /// The LAN.
    pub lan: Name,
    /// The decky's IP on the LAN.
    pub ip: Ipv4Addr,
    /// Whether this is the decky's home LAN.
    pub is_home: bool,
    /// Whether the decky is on two or more LANs.
    pub is_bridge: bool,
    /// Whether the decky routes.
    pub forwards_l3: bool,
}

/// The designed shape of a topology, keyed by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Design {
    /// LANs by name.
    pub lans: BTreeMap<Name, Lan>,
    /// Deckies by name. Shared, so planning a change copies only the deckies it edits.
    pub deckies: BTreeMap<Name, Arc<Decky>>,
}

impl Design {
    /// Whether `decky` publishes host ports: it routes and its home LAN is the DMZ.
    pub fn is_gateway(&self, decky: &Decky) -> bool {
        decky.forwards_l3 && self.lans.get(&decky.home_lan).is_some_and(|lan| lan.is_dmz)
    }

    /// Whether `decky` publishes its ports on the host's addresses: a gateway of a
    /// bridged DMZ (on a host link every DMZ decky has an address of its own instead).
    pub fn publishes_ports(&self, decky: &Decky) -> bool {
        decky.forwards_l3
            && self.lans.get(&decky.home_lan).is_some_and(|lan| lan.is_dmz && lan.attachment == Attachment::Bridge)
    }

    /// The gateway deckies.
    pub fn gateways(&self) -> impl Iterator<Item = &Decky> {
        self.deckies.values().map(|d| &**d).filter(|d| self.is_gateway(d))
    }

    /// Every decky ↔ LAN membership, ordered by decky then LAN.
    pub fn edges(&self) -> impl Iterator<Item = Edge> + '_ {
        self.deckies.values().flat_map(|d| {
            d.ips.iter().map(move |(lan, ip)| Edge {
                decky: d.name.clone(),
                lan: lan.clone(),
                ip: *ip,
                is_home: *lan == d.home_lan,
                is_bridge: d.is_bridge(),
                forwards_l3: d.forwards_l3,
            })
        })
    }

    /// Gives every LAN and decky without an id one from `fresh` (called once per item).
    pub fn assign_ids(&mut self, mut fresh: impl FnMut() -> uuid::Uuid) {
        for lan in self.lans.values_mut().filter(|l| !l.id.is_assigned()) {
            lan.id = ItemId(fresh());
        }
        for decky in self.deckies.values_mut().filter(|d| !d.id.is_assigned()) {
            Arc::make_mut(decky).id = ItemId(fresh());
        }
    }

    /// Gives every decky without a host name one that fits its role: the archetype's (or
    /// its services') prefix and the smallest two-digit number no decky uses yet. Names
    /// already given never change, so adding a decky renames nobody.
    pub fn assign_hostnames(&mut self) {
        let mut used: std::collections::BTreeSet<String> =
            self.deckies.values().filter_map(|d| d.hostname.as_ref().map(ToString::to_string)).collect();
        for decky in self.deckies.values_mut().filter(|d| d.hostname.is_none()) {
            let prefix = crate::catalogue::hostname_prefix(decky.archetype.as_deref(), &decky.services);
            let hostname = (1..).map(|n| format!("{prefix}{n:02}")).find(|h| !used.contains(h)).and_then(|h| {
                used.insert(h.clone());
                Name::parse(&h).ok()
            });
            Arc::make_mut(decky).hostname = hostname;
        }
    }

    /// The LAN with this id.
    pub fn lan_by_id(&self, id: ItemId) -> Option<&Lan> {
        self.lans.values().find(|l| l.id == id)
    }

    /// The decky with this id.
    pub fn decky_by_id(&self, id: ItemId) -> Option<&Decky> {
        self.deckies.values().map(|d| &**d).find(|d| d.id == id)
    }

    /// The DMZ LAN, if exactly one exists.
    pub fn dmz(&self) -> Option<&Lan> {
        let mut dmzs = self.lans.values().filter(|l| l.is_dmz);
        match (dmzs.next(), dmzs.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }
}

/// Observed runtime state of one decky.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeckyStatus {
    /// Current state.
    pub state: DeckyState,
    /// Text of the last runtime error, if the last attempt failed.
    pub last_error: Option<String>,
}

impl Default for DeckyStatus {
    fn default() -> Self {
        Self { state: DeckyState::Pending, last_error: None }
    }
}

/// A topology with its design.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// Metadata.
    pub header: TopologyHeader,
    /// The desired state (shared: readers and caches hand out the same design).
    pub design: Arc<Design>,
    /// Observed decky states, by decky name.
    pub decky_status: BTreeMap<Name, DeckyStatus>,
}

/// A topology's metadata, without its design.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopologyHeader {
    /// Unique id.
    pub id: TopologyId,
    /// Unique name.
    pub name: Name,
    /// Where it runs.
    pub mode: Mode,
    /// Target host of an agent-mode topology.
    pub target_host: Option<String>,
    /// Lifecycle status.
    pub status: TopologyStatus,
    /// Optimistic-concurrency token; bumped by every write to the topology or its design.
    pub version: i64,
    /// Bumped only when the design changes; lets readers cache the design.
    pub generation: i64,
    /// Bumped by every recorded change of a decky's observed state: with `version`, it
    /// identifies everything a reader of the topology sees.
    pub observed: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub status_changed_at: DateTime<Utc>,
    /// How it was made: the generator parameters (with the seed), or the import source.
    pub config_snapshot: Value,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::generator::{GeneratorConfig, generate};

    #[test]
    fn host_names_fit_the_role_are_unique_and_never_change() {
        let config = GeneratorConfig { seed: 11, depth: 3, branching: 2, ..GeneratorConfig::default() };
        let mut design = generate(&config, &[]).unwrap();
        design.assign_hostnames();
        let names: Vec<String> = design.deckies.values().map(|d| d.hostname.clone().unwrap().to_string()).collect();
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for decky in design.deckies.values() {
            let hostname = decky.hostname.as_ref().unwrap().as_str();
            let prefix = crate::catalogue::hostname_prefix(decky.archetype.as_deref(), &decky.services);
            assert!(hostname.starts_with(prefix) && hostname[prefix.len()..].len() == 2, "{hostname}");
            assert!(!hostname.contains("decky"), "the label never shows: {hostname}");
        }
        // A new decky takes a free name; nobody else is renamed.
        let before = design.clone();
        let mut web = (**design.deckies.values().next().unwrap()).clone();
        web.name = Name::parse("extra").unwrap();
        web.hostname = None;
        web.archetype = Some("web-server".into());
        design.deckies.insert(web.name.clone(), Arc::new(web));
        design.assign_hostnames();
        for (name, decky) in &before.deckies {
            assert_eq!(design.deckies[name].hostname, decky.hostname);
        }
        let extra = design.deckies["extra"].hostname.clone().unwrap();
        assert!(extra.as_str().starts_with("web") && !names.contains(&extra.to_string()), "{extra}");
    }
}
