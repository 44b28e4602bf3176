//! The host firewall of a topology: what makes the maze walkable and keeps it closed.
//!
//! Docker isolates an internal bridge by dropping every frame whose source or destination
//! is outside the bridge's own subnet — also frames that a forwarding decky routes from
//! one LAN to the next, so no route through a forwarder would ever carry a packet. And
//! nothing stops a decky from opening a connection to the host itself (every LAN's `.1`)
//! or, from the DMZ, to the world. Per topology we keep four iptables chains, rendered
//! here from the design (pure) and loaded in one `iptables-restore`:
//!
//! - `DN-<id>-F`, first in `DOCKER-USER`: a frame bridged on one of the topology's LANs
//!   whose source and destination are both inside the topology is accepted (`-T` checks
//!   the source subnet, `-D` the destination); a new connection from the DMZ's bridge to
//!   anywhere but that bridge is dropped (replies to inbound traffic are not new).
//! - `DN-<id>-H`, first in `INPUT`: a new connection from any of its bridges to the host
//!   is dropped.
//!
//! Chains are named by the topology id, created with the topology, removed with it.

use std::fmt::Write as _;

use decnet_domain::{Design, TopologyId};
use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

/// What the firewall of one topology covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallSpec {
    /// The topology.
    pub topology: TopologyId,
    /// The bridge interface of each LAN.
    pub bridges: Vec<String>,
    /// The bridge of the DMZ, if the topology has one.
    pub dmz_bridge: Option<String>,
    /// Every LAN's subnet.
    pub subnets: Vec<Ipv4Net>,
}

/// The Linux bridge of a network, named at creation from the network's name (at most 15
/// characters, as interface names must be), so rules can name it before it exists.
pub fn bridge_name(network: &str) -> String {
    let digest = Sha256::digest(network.as_bytes());
    let hex: String = digest.iter().take(7).map(|b| format!("{b:02x}")).collect();
    format!("dn{}", &hex[..13])
}

/// The firewall of `design` (topology `topology`).
pub fn spec(topology: TopologyId, design: &Design) -> FirewallSpec {
    let bridge = |lan: &decnet_domain::Lan| bridge_name(&crate::spec::network_name(topology, &lan.name));
    // A DMZ on a host interface has no bridge: its deckies' frames never cross the host's
    // netfilter (and need no exemption from Docker's isolation).
    let bridged = || design.lans.values().filter(|l| l.attachment.link().is_none());
    FirewallSpec {
        topology,
        bridges: bridged().map(bridge).collect(),
        dmz_bridge: bridged().find(|l| l.is_dmz).map(bridge),
        subnets: design.lans.values().map(|l| l.subnet).collect(),
    }
}

/// The chain names of a topology: forward, source check, destination check, host input.
pub fn chains(topology: TopologyId) -> [String; 4] {
    let id: String = topology.simple().to_string().chars().take(20).collect();
    [format!("DN-{id}-F"), format!("DN-{id}-T"), format!("DN-{id}-D"), format!("DN-{id}-H")]
}

/// The jumps into a topology's chains: (built-in chain, target chain).
pub fn jumps(topology: TopologyId) -> [(&'static str, String); 2] {
    let [forward, _, _, host] = chains(topology);
    [("DOCKER-USER", forward), ("INPUT", host)]
}

/// The `iptables` argument lists that remove a topology's firewall, in order: the jumps
/// (twice, in case two engines raced to insert one), then the chains emptied and deleted.
/// Each may fail harmlessly when its rule or chain is already gone.
pub fn removal(topology: TopologyId) -> Vec<Vec<String>> {
    let mut steps = Vec::new();
    for _ in 0..2 {
        for (builtin, chain) in jumps(topology) {
            steps.push(vec!["-D".to_owned(), builtin.to_owned(), "-j".to_owned(), chain]);
        }
    }
    for op in ["-F", "-X"] {
        steps.extend(chains(topology).into_iter().map(|chain| vec![op.to_owned(), chain]));
    }
    steps
}

/// The `iptables-restore --noflush` input that (re)creates the chains of `spec`, each
/// declared (so emptied) and filled.
pub fn rules(spec: &FirewallSpec) -> String {
    let [forward, source, destination, host] = chains(spec.topology);
    let mut text = String::from("*filter\n");
    for chain in [&forward, &source, &destination, &host] {
        let _ = writeln!(text, ":{chain} - [0:0]");
    }
    for bridge in &spec.bridges {
        let _ = writeln!(text, "-A {forward} -i {bridge} -o {bridge} -j {source}");
        let _ = writeln!(text, "-A {host} -i {bridge} -m conntrack --ctstate NEW -j DROP");
    }
    if let Some(dmz) = &spec.dmz_bridge {
        let _ = writeln!(text, "-A {forward} -i {dmz} ! -o {dmz} -m conntrack --ctstate NEW -j DROP");
    }
    for subnet in &spec.subnets {
        let _ = writeln!(text, "-A {source} -s {subnet} -j {destination}");
        let _ = writeln!(text, "-A {destination} -d {subnet} -j ACCEPT");
    }
    text.push_str("COMMIT\n");
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn bridge_names_fit_an_interface_name_and_differ_by_network() {
        let a = bridge_name("decnet-0123-dmz");
        assert!(a.len() <= 15 && a.starts_with("dn"));
        assert_ne!(a, bridge_name("decnet-0123-lan-01"));
        assert_eq!(a, bridge_name("decnet-0123-dmz"));
    }

    #[test]
    fn rules_accept_intra_topology_frames_and_drop_new_connections_out() {
        let topology = TopologyId(uuid::Uuid::from_u128(0xabcdef));
        let spec = FirewallSpec {
            topology,
            bridges: vec!["dnaaa".into(), "dnbbb".into()],
            dmz_bridge: Some("dnaaa".into()),
            subnets: vec!["10.1.0.0/24".parse().unwrap(), "10.2.0.0/24".parse().unwrap()],
        };
        let text = rules(&spec);
        let [f, t, d, h] = chains(topology);
        assert!(chains(topology).iter().all(|c| c.len() <= 28), "iptables chain names are at most 28 characters");
        for line in [
            format!("-A {f} -i dnbbb -o dnbbb -j {t}"),
            format!("-A {t} -s 10.2.0.0/24 -j {d}"),
            format!("-A {d} -d 10.1.0.0/24 -j ACCEPT"),
            format!("-A {f} -i dnaaa ! -o dnaaa -m conntrack --ctstate NEW -j DROP"),
            format!("-A {h} -i dnbbb -m conntrack --ctstate NEW -j DROP"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        assert!(text.starts_with("*filter\n") && text.ends_with("COMMIT\n"));
    }
}
