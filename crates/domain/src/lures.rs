//! Lures: breadcrumbs on a decky that lead an attacker one or two hops deeper into the
//! maze, with credentials the target really accepts.
//!
//! Every decky running ssh accepts one lure account of its own, derived from the
//! topology's seed and its name alone ([`account`]), so it never changes with the rest of
//! the design and any lure naming it can carry it. A decky with a shell (ssh or telnet)
//! gets lures pointing at ssh deckies it can reach, deeper first: a `.bash_history` that
//! logged in there, a `notes.txt` with the login and, when rich, an `~/.ssh/config` entry
//! and `/etc/hosts` names. Pure and deterministic: the same design, seed and density give
//! the same lures; nothing named lies outside the topology.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{Decky, Design};
use crate::name::Name;

/// How many lures a topology gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Density {
    /// None.
    None,
    /// One target per decky with a shell: its history and a note.
    #[default]
    Sparse,
    /// Two targets per decky with a shell, plus ssh config and host names.
    Rich,
}

impl std::str::FromStr for Density {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(Density::None),
            "sparse" => Ok(Density::Sparse),
            "rich" => Ok(Density::Rich),
            other => Err(format!("lure density {other:?}: expected none, sparse or rich")),
        }
    }
}

/// The lure density a topology was created with (its configuration snapshot's `lures`;
/// sparse when it names none).
pub fn density_of(snapshot: &serde_json::Value) -> Density {
    snapshot.get("lures").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

/// A login a decky's ssh decoy accepts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// One breadcrumb: on `decky`, pointing at `target`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lure {
    /// Where it lies.
    pub decky: Name,
    /// The decky it leads to.
    pub target: Name,
    /// The target's host name, as the lure names it.
    pub target_hostname: String,
    /// The target's address the lure names (reachable from `decky`).
    pub target_ip: Ipv4Addr,
    /// The service its credentials open.
    pub service: String,
    /// The login.
    pub account: Account,
    /// The files that carry it (paths; `~` is the home of whoever logs in).
    pub files: Vec<String>,
}

/// A file a decky's shell shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LureFile {
    /// Path (`~/...` for the login's home).
    pub path: String,
    /// Content.
    pub content: String,
}

const USERS: &[&str] = &["deploy", "backup", "ops", "svc-app", "jenkins", "ansible", "dev", "monitor"];
const WORDS: &[&str] = &["Summer", "Winter", "Autumn", "Spring", "Welcome", "Harbor", "Granite", "Falcon"];
const SYMBOLS: &[&str] = &["!", "#", "$", "@"];

/// A stable number from `seed` and `text` (FNV-1a: no process-random hashing).
fn mix(seed: u64, text: &str) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The lure account of `decky` in a topology seeded `seed`.
pub fn account(seed: u64, decky: &Name) -> Account {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, decky.as_str()));
    let user = USERS[rng.random_range(0..USERS.len())].to_owned();
    let password = format!(
        "{}{:02}{}",
        WORDS[rng.random_range(0..WORDS.len())],
        rng.random_range(10..100),
        SYMBOLS[rng.random_range(0..SYMBOLS.len())]
    );
    Account { user, password }
}

/// Whether `decky` runs a decoy an attacker can read files from.
fn has_shell(decky: &Decky) -> bool {
    decky.services.iter().any(|s| s == "ssh" || s == "telnet")
}

/// Hops of each LAN from the DMZ over deckies' memberships (unreachable LANs are absent).
fn depth_of_lans(design: &Design) -> BTreeMap<&Name, usize> {
    let mut depth = BTreeMap::new();
    let mut queue = VecDeque::new();
    if let Some(dmz) = design.dmz() {
        depth.insert(&dmz.name, 0);
        queue.push_back(&dmz.name);
    }
    while let Some(lan) = queue.pop_front() {
        let here = depth[lan];
        for decky in design.deckies.values().filter(|d| d.ips.contains_key(lan)) {
            for next in decky.ips.keys() {
                if !depth.contains_key(next) {
                    depth.insert(next, here + 1);
                    queue.push_back(next);
                }
            }
        }
    }
    depth
}

/// The lures of every decky with a shell, by decky.
pub fn lures(design: &Design, seed: u64, density: Density) -> BTreeMap<Name, Vec<Lure>> {
    let depth = depth_of_lans(design);
    let routes = crate::routing::routes(design);
    design
        .deckies
        .values()
        .filter_map(|decky| {
            let found = lures_with(
                design,
                &depth,
                routes.get(&decky.name).map_or(&[][..], Vec::as_slice),
                seed,
                density,
                decky,
            );
            (!found.is_empty()).then(|| (decky.name.clone(), found))
        })
        .collect()
}

/// The lures of one decky (what its shell shows).
pub fn lures_of(design: &Design, seed: u64, density: Density, decky: &Decky) -> Vec<Lure> {
    let routes = crate::routing::routes_of(design, decky);
    lures_with(design, &depth_of_lans(design), &routes, seed, density, decky)
}

fn lures_with(
    design: &Design,
    depth: &BTreeMap<&Name, usize>,
    routes: &[crate::routing::Route],
    seed: u64,
    density: Density,
    decky: &Decky,
) -> Vec<Lure> {
    let per_decky = match density {
        Density::None => return Vec::new(),
        Density::Sparse => 1,
        Density::Rich => 2,
    };
    if !has_shell(decky) {
        return Vec::new();
    }
    let deepest = |d: &Decky| d.ips.keys().filter_map(|l| depth.get(l)).max().copied().unwrap_or(0);
    // What this decky reaches: its own LANs and those its routes lead to.
    let reached: BTreeSet<ipnet::Ipv4Net> = decky
        .ips
        .keys()
        .filter_map(|l| design.lans.get(l).map(|lan| lan.subnet))
        .chain(routes.iter().map(|r| r.destination))
        .collect();
    let mut candidates: Vec<(&Decky, Ipv4Addr)> = design
        .deckies
        .values()
        .filter(|t| t.name != decky.name && t.services.iter().any(|s| s == "ssh"))
        .filter_map(|t| {
            let ip =
                t.ips.iter().find(|(l, _)| design.lans.get(*l).is_some_and(|lan| reached.contains(&lan.subnet)))?.1;
            Some((&**t, *ip))
        })
        .collect();
    // Deeper first, then a seeded order among equals.
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, decky.name.as_str()));
    let mine = deepest(decky);
    let keys: Vec<(bool, u64)> = candidates.iter().map(|(t, _)| (deepest(t) <= mine, rng.random::<u64>())).collect();
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    candidates = order.into_iter().map(|i| candidates[i]).collect();
    candidates
        .into_iter()
        .take(per_decky)
        .map(|(target, ip)| {
            let mut files = vec!["~/.bash_history".to_owned(), "~/notes.txt".to_owned()];
            if density == Density::Rich {
                files.extend(["~/.ssh/config".to_owned(), "/etc/hosts".to_owned()]);
            }
            Lure {
                decky: decky.name.clone(),
                target: target.name.clone(),
                target_hostname: target.hostname.as_ref().unwrap_or(&target.name).to_string(),
                target_ip: ip,
                service: "ssh".into(),
                account: account(seed, &target.name),
                files,
            }
        })
        .collect()
}

/// The seed of a topology's lures: its id.
pub fn seed_of(topology: crate::TopologyId) -> u64 {
    let bytes = topology.0.as_bytes();
    u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// The files a decky's shell shows for its `lures`.
pub fn files(lures: &[Lure]) -> Vec<LureFile> {
    if lures.is_empty() {
        return Vec::new();
    }
    let mut history = String::from("ls -la\nsudo systemctl status nginx\n");
    let mut notes = String::from("servers\n-------\n");
    let mut config = String::new();
    let mut hosts = String::new();
    for lure in lures {
        let (user, ip, host) = (&lure.account.user, lure.target_ip, &lure.target_hostname);
        let _ = write!(history, "ssh {user}@{ip}\nscp db-dump.sql.gz {user}@{ip}:/tmp/\n");
        let _ = writeln!(notes, "- {host} ({ip}) {user} / {}", lure.account.password);
        let _ = write!(config, "Host {host}\n    HostName {ip}\n    User {user}\n\n");
        let _ = writeln!(hosts, "{ip}\t{host}");
    }
    history.push_str("df -h\nexit\n");
    let mut out = vec![
        LureFile { path: "~/.bash_history".into(), content: history },
        LureFile { path: "~/notes.txt".into(), content: notes },
    ];
    if lures.iter().any(|l| l.files.iter().any(|f| f == "~/.ssh/config")) {
        out.push(LureFile { path: "~/.ssh/config".into(), content: config });
        out.push(LureFile { path: "/etc/hosts".into(), content: hosts });
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::generator::{GeneratorConfig, generate};

    #[test]
    fn lures_are_deterministic_inside_the_topology_and_lead_to_ssh_deckies_the_decky_reaches() {
        let mut found_any = false;
        for seed in 0..20 {
            let config = GeneratorConfig { seed, depth: 3, branching: 2, ..GeneratorConfig::default() };
            let design = generate(&config, &[]).unwrap();
            let routes = crate::routing::routes(&design);
            for density in [Density::Sparse, Density::Rich] {
                let all = lures(&design, seed, density);
                assert_eq!(all, lures(&design, seed, density), "same seed, same lures");
                for (decky, found) in &all {
                    let source = &design.deckies[decky];
                    assert!(found.len() <= if density == Density::Rich { 2 } else { 1 });
                    for lure in found {
                        let target = &design.deckies[&lure.target];
                        assert!(target.services.iter().any(|s| s == "ssh"));
                        assert!(target.ips.values().any(|ip| *ip == lure.target_ip), "an address of the target");
                        let reachable = source.ips.keys().any(|l| design.lans[l].subnet.contains(&lure.target_ip))
                            || routes[decky].iter().any(|r| r.destination.contains(&lure.target_ip));
                        assert!(reachable, "seed {seed}: {decky} cannot reach {}", lure.target_ip);
                        assert_eq!(lure.account, account(seed, &lure.target), "the target accepts it");
                        for file in files(found) {
                            for word in file.content.split_whitespace().filter(|w| w.parse::<Ipv4Addr>().is_ok()) {
                                let ip: Ipv4Addr = word.parse().unwrap();
                                assert!(design.lans.values().any(|l| l.subnet.contains(&ip)), "{ip} outside the maze");
                            }
                        }
                    }
                }
            }
            assert!(lures(&design, seed, Density::None).is_empty());
            for decky in design.deckies.values() {
                let one = lures_of(&design, seed, Density::Rich, decky);
                assert_eq!(one, lures(&design, seed, Density::Rich).remove(&decky.name).unwrap_or_default());
            }
            found_any |= !lures(&design, seed, Density::Sparse).is_empty();
        }
        assert!(found_any, "generated mazes have lures");
    }

    #[test]
    fn accounts_depend_on_the_seed_and_the_decky_only() {
        let name = Name::parse("decky-004").unwrap();
        assert_eq!(account(7, &name), account(7, &name));
        assert_ne!(account(7, &name), account(8, &name));
        assert!(!account(7, &name).password.is_empty());
    }
}
