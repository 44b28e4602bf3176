//! How the DMZ meets the host's network.
//!
//! `bridge` (the default) is a Docker bridge behind the host: the gateway publishes its
//! ports on the host's addresses. `macvlan` and `ipvlan` (L2) put the DMZ on the network a
//! host interface is plugged into: every DMZ decky is a neighbour there with its own
//! address (and, with macvlan, its own MAC), taken from a range of the operator's subnet,
//! and nothing is published on the host. The DMZ LAN's `subnet` is then the operator's
//! subnet; the range is where deckies' addresses come from, its last usable address is
//! the host's own (the shim interface the runtime adds so the host still reaches its
//! deckies), and `gateway` is the operator's router.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// How a LAN's network is attached: only the DMZ may be anything but `Bridge`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", try_from = "AttachmentFields")]
pub enum Attachment {
    /// A Docker bridge behind the host (gateway ports published on the host).
    #[default]
    Bridge,
    /// MACVLAN on a host interface: own address and own MAC per decky.
    Macvlan(HostLink),
    /// IPvlan L2 on a host interface: own address, the interface's MAC (for links that
    /// allow one MAC only, such as Wi-Fi).
    Ipvlan(HostLink),
}

/// An attachment as written: every field named, so a stray or missing one is said by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentFields {
    mode: String,
    interface: Option<String>,
    gateway: Option<Ipv4Addr>,
    ip_range: Option<Ipv4Net>,
}

impl TryFrom<AttachmentFields> for Attachment {
    type Error = String;

    fn try_from(fields: AttachmentFields) -> Result<Self, String> {
        let link = match (fields.interface, fields.gateway, fields.ip_range) {
            (Some(interface), Some(gateway), Some(ip_range)) => Some(HostLink { interface, gateway, ip_range }),
            (None, None, None) => None,
            _ => return Err(format!("mode {} needs interface, gateway and ip_range together", fields.mode)),
        };
        match (fields.mode.as_str(), link) {
            ("bridge", None) => Ok(Attachment::Bridge),
            ("bridge", Some(_)) => Err("mode bridge takes no interface, gateway or ip_range".into()),
            ("macvlan", Some(link)) => Ok(Attachment::Macvlan(link)),
            ("ipvlan", Some(link)) => Ok(Attachment::Ipvlan(link)),
            ("macvlan" | "ipvlan", None) => Err(format!("mode {} needs interface, gateway and ip_range", fields.mode)),
            (other, _) => Err(format!("unknown mode {other:?} (expected bridge, macvlan or ipvlan)")),
        }
    }
}

/// The host network a `macvlan`/`ipvlan` DMZ sits on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLink {
    /// The host interface (the parent of the deckies' links).
    pub interface: String,
    /// The network's router (the deckies' default route).
    pub gateway: Ipv4Addr,
    /// The addresses the maze may take, inside the LAN's subnet.
    pub ip_range: Ipv4Net,
}

impl Attachment {
    /// The wire spelling of the mode.
    pub fn mode(&self) -> &'static str {
        match self {
            Attachment::Bridge => "bridge",
            Attachment::Macvlan(_) => "macvlan",
            Attachment::Ipvlan(_) => "ipvlan",
        }
    }

    /// The host link, unless this is a bridge.
    pub fn link(&self) -> Option<&HostLink> {
        match self {
            Attachment::Bridge => None,
            Attachment::Macvlan(link) | Attachment::Ipvlan(link) => Some(link),
        }
    }
}

/// Why a host link does not fit its LAN.
pub fn problems(link: &HostLink, subnet: Ipv4Net) -> Vec<String> {
    let mut problems = Vec::new();
    if !interface_name_ok(&link.interface) {
        problems.push(format!(
            "interface {:?} is not a Linux interface name (1-15 characters of A-Z a-z 0-9 . _ -)",
            link.interface
        ));
    }
    if !subnet.contains(&link.gateway) || link.gateway == subnet.network() || link.gateway == subnet.broadcast() {
        problems.push(format!("gateway {} is not a host address of {subnet}", link.gateway));
    }
    if !subnet.contains(&link.ip_range) {
        problems.push(format!("ip_range {} is not inside {subnet}", link.ip_range));
    } else if link.ip_range.contains(&link.gateway) {
        problems.push(format!("ip_range {} holds the gateway {}", link.ip_range, link.gateway));
    } else if span(link, subnet).is_none() {
        problems.push(format!(
            "ip_range {} leaves fewer than two host addresses (one for a decky, one for the host)",
            link.ip_range
        ));
    }
    problems
}

/// Whether `name` can name a Linux network interface (and is safe on a command line).
pub fn interface_name_ok(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The usable addresses of the range as inclusive integers: the range without the
/// subnet's network and broadcast addresses; `None` under two addresses.
fn span(link: &HostLink, subnet: Ipv4Net) -> Option<(u32, u32)> {
    let first = u32::from(link.ip_range.network()).max(u32::from(subnet.network()).saturating_add(1));
    let last = u32::from(link.ip_range.broadcast()).min(u32::from(subnet.broadcast()).saturating_sub(1));
    (last > first).then_some((first, last))
}

impl HostLink {
    /// The host's own address on the network (its shim interface): the range's last
    /// usable address, never given to a decky.
    pub fn host_address(&self, subnet: Ipv4Net) -> Option<Ipv4Addr> {
        span(self, subnet).map(|(_, last)| Ipv4Addr::from(last))
    }

    /// The addresses deckies may take, as inclusive integers.
    pub fn decky_span(&self, subnet: Ipv4Net) -> Option<(u32, u32)> {
        span(self, subnet).map(|(first, last)| (first, last - 1))
    }
}

/// A MAC for a decky's own link: the vendor prefix (OUI) of hardware its persona would
/// run on, then three bytes from `seed` (stable for the decky, so a re-created container
/// keeps its MAC and a neighbour's ARP cache stays right).
pub fn mac_address(archetype: Option<&str>, seed: &[u8]) -> String {
    let oui = vendor_oui(archetype);
    let digest = fnv1a(seed).to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", oui[0], oui[1], oui[2], digest[5], digest[6], digest[7])
}

/// A vendor the persona's hardware plausibly comes from (real, registered OUIs).
fn vendor_oui(archetype: Option<&str>) -> [u8; 3] {
    match archetype.unwrap_or_default() {
        "printer" => [0x00, 0x1b, 0x78],            // Hewlett-Packard
        "industrial-control" => [0x00, 0x1d, 0x9c], // Rockwell Automation
        "iot-device" => [0x24, 0x0a, 0xc4],         // Espressif
        "file-server" => [0x00, 0x11, 0x32],        // Synology
        "windows-server" | "windows-workstation" | "domain-controller" => [0x00, 0x14, 0x22], // Dell
        _ => [0x00, 0x25, 0x90],                    // Super Micro Computer (rack servers)
    }
}

/// FNV-1a: a stable, dependency-free hash (the MAC must not change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn link(range: &str, gateway: &str) -> HostLink {
        HostLink { interface: "eth0".into(), gateway: gateway.parse().unwrap(), ip_range: range.parse().unwrap() }
    }

    #[test]
    fn a_range_inside_the_subnet_gives_decky_addresses_and_one_host_address() {
        let subnet: Ipv4Net = "192.168.1.0/24".parse().unwrap();
        let ok = link("192.168.1.192/27", "192.168.1.1");
        assert!(problems(&ok, subnet).is_empty());
        assert_eq!(ok.host_address(subnet), Some("192.168.1.223".parse().unwrap()));
        let (first, last) = ok.decky_span(subnet).unwrap();
        assert_eq!(
            (Ipv4Addr::from(first), Ipv4Addr::from(last)),
            ("192.168.1.192".parse().unwrap(), "192.168.1.222".parse().unwrap())
        );
        // The subnet's broadcast address is never the host's.
        let top = link("192.168.1.240/28", "192.168.1.1");
        assert_eq!(top.host_address(subnet), Some("192.168.1.254".parse().unwrap()));
    }

    #[test]
    fn ranges_outside_the_subnet_holding_the_gateway_or_too_small_are_refused() {
        let subnet: Ipv4Net = "10.0.0.0/24".parse().unwrap();
        assert!(problems(&link("10.0.1.0/28", "10.0.0.1"), subnet)[0].contains("not inside"));
        assert!(problems(&link("10.0.0.0/28", "10.0.0.1"), subnet)[0].contains("holds the gateway"));
        assert!(problems(&link("10.0.0.200/32", "10.0.0.1"), subnet)[0].contains("fewer than two"));
        assert!(problems(&link("10.0.0.64/26", "10.0.1.1"), subnet)[0].contains("gateway"));
        let bad = HostLink { interface: "eth0; reboot".into(), ..link("10.0.0.64/26", "10.0.0.1") };
        assert!(problems(&bad, subnet)[0].contains("interface"));
    }

    #[test]
    fn macs_are_stable_unicast_and_follow_the_persona_vendor() {
        let a = mac_address(Some("windows-workstation"), b"t/decky-1");
        assert_eq!(a, mac_address(Some("windows-workstation"), b"t/decky-1"));
        assert_ne!(a, mac_address(Some("windows-workstation"), b"t/decky-2"));
        assert!(a.starts_with("00:14:22:"), "{a}");
        assert!(mac_address(None, b"x").starts_with("00:25:90:"));
        assert_eq!(u8::from_str_radix(&a[..2], 16).unwrap() & 1, 0, "unicast");
    }

    #[test]
    fn modes_round_trip_as_the_wire_spells_them() {
        let json = r#"{"mode":"macvlan","interface":"eth0","gateway":"10.0.0.1","ip_range":"10.0.0.64/26"}"#;
        let parsed: Attachment = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.mode(), "macvlan");
        assert_eq!(serde_json::to_string(&parsed).unwrap(), json);
        assert_eq!(serde_json::from_str::<Attachment>(r#"{"mode":"bridge"}"#).unwrap(), Attachment::Bridge);
        assert!(serde_json::from_str::<Attachment>(r#"{"mode":"vxlan"}"#).is_err());
        assert!(serde_json::from_str::<Attachment>(r#"{"mode":"bridge","interface":"eth0"}"#).is_err());
        let stray = r#"{"mode":"ipvlan","interface":"eth0","gateway":"10.0.0.1","ip_range":"10.0.0.64/26","vlan":7}"#;
        assert!(serde_json::from_str::<Attachment>(stray).is_err());
    }
}
