//! The topology document: the import/export format of a design.
//!
//! A document holds the design only (names, subnets, IPs, memberships, services), never
//! database ids or timestamps, in a fixed order, so the same design always exports to the
//! same bytes. Documents are untrusted input: [`to_design`] checks every field, reports
//! every problem at once with the field's path, and allocates the subnets and IPs a
//! hand-written document leaves out — once, at creation, so they never shift later.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::alloc::{SubnetAllocator, next_free_lan_ip};
use crate::attachment::Attachment;
use crate::issue::{Code, Issue, Target};
use crate::model::{Decky, Design, ItemId, Lan, Mode, ServiceConfig};
use crate::name::Name;

/// The current document format.
pub const FORMAT_VERSION: u32 = 1;

fn format_version() -> u32 {
    FORMAT_VERSION
}

/// A whole topology design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyDocument {
    /// Format version of this document.
    #[serde(default = "format_version")]
    pub format_version: u32,
    /// Topology name.
    pub name: String,
    /// Where it runs.
    #[serde(default)]
    pub mode: Mode,
    /// Target host for agent mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_host: Option<String>,
    /// How many lures the engine lays (`none`, `sparse`, `rich`); sparse when absent.
    #[serde(default)]
    pub lures: crate::lures::Density,
    /// LANs, sorted by name on export.
    pub lans: Vec<LanDocument>,
    /// Deckies, sorted by name on export.
    #[serde(default)]
    pub deckies: Vec<DeckyDocument>,
}

/// One LAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanDocument {
    /// LAN name.
    pub name: String,
    /// CIDR subnet; allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Whether this is the DMZ.
    #[serde(default)]
    pub is_dmz: bool,
    /// How the DMZ meets the host's network (`bridge` when absent).
    #[serde(default, skip_serializing_if = "is_bridge")]
    pub attachment: Attachment,
    /// Canvas position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<f64>,
    /// Canvas position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<f64>,
}

fn is_bridge(attachment: &Attachment) -> bool {
    *attachment == Attachment::Bridge
}

/// One decky.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeckyDocument {
    /// Decky name.
    pub name: String,
    /// The host name its persona answers with (assigned when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The LAN it lives in; must be one of `networks`.
    pub home_lan: String,
    /// Every LAN it is on (the decky ↔ LAN edges), with its IP there.
    pub networks: Vec<NetworkDocument>,
    /// Decoy services.
    #[serde(default)]
    pub services: Vec<String>,
    /// Whether it routes between its LANs (DMZ-homed: the gateway).
    #[serde(default)]
    pub forwards_l3: bool,
    /// Archetype slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archetype: Option<String>,
    /// Per-service configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_config: ServiceConfig,
    /// Canvas position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<f64>,
    /// Canvas position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<f64>,
}

/// One decky ↔ LAN membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDocument {
    /// LAN name.
    pub lan: String,
    /// IPv4 address; allocated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// Exports `design` as a document named `name`, with lures at `lures`.
pub fn from_design(
    name: &Name,
    mode: Mode,
    target_host: Option<&str>,
    lures: crate::lures::Density,
    design: &Design,
) -> TopologyDocument {
    TopologyDocument {
        format_version: FORMAT_VERSION,
        name: name.to_string(),
        mode,
        target_host: target_host.map(str::to_owned),
        lures,
        lans: design
            .lans
            .values()
            .map(|l| LanDocument {
                name: l.name.to_string(),
                subnet: Some(l.subnet.to_string()),
                is_dmz: l.is_dmz,
                attachment: l.attachment.clone(),
                x: l.x,
                y: l.y,
            })
            .collect(),
        deckies: design
            .deckies
            .values()
            .map(|d| DeckyDocument {
                name: d.name.to_string(),
                hostname: d.hostname.as_ref().map(ToString::to_string),
                home_lan: d.home_lan.to_string(),
                networks: d
                    .ips
                    .iter()
                    .map(|(lan, ip)| NetworkDocument { lan: lan.to_string(), ip: Some(ip.to_string()) })
                    .collect(),
                services: d.services.clone(),
                forwards_l3: d.forwards_l3,
                archetype: d.archetype.clone(),
                service_config: d.service_config.clone(),
                x: d.x,
                y: d.y,
            })
            .collect(),
    }
}

/// A document turned into a design, with every problem found on the way.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The topology name, if valid.
    pub name: Option<Name>,
    /// The design built from the valid parts of the document.
    pub design: Design,
    /// Every problem, each naming its field.
    pub issues: Vec<Issue>,
}

fn name_issue(field: String, value: &str) -> impl FnOnce(crate::name::NameError) -> Issue + '_ {
    move |why| Issue::error(Code::NameInvalid, Target::field(field), format!("invalid name {value:?}: {why}"))
}

/// Checks `doc` and builds its design, allocating missing subnets under `base` (avoiding
/// `claimed` and the document's own subnets) and missing IPs (avoiding explicit ones).
pub fn to_design(doc: &TopologyDocument, base: Ipv4Net, claimed: &[Ipv4Net]) -> Parsed {
    let mut issues = Vec::new();
    if doc.format_version != FORMAT_VERSION {
        issues.push(Issue::error(
            Code::PayloadInvalid,
            Target::field("format_version"),
            format!("unsupported format_version {} (this build reads {FORMAT_VERSION})", doc.format_version),
        ));
    }
    let name = Name::parse(&doc.name).map_err(name_issue("name".into(), &doc.name)).map_err(|i| issues.push(i)).ok();
    let mut design = Design::default();

    let mut seen_lans = HashSet::new();
    let mut explicit_subnets = Vec::new();
    let mut needs_subnet = Vec::new();
    for (i, lan) in doc.lans.iter().enumerate() {
        let Ok(lan_name) =
            Name::parse(&lan.name).map_err(|e| issues.push(name_issue(format!("lans[{i}].name"), &lan.name)(e)))
        else {
            continue;
        };
        if !seen_lans.insert(lan_name.clone()) {
            issues.push(Issue::error(
                Code::LanNameDup,
                Target::lan(lan_name.as_str()),
                format!("LAN name {lan_name} is used twice"),
            ));
            continue;
        }
        let subnet = match &lan.subnet {
            Some(text) => match text.parse::<Ipv4Net>() {
                Ok(net) => {
                    explicit_subnets.push(net.trunc());
                    net.trunc()
                }
                Err(_) => {
                    issues.push(Issue::error(
                        Code::SubnetMalformed,
                        Target { field: Some(format!("lans[{i}].subnet")), ..Target::lan(lan_name.as_str()) },
                        format!("subnet {text:?} of LAN {lan_name} is not an IPv4 CIDR"),
                    ));
                    continue;
                }
            },
            None => {
                needs_subnet.push(lan_name.clone());
                Ipv4Net::default()
            }
        };
        design.lans.insert(
            lan_name.clone(),
            Lan {
                id: ItemId::default(),
                name: lan_name,
                subnet,
                is_dmz: lan.is_dmz,
                attachment: lan.attachment.clone(),
                x: lan.x,
                y: lan.y,
            },
        );
    }
    if !needs_subnet.is_empty() {
        let all_claimed = claimed.iter().copied().chain(explicit_subnets.iter().copied());
        let mut alloc = SubnetAllocator::new(base, all_claimed);
        for lan_name in needs_subnet {
            match alloc.as_mut().and_then(SubnetAllocator::next_subnet) {
                Some(subnet) => {
                    if let Some(lan) = design.lans.get_mut(&lan_name) {
                        lan.subnet = subnet;
                    }
                }
                None => {
                    design.lans.remove(&lan_name);
                    issues.push(Issue::error(
                        Code::SubnetExhausted,
                        Target::lan(lan_name.as_str()),
                        format!("no free /24 left under {base} for LAN {lan_name}"),
                    ));
                }
            }
        }
    }

    let mut missing_ips: Vec<(Name, Name)> = Vec::new();
    for (i, d) in doc.deckies.iter().enumerate() {
        let Ok(decky_name) =
            Name::parse(&d.name).map_err(|e| issues.push(name_issue(format!("deckies[{i}].name"), &d.name)(e)))
        else {
            continue;
        };
        if design.deckies.contains_key(&decky_name) {
            issues.push(Issue::error(
                Code::DeckyNameDup,
                Target::decky(decky_name.as_str()),
                format!("decky name {decky_name} is used twice"),
            ));
            continue;
        }
        let hostname = d.hostname.as_deref().and_then(|text| {
            Name::parse(text).map_err(|e| issues.push(name_issue(format!("deckies[{i}].hostname"), text)(e))).ok()
        });
        let Ok(home_lan) = Name::parse(&d.home_lan)
            .map_err(|e| issues.push(name_issue(format!("deckies[{i}].home_lan"), &d.home_lan)(e)))
        else {
            continue;
        };
        let mut ips = BTreeMap::new();
        let mut seen = HashSet::new();
        for (j, net) in d.networks.iter().enumerate() {
            let field = format!("deckies[{i}].networks[{j}]");
            let Ok(lan) =
                Name::parse(&net.lan).map_err(|e| issues.push(name_issue(format!("{field}.lan"), &net.lan)(e)))
            else {
                continue;
            };
            if !seen.insert(lan.clone()) {
                issues.push(Issue::error(
                    Code::AlreadyAttached,
                    Target { field: Some(field), ..Target::decky_lan(decky_name.as_str(), lan.as_str()) },
                    format!("decky {decky_name} lists LAN {lan} twice"),
                ));
                continue;
            }
            match &net.ip {
                Some(text) => match text.parse::<Ipv4Addr>() {
                    Ok(ip) => {
                        ips.insert(lan, ip);
                    }
                    Err(_) => issues.push(Issue::error(
                        Code::IpMalformed,
                        Target {
                            field: Some(format!("{field}.ip")),
                            ..Target::decky_lan(decky_name.as_str(), lan.as_str())
                        },
                        format!("IP {text:?} of decky {decky_name} on {lan} is not an IPv4 address"),
                    )),
                },
                None => missing_ips.push((decky_name.clone(), lan)),
            }
        }
        let mut services = d.services.clone();
        services.sort();
        design.deckies.insert(
            decky_name.clone(),
            Arc::new(Decky {
                id: ItemId::default(),
                name: decky_name,
                hostname: hostname.clone(),
                home_lan,
                ips,
                services,
                forwards_l3: d.forwards_l3,
                archetype: d.archetype.clone(),
                service_config: d.service_config.clone(),
                x: d.x,
                y: d.y,
            }),
        );
    }
    allocate_missing_ips(&mut design, missing_ips, &mut issues);
    Parsed { name, design, issues }
}

fn allocate_missing_ips(design: &mut Design, missing: Vec<(Name, Name)>, issues: &mut Vec<Issue>) {
    if missing.is_empty() {
        return;
    }
    let mut taken: BTreeMap<Name, Vec<Ipv4Addr>> = BTreeMap::new();
    for decky in design.deckies.values() {
        for (lan, ip) in &decky.ips {
            taken.entry(lan.clone()).or_default().push(*ip);
        }
    }
    for (decky_name, lan_name) in missing {
        let Some(lan) = design.lans.get(&lan_name) else {
            issues.push(Issue::error(
                Code::IpUnknownLan,
                Target::decky_lan(decky_name.as_str(), lan_name.as_str()),
                format!("decky {decky_name} is on unknown LAN {lan_name}"),
            ));
            continue;
        };
        let lan_taken = taken.entry(lan_name.clone()).or_default();
        match next_free_lan_ip(lan, lan_taken.iter().copied()) {
            Some(ip) => {
                lan_taken.push(ip);
                if let Some(decky) = design.deckies.get_mut(&decky_name) {
                    Arc::make_mut(decky).ips.insert(lan_name, ip);
                }
            }
            None => issues.push(Issue::error(
                Code::IpExhausted,
                Target::decky_lan(decky_name.as_str(), lan_name.as_str()),
                format!("no free address left in LAN {lan_name} for decky {decky_name}"),
            )),
        }
    }
}
