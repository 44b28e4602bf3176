//! Validation rules over a typed [`Design`].
//!
//! [`validate`] runs every rule and returns every issue at once. Each rule is a sort, a
//! hash map or a union-find pass: nothing compares LANs or deckies pairwise, so 5,000
//! deckies validate in milliseconds. Facts from outside the design (other topologies'
//! subnets and host ports, ports listening on the host) come in through [`Context`].

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
// Fx hashing: these maps are rebuilt on every validation and keyed by short names.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::alloc::is_reserved;
use crate::catalogue::{self, Proto};
use crate::issue::{Code, Issue, Target};
use crate::model::{Decky, Design};
use crate::name::Name;

/// A subnet held by another topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignSubnet {
    /// The other topology's name.
    pub topology: String,
    /// Its LAN's subnet.
    pub subnet: Ipv4Net,
}

/// A host port published by another topology's gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignPort {
    /// The other topology's name.
    pub topology: String,
    /// The port.
    pub port: u16,
    /// Its protocol.
    pub proto: Proto,
}

/// Facts from outside the design that some rules need.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Subnets of every other topology that is not torn down.
    pub foreign_subnets: Vec<ForeignSubnet>,
    /// Host ports published by other deployed topologies.
    pub foreign_ports: Vec<ForeignPort>,
    /// Ports already listening on the host (for the PORT_COLLISION warning).
    pub host_listening: Vec<(u16, Proto)>,
}

/// Which rules to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every rule (deploy, `topology validate`).
    Full,
    /// The invariants every accepted mutation must keep: everything except LAN
    /// reachability (a new LAN is legitimately unreachable until a decky bridges it)
    /// and host-dependent warnings.
    PostApply,
}

/// Runs the rules of `scope` over `design`.
pub fn validate(design: &Design, ctx: &Context, scope: Scope) -> Vec<Issue> {
    let mut issues = Vec::new();
    check_dmz(design, &mut issues);
    if scope == Scope::Full {
        check_dmz_reachability(design, &mut issues);
    }
    check_attachments(design, &mut issues);
    check_subnets(design, ctx, &mut issues);
    check_memberships(design, &mut issues);
    for decky in design.deckies.values() {
        check_services(decky, &mut issues);
        check_forwarding(design, decky, &mut issues);
    }
    check_gateway_ports(design, ctx, scope, &mut issues);
    issues
}

fn check_dmz(design: &Design, issues: &mut Vec<Issue>) {
    let dmzs: Vec<String> = design.lans.values().filter(|l| l.is_dmz).map(|l| l.name.to_string()).collect();
    match dmzs.len() {
        0 => issues.push(Issue::error(Code::DmzMissing, Target::default(), "no LAN is marked as the DMZ")),
        1 => {}
        _ => issues.push(Issue::error(
            Code::DmzMultiple,
            Target { lans: dmzs.clone(), ..Target::default() },
            format!("{} LANs are marked as the DMZ: {}", dmzs.len(), dmzs.join(", ")),
        )),
    }
}

fn check_attachments(design: &Design, issues: &mut Vec<Issue>) {
    for lan in design.lans.values() {
        let Some(link) = lan.attachment.link() else { continue };
        let target = || Target { field: Some("attachment".into()), ..Target::lan(lan.name.as_str()) };
        if !lan.is_dmz {
            issues.push(Issue::error(
                Code::AttachmentInvalid,
                target(),
                format!("LAN {} is not the DMZ; only the DMZ can sit on a host interface", lan.name),
            ));
        }
        for problem in crate::attachment::problems(link, lan.subnet) {
            issues.push(Issue::error(
                Code::AttachmentInvalid,
                target(),
                format!("{} of LAN {}: {problem}", lan.attachment.mode(), lan.name),
            ));
        }
    }
}

/// Union-find over LAN indices.
struct Components(Vec<usize>);

impl Components {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.0[ra] = rb;
        }
    }
}

fn check_dmz_reachability(design: &Design, issues: &mut Vec<Issue>) {
    let Some(dmz) = design.lans.values().find(|l| l.is_dmz) else {
        return;
    };
    let index: HashMap<&Name, usize> = design.lans.keys().enumerate().map(|(i, n)| (n, i)).collect();
    let mut components = Components((0..index.len()).collect());
    for decky in design.deckies.values() {
        let mut lans = decky.ips.keys().filter_map(|l| index.get(l).copied());
        if let Some(first) = lans.next() {
            lans.for_each(|other| components.union(first, other));
        }
    }
    let root = components.find(index[&dmz.name]);
    for (name, &i) in &index {
        if components.find(i) != root {
            issues.push(Issue::error(
                Code::DmzOrphan,
                Target::lan(name.as_str()),
                format!("LAN {name} cannot be reached from the DMZ {}", dmz.name),
            ));
        }
    }
}

fn check_subnets(design: &Design, ctx: &Context, issues: &mut Vec<Issue>) {
    let mut spans: Vec<(u32, u32, &Name)> = Vec::with_capacity(design.lans.len());
    for lan in design.lans.values() {
        let prefix = lan.subnet.prefix_len();
        // A host link's subnet is the operator's network: /8 to /30, not the bridges' sizes.
        let sizes = if lan.attachment.link().is_some() { 8..=30 } else { 16..=29 };
        if !sizes.contains(&prefix) {
            issues.push(Issue::error(
                Code::SubnetSize,
                Target::lan(lan.name.as_str()),
                format!("LAN {} is a /{prefix}; it must be between /{} and /{}", lan.name, sizes.start(), sizes.end()),
            ));
        }
        spans.push((u32::from(lan.subnet.network()), u32::from(lan.subnet.broadcast()), &lan.name));
    }
    spans.sort_unstable();
    let mut widest: Option<(u32, &Name)> = None;
    for &(start, end, name) in &spans {
        if let Some((max_end, holder)) = widest
            && start <= max_end
        {
            issues.push(Issue::error(
                Code::SubnetOverlap,
                Target { lans: vec![holder.to_string(), name.to_string()], ..Target::default() },
                format!("subnets of LANs {holder} and {name} overlap"),
            ));
        }
        if widest.is_none_or(|(max_end, _)| end > max_end) {
            widest = Some((end, name));
        }
    }
    check_subnets_taken(&spans, ctx, issues);
}

fn check_subnets_taken(spans: &[(u32, u32, &Name)], ctx: &Context, issues: &mut Vec<Issue>) {
    if ctx.foreign_subnets.is_empty() {
        return;
    }
    let mut foreign: Vec<(u32, u32, &str)> = ctx
        .foreign_subnets
        .iter()
        .map(|f| (u32::from(f.subnet.network()), u32::from(f.subnet.broadcast()), f.topology.as_str()))
        .collect();
    foreign.sort_unstable();
    // Running maximum of the end address (and who holds it) over the sorted starts.
    let mut running: Vec<(u32, usize)> = Vec::with_capacity(foreign.len());
    for (i, &(_, end, _)) in foreign.iter().enumerate() {
        let best = match running.last() {
            Some(&(max_end, j)) if max_end >= end => (max_end, j),
            _ => (end, i),
        };
        running.push(best);
    }
    for &(start, end, name) in spans {
        let candidates = foreign.partition_point(|&(s, _, _)| s <= end);
        if candidates == 0 {
            continue;
        }
        let (max_end, holder) = running[candidates - 1];
        if max_end >= start {
            let (s, _, topology) = foreign[holder];
            issues.push(Issue::error(
                Code::SubnetTaken,
                Target::lan(name.as_str()),
                format!(
                    "subnet of LAN {name} overlaps {} used by topology {topology}",
                    ctx.foreign_subnets
                        .iter()
                        .find(|f| u32::from(f.subnet.network()) == s && f.topology == topology)
                        .map_or_else(String::new, |f| f.subnet.to_string())
                ),
            ));
        }
    }
}

/// Membership rules of one decky: on some LAN, home among its LANs, every IP on a known
/// LAN, inside its subnet and not reserved.
fn check_decky_memberships(design: &Design, decky: &Decky, issues: &mut Vec<Issue>) {
    if decky.ips.is_empty() {
        issues.push(Issue::error(
            Code::DeckyOrphan,
            Target::decky(decky.name.as_str()),
            format!("decky {} is on no LAN", decky.name),
        ));
        return;
    }
    if !decky.ips.contains_key(&decky.home_lan) {
        issues.push(Issue::error(
            Code::HomeLanInvalid,
            Target::decky_lan(decky.name.as_str(), decky.home_lan.as_str()),
            format!("home LAN {} of decky {} is not one of its LANs", decky.home_lan, decky.name),
        ));
    }
    for (lan_name, &ip) in &decky.ips {
        let target = || Target::decky_lan(decky.name.as_str(), lan_name.as_str());
        let Some(lan) = design.lans.get(lan_name) else {
            issues.push(Issue::error(
                Code::IpUnknownLan,
                target(),
                format!("decky {} has an IP on unknown LAN {lan_name}", decky.name),
            ));
            continue;
        };
        if !lan.subnet.contains(&ip) {
            issues.push(Issue::error(
                Code::IpOutOfSubnet,
                target(),
                format!("IP {ip} of decky {} is outside {} ({})", decky.name, lan_name, lan.subnet),
            ));
        } else if let Some(link) = lan.attachment.link() {
            if !crate::alloc::is_decky_address(lan, ip) {
                issues.push(Issue::error(
                    Code::IpReserved,
                    target(),
                    format!(
                        "IP {ip} of decky {} is outside the range {} the maze may take on {lan_name} \
                         (less the host's own address)",
                        decky.name, link.ip_range
                    ),
                ));
            }
        } else if is_reserved(lan.subnet, ip) {
            issues.push(Issue::error(
                Code::IpReserved,
                target(),
                format!("IP {ip} of decky {} is the network, gateway or broadcast address of {lan_name}", decky.name),
            ));
        }
    }
}

fn collision(lan: &Name, ip: Ipv4Addr, a: &Name, b: &Name) -> Issue {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    Issue::error(
        Code::IpCollision,
        Target {
            lan: Some(lan.to_string()),
            deckies: vec![first.to_string(), second.to_string()],
            ..Target::default()
        },
        format!("deckies {first} and {second} both claim {ip} on {lan}"),
    )
}

/// Every decky's membership rules, and IP collisions found by sorting (LAN, address)
/// keys: no pairwise comparison, no hashing per edge beyond one LAN index lookup.
fn check_memberships(design: &Design, issues: &mut Vec<Issue>) {
    let lan_index: HashMap<&Name, u64> = design.lans.keys().enumerate().map(|(i, name)| (name, i as u64)).collect();
    let mut claimed: Vec<(u64, &Name, &Name)> = Vec::with_capacity(design.deckies.len() * 2);
    for decky in design.deckies.values() {
        check_decky_memberships(design, decky, issues);
        for (lan_name, &ip) in &decky.ips {
            if let Some(&index) = lan_index.get(lan_name) {
                claimed.push(((index << 32) | u64::from(u32::from(ip)), lan_name, &decky.name));
            }
        }
    }
    claimed.sort_by_key(|&(key, _, _)| key);
    for pair in claimed.windows(2) {
        let ((key, lan, first), (other_key, _, second)) = (pair[0], pair[1]);
        if key == other_key {
            issues.push(collision(lan, Ipv4Addr::from((key & 0xffff_ffff) as u32), first, second));
        }
    }
}

/// The post-apply invariants of `new`, knowing that `old` satisfied them. Rules over LANs
/// and gateways run whole (they are small); per-decky rules run only for deckies that
/// changed or sit on a LAN that changed; collisions are looked for only at the changed
/// deckies' addresses, by one scan of the memberships. Gives the errors of
/// [`validate`] with [`Scope::PostApply`] on `new`, at a fraction of the cost for one op.
pub fn validate_change(old: &Design, new: &Design, ctx: &Context) -> Vec<Issue> {
    let changes = crate::diff::diff(old, new);
    let changed_lans: HashSet<&Name> = changes
        .lans_added
        .iter()
        .chain(&changes.lans_changed)
        .map(|l| &l.name)
        .chain(changes.lans_removed.iter().copied())
        .collect();
    let mut touched: Vec<&Decky> = changes.deckies_added.clone();
    touched.extend(changes.deckies_changed.iter().map(|(_, after)| *after));
    if !changed_lans.is_empty() {
        let already: HashSet<&Name> = touched.iter().map(|d| &d.name).collect();
        touched.extend(
            new.deckies
                .values()
                .map(|d| &**d)
                .filter(|d| !already.contains(&d.name) && d.ips.keys().any(|l| changed_lans.contains(l))),
        );
    }
    let mut issues = Vec::new();
    check_dmz(new, &mut issues);
    check_subnets(new, ctx, &mut issues);
    for decky in &touched {
        check_decky_memberships(new, decky, &mut issues);
        check_services(decky, &mut issues);
        check_forwarding(new, decky, &mut issues);
    }
    // Addresses of the touched deckies, against every membership.
    let touched_names: HashSet<&Name> = touched.iter().map(|d| &d.name).collect();
    let wanted: Vec<(&Name, Ipv4Addr, &Name)> =
        touched.iter().flat_map(|d| d.ips.iter().map(move |(lan, ip)| (lan, *ip, &d.name))).collect();
    if !wanted.is_empty() {
        for other in new.deckies.values() {
            for (lan, &ip) in &other.ips {
                for &(want_lan, want_ip, owner) in &wanted {
                    // Each pair once: a pair of two touched deckies is reported by the
                    // first of them in name order.
                    let counted = !touched_names.contains(&other.name) || owner < &other.name;
                    if want_ip == ip && owner != &other.name && counted && want_lan == lan {
                        issues.push(collision(lan, ip, owner, &other.name));
                    }
                }
            }
        }
    }
    check_gateway_ports(new, ctx, Scope::PostApply, &mut issues);
    issues
}

fn check_services(decky: &Decky, issues: &mut Vec<Issue>) {
    // A decky runs a handful of services: linear scans beat hashing here, and this runs
    // for every decky on every mutation.
    let mut seen: Vec<&str> = Vec::with_capacity(decky.services.len());
    let mut ports: Vec<((u16, Proto), &str)> = Vec::new();
    for slug in &decky.services {
        if seen.contains(&slug.as_str()) {
            issues.push(Issue::error(
                Code::ServiceDup,
                Target::service(decky.name.as_str(), slug.as_str()),
                format!("decky {} lists service {slug} twice", decky.name),
            ));
            continue;
        }
        seen.push(slug.as_str());
        let Some(service) = catalogue::decky_service(slug) else {
            issues.push(Issue::error(
                Code::UnknownService,
                Target::service(decky.name.as_str(), slug.as_str()),
                format!("decky {} uses unknown service {slug}", decky.name),
            ));
            continue;
        };
        for (port, proto) in service.ports() {
            if let Some(&(_, other)) = ports.iter().find(|(p, _)| *p == (port, proto)) {
                issues.push(Issue::error(
                    Code::ServicePortDup,
                    Target::service(decky.name.as_str(), slug.as_str()),
                    format!("services {other} and {slug} of decky {} both bind {port}/{}", decky.name, proto.as_str()),
                ));
            }
            ports.push(((port, proto), service.name));
        }
    }
    for (slug, config) in &decky.service_config {
        if !seen.contains(&slug.as_str()) {
            issues.push(Issue::error(
                Code::ServiceCfgUndeclared,
                Target::service(decky.name.as_str(), slug.as_str()),
                format!("decky {} has config for service {slug}, which it does not run", decky.name),
            ));
            continue;
        }
        let Some(service) = catalogue::decky_service(slug) else {
            continue;
        };
        for (key, problem) in service.config_problems(config) {
            issues.push(Issue::error(
                Code::ServiceCfgInvalid,
                Target {
                    field: Some(format!("service_config.{slug}.{key}")),
                    ..Target::service(decky.name.as_str(), slug.as_str())
                },
                format!("decky {} service {slug}: {problem}", decky.name),
            ));
        }
    }
    if let Some(slug) = &decky.archetype
        && catalogue::archetype(slug).is_none()
    {
        issues.push(Issue::error(
            Code::UnknownArchetype,
            Target::decky(decky.name.as_str()),
            format!("decky {} uses unknown archetype {slug}", decky.name),
        ));
    }
}

fn check_forwarding(design: &Design, decky: &Decky, issues: &mut Vec<Issue>) {
    if decky.forwards_l3 && !decky.is_bridge() && !design.is_gateway(decky) && !decky.ips.is_empty() {
        issues.push(Issue::error(
            Code::GatewayNotInDmz,
            Target::decky_lan(decky.name.as_str(), decky.home_lan.as_str()),
            format!(
                "decky {} forwards L3 but is on one LAN only and its home LAN {} is not the DMZ; \
                 only a DMZ-homed decky can be a gateway",
                decky.name, decky.home_lan
            ),
        ));
    }
}

/// Every `(port, protocol)` a gateway decky publishes on the host.
pub fn published_ports(decky: &Decky) -> impl Iterator<Item = (u16, Proto)> + '_ {
    decky.services.iter().filter_map(|s| catalogue::decky_service(s)).flat_map(|s| s.ports())
}

fn check_gateway_ports(design: &Design, ctx: &Context, scope: Scope, issues: &mut Vec<Issue>) {
    let foreign: HashMap<(u16, Proto), &str> =
        ctx.foreign_ports.iter().map(|p| ((p.port, p.proto), p.topology.as_str())).collect();
    let listening: HashSet<(u16, Proto)> = ctx.host_listening.iter().copied().collect();
    let mut owners: HashMap<(u16, Proto), &Name> = HashMap::default();
    for gateway in design.gateways().filter(|g| design.publishes_ports(g)) {
        for (port, proto) in published_ports(gateway) {
            let spec = format!("{port}/{}", proto.as_str());
            if let Some(other) = owners.insert((port, proto), &gateway.name)
                && other != &gateway.name
            {
                issues.push(Issue::error(
                    Code::PortClash,
                    Target { deckies: vec![other.to_string(), gateway.name.to_string()], ..Target::default() },
                    format!("gateways {other} and {} both publish host port {spec}", gateway.name),
                ));
            }
            if let Some(topology) = foreign.get(&(port, proto)) {
                issues.push(Issue::error(
                    Code::PortClash,
                    Target::decky(gateway.name.as_str()),
                    format!(
                        "gateway {} publishes host port {spec}, already published by topology {topology}",
                        gateway.name
                    ),
                ));
            } else if scope == Scope::Full && listening.contains(&(port, proto)) {
                issues.push(Issue::warning(
                    Code::PortCollision,
                    Target::decky(gateway.name.as_str()),
                    format!(
                        "gateway {} publishes host port {spec}, which is already listening on this host",
                        gateway.name
                    ),
                ));
            }
        }
    }
}
