//! The catalogue: decoy services, archetypes and OS fingerprint families.
//!
//! This is data, kept in the domain so that validation (unknown services, config shape,
//! port clashes) and planning (which containers a decky needs, which ports a gateway
//! publishes) read the same table the decoys are built from.

use serde_json::Value;

mod data;

pub use data::{ARCHETYPES, SERVICES};

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The lower-case spelling used in port specs (`22/tcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// The type of one service config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text on one line.
    String,
    /// A secret string.
    Password,
    /// An integer.
    Int,
    /// A boolean.
    Bool,
    /// Multi-line text.
    Textarea,
    /// One of the listed values.
    Enum(&'static [&'static str]),
    /// A list of the listed values.
    MultiEnum(&'static [&'static str]),
}

impl FieldType {
    /// The schema spelling of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Password => "password",
            FieldType::Int => "int",
            FieldType::Bool => "bool",
            FieldType::Textarea => "textarea",
            FieldType::Enum(_) => "enum",
            FieldType::MultiEnum(_) => "multi_enum",
        }
    }

    /// The allowed values of an enum type.
    pub fn choices(self) -> &'static [&'static str] {
        match self {
            FieldType::Enum(choices) | FieldType::MultiEnum(choices) => choices,
            _ => &[],
        }
    }

    /// Checks that `value` has this type; the error says what was expected.
    pub fn check(self, value: &Value) -> Result<(), String> {
        let ok = match self {
            FieldType::String | FieldType::Password | FieldType::Textarea => value.is_string(),
            FieldType::Int => value.is_i64() || value.is_u64(),
            FieldType::Bool => value.is_boolean(),
            FieldType::Enum(choices) => value.as_str().is_some_and(|v| choices.contains(&v)),
            FieldType::MultiEnum(choices) => value
                .as_array()
                .is_some_and(|items| items.iter().all(|v| v.as_str().is_some_and(|v| choices.contains(&v)))),
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            FieldType::Enum(choices) => format!("expected one of {choices:?}"),
            FieldType::MultiEnum(choices) => format!("expected a list of {choices:?}"),
            other => format!("expected a value of type {}", other.as_str()),
        })
    }
}

/// A default value for a config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// No default: the decoy picks a persona-dependent value.
    None,
    /// A string.
    Str(&'static str),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A list of strings.
    List(&'static [&'static str]),
}

impl DefaultValue {
    /// The default as JSON (`null` when there is none).
    pub fn to_json(self) -> Value {
        match self {
            DefaultValue::None => Value::Null,
            DefaultValue::Str(s) => Value::from(s),
            DefaultValue::Int(i) => Value::from(i),
            DefaultValue::Bool(b) => Value::from(b),
            DefaultValue::List(items) => Value::from(items.to_vec()),
        }
    }
}

/// One config key of a service.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// Key as it appears in `service_config`.
    pub key: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Its default.
    pub default: DefaultValue,
    /// Whether the value is a secret (never echoed in listings).
    pub secret: bool,
    /// One line of help.
    pub help: &'static str,
}

/// One decoy service.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Slug, e.g. `ssh`.
    pub name: &'static str,
    /// TCP ports the service listens on.
    pub tcp_ports: &'static [u16],
    /// UDP ports the service listens on.
    pub udp_ports: &'static [u16],
    /// Config keys with types and defaults.
    pub keys: &'static [ConfigKey],
    /// Runs once per host rather than once per decky; never placed on a decky.
    pub singleton: bool,
    /// One line describing the decoy.
    pub description: &'static str,
}

impl Service {
    /// Every `(port, protocol)` the service binds.
    pub fn ports(&self) -> impl Iterator<Item = (u16, Proto)> + '_ {
        self.tcp_ports.iter().map(|&p| (p, Proto::Tcp)).chain(self.udp_ports.iter().map(|&p| (p, Proto::Udp)))
    }

    /// The config key named `key`.
    pub fn key(&self, key: &str) -> Option<&ConfigKey> {
        self.keys.iter().find(|k| k.key == key)
    }

    /// What is wrong with `config` for this service: (key, problem) for each unknown key
    /// or value of the wrong type.
    pub fn config_problems<'a>(
        &self,
        config: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Vec<(&'a str, String)> {
        config
            .iter()
            .filter_map(|(key, value)| {
                let problem = match self.key(key) {
                    None => Some(format!("unknown key {key:?}")),
                    Some(k) => k.ty.check(value).err().map(|why| format!("key {key:?}: {why}")),
                };
                problem.map(|p| (key.as_str(), p))
            })
            .collect()
    }
}

/// The prefix of a host name for a decky of this archetype or with these services, as
/// admins name machines by role (`web`, `db`, `fs`, `dc`, ...).
pub fn hostname_prefix(archetype: Option<&str>, services: &[String]) -> &'static str {
    let by_archetype = match archetype {
        Some("web-server") => Some("web"),
        Some("database-server") => Some("db"),
        Some("mail-server") => Some("mail"),
        Some("file-server") => Some("fs"),
        Some("domain-controller") => Some("dc"),
        Some("windows-workstation") => Some("ws"),
        Some("windows-server") => Some("win-srv"),
        Some("printer") => Some("prn"),
        Some("voip-server") => Some("pbx"),
        Some("iot-device") => Some("cam"),
        Some("industrial-control") => Some("plc"),
        Some("monitoring-node") => Some("mon"),
        Some("devops-host") => Some("ci"),
        _ => None,
    };
    let has = |names: &[&str]| services.iter().any(|s| names.contains(&s.as_str()));
    by_archetype.unwrap_or(if has(&["http", "https"]) {
        "web"
    } else if has(&["mysql", "postgres", "mssql", "mongodb", "redis", "elasticsearch"]) {
        "db"
    } else if has(&["smtp", "imap", "pop3"]) {
        "mail"
    } else if has(&["smb", "ftp", "tftp"]) {
        "fs"
    } else if has(&["rdp", "vnc"]) {
        "ws"
    } else {
        "srv"
    })
}

/// The service called `name`.
pub fn service(name: &str) -> Option<&'static Service> {
    // Byte-array patterns compile to a decision tree over the length and the bytes: this
    // lookup runs for every service of every decky on every validation, so it must not be
    // a string search.
    let index = match name.as_bytes() {
        [b'c', b'o', b'n', b'p', b'o', b't'] => 0,
        [b'd', b'n', b's'] => 1,
        [b'd', b'o', b'c', b'k', b'e', b'r', b'_', b'a', b'p', b'i'] => 2,
        [b'e', b'l', b'a', b's', b't', b'i', b'c', b's', b'e', b'a', b'r', b'c', b'h'] => 3,
        [b'f', b't', b'p'] => 4,
        [b'h', b't', b't', b'p'] => 5,
        [b'h', b't', b't', b'p', b's'] => 6,
        [b'i', b'm', b'a', b'p'] => 7,
        [b'k', b'8', b's'] => 8,
        [b'l', b'd', b'a', b'p'] => 9,
        [b'l', b'l', b'm', b'n', b'r'] => 10,
        [b'm', b'o', b'n', b'g', b'o', b'd', b'b'] => 11,
        [b'm', b'q', b't', b't'] => 12,
        [b'm', b's', b's', b'q', b'l'] => 13,
        [b'm', b'y', b's', b'q', b'l'] => 14,
        [b'p', b'o', b'p', b'3'] => 15,
        [b'p', b'o', b's', b't', b'g', b'r', b'e', b's'] => 16,
        [b'r', b'd', b'p'] => 17,
        [b'r', b'e', b'd', b'i', b's'] => 18,
        [b's', b'i', b'p'] => 19,
        [b's', b'm', b'b'] => 20,
        [b's', b'm', b't', b'p'] => 21,
        [b's', b'm', b't', b'p', b'_', b'r', b'e', b'l', b'a', b'y'] => 22,
        [b's', b'n', b'i', b'f', b'f', b'e', b'r'] => 23,
        [b's', b'n', b'm', b'p'] => 24,
        [b's', b's', b'h'] => 25,
        [b't', b'e', b'l', b'n', b'e', b't'] => 26,
        [b't', b'f', b't', b'p'] => 27,
        [b'v', b'n', b'c'] => 28,
        _ => return None,
    };
    SERVICES.get(index)
}

/// The service called `name`, if it may be placed on a decky.
pub fn decky_service(name: &str) -> Option<&'static Service> {
    service(name).filter(|s| !s.singleton)
}

/// Names of the services that may be placed on a decky, sorted.
pub fn decky_service_names() -> Vec<&'static str> {
    SERVICES.iter().filter(|s| !s.singleton).map(|s| s.name).collect()
}

/// An OS fingerprint family: the kernel sysctls that shape the decky's TCP/IP stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsFamily {
    /// Linux defaults.
    Linux,
    /// Windows desktop.
    Windows,
    /// Windows Server.
    WindowsServer,
    /// BSD.
    Bsd,
    /// Embedded devices (printers, IoT, PLCs).
    Embedded,
    /// Cisco IOS.
    Cisco,
}

impl OsFamily {
    /// Every family.
    pub const ALL: [OsFamily; 6] = [
        OsFamily::Linux,
        OsFamily::Windows,
        OsFamily::WindowsServer,
        OsFamily::Bsd,
        OsFamily::Embedded,
        OsFamily::Cisco,
    ];

    /// The slug of the family.
    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Linux => "linux",
            OsFamily::Windows => "windows",
            OsFamily::WindowsServer => "windows_server",
            OsFamily::Bsd => "bsd",
            OsFamily::Embedded => "embedded",
            OsFamily::Cisco => "cisco",
        }
    }

    /// The network-namespace sysctls of the family, in a fixed order.
    pub fn sysctls(self) -> Vec<(&'static str, &'static str)> {
        // Columns: ttl, syn_retries, timestamps, window_scaling, sack, ecn, no_pmtu_disc,
        // fin_timeout, icmp_ratelimit, icmp_ratemask.
        let v: [&'static str; 10] = match self {
            OsFamily::Linux => ["64", "6", "1", "1", "1", "2", "0", "60", "1000", "6168"],
            OsFamily::Windows => ["128", "2", "1", "1", "1", "0", "0", "30", "0", "0"],
            OsFamily::WindowsServer => ["128", "2", "1", "1", "1", "1", "0", "30", "0", "0"],
            OsFamily::Bsd => ["64", "6", "1", "1", "1", "0", "0", "60", "250", "6168"],
            OsFamily::Embedded => ["255", "3", "0", "0", "0", "0", "1", "15", "0", "0"],
            OsFamily::Cisco => ["255", "2", "0", "0", "0", "0", "1", "15", "0", "0"],
        };
        let mut sysctls = vec![
            ("net.ipv4.ip_default_ttl", v[0]),
            ("net.ipv4.tcp_syn_retries", v[1]),
            ("net.ipv4.tcp_timestamps", v[2]),
            ("net.ipv4.tcp_window_scaling", v[3]),
            ("net.ipv4.tcp_sack", v[4]),
            ("net.ipv4.tcp_ecn", v[5]),
            ("net.ipv4.ip_no_pmtu_disc", v[6]),
            ("net.ipv4.tcp_fin_timeout", v[7]),
            ("net.ipv4.icmp_ratelimit", v[8]),
            ("net.ipv4.icmp_ratemask", v[9]),
        ];
        if self.is_windows() {
            // An 8 MiB receive buffer makes the kernel advertise window scale 8, as
            // Windows does (Linux's default 6 MiB gives 7); the decoy's stack rules then
            // only reorder the options.
            sysctls.push(("net.ipv4.tcp_rmem", "4096 131072 8388608"));
        }
        sysctls
    }

    /// Whether the family is Windows (desktop or server): its TCP/IP stack is also
    /// reshaped by the base (the decoy's `stack` module), not by sysctls alone.
    pub fn is_windows(self) -> bool {
        matches!(self, OsFamily::Windows | OsFamily::WindowsServer)
    }
}

/// Services only Windows offers: a decky running one presents Windows even without a
/// Windows archetype (an RDP server on a Linux TCP/IP stack would give the decky away).
pub const WINDOWS_ONLY_SERVICES: [&str; 2] = ["mssql", "rdp"];

/// The archetype a decky with these explicit `services` and no archetype of its own
/// takes: `windows-server` when one of them is Windows-only, else none.
pub fn archetype_for_services<S: AsRef<str>>(services: &[S]) -> Option<&'static str> {
    services.iter().any(|s| WINDOWS_ONLY_SERVICES.contains(&s.as_ref())).then_some("windows-server")
}

/// A ready-made decky profile.
#[derive(Debug, Clone, Copy)]
pub struct Archetype {
    /// Slug, e.g. `web-server`.
    pub slug: &'static str,
    /// Human name.
    pub display_name: &'static str,
    /// One line of description.
    pub description: &'static str,
    /// Services the decky runs.
    pub services: &'static [&'static str],
    /// Distributions whose persona fits.
    pub preferred_distros: &'static [&'static str],
    /// OS fingerprint family.
    pub os: OsFamily,
}

/// The archetype called `slug`.
pub fn archetype(slug: &str) -> Option<&'static Archetype> {
    ARCHETYPES.binary_search_by(|a| a.slug.cmp(slug)).ok().map(|i| &ARCHETYPES[i])
}

/// The OS family of a decky: its archetype's, else Linux.
pub fn os_family_of(archetype_slug: Option<&str>) -> OsFamily {
    archetype_slug.and_then(archetype).map_or(OsFamily::Linux, |a| a.os)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(SERVICES.windows(2).all(|w| w[0].name < w[1].name));
        assert!(ARCHETYPES.windows(2).all(|w| w[0].slug < w[1].slug));
        // Every archetype is a valid decky: known services, no port bound twice.
        for archetype in ARCHETYPES {
            let mut ports = std::collections::HashSet::new();
            for name in archetype.services {
                let service = decky_service(name).unwrap_or_else(|| panic!("{}: unknown {name}", archetype.slug));
                assert!(service.ports().all(|p| ports.insert(p)), "{}: {name} binds a taken port", archetype.slug);
            }
        }
    }

    #[test]
    fn every_service_is_found_by_name() {
        for s in SERVICES {
            assert_eq!(service(s.name).map(|found| found.name), Some(s.name));
        }
        assert!(service("gopher").is_none() && service("").is_none());
    }

    #[test]
    fn catalogue_sizes_match_the_reference() {
        assert_eq!(SERVICES.len(), 29);
        assert_eq!(ARCHETYPES.len(), 15);
        assert_eq!(SERVICES.iter().filter(|s| s.singleton).count(), 1);
    }

    #[test]
    fn every_archetype_uses_known_decky_services() {
        for a in ARCHETYPES {
            for s in a.services {
                assert!(decky_service(s).is_some(), "{} uses {s}", a.slug);
            }
        }
    }

    #[test]
    fn defaults_have_their_declared_type() {
        for s in SERVICES {
            for k in s.keys {
                let default = k.default.to_json();
                if !default.is_null() {
                    assert_eq!(k.ty.check(&default), Ok(()), "{}.{}", s.name, k.key);
                }
            }
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(service("ssh").map(|s| s.tcp_ports), Some(&[22u16][..]));
        assert!(decky_service("sniffer").is_none());
        assert!(service("sniffer").is_some());
        assert_eq!(os_family_of(Some("windows-workstation")), OsFamily::Windows);
        assert_eq!(os_family_of(None), OsFamily::Linux);
        assert_eq!(OsFamily::Embedded.sysctls()[0], ("net.ipv4.ip_default_ttl", "255"));
    }
}
