//! Resource specs: what a design needs from the runtime.
//!
//! One bridge network per LAN; per decky one base container that owns its IPs, hostname
//! and OS sysctls, plus one container per service sharing the base's network namespace.
//! Names are `decnet-<topology id>-<lan>` for networks, `decnet-<topology id>-<decky>`
//! for bases and `…-<decky>_<service>` for services: decky names cannot contain `_`, so
//! no decky's base can ever collide with another decky's service container.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use decnet_domain::catalogue::{self, Proto};
use decnet_domain::routing::Route;
use decnet_domain::{Decky, Design, Lan, Name, TopologyId};
use ipnet::Ipv4Net;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::labels;

/// The unprivileged user decoy services run as.
pub const SERVICE_USER: &str = "65534:65534";

/// Memory limit of every container, in bytes.
pub const MEMORY_LIMIT: i64 = 64 * 1024 * 1024;

/// Process limit of every container.
pub const PIDS_LIMIT: i64 = 64;

/// A LAN's network: a bridge, or the DMZ on a host interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkSpec {
    /// Runtime name.
    pub name: String,
    /// Subnet.
    pub subnet: Ipv4Net,
    /// Gateway address (a bridge's `.1`; a host link's router).
    pub gateway: Ipv4Addr,
    /// No route out (every LAN but the DMZ).
    pub internal: bool,
    /// The host link, for a DMZ on a host interface.
    pub link: Option<LinkSpec>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A network on a host interface and the host's shim onto it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkSpec {
    /// `macvlan` or `ipvlan`.
    pub driver: &'static str,
    /// The host interface.
    pub parent: String,
    /// The addresses the maze may take.
    pub ip_range: Ipv4Net,
    /// The host-side interface (same driver, same parent) that lets the host reach its
    /// deckies, which the parent itself cannot.
    pub shim: String,
    /// The shim's address.
    pub host_address: Ipv4Addr,
}

/// What a container runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// Holds the network namespace.
    Base {
        /// Networks and the IP on each.
        networks: BTreeMap<String, Ipv4Addr>,
        /// Host ports to publish (gateways only).
        published: Vec<(u16, Proto)>,
        /// Whether it routes (`ip_forward`).
        forwards: bool,
        /// Its routes to LANs behind forwarders (installed by the base itself, which
        /// holds NET_ADMIN; changed live through [`crate::Runtime::set_routes`]).
        routes: Vec<Route>,
    },
    /// Runs one decoy service in the base's namespace.
    Service {
        /// Service slug.
        service: String,
        /// The base container whose namespace it joins.
        base: String,
        /// Its configuration.
        config: serde_json::Map<String, serde_json::Value>,
    },
}

/// A container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSpec {
    /// Runtime name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Hostname (bases).
    pub hostname: String,
    /// Role-specific settings.
    pub role: Role,
    /// Arguments to the decoy binary (`base`, or `serve <service>`).
    pub command: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// User to run as (services run unprivileged).
    pub user: Option<String>,
    /// Capabilities added to an otherwise empty set.
    pub cap_add: Vec<String>,
    /// Kernel sysctls (bases).
    pub sysctls: BTreeMap<String, String>,
    /// Labels, including the spec hash.
    pub labels: BTreeMap<String, String>,
}

impl ContainerSpec {
    /// The spec hash label.
    pub fn spec_hash(&self) -> &str {
        self.labels.get(labels::SPEC_HASH).map_or("", String::as_str)
    }
}

/// A container as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    /// Name.
    pub name: String,
    /// Whether it runs.
    pub running: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Networks it is connected to, with its IP there.
    pub networks: BTreeMap<String, Ipv4Addr>,
}

/// What the runtime holds for one topology.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Networks by name.
    pub networks: BTreeMap<String, BTreeMap<String, String>>,
    /// Containers by name.
    pub containers: BTreeMap<String, ObservedContainer>,
    /// Containers the runtime cannot see because their host is gone (a swarm node that is
    /// down), with the reason: not in `containers`, and failed until re-created.
    pub lost: BTreeMap<String, String>,
}

/// Runtime name of a LAN's network.
pub fn network_name(topology: TopologyId, lan: &Name) -> String {
    format!("decnet-{}-{lan}", topology.simple())
}

/// Runtime name of a decky's base container.
pub fn base_name(topology: TopologyId, decky: &Name) -> String {
    format!("decnet-{}-{decky}", topology.simple())
}

/// Runtime name of a decky's service container.
pub fn service_name(topology: TopologyId, decky: &Name, service: &str) -> String {
    format!("decnet-{}-{decky}_{service}", topology.simple())
}

fn common_labels(topology: TopologyId) -> BTreeMap<String, String> {
    BTreeMap::from([(labels::TOPOLOGY.to_owned(), topology.to_string())])
}

/// The host-side shim interface of a host-linked network, named from the network's name
/// like its bridge would be (at most 15 characters).
pub fn shim_name(network: &str) -> String {
    format!("dv{}", &crate::firewall::bridge_name(network)[2..])
}

/// The network of `lan`.
pub fn network(topology: TopologyId, lan: &Lan) -> NetworkSpec {
    let mut labels = common_labels(topology);
    labels.insert(labels::LAN.to_owned(), lan.name.to_string());
    let name = network_name(topology, &lan.name);
    let host_link = lan.attachment.link().and_then(|link| Some((link, link.host_address(lan.subnet)?)));
    let link = host_link.map(|(link, host_address)| LinkSpec {
        driver: lan.attachment.mode(),
        parent: link.interface.clone(),
        ip_range: link.ip_range,
        shim: shim_name(&name),
        host_address,
    });
    NetworkSpec {
        gateway: match lan.attachment.link() {
            Some(link) => link.gateway,
            None => decnet_domain::alloc::gateway(lan.subnet),
        },
        name,
        subnet: lan.subnet,
        internal: !lan.is_dmz,
        link,
        labels,
    }
}

/// The variable a base reads the MAC of its link to a macvlan DMZ from (the decoy's
/// `routes::LINK_MAC_ENV`), as `ADDRESS=MAC`: the base sets it itself, since Docker's API
/// before 1.44 cannot.
pub const LINK_MAC_ENV: &str = "DECNET_LINK_MAC";

/// The `ADDRESS=MAC` a decky takes on a macvlan DMZ (none on a bridge or ipvlan, where the
/// link decides): its persona's vendor and a hash of the topology and decky.
pub fn link_mac(topology: TopologyId, design: &Design, decky: &Decky) -> Option<String> {
    let (_, ip) = decky.ips.iter().find(|(lan, _)| {
        design.lans.get(*lan).is_some_and(|l| matches!(l.attachment, decnet_domain::attachment::Attachment::Macvlan(_)))
    })?;
    let seed = format!("{}/{}", topology.simple(), decky.name);
    Some(format!("{ip}={}", decnet_domain::attachment::mac_address(decky.archetype.as_deref(), seed.as_bytes())))
}

fn with_hash(mut spec: ContainerSpec) -> ContainerSpec {
    // The hash covers everything but the hash itself, the networks joined at runtime
    // (attach/detach connect and disconnect a running base instead of recreating it) and
    // the routes (changed in the running base).
    let mut hashed = spec.clone();
    if let Role::Base { networks, routes, .. } = &mut hashed.role {
        networks.clear();
        routes.clear();
    }
    // Follows the networks: taken when the base is created on a macvlan DMZ.
    hashed.env.remove(LINK_MAC_ENV);
    hashed.env.remove(ROUTES_ENV);
    hashed.env.remove(LURES_ENV);
    hashed.env.remove(KNOWN_HOSTS_ENV);
    let digest = Sha256::digest(serde_json::to_vec(&hashed).unwrap_or_default());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    spec.labels.insert(labels::SPEC_HASH.to_owned(), hash);
    spec
}

/// The variable a base reads its routes from when it starts (the decoy's
/// `routes::ROUTES_ENV`).
pub const ROUTES_ENV: &str = "DECNET_ROUTES";

/// The routes of `decky` as the base's `DECNET_ROUTES` and `routes set` take them.
pub fn routes_json(routes: &[Route]) -> String {
    serde_json::to_string(routes).unwrap_or_else(|_| "[]".into())
}

/// What the decoys read about their decky: identity (events), archetype (persona) and
/// home LAN.
/// The host name a decky answers with: its persona's, never the operator's label (the
/// label only until the store has assigned one).
fn hostname(decky: &Decky) -> String {
    decky.hostname.as_ref().unwrap_or(&decky.name).to_string()
}

fn decoy_env(topology: TopologyId, decky: &Decky) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("DECNET_TOPOLOGY".to_owned(), topology.to_string()),
        ("DECNET_DECKY".to_owned(), decky.name.to_string()),
        ("DECNET_LAN".to_owned(), decky.home_lan.to_string()),
        ("DECNET_HOSTNAME".to_owned(), hostname(decky)),
    ]);
    if let Some(archetype) = &decky.archetype {
        env.insert("DECNET_ARCHETYPE".to_owned(), archetype.clone());
    }
    env
}

/// The base container of `decky`, running `image`.
pub fn base(topology: TopologyId, design: &Design, decky: &Decky, image: &str) -> ContainerSpec {
    let mut sysctls: BTreeMap<String, String> = catalogue::os_family_of(decky.archetype.as_deref())
        .sysctls()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if decky.forwards_l3 {
        sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
    }
    // Services run unprivileged in this namespace and still bind their well-known ports.
    sysctls.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
    let published = if design.publishes_ports(decky) {
        let mut ports: Vec<_> = decnet_domain::validate::published_ports(decky).collect();
        ports.sort_unstable();
        ports
    } else {
        Vec::new()
    };
    let mut labels = common_labels(topology);
    labels.insert(labels::DECKY.to_owned(), decky.name.to_string());
    labels.insert(labels::ROLE.to_owned(), "base".into());
    let routes = decnet_domain::routing::routes_of(design, decky);
    let mut env = decoy_env(topology, decky);
    env.insert(ROUTES_ENV.to_owned(), routes_json(&routes));
    if let Some(link) = link_mac(topology, design, decky) {
        env.insert(LINK_MAC_ENV.to_owned(), link);
    }
    with_hash(ContainerSpec {
        name: base_name(topology, &decky.name),
        image: image.to_owned(),
        hostname: hostname(decky),
        role: Role::Base {
            networks: decky.ips.iter().map(|(lan, ip)| (network_name(topology, lan), *ip)).collect(),
            published,
            forwards: decky.forwards_l3,
            routes,
        },
        command: vec!["base".into()],
        env,
        user: None,
        // The base keeps its namespace's routes; no other capability. Services, which
        // face attackers, run unprivileged and without it.
        cap_add: vec!["NET_ADMIN".into()],
        sysctls,
        labels,
    })
}

/// The variable a shell-bearing service reads its lure files from (the decoy's
/// `DECNET_LURES`): outside the spec hash, since lures follow the design while the decoy
/// runs, and a service is not recreated for a new breadcrumb.
pub const LURES_ENV: &str = "DECNET_LURES";

/// The variable a shell-bearing service reads its `known_hosts` entries from (the
/// decoy derives each target's host key); outside the spec hash like the lure files.
pub const KNOWN_HOSTS_ENV: &str = "DECNET_KNOWN_HOSTS";

/// The variable the ssh, mysql and postgres decoys read their lure accounts from: the
/// decky's own for that service, which depends on the topology, the decky's name and the
/// service only (`lures::account_for`), so it never changes.
pub const ACCOUNTS_ENV: &str = "DECNET_ACCOUNTS";

/// The lure environment of `service` on `decky`: its lure files and known hosts (a
/// shell-bearing service) and the account its lures elsewhere name (ssh, databases).
fn lure_env(
    topology: TopologyId,
    design: &Design,
    decky: &Decky,
    service: &str,
    density: decnet_domain::lures::Density,
    env: &mut BTreeMap<String, String>,
) {
    use decnet_domain::lures;
    let seed = lures::seed_of(topology);
    if service == "ssh" || lures::DATABASE_SERVICES.contains(&service) {
        let account = vec![lures::account_for(seed, &decky.name, service)];
        env.insert(ACCOUNTS_ENV.to_owned(), serde_json::to_string(&account).unwrap_or_default());
    }
    if matches!(service, "ssh" | "telnet") {
        let found = lures::lures_of(design, seed, density, decky);
        let files = lures::files(&found);
        if !files.is_empty() {
            env.insert(LURES_ENV.to_owned(), serde_json::to_string(&files).unwrap_or_default());
        }
        let known = lures::known_hosts(&found);
        if !known.is_empty() {
            env.insert(KNOWN_HOSTS_ENV.to_owned(), serde_json::to_string(&known).unwrap_or_default());
        }
    }
}

/// The container of one service of `decky` in `design`, running `image`, with lures at
/// `density`.
pub fn service(
    topology: TopologyId,
    design: &Design,
    decky: &Decky,
    service: &str,
    image: &str,
    density: decnet_domain::lures::Density,
) -> ContainerSpec {
    let mut labels = common_labels(topology);
    labels.insert(labels::DECKY.to_owned(), decky.name.to_string());
    labels.insert(labels::ROLE.to_owned(), "service".into());
    labels.insert(labels::SERVICE.to_owned(), service.to_owned());
    with_hash(ContainerSpec {
        name: service_name(topology, &decky.name, service),
        image: image.to_owned(),
        hostname: hostname(decky),
        role: Role::Service {
            service: service.to_owned(),
            base: base_name(topology, &decky.name),
            config: decky.service_config.get(service).cloned().unwrap_or_default(),
        },
        command: vec!["serve".into(), service.to_owned()],
        env: {
            let mut env = decoy_env(topology, decky);
            if let Some(config) = decky.service_config.get(service).filter(|c| !c.is_empty()) {
                env.insert("DECNET_SERVICE_CONFIG".to_owned(), serde_json::Value::Object(config.clone()).to_string());
            }
            lure_env(topology, design, decky, service, density, &mut env);
            env
        },
        user: Some(SERVICE_USER.into()),
        cap_add: Vec::new(),
        sysctls: BTreeMap::new(),
        labels,
    })
}

/// Every container of `decky`, base first, with lures at `density`.
pub fn decky_containers(
    topology: TopologyId,
    design: &Design,
    decky: &Decky,
    image: &str,
    density: decnet_domain::lures::Density,
) -> Vec<ContainerSpec> {
    std::iter::once(base(topology, design, decky, image))
        .chain(decky.services.iter().map(|s| service(topology, design, decky, s, image, density)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn defect_09_29_names_are_scoped_by_the_full_topology_id() {
        // Two ids sharing their first 8 hex digits still give distinct names.
        let a = TopologyId(uuid::Uuid::from_u128(0x1234_5678_0000_0000_0000_0000_0000_0001));
        let b = TopologyId(uuid::Uuid::from_u128(0x1234_5678_0000_0000_0000_0000_0000_0002));
        let decky = name("decky-001");
        assert_ne!(base_name(a, &decky), base_name(b, &decky));
        assert_ne!(service_name(a, &decky, "ssh"), service_name(b, &decky, "ssh"));
        assert_ne!(network_name(a, &name("lan-00")), network_name(b, &name("lan-00")));
        // A decky called "x-ssh" never takes the name of decky "x"'s ssh container.
        assert_ne!(base_name(a, &name("x-ssh")), service_name(a, &name("x"), "ssh"));
    }
}
