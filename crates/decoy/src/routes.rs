//! A decky's routes in its own network namespace, and what its decoys may reach.
//!
//! The base container keeps the kernel's routing table equal to the routes the design
//! gives its decky (`decnet_domain::routing`): the desired list comes from
//! `DECNET_ROUTES` at creation and, after a live change, from the file that
//! `decnet-decoy routes set` writes (the runtime runs it in the base); the base re-applies
//! it every second, so a route deleted by hand comes back. Only gateway routes to a
//! subnet are managed: the connected routes of the decky's LANs and Docker's default route
//! are the kernel's and Docker's.
//!
//! [`Reach`] is the other half of "nothing leaves the maze": before a decoy opens any
//! connection (a tunnel, a hop, a fetch), the destination must be inside the maze as this
//! namespace routes it — covered by a connected or managed route, never by the default
//! route, and never a LAN's `.1`, which is the host's side of a Docker bridge.

use std::net::Ipv4Addr;
use std::path::Path;

use decnet_domain::routing::Route;
use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType};
use rtnetlink::{Handle, RouteMessageBuilder};

/// Where `routes set` keeps the desired routes (a tmpfs the runtime mounts on bases).
pub const DESIRED_FILE: &str = "/run/decnet/routes.json";

/// The environment variable holding the routes a base was created with.
pub const ROUTES_ENV: &str = "DECNET_ROUTES";

/// The environment variable naming the MAC a base takes on its own link to the host's
/// network (a macvlan DMZ), as `ADDRESS=MAC`: Docker's API before 1.44 cannot set it.
pub const LINK_MAC_ENV: &str = "DECNET_LINK_MAC";

/// Why routes could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    /// Netlink could not be opened or answered with an error.
    #[error("netlink: {0}")]
    Netlink(String),
    /// The desired routes are not a JSON list of routes.
    #[error("routes are not valid: {0}")]
    Invalid(String),
    /// The desired-routes file could not be written.
    #[error("cannot keep the routes: {0}")]
    Io(#[from] std::io::Error),
}

/// A managed route as the kernel holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct KernelRoute {
    /// The subnet reached.
    pub destination: Ipv4Net,
    /// The next hop.
    pub gateway: Ipv4Addr,
}

impl From<&Route> for KernelRoute {
    fn from(route: &Route) -> Self {
        KernelRoute { destination: route.destination, gateway: route.gateway }
    }
}

/// What one pass changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Routes installed.
    pub added: Vec<KernelRoute>,
    /// Routes removed.
    pub removed: Vec<KernelRoute>,
}

/// One IPv4 route of the main table: destination, its prefix, and its gateway if any.
#[derive(Debug, Clone, Copy)]
struct TableEntry {
    destination: Ipv4Net,
    gateway: Option<Ipv4Addr>,
}

fn connect() -> Result<Handle, RoutesError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(|e| RoutesError::Netlink(e.to_string()))?;
    tokio::spawn(connection);
    Ok(handle)
}

/// Gives the interface holding `address` the MAC `mac` (`aa:bb:cc:dd:ee:ff`). Done by the
/// base at start, before its services answer anyone, so no neighbour caches another.
pub async fn set_link_mac(address: Ipv4Addr, mac: &str) -> Result<(), RoutesError> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| RoutesError::Invalid(format!("MAC {mac:?}")))?;
    if bytes.len() != 6 {
        return Err(RoutesError::Invalid(format!("MAC {mac:?}")));
    }
    let handle = connect()?;
    let mut found = handle.address().get().set_address_filter(address.into()).execute();
    let Some(message) = found.try_next().await.map_err(netlink)? else {
        return Err(RoutesError::Invalid(format!("no interface holds {address}")));
    };
    let link = rtnetlink::LinkUnspec::new_with_index(message.header.index).address(bytes).build();
    handle.link().set(link).execute().await.map_err(netlink)
}

/// [`set_link_mac`] for `ADDRESS=MAC` (as in [`LINK_MAC_ENV`]).
pub async fn set_link(value: &str) -> Result<(), RoutesError> {
    let invalid = || RoutesError::Invalid(format!("link {value:?} is not ADDRESS=MAC"));
    let (address, mac) = value.split_once('=').ok_or_else(invalid)?;
    set_link_mac(address.parse().map_err(|_| invalid())?, mac).await
}

/// [`set_link`] for the value of [`LINK_MAC_ENV`], if set.
pub async fn set_link_mac_from_env() -> Result<Option<String>, RoutesError> {
    let Ok(value) = std::env::var(LINK_MAC_ENV) else { return Ok(None) };
    set_link(&value).await.map(|()| Some(value))
}

fn netlink(err: rtnetlink::Error) -> RoutesError {
    RoutesError::Netlink(err.to_string())
}

fn entry(message: &RouteMessage) -> Option<TableEntry> {
    let header = &message.header;
    if header.table != RouteHeader::RT_TABLE_MAIN || header.kind != RouteType::Unicast {
        return None;
    }
    let mut destination = Ipv4Addr::UNSPECIFIED;
    let mut gateway = None;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Destination(RouteAddress::Inet(addr)) => destination = *addr,
            RouteAttribute::Gateway(RouteAddress::Inet(addr)) => gateway = Some(*addr),
            _ => {}
        }
    }
    let destination = Ipv4Net::new(destination, header.destination_prefix_length).ok()?;
    Some(TableEntry { destination, gateway })
}

async fn table(handle: &Handle) -> Result<Vec<TableEntry>, RoutesError> {
    let request = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let mut dump = handle.route().get(request).execute();
    let mut entries = Vec::new();
    while let Some(message) = dump.try_next().await.map_err(netlink)? {
        entries.extend(entry(&message));
    }
    Ok(entries)
}

fn managed(entries: &[TableEntry]) -> Vec<KernelRoute> {
    let mut routes: Vec<KernelRoute> = entries
        .iter()
        .filter(|e| e.destination.prefix_len() > 0)
        .filter_map(|e| Some(KernelRoute { destination: e.destination, gateway: e.gateway? }))
        .collect();
    routes.sort();
    routes
}

/// The managed routes the kernel holds now (gateway routes to a subnet).
pub async fn current() -> Result<Vec<KernelRoute>, RoutesError> {
    Ok(managed(&table(&connect()?).await?))
}

fn message(route: &KernelRoute) -> RouteMessage {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(route.destination.network(), route.destination.prefix_len())
        .gateway(route.gateway)
        .build()
}

/// Makes the kernel's managed routes equal `desired`: installs what is missing, removes
/// what is not wanted (a route to the same subnet through another gateway is replaced).
pub async fn sync(desired: &[KernelRoute]) -> Result<SyncReport, RoutesError> {
    let handle = connect()?;
    let have = managed(&table(&handle).await?);
    let mut report = SyncReport::default();
    for route in have.iter().filter(|r| !desired.contains(r)) {
        handle.route().del(message(route)).execute().await.map_err(netlink)?;
        report.removed.push(*route);
    }
    for route in desired.iter().filter(|r| !have.contains(r)) {
        handle.route().add(message(route)).replace().execute().await.map_err(netlink)?;
        report.added.push(*route);
    }
    Ok(report)
}

/// Parses a JSON list of routes (the domain's `Route`, or just destination and gateway).
pub fn parse(text: &str) -> Result<Vec<KernelRoute>, RoutesError> {
    let mut routes: Vec<KernelRoute> = serde_json::from_str(text).map_err(|e| RoutesError::Invalid(e.to_string()))?;
    routes.sort();
    routes.dedup();
    if let Some(route) = routes.iter().find(|r| r.destination.prefix_len() == 0) {
        return Err(RoutesError::Invalid(format!("{} would replace the default route", route.destination)));
    }
    Ok(routes)
}

/// The routes this base should hold: the last `routes set`, else those it was created with.
pub fn desired() -> Result<Vec<KernelRoute>, RoutesError> {
    match std::fs::read_to_string(DESIRED_FILE) {
        Ok(text) => parse(&text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => match std::env::var(ROUTES_ENV) {
            Ok(text) => parse(&text),
            Err(_) => Ok(Vec::new()),
        },
        Err(err) => Err(err.into()),
    }
}

/// Keeps `routes` as the desired routes of this base (written whole, then renamed, so the
/// base never reads half a list).
pub fn keep(routes: &[KernelRoute], file: &Path) -> Result<(), RoutesError> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string(routes).map_err(|e| RoutesError::Invalid(e.to_string()))?;
    let staged = file.with_extension("json.new");
    std::fs::write(&staged, text)?;
    std::fs::rename(staged, file)?;
    Ok(())
}

/// Which destinations a decoy may open connections to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Inside the maze as this namespace routes it (in a decky).
    Maze,
    /// Only these subnets (a decoy run on a host, for development and tests).
    Only(Vec<Ipv4Net>),
    /// Nowhere.
    Nowhere,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Outside the maze (or the host's side of a LAN).
    #[error("{0} is outside the maze")]
    Outside(Ipv4Addr),
    /// The routing table could not be read: refuse rather than guess.
    #[error("no route to {0}")]
    Unknown(Ipv4Addr),
}

impl Reach {
    /// The default: the maze inside a decky (`DECNET_TOPOLOGY` set), nowhere elsewhere.
    pub fn from_env() -> Reach {
        if std::env::var_os("DECNET_TOPOLOGY").is_some() { Reach::Maze } else { Reach::Nowhere }
    }

    /// Whether a decoy may connect to `destination`.
    pub async fn check(&self, destination: Ipv4Addr) -> Result<(), Refusal> {
        match self {
            Reach::Nowhere => Err(Refusal::Outside(destination)),
            Reach::Only(nets) if nets.iter().any(|n| n.contains(&destination)) => Ok(()),
            Reach::Only(_) => Err(Refusal::Outside(destination)),
            Reach::Maze => {
                let handle = connect().map_err(|_| Refusal::Unknown(destination))?;
                let entries = table(&handle).await.map_err(|_| Refusal::Unknown(destination))?;
                if inside(&entries, destination) { Ok(()) } else { Err(Refusal::Outside(destination)) }
            }
        }
    }
}

/// Whether `destination` is inside the maze given this namespace's table: a LAN's
/// connected route or a managed route covers it, and it is none of a connected LAN's
/// network address, broadcast or `.1` (the host's bridge).
fn inside(entries: &[TableEntry], destination: Ipv4Addr) -> bool {
    let covered = entries.iter().any(|e| e.destination.prefix_len() > 0 && e.destination.contains(&destination));
    let reserved = entries.iter().filter(|e| e.gateway.is_none() && e.destination.prefix_len() > 0).any(|lan| {
        let net = lan.destination;
        destination == net.network()
            || destination == net.broadcast()
            || destination == decnet_domain::alloc::gateway(net)
    });
    covered && !reserved
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn lan(net: &str) -> TableEntry {
        TableEntry { destination: net.parse().unwrap(), gateway: None }
    }

    fn via(net: &str, gateway: &str) -> TableEntry {
        TableEntry { destination: net.parse().unwrap(), gateway: Some(gateway.parse().unwrap()) }
    }

    #[test]
    fn the_maze_is_what_connected_and_managed_routes_cover_never_the_default_or_the_host() {
        let table =
            [via("0.0.0.0/0", "10.1.0.1"), lan("10.1.0.0/24"), lan("10.2.0.0/24"), via("10.3.0.0/24", "10.2.0.7")];
        for ok in ["10.1.0.9", "10.2.0.7", "10.3.0.20"] {
            assert!(inside(&table, ok.parse().unwrap()), "{ok}");
        }
        // The internet, the host's bridge side of each LAN, network and broadcast.
        for refused in ["8.8.8.8", "172.17.0.1", "10.1.0.1", "10.2.0.1", "10.1.0.0", "10.2.0.255", "10.4.0.5"] {
            assert!(!inside(&table, refused.parse().unwrap()), "{refused}");
        }
    }

    #[test]
    fn managed_routes_are_the_gateway_routes_to_a_subnet() {
        let table = [via("0.0.0.0/0", "10.1.0.1"), lan("10.1.0.0/24"), via("10.3.0.0/24", "10.1.0.7")];
        assert_eq!(
            managed(&table),
            vec![KernelRoute { destination: "10.3.0.0/24".parse().unwrap(), gateway: "10.1.0.7".parse().unwrap() }]
        );
    }

    #[test]
    fn desired_routes_parse_from_the_domains_routes_and_refuse_a_default_route() {
        let routes = parse(r#"[{"destination":"10.3.0.0/24","lan":"lan-01","gateway":"10.1.0.7"}]"#).unwrap();
        assert_eq!(routes.len(), 1);
        assert!(parse(r#"[{"destination":"0.0.0.0/0","gateway":"10.1.0.7"}]"#).is_err());
        assert!(parse("not json").is_err());
    }

    #[tokio::test]
    async fn only_reach_allows_its_subnets_and_nowhere_allows_nothing() {
        let reach = Reach::Only(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(reach.check(Ipv4Addr::LOCALHOST).await.is_ok());
        assert_eq!(reach.check(Ipv4Addr::new(10, 0, 0, 1)).await, Err(Refusal::Outside(Ipv4Addr::new(10, 0, 0, 1))));
        assert!(Reach::Nowhere.check(Ipv4Addr::LOCALHOST).await.is_err());
    }
}
