//! Lures: breadcrumbs on a decky that lead an attacker one or two hops deeper into the
//! maze, with credentials the target really accepts.
//!
//! Every decky running ssh, mysql or postgres accepts one lure account per service,
//! derived from the topology's seed, its name and the service alone ([`account_for`]), so
//! it never changes with the rest of the design and any lure naming it can carry it. A
//! decky with a shell (ssh or telnet) gets lures pointing at deckies it can reach, deeper
//! first: ssh logins (a `.bash_history` that logged in there, a `notes.txt` with the
//! login, `known_hosts` entries and, when rich, an `~/.ssh/config` entry and `/etc/hosts`
//! names) and database logins (`.my.cnf`, a web decky's `wp-config.php`, `.pgpass`).
//! Pure and deterministic: the same design, seed and density give the same lures; nothing
//! named lies outside the topology.

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
    /// One ssh and one database target per decky with a shell.
    #[default]
    Sparse,
    /// Two of each, plus ssh config and host names.
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

/// A login drawn from `users`, with a word, a number below `numbers.end` and a symbol as
/// its password, seeded by `key`.
fn derive_account(seed: u64, key: &str, users: &[&str], numbers: std::ops::Range<u32>) -> Account {
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, key));
    let user = users[rng.random_range(0..users.len())].to_owned();
    let password = format!(
        "{}{}{}",
        WORDS[rng.random_range(0..WORDS.len())],
        rng.random_range(numbers),
        SYMBOLS[rng.random_range(0..SYMBOLS.len())]
    );
    Account { user, password }
}

/// The lure account of `decky` in a topology seeded `seed`.
pub fn account(seed: u64, decky: &Name) -> Account {
    derive_account(seed, decky.as_str(), USERS, 10..100)
}

/// Whether `decky` runs a decoy an attacker can read files from.
fn has_shell(decky: &Decky) -> bool {
    decky.services.iter().any(|s| s == "ssh" || s == "telnet")
}

/// The database services a lure can lead to (their decoys accept the lure account).
pub const DATABASE_SERVICES: &[&str] = &["mysql", "postgres"];

const DATABASE_USERS: &[&str] = &["wordpress", "app", "webapp", "reporting", "billing", "analytics"];

/// The account `service` on `decky` accepts in a topology seeded `seed` (the login its
/// lures name): [`account`] for ssh, a database login for the database services.
pub fn account_for(seed: u64, decky: &Name, service: &str) -> Account {
    if service == "ssh" {
        return account(seed, decky);
    }
    derive_account(seed, &format!("{decky}/{service}"), DATABASE_USERS, 1000..10_000)
}

/// The service of `target` a lure of kind `database` opens: ssh, or its first database.
fn lure_service(target: &Decky, database: bool) -> Option<&'static str> {
    if database {
        DATABASE_SERVICES.iter().copied().find(|s| target.services.iter().any(|t| t == s))
    } else {
        target.services.iter().any(|s| s == "ssh").then_some("ssh")
    }
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
    let per_kind = match density {
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
    let reachable: Vec<(&Decky, Ipv4Addr)> = design
        .deckies
        .values()
        .filter(|t| t.name != decky.name)
        .filter_map(|t| {
            let ip =
                t.ips.iter().find(|(l, _)| design.lans.get(*l).is_some_and(|lan| reached.contains(&lan.subnet)))?.1;
            Some((&**t, *ip))
        })
        .collect();
    // Deeper first, then a seeded order among equals.
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, decky.name.as_str()));
    let mine = deepest(decky);
    let keys: Vec<(bool, u64)> = reachable.iter().map(|(t, _)| (deepest(t) <= mine, rng.random::<u64>())).collect();
    let mut order: Vec<usize> = (0..reachable.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    let web = decky.services.iter().any(|s| s == "http" || s == "https");
    let mut found = Vec::new();
    // Shell logins first, then database logins: each kind its own targets.
    for database in [false, true] {
        let targets = order
            .iter()
            .filter_map(|&i| {
                let (target, ip) = reachable[i];
                Some((target, ip, lure_service(target, database)?))
            })
            .take(per_kind);
        for (target, ip, service) in targets {
            let files: &[&str] = match service {
                "ssh" if density == Density::Rich => {
                    &["~/.bash_history", "~/notes.txt", "~/.ssh/known_hosts", "~/.ssh/config", "/etc/hosts"]
                }
                "ssh" => &["~/.bash_history", "~/notes.txt", "~/.ssh/known_hosts"],
                "mysql" if web => &["~/.bash_history", "~/.my.cnf", WP_CONFIG],
                "mysql" => &["~/.bash_history", "~/.my.cnf"],
                _ => &["~/.bash_history", "~/.pgpass"],
            };
            found.push(Lure {
                decky: decky.name.clone(),
                target: target.name.clone(),
                target_hostname: target.hostname.as_ref().unwrap_or(&target.name).to_string(),
                target_ip: ip,
                service: service.to_owned(),
                account: account_for(seed, &target.name, service),
                files: files.iter().map(|f| (*f).to_owned()).collect(),
            });
        }
    }
    found
}

/// Where a web decky keeps the WordPress configuration a mysql lure is written into.
pub const WP_CONFIG: &str = "/var/www/html/wp-config.php";

/// The database a lure's login names.
fn database_of(lure: &Lure) -> &'static str {
    if lure.account.user == "wordpress" { "wordpress" } else { "app" }
}

/// An `~/.ssh/known_hosts` entry a decky's shell shows: the target's address and the
/// decky whose host key it holds. The key itself is derived inside the decoy (from the
/// topology and the decky's name, as the target's own decoy derives it), so the entry
/// matches what the target presents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KnownHost {
    /// The address the entry is for.
    pub host: Ipv4Addr,
    /// The decky whose host key it is.
    pub decky: Name,
}

/// The known-hosts entries of a decky's ssh `lures`.
pub fn known_hosts(lures: &[Lure]) -> Vec<KnownHost> {
    lures
        .iter()
        .filter(|l| l.files.iter().any(|f| f == "~/.ssh/known_hosts"))
        .map(|l| KnownHost { host: l.target_ip, decky: l.target.clone() })
        .collect()
}

/// The seed of a topology's lures: its id.
pub fn seed_of(topology: crate::TopologyId) -> u64 {
    let bytes = topology.0.as_bytes();
    u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// The files a decky's shell shows for its `lures` (`~/.ssh/known_hosts` aside: see
/// [`known_hosts`]).
pub fn files(lures: &[Lure]) -> Vec<LureFile> {
    if lures.is_empty() {
        return Vec::new();
    }
    let mut history = String::from("ls -la\nsudo systemctl status nginx\n");
    let mut notes = String::from("servers\n-------\n");
    let mut config = String::new();
    let mut hosts = String::new();
    let mut pgpass = String::new();
    let mut out = Vec::new();
    let wants = |file: &str| lures.iter().any(|l| l.files.iter().any(|f| f == file));
    for lure in lures {
        let (user, ip, host, password) =
            (&lure.account.user, lure.target_ip, &lure.target_hostname, &lure.account.password);
        let database = database_of(lure);
        match lure.service.as_str() {
            "ssh" => {
                let _ = write!(history, "ssh {user}@{ip}\nscp db-dump.sql.gz {user}@{ip}:/tmp/\n");
                let _ = writeln!(notes, "- {host} ({ip}) {user} / {password}");
                let _ = write!(config, "Host {host}\n    HostName {ip}\n    User {user}\n\n");
            }
            "mysql" => {
                let _ = write!(
                    history,
                    "mysql -h {ip} -u {user} -p {database}\nmysqldump -h {ip} -u {user} -p {database} > db-dump.sql\ngzip db-dump.sql\n"
                );
                if !out.iter().any(|f: &LureFile| f.path == "~/.my.cnf") {
                    out.push(LureFile {
                        path: "~/.my.cnf".into(),
                        content: format!(
                            "[client]\nhost={ip}\nuser={user}\npassword={password}\ndatabase={database}\n"
                        ),
                    });
                }
                if lure.files.iter().any(|f| f == WP_CONFIG) && !out.iter().any(|f: &LureFile| f.path == WP_CONFIG) {
                    out.push(LureFile { path: WP_CONFIG.into(), content: wp_config(database, user, password, ip) });
                }
            }
            _ => {
                let _ = writeln!(history, "psql -h {ip} -U {user} -d {database}");
                let _ = writeln!(pgpass, "{ip}:5432:{database}:{user}:{password}");
            }
        }
        let _ = writeln!(hosts, "{ip}\t{host}");
    }
    history.push_str("df -h\nexit\n");
    out.insert(0, LureFile { path: "~/.bash_history".into(), content: history });
    if wants("~/notes.txt") {
        out.push(LureFile { path: "~/notes.txt".into(), content: notes });
    }
    if !pgpass.is_empty() {
        out.push(LureFile { path: "~/.pgpass".into(), content: pgpass });
    }
    if wants("~/.ssh/config") {
        out.push(LureFile { path: "~/.ssh/config".into(), content: config });
        out.push(LureFile { path: "/etc/hosts".into(), content: hosts });
    }
    out
}

/// A WordPress `wp-config.php` naming the database decky.
fn wp_config(database: &str, user: &str, password: &str, host: Ipv4Addr) -> String {
    format!(
        "<?php\n/**\n * The base configuration for WordPress\n */\n\n// ** Database settings ** //\n\
         define( 'DB_NAME', '{database}' );\ndefine( 'DB_USER', '{user}' );\ndefine( 'DB_PASSWORD', '{password}' );\n\
         define( 'DB_HOST', '{host}' );\ndefine( 'DB_CHARSET', 'utf8mb4' );\ndefine( 'DB_COLLATE', '' );\n\n\
         $table_prefix = 'wp_';\n\ndefine( 'WP_DEBUG', false );\n\nif ( ! defined( 'ABSPATH' ) ) {{\n\
         \tdefine( 'ABSPATH', __DIR__ . '/' );\n}}\n\nrequire_once ABSPATH . 'wp-settings.php';\n"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::generator::{GeneratorConfig, generate};

    #[test]
    fn lures_are_deterministic_inside_the_topology_and_lead_to_deckies_the_decky_reaches() {
        let (mut found_any, mut found_database) = (false, false);
        for seed in 0..20 {
            let config = GeneratorConfig { seed, depth: 3, branching: 2, ..GeneratorConfig::default() };
            let design = generate(&config, &[]).unwrap();
            let routes = crate::routing::routes(&design);
            for density in [Density::Sparse, Density::Rich] {
                let all = lures(&design, seed, density);
                assert_eq!(all, lures(&design, seed, density), "same seed, same lures");
                for (decky, found) in &all {
                    let source = &design.deckies[decky];
                    assert!(found.len() <= if density == Density::Rich { 4 } else { 2 });
                    for lure in found {
                        let target = &design.deckies[&lure.target];
                        assert!(target.services.contains(&lure.service), "{lure:?}");
                        assert!(target.ips.values().any(|ip| *ip == lure.target_ip), "an address of the target");
                        let reachable = source.ips.keys().any(|l| design.lans[l].subnet.contains(&lure.target_ip))
                            || routes[decky].iter().any(|r| r.destination.contains(&lure.target_ip));
                        assert!(reachable, "seed {seed}: {decky} cannot reach {}", lure.target_ip);
                        assert_eq!(
                            lure.account,
                            account_for(seed, &lure.target, &lure.service),
                            "the target accepts it"
                        );
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
            let sparse = lures(&design, seed, Density::Sparse);
            found_any |= !sparse.is_empty();
            found_database |= sparse.values().flatten().any(|l| DATABASE_SERVICES.contains(&l.service.as_str()));
        }
        assert!(found_any, "generated mazes have lures");
        assert!(found_database, "generated mazes have database lures");
    }

    fn lure(service: &str, user: &str, files: &[&str]) -> Lure {
        Lure {
            decky: Name::parse("decky-001").unwrap(),
            target: Name::parse("decky-002").unwrap(),
            target_hostname: "db01".into(),
            target_ip: Ipv4Addr::new(10, 1, 2, 3),
            service: service.into(),
            account: Account { user: user.into(), password: "Falcon1234#".into() },
            files: files.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn database_lures_write_the_client_files_that_name_the_target() {
        let written = files(&[
            lure("mysql", "wordpress", &["~/.bash_history", "~/.my.cnf", WP_CONFIG]),
            lure("postgres", "app", &["~/.bash_history", "~/.pgpass"]),
        ]);
        let file = |path: &str| written.iter().find(|f| f.path == path).map(|f| f.content.as_str()).unwrap();
        assert!(file("~/.my.cnf").contains("host=10.1.2.3\nuser=wordpress\npassword=Falcon1234#\n"));
        assert!(file(WP_CONFIG).contains("define( 'DB_PASSWORD', 'Falcon1234#' );"));
        assert!(file(WP_CONFIG).contains("define( 'DB_HOST', '10.1.2.3' );"));
        assert_eq!(file("~/.pgpass"), "10.1.2.3:5432:app:app:Falcon1234#\n");
        assert!(file("~/.bash_history").contains("mysql -h 10.1.2.3 -u wordpress -p wordpress\n"));
        assert!(file("~/.bash_history").contains("psql -h 10.1.2.3 -U app -d app\n"));
        assert!(written.iter().all(|f| f.path != "~/notes.txt"), "no ssh lure, no ssh notes");
    }

    #[test]
    fn known_hosts_name_the_ssh_targets() {
        let ssh = lure("ssh", "ops", &["~/.bash_history", "~/notes.txt", "~/.ssh/known_hosts"]);
        let entries = known_hosts(&[ssh, lure("postgres", "app", &["~/.pgpass"])]);
        assert_eq!(
            entries,
            vec![KnownHost { host: Ipv4Addr::new(10, 1, 2, 3), decky: Name::parse("decky-002").unwrap() }]
        );
    }

    #[test]
    fn each_service_has_its_own_account() {
        let name = Name::parse("decky-004").unwrap();
        assert_eq!(account_for(7, &name, "ssh"), account(7, &name));
        assert_ne!(account_for(7, &name, "mysql"), account_for(7, &name, "postgres"));
        assert_eq!(account_for(7, &name, "mysql"), account_for(7, &name, "mysql"));
    }

    #[test]
    fn accounts_depend_on_the_seed_and_the_decky_only() {
        let name = Name::parse("decky-004").unwrap();
        assert_eq!(account(7, &name), account(7, &name));
        assert_ne!(account(7, &name), account(8, &name));
        assert!(!account(7, &name).password.is_empty());
    }
}
