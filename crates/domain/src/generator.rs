//! The seeded topology generator.
//!
//! A breadth-first tree of LANs under the DMZ, deckies in every LAN, one bridge decky per
//! LAN into its parent, and optional cross edges. Randomness comes from ChaCha8 seeded
//! with the config's seed, so the same seed and parameters give the same design on every
//! machine. Only the DMZ's decky can be the gateway (it publishes host ports); bridges
//! that forward between internal LANs are routers, never gateways.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use ipnet::Ipv4Net;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::alloc::{IpCursor, SubnetAllocator, default_subnet_base};
use crate::attachment::Attachment;
use crate::catalogue;
use crate::model::{Decky, Design, ItemId, Lan};
use crate::name::{FieldError, Name};

/// Parameters of the generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    /// Levels of LANs below the DMZ (1-16).
    pub depth: u32,
    /// Most children per LAN (1-8); each LAN gets 1..=branching.
    pub branching: u32,
    /// Fewest deckies per internal LAN (0-32; a LAN always gets at least one).
    pub deckies_per_lan_min: u32,
    /// Most deckies per internal LAN (1-32).
    pub deckies_per_lan_max: u32,
    /// Probability that a bridge forwards L3 (0-1).
    pub bridge_forward_p: f64,
    /// Probability that a LAN gets an extra cross edge (0-1).
    pub cross_edge_p: f64,
    /// Services for every decky (with the `windows-server` archetype when one of them is
    /// Windows-only, else none); `None` gives each decky an archetype and its services
    /// (the DMZ's: a Linux server with ssh and http, the entry attackers try first).
    pub services: Option<Vec<String>>,
    /// The RNG seed.
    pub seed: u64,
    /// Base from which /24 LAN subnets are allocated.
    pub subnet_base: Ipv4Net,
    /// Whether the DMZ decky is the gateway that publishes its ports on the host.
    pub gateway: bool,
    /// How many lures the deckies get.
    #[serde(default)]
    pub lures: crate::lures::Density,
    /// How the DMZ meets the host's network (a bridge by default).
    #[serde(default)]
    pub dmz_attachment: Attachment,
    /// The DMZ's subnet: required on a host interface (the operator's network), else
    /// allocated like the others.
    #[serde(default)]
    pub dmz_subnet: Option<Ipv4Net>,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            depth: 3,
            branching: 2,
            deckies_per_lan_min: 1,
            deckies_per_lan_max: 3,
            bridge_forward_p: 1.0,
            cross_edge_p: 0.0,
            services: None,
            seed: 0,
            subnet_base: default_subnet_base(),
            gateway: true,
            lures: crate::lures::Density::default(),
            dmz_attachment: Attachment::Bridge,
            dmz_subnet: None,
        }
    }
}

/// Why a generation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerateError {
    /// A parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] FieldError),
    /// The subnet base has no free /24 left.
    #[error("no free /24 left under {base} after {allocated} LANs; lower depth or branching, or free subnets")]
    SubnetsExhausted {
        /// The base.
        base: Ipv4Net,
        /// LANs allocated before running out.
        allocated: usize,
    },
}

fn field(field: &str, message: String) -> GenerateError {
    GenerateError::InvalidParameter(FieldError { field: field.to_owned(), message })
}

impl GeneratorConfig {
    /// Checks every parameter against its range.
    pub fn check(&self) -> Result<(), GenerateError> {
        let range = |name: &str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(field(name, format!("must be between {lo} and {hi} (got {v})")))
            }
        };
        range("depth", self.depth, 1, 16)?;
        range("branching", self.branching, 1, 8)?;
        range("deckies_per_lan_min", self.deckies_per_lan_min, 0, 32)?;
        range("deckies_per_lan_max", self.deckies_per_lan_max, 1, 32)?;
        if self.deckies_per_lan_min > self.deckies_per_lan_max {
            return Err(field(
                "deckies_per_lan",
                format!("min {} is above max {}", self.deckies_per_lan_min, self.deckies_per_lan_max),
            ));
        }
        for (name, p) in [("bridge_forward_p", self.bridge_forward_p), ("cross_edge_p", self.cross_edge_p)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(field(name, format!("must be between 0 and 1 (got {p})")));
            }
        }
        if let Some(link) = self.dmz_attachment.link() {
            let subnet = self
                .dmz_subnet
                .ok_or_else(|| field("dmz_subnet", "a DMZ on a host interface needs the network's subnet".into()))?;
            if let Some(problem) = crate::attachment::problems(link, subnet).into_iter().next() {
                return Err(field("dmz_attachment", problem));
            }
        }
        if self.subnet_base.prefix_len() > 24 {
            return Err(field("subnet_base", format!("{} must be a /24 or wider", self.subnet_base)));
        }
        if let Some(services) = &self.services {
            if services.is_empty() {
                return Err(field("services", "must list at least one service (omit it to randomise)".into()));
            }
            let mut ports = HashSet::new();
            for s in services {
                let service =
                    catalogue::decky_service(s).ok_or_else(|| field("services", format!("unknown service {s:?}")))?;
                if service.ports().any(|p| !ports.insert(p)) {
                    return Err(field("services", format!("service {s} binds a port another listed service binds")));
                }
            }
        }
        Ok(())
    }
}

/// The archetype of a generated decky: the DMZ's decky is always an entry an attacker can
/// use (a Linux server with ssh and a web application); the others are drawn from the
/// catalogue's archetypes.
fn draw_archetype(rng: &mut ChaCha8Rng, in_dmz: bool) -> &'static catalogue::Archetype {
    let entry = catalogue::archetype(ENTRY_ARCHETYPE);
    match entry {
        Some(entry) if in_dmz => entry,
        _ => &catalogue::ARCHETYPES[rng.random_range(0..catalogue::ARCHETYPES.len())],
    }
}

/// The DMZ decky's archetype: ssh and http, what attackers try first.
const ENTRY_ARCHETYPE: &str = "linux-server";

fn lan_name(index: usize) -> Result<Name, GenerateError> {
    Name::parse(&format!("lan-{index:02}")).map_err(|e| field("lans", e.to_string()))
}

fn decky_name(index: usize) -> Result<Name, GenerateError> {
    Name::parse(&format!("decky-{index:03}")).map_err(|e| field("deckies", e.to_string()))
}

/// Generates a design, allocating subnets that avoid `claimed`.
pub fn generate(config: &GeneratorConfig, claimed: &[Ipv4Net]) -> Result<Design, GenerateError> {
    config.check()?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    if let Some(dmz) = config.dmz_subnet
        && let Some(taken) = claimed.iter().find(|c| c.contains(&dmz.network()) || dmz.contains(&c.network()))
    {
        return Err(field("dmz_subnet", format!("{dmz} overlaps {taken}, held by another topology")));
    }
    let mut subnets = SubnetAllocator::new(config.subnet_base, claimed.iter().copied().chain(config.dmz_subnet))
        .ok_or_else(|| field("subnet_base", "must be a /24 or wider".into()))?;
    let exhausted = |allocated| GenerateError::SubnetsExhausted { base: config.subnet_base, allocated };

    // 1. LANs, breadth first. `parents[i]` is the parent of LAN i; LAN 0 is the DMZ.
    let mut lans: Vec<Lan> = Vec::new();
    let mut parents: Vec<Option<usize>> = Vec::new();
    let mut children: Vec<Vec<usize>> = Vec::new();
    let dmz_subnet = match config.dmz_subnet {
        Some(subnet) => subnet.trunc(),
        None => subnets.next_subnet().ok_or_else(|| exhausted(0))?,
    };
    lans.push(Lan {
        id: ItemId::default(),
        name: lan_name(0)?,
        subnet: dmz_subnet,
        is_dmz: true,
        attachment: config.dmz_attachment.clone(),
        x: None,
        y: None,
    });
    parents.push(None);
    children.push(Vec::new());
    let mut frontier = vec![0usize];
    for _level in 1..=config.depth {
        let mut next = Vec::new();
        for &parent in &frontier {
            for _ in 0..rng.random_range(1..=config.branching) {
                let index = lans.len();
                let subnet = subnets.next_subnet().ok_or_else(|| exhausted(index))?;
                lans.push(Lan {
                    id: ItemId::default(),
                    name: lan_name(index)?,
                    subnet,
                    is_dmz: false,
                    attachment: Default::default(),
                    x: None,
                    y: None,
                });
                parents.push(Some(parent));
                children.push(Vec::new());
                children[parent].push(index);
                next.push(index);
            }
        }
        frontier = next;
    }

    // 2. Deckies: one in the DMZ, min..=max (at least one) elsewhere.
    let mut cursors: Vec<IpCursor> = lans.iter().map(|l| IpCursor::for_lan(l, [])).collect();
    let mut deckies: Vec<Decky> = Vec::new();
    let mut homes: Vec<Vec<usize>> = vec![Vec::new(); lans.len()];
    for (lan_index, lan) in lans.iter().enumerate() {
        let count = if lan.is_dmz {
            1
        } else {
            rng.random_range(config.deckies_per_lan_min..=config.deckies_per_lan_max).max(1)
        };
        for _ in 0..count {
            let (services, archetype) = match &config.services {
                Some(explicit) => {
                    let mut s = explicit.clone();
                    s.sort();
                    let archetype = catalogue::archetype_for_services(&s).map(str::to_owned);
                    (s, archetype)
                }
                None => {
                    let drawn = draw_archetype(&mut rng, lan.is_dmz);
                    let mut s: Vec<String> = drawn.services.iter().map(|s| (*s).to_owned()).collect();
                    s.sort();
                    (s, Some(drawn.slug.to_owned()))
                }
            };
            let ip = cursors[lan_index]
                .next_ip()
                .ok_or_else(|| field("deckies_per_lan", format!("LAN {} is full", lan.name)))?;
            homes[lan_index].push(deckies.len());
            deckies.push(Decky {
                id: ItemId::default(),
                name: decky_name(deckies.len() + 1)?,
                hostname: None,
                home_lan: lan.name.clone(),
                ips: BTreeMap::from([(lan.name.clone(), ip)]),
                services,
                forwards_l3: lan.is_dmz && config.gateway,
                archetype,
                service_config: BTreeMap::new(),
                x: None,
                y: None,
            });
        }
    }

    // 3. One bridge per internal LAN into its parent.
    for lan_index in 1..lans.len() {
        let Some(parent) = parents[lan_index] else {
            continue;
        };
        let pick = homes[lan_index][rng.random_range(0..homes[lan_index].len())];
        let forwards = rng.random::<f64>() < config.bridge_forward_p;
        join(&mut deckies[pick], &lans[parent], &mut cursors[parent], forwards)?;
    }

    // 4. Cross edges to any LAN but the LAN itself, its parent and its children.
    if config.cross_edge_p > 0.0 {
        for lan_index in 1..lans.len() {
            if rng.random::<f64>() >= config.cross_edge_p {
                continue;
            }
            let mut excluded: Vec<usize> = children[lan_index].clone();
            excluded.push(lan_index);
            excluded.extend(parents[lan_index]);
            excluded.sort_unstable();
            excluded.dedup();
            if excluded.len() >= lans.len() {
                continue;
            }
            let peer = nth_not_excluded(rng.random_range(0..lans.len() - excluded.len()), &excluded);
            let pick = homes[lan_index][rng.random_range(0..homes[lan_index].len())];
            if deckies[pick].ips.contains_key(&lans[peer].name) {
                continue;
            }
            let forwards = rng.random::<f64>() < config.bridge_forward_p;
            join(&mut deckies[pick], &lans[peer], &mut cursors[peer], forwards)?;
        }
    }

    Ok(Design {
        lans: lans.into_iter().map(|l| (l.name.clone(), l)).collect(),
        deckies: deckies.into_iter().map(|d| (d.name.clone(), Arc::new(d))).collect(),
    })
}

/// The `n`-th index (0-based) that is not in the sorted `excluded` list.
fn nth_not_excluded(n: usize, excluded: &[usize]) -> usize {
    let mut index = n;
    for &e in excluded {
        if e <= index {
            index += 1;
        } else {
            break;
        }
    }
    index
}

fn join(decky: &mut Decky, lan: &Lan, cursor: &mut IpCursor, forwards: bool) -> Result<(), GenerateError> {
    let ip = cursor.next_ip().ok_or_else(|| field("deckies_per_lan", format!("LAN {} is full", lan.name)))?;
    decky.ips.insert(lan.name.clone(), ip);
    decky.forwards_l3 |= forwards;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{Context, Scope, validate};

    #[test]
    fn same_seed_same_design() {
        let config = GeneratorConfig { seed: 7, cross_edge_p: 0.5, ..GeneratorConfig::default() };
        assert_eq!(generate(&config, &[]), generate(&config, &[]));
        let other = GeneratorConfig { seed: 8, ..config.clone() };
        assert_ne!(generate(&config, &[]), generate(&other, &[]));
    }

    #[test]
    fn generated_designs_are_valid() {
        for seed in 0..50 {
            let config =
                GeneratorConfig { seed, depth: 3, branching: 3, cross_edge_p: 0.3, ..GeneratorConfig::default() };
            let design = generate(&config, &[]).unwrap();
            let issues = validate(&design, &Context::default(), Scope::Full);
            assert!(issues.iter().all(|i| !i.is_error()), "seed {seed}: {issues:?}");
        }
    }

    #[test]
    fn explicit_windows_only_services_make_windows_deckies() {
        let with = |services: &[&str]| {
            let services = Some(services.iter().map(|s| (*s).to_owned()).collect());
            let design = generate(&GeneratorConfig { seed: 5, services, ..GeneratorConfig::default() }, &[]).unwrap();
            design.deckies.values().map(|d| d.archetype.clone()).collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(with(&["smb", "rdp"]), [Some("windows-server".to_owned())].into());
        assert_eq!(with(&["mssql"]), [Some("windows-server".to_owned())].into());
        assert_eq!(with(&["ssh", "smb"]), [None].into());
    }

    #[test]
    fn only_the_dmz_decky_is_a_gateway() {
        let design = generate(&GeneratorConfig { seed: 3, ..GeneratorConfig::default() }, &[]).unwrap();
        let gateways: Vec<_> = design.gateways().map(|d| d.name.to_string()).collect();
        assert_eq!(gateways, ["decky-001"]);
        assert!(design.deckies.values().any(|d| d.forwards_l3 && d.is_bridge() && !design.is_gateway(d)));
        assert_eq!(design.dmz().map(|l| l.name.as_str()), Some("lan-00"));
    }

    #[test]
    fn every_generated_decky_has_an_archetype_and_the_gateway_an_entry() {
        for seed in 0..30 {
            let config = GeneratorConfig { seed, depth: 3, branching: 2, ..GeneratorConfig::default() };
            let design = generate(&config, &[]).unwrap();
            for decky in design.deckies.values() {
                let slug = decky.archetype.as_deref().unwrap_or_else(|| panic!("seed {seed}: {} has none", decky.name));
                let archetype = catalogue::archetype(slug).unwrap();
                let mut wanted: Vec<&str> = archetype.services.to_vec();
                wanted.sort_unstable();
                assert_eq!(decky.services, wanted, "seed {seed}: {}", decky.name);
            }
            let gateway = design.gateways().next().unwrap();
            assert!(["ssh", "http"].iter().all(|s| gateway.services.iter().any(|g| g == s)), "seed {seed}");
        }
    }

    #[test]
    fn subnets_avoid_claimed_ones() {
        let claimed: Vec<Ipv4Net> = vec!["172.16.0.0/24".parse().unwrap()];
        let design = generate(&GeneratorConfig::default(), &claimed).unwrap();
        assert!(design.lans.values().all(|l| l.subnet != claimed[0]));
    }

    #[test]
    fn parameters_are_range_checked() {
        let bad = [
            GeneratorConfig { depth: 0, ..GeneratorConfig::default() },
            GeneratorConfig { depth: 17, ..GeneratorConfig::default() },
            GeneratorConfig { branching: 9, ..GeneratorConfig::default() },
            GeneratorConfig { deckies_per_lan_min: 4, deckies_per_lan_max: 3, ..GeneratorConfig::default() },
            GeneratorConfig { bridge_forward_p: 1.5, ..GeneratorConfig::default() },
            GeneratorConfig { services: Some(vec!["nope".into()]), ..GeneratorConfig::default() },
            GeneratorConfig { services: Some(vec!["smtp".into(), "smtp_relay".into()]), ..GeneratorConfig::default() },
        ];
        for config in bad {
            assert!(matches!(generate(&config, &[]), Err(GenerateError::InvalidParameter(_))), "{config:?}");
        }
    }

    #[test]
    fn huge_trees_stop_at_subnet_exhaustion() {
        let config = GeneratorConfig {
            depth: 16,
            branching: 8,
            subnet_base: "10.0.0.0/20".parse().unwrap(),
            ..GeneratorConfig::default()
        };
        assert!(matches!(generate(&config, &[]), Err(GenerateError::SubnetsExhausted { allocated: 16, .. })));
    }

    #[test]
    fn nth_not_excluded_skips_excluded_indices() {
        assert_eq!(nth_not_excluded(0, &[0, 1]), 2);
        assert_eq!(nth_not_excluded(1, &[1, 3]), 2);
        assert_eq!(nth_not_excluded(2, &[1, 3]), 4);
    }
}
