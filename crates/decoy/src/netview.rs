//! What a decky's network looks like from its shell: its interfaces and addresses, its
//! routes and its LAN neighbours, read from its own namespace (so `ip a`, `ip route`,
//! `ip neigh` and `arp -a` in the fake shell tell the truth the attacker can verify), or
//! made up around one address where the decoy runs outside a decky.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteType};

use crate::routes::RoutesError;

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Kernel index.
    pub index: u32,
    /// Name (`eth0`, ...).
    pub name: String,
    /// Hardware address, `aa:bb:...`.
    pub mac: String,
    /// Its IPv4 address and prefix, if any.
    pub addr: Option<Ipv4Net>,
}

/// A route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteLine {
    /// Destination (`0.0.0.0/0` for the default route).
    pub destination: Ipv4Net,
    /// Next hop, if not on-link.
    pub gateway: Option<Ipv4Addr>,
    /// Interface name.
    pub dev: String,
    /// Preferred source (connected routes).
    pub src: Option<Ipv4Addr>,
}

/// A neighbour (ARP entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its hardware address.
    pub mac: String,
    /// Interface name.
    pub dev: String,
}

/// A decky's network, as its shell shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetView {
    /// Interfaces, loopback first.
    pub interfaces: Vec<Interface>,
    /// Routes, default first.
    pub routes: Vec<RouteLine>,
    /// Neighbours.
    pub neighbours: Vec<Neighbour>,
    /// TCP ports something listens on in this namespace (every service of the decky).
    pub listening: Vec<u16>,
}

/// The listening TCP ports in `/proc/net/tcp` text (state `0A`).
fn listening_ports(table: &str) -> Vec<u16> {
    let mut ports: Vec<u16> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            (fields.get(3) == Some(&"0A")).then_some(())?;
            u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn mac_text(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn netlink(err: rtnetlink::Error) -> RoutesError {
    RoutesError::Netlink(err.to_string())
}

impl NetView {
    /// This namespace's network (unprivileged: dumps only).
    pub async fn read() -> Result<NetView, RoutesError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(|e| RoutesError::Netlink(e.to_string()))?;
        tokio::spawn(connection);
        let mut interfaces = Vec::new();
        let mut links = handle.link().get().execute();
        while let Some(link) = links.try_next().await.map_err(netlink)? {
            let mut iface = Interface { index: link.header.index, name: String::new(), mac: String::new(), addr: None };
            for attribute in &link.attributes {
                match attribute {
                    LinkAttribute::IfName(name) => iface.name = name.clone(),
                    LinkAttribute::Address(mac) => iface.mac = mac_text(mac),
                    _ => {}
                }
            }
            interfaces.push(iface);
        }
        let mut addresses = handle.address().get().execute();
        while let Some(address) = addresses.try_next().await.map_err(netlink)? {
            let ip = address.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            if let (Some(ip), Some(iface)) = (ip, interfaces.iter_mut().find(|i| i.index == address.header.index)) {
                iface.addr = Ipv4Net::new(ip, address.header.prefix_len).ok();
            }
        }
        let name_of =
            |index: u32| interfaces.iter().find(|i| i.index == index).map(|i| i.name.clone()).unwrap_or_default();
        let mut routes = Vec::new();
        let request = rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build();
        let mut dump = handle.route().get(request).execute();
        while let Some(route) = dump.try_next().await.map_err(netlink)? {
            if route.header.table != RouteHeader::RT_TABLE_MAIN || route.header.kind != RouteType::Unicast {
                continue;
            }
            let (mut destination, mut gateway, mut dev, mut src) = (Ipv4Addr::UNSPECIFIED, None, String::new(), None);
            for attribute in &route.attributes {
                match attribute {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => destination = *ip,
                    RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some(*ip),
                    RouteAttribute::PrefSource(RouteAddress::Inet(ip)) => src = Some(*ip),
                    RouteAttribute::Oif(index) => dev = name_of(*index),
                    _ => {}
                }
            }
            if let Ok(destination) = Ipv4Net::new(destination, route.header.destination_prefix_length) {
                routes.push(RouteLine { destination, gateway, dev, src });
            }
        }
        routes.sort_by_key(|r| (r.destination.prefix_len() != 0, r.destination));
        let mut neighbours = Vec::new();
        let mut dump = handle.neighbours().get().execute();
        while let Some(entry) = dump.try_next().await.map_err(netlink)? {
            if matches!(entry.header.state, NeighbourState::Failed | NeighbourState::Incomplete | NeighbourState::Noarp)
            {
                continue;
            }
            let mut ip = None;
            let mut mac = None;
            for attribute in &entry.attributes {
                match attribute {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(addr)) => ip = Some(*addr),
                    NeighbourAttribute::LinkLayerAddress(bytes) => mac = Some(mac_text(bytes)),
                    _ => {}
                }
            }
            if let (Some(ip), Some(mac)) = (ip, mac) {
                neighbours.push(Neighbour { ip, mac, dev: name_of(entry.header.ifindex) });
            }
        }
        neighbours.sort_by_key(|n| n.ip);
        interfaces.sort_by_key(|i| (i.name != "lo", i.index));
        let listening = std::fs::read_to_string("/proc/net/tcp").map(|t| listening_ports(&t)).unwrap_or_default();
        Ok(NetView { interfaces, routes, neighbours, listening })
    }

    /// One `eth0` with `local` on a /24 and the default route through its `.1`: the network
    /// of a decoy run outside a decky.
    pub fn around(local: Ipv4Addr, mac: &str) -> NetView {
        let net = Ipv4Net::new(local, 24).map(|n| n.trunc()).unwrap_or_default();
        let gateway = decnet_domain::alloc::gateway(net);
        NetView {
            interfaces: vec![
                Interface {
                    index: 1,
                    name: "lo".into(),
                    mac: "00:00:00:00:00:00".into(),
                    addr: "127.0.0.1/8".parse().ok(),
                },
                Interface { index: 2, name: "eth0".into(), mac: mac.to_owned(), addr: Ipv4Net::new(local, 24).ok() },
            ],
            routes: vec![
                RouteLine { destination: Ipv4Net::default(), gateway: Some(gateway), dev: "eth0".into(), src: None },
                RouteLine { destination: net, gateway: None, dev: "eth0".into(), src: Some(local) },
            ],
            neighbours: Vec::new(),
            listening: vec![22],
        }
    }

    /// `ip a`.
    pub fn ip_addr(&self) -> String {
        let mut out = String::new();
        for iface in &self.interfaces {
            if iface.name == "lo" {
                let _ = write!(
                    out,
                    "{}: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n    \
                     link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n    inet 127.0.0.1/8 scope host lo\n       \
                     valid_lft forever preferred_lft forever\n",
                    iface.index
                );
                continue;
            }
            let _ = write!(
                out,
                "{}: {}@if{}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default\n    \
                 link/ether {} brd ff:ff:ff:ff:ff:ff link-netnsid 0\n",
                iface.index,
                iface.name,
                iface.index + 40,
                iface.mac
            );
            if let Some(addr) = iface.addr {
                let _ = write!(
                    out,
                    "    inet {addr} brd {} scope global {}\n       valid_lft forever preferred_lft forever\n",
                    addr.broadcast(),
                    iface.name
                );
            }
        }
        out
    }

    /// `ip route`.
    pub fn ip_route(&self) -> String {
        let mut out = String::new();
        for route in &self.routes {
            let destination =
                if route.destination.prefix_len() == 0 { "default".to_owned() } else { route.destination.to_string() };
            match (route.gateway, route.src) {
                (Some(gateway), _) => {
                    let _ = writeln!(out, "{destination} via {gateway} dev {}", route.dev);
                }
                (None, Some(src)) => {
                    let _ = writeln!(out, "{destination} dev {} proto kernel scope link src {src}", route.dev);
                }
                (None, None) => {
                    let _ = writeln!(out, "{destination} dev {} scope link", route.dev);
                }
            }
        }
        out
    }

    /// `ip neigh`.
    pub fn ip_neigh(&self) -> String {
        self.neighbours.iter().map(|n| format!("{} dev {} lladdr {} REACHABLE\n", n.ip, n.dev, n.mac)).collect()
    }

    /// `arp -a`.
    pub fn arp_a(&self) -> String {
        self.neighbours.iter().map(|n| format!("? ({}) at {} [ether] on {}\n", n.ip, n.mac, n.dev)).collect()
    }

    /// `ifconfig`.
    pub fn ifconfig(&self) -> String {
        let mut out = String::new();
        for iface in self.interfaces.iter().filter(|i| i.name != "lo") {
            let _ = writeln!(out, "{}: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500", iface.name);
            if let Some(addr) = iface.addr {
                let _ = writeln!(
                    out,
                    "        inet {}  netmask {}  broadcast {}",
                    addr.addr(),
                    addr.netmask(),
                    addr.broadcast()
                );
            }
            let _ = write!(
                out,
                "        ether {}  txqueuelen 0  (Ethernet)\n        RX packets 1843212  bytes 1021344121 (1.0 GB)\n        \
                 TX packets 1203344  bytes 231122001 (231.1 MB)\n\n",
                iface.mac
            );
        }
        out.push_str(
            "lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536\n        inet 127.0.0.1  netmask 255.0.0.0\n        \
             loop  txqueuelen 1000  (Local Loopback)\n",
        );
        out
    }

    /// The first non-loopback address (what `hostname -I` starts with).
    pub fn addresses(&self) -> Vec<Ipv4Addr> {
        self.interfaces.iter().filter(|i| i.name != "lo").filter_map(|i| i.addr.map(|a| a.addr())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_ports_are_read_from_the_kernels_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n                        0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n                        1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1\n                        2: 0100007F:D431 0100007F:0016 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n";
        assert_eq!(listening_ports(table), [22, 8080]);
    }

    #[test]
    fn a_view_around_one_address_tells_one_consistent_story() {
        let view = NetView::around(Ipv4Addr::new(10, 1, 0, 7), "02:42:0a:01:00:07");
        assert!(view.ip_addr().contains("inet 10.1.0.7/24 brd 10.1.0.255 scope global eth0"));
        assert_eq!(
            view.ip_route(),
            "default via 10.1.0.1 dev eth0\n10.1.0.0/24 dev eth0 proto kernel scope link src 10.1.0.7\n"
        );
        assert!(view.ifconfig().contains("inet 10.1.0.7  netmask 255.255.255.0  broadcast 10.1.0.255"));
        assert_eq!(view.addresses(), [Ipv4Addr::new(10, 1, 0, 7)]);
    }
}
