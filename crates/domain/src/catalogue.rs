//! The catalogue: decoy services, archetypes and OS fingerprint families.
//!
//! This is data, kept in the domain so that validation (unknown services, config shape,
//! port clashes) and planning (which containers a decky needs, which ports a gateway
//! publishes) read the same table the decoys are built from.

use serde_json::Value;

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
}

const fn key(key: &'static str, ty: FieldType, default: DefaultValue, help: &'static str) -> ConfigKey {
    ConfigKey { key, ty, default, secret: false, help }
}

const fn secret(key: &'static str, ty: FieldType, default: DefaultValue, help: &'static str) -> ConfigKey {
    ConfigKey { key, ty, default, secret: true, help }
}

const fn svc(
    name: &'static str,
    tcp_ports: &'static [u16],
    udp_ports: &'static [u16],
    keys: &'static [ConfigKey],
    description: &'static str,
) -> Service {
    Service { name, tcp_ports, udp_ports, keys, singleton: false, description }
}

use DefaultValue as D;
use FieldType as F;

const LOGIN_KEYS: &[ConfigKey] = &[
    secret("password", F::Password, D::Str("admin"), "root password accepted by the fake login"),
    key("user", F::String, D::Str("ubuntu"), "unprivileged user accepted by the fake login"),
    secret("user_password", F::Password, D::Str("admin"), "password of the unprivileged user"),
    key("hostname", F::String, D::None, "hostname shown in the shell prompt (defaults to the decky name)"),
];

const HTTP_VERSIONS: &[&str] = &["http/1.1", "http/2"];
const HTTPS_VERSIONS: &[&str] = &["http/1.1", "http/2", "http/3"];
const FAKE_APPS: &[&str] = &["none", "wordpress", "phpmyadmin", "tomcat", "jenkins"];
const MTAS: &[&str] = &["postfix", "exim", "sendmail"];

/// The keys shared by the web services, for a given set of protocol versions, followed by
/// the service's own keys.
macro_rules! web_keys {
    ($versions:expr $(, $extra:expr)* $(,)?) => {
        &[
            key("server_header", F::String, D::None, "value of the Server header"),
            key("response_code", F::Int, D::Int(200), "status code of the landing page"),
            key("fake_app", F::Enum(FAKE_APPS), D::Str("none"), "fake web application to present"),
            key("extra_headers", F::Textarea, D::None, "extra response headers, one per line"),
            key("custom_body", F::Textarea, D::None, "body served instead of the fake application"),
            key("http_versions", F::MultiEnum($versions), D::List(&["http/1.1"]), "protocol versions offered"),
            $($extra,)*
        ]
    };
}

const HTTP_KEYS: &[ConfigKey] = web_keys!(HTTP_VERSIONS);

const HTTPS_KEYS: &[ConfigKey] = web_keys!(
    HTTPS_VERSIONS,
    key("tls_cn", F::String, D::None, "common name of the generated certificate"),
    secret("tls_cert", F::Textarea, D::None, "PEM certificate to present instead of a generated one",),
    secret("tls_key", F::Textarea, D::None, "PEM private key of tls_cert"),
);

const SMTP_KEYS: &[ConfigKey] = &[
    key("banner", F::String, D::None, "220 greeting text"),
    key("mta", F::Enum(MTAS), D::Str("postfix"), "mail transfer agent persona"),
];

const SMTP_RELAY_KEYS: &[ConfigKey] = &[
    key("banner", F::String, D::None, "220 greeting text"),
    key("mta", F::Enum(MTAS), D::Str("postfix"), "mail transfer agent persona"),
    key("upstream_host", F::String, D::None, "relay host for probe messages"),
    key("upstream_port", F::Int, D::Int(25), "relay port for probe messages"),
    key("upstream_user", F::String, D::None, "relay user"),
    secret("upstream_pass", F::Password, D::None, "relay password"),
    key("upstream_sender", F::String, D::None, "envelope sender for relayed probes"),
    key("probe_limit", F::Int, D::Int(1), "messages relayed before the relay closes"),
];

const DNS_MODES: &[&str] = &["auth", "recursive", "open"];
const DNS_KEYS: &[ConfigKey] = &[
    key("zone_mode", F::Enum(DNS_MODES), D::Str("auth"), "authoritative, recursive or open resolver persona"),
    key("domain", F::String, D::Str(""), "zone served"),
    key("bind_version", F::String, D::Str("9.11.4-P2-RedHat-9.11.4-26.P2.el7_9.16"), "answer to version.bind"),
    key("nsid", F::String, D::Str(""), "NSID option value"),
    key("extra_records", F::Textarea, D::None, "extra zone records, one per line"),
    key("real_recursive", F::Bool, D::Bool(false), "actually resolve recursive queries"),
    key("upstream", F::String, D::Str(""), "upstream resolver for real recursion"),
    key("forward_budget", F::String, D::Str("50"), "forwarded queries allowed per window"),
    key("forward_window", F::String, D::Str("1.0"), "forwarding window in seconds"),
    key("state_path", F::String, D::Str(""), "where resolver state is kept"),
];

/// Every service, sorted by name.
pub static SERVICES: &[Service] = &[
    svc("conpot", &[502, 80], &[161], &[], "industrial control system honeypot (Modbus, HTTP, SNMP)"),
    svc("dns", &[53], &[53], DNS_KEYS, "authoritative DNS server with a BIND persona"),
    svc("docker_api", &[2375], &[], &[], "unauthenticated Docker Engine API"),
    svc("elasticsearch", &[9200], &[], &[], "Elasticsearch REST API"),
    svc("ftp", &[21], &[], &[], "FTP server with a read-only bait filesystem"),
    svc("http", &[80], &[], HTTP_KEYS, "web server with optional fake application"),
    svc("https", &[443], &[], HTTPS_KEYS, "TLS web server with optional fake application"),
    svc("imap", &[143], &[], &[], "IMAP server with a bait mailbox"),
    svc("k8s", &[6443], &[], &[], "Kubernetes API server"),
    svc("ldap", &[389], &[], &[], "LDAP directory accepting simple binds"),
    svc("llmnr", &[], &[5355, 5353], &[], "passive LLMNR and mDNS listener"),
    svc("mongodb", &[27017], &[], &[], "MongoDB server"),
    svc("mqtt", &[1883], &[], &[], "MQTT broker"),
    svc("mssql", &[1433], &[], &[], "Microsoft SQL Server login endpoint"),
    svc(
        "mysql",
        &[3306],
        &[],
        &[key("version", F::String, D::None, "server version in the handshake")],
        "MySQL server capturing login hashes",
    ),
    svc("pop3", &[110], &[], &[], "POP3 server with a bait mailbox"),
    svc("postgres", &[5432], &[], &[], "PostgreSQL server capturing login hashes"),
    svc(
        "rdp",
        &[3389],
        &[],
        &[key("nla", F::Bool, D::Bool(false), "require network level authentication")],
        "Remote Desktop endpoint",
    ),
    svc(
        "redis",
        &[6379],
        &[],
        &[
            key("version", F::String, D::None, "redis_version reported by INFO"),
            key("os_string", F::String, D::None, "os reported by INFO"),
        ],
        "Redis server with a fake keyspace",
    ),
    svc("sip", &[5060], &[5060], &[], "SIP registrar with digest authentication"),
    svc("smb", &[445, 139], &[], &[], "SMB server capturing NTLM hashes"),
    svc("smtp", &[25, 587], &[], SMTP_KEYS, "SMTP server capturing credentials, refusing relay"),
    svc("smtp_relay", &[25, 587], &[], SMTP_RELAY_KEYS, "SMTP open-relay persona that stores mail"),
    Service {
        name: "sniffer",
        tcp_ports: &[],
        udp_ports: &[],
        keys: &[],
        singleton: true,
        description: "passive TLS sniffer, one per host",
    },
    svc("snmp", &[], &[161], &[], "SNMP agent answering the system group"),
    svc("ssh", &[22], &[], LOGIN_KEYS, "SSH server with a fake shell"),
    svc("telnet", &[23], &[], LOGIN_KEYS, "Telnet server with a fake shell"),
    svc("tftp", &[], &[69], &[], "TFTP server"),
    svc("vnc", &[5900], &[], &[], "VNC server capturing DES challenge responses"),
];

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
    pub fn sysctls(self) -> [(&'static str, &'static str); 10] {
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
        [
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
        ]
    }
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

const fn arch(
    slug: &'static str,
    display_name: &'static str,
    description: &'static str,
    services: &'static [&'static str],
    preferred_distros: &'static [&'static str],
    os: OsFamily,
) -> Archetype {
    Archetype { slug, display_name, description, services, preferred_distros, os }
}

/// The 15 archetypes, sorted by slug.
pub static ARCHETYPES: &[Archetype] = &[
    arch(
        "database-server",
        "Database server",
        "SQL and key-value stores",
        &["mysql", "postgres", "redis"],
        &["debian", "ubuntu22"],
        OsFamily::Linux,
    ),
    arch("deaddeck", "Dead deck", "a forgotten box with only SSH", &["ssh"], &["debian", "ubuntu22"], OsFamily::Linux),
    arch(
        "devops-host",
        "DevOps host",
        "container and cluster control planes",
        &["docker_api", "ssh", "k8s"],
        &["ubuntu22", "debian"],
        OsFamily::Linux,
    ),
    arch(
        "domain-controller",
        "Domain controller",
        "Active Directory domain controller",
        &["ldap", "smb", "rdp", "llmnr"],
        &["debian", "ubuntu22"],
        OsFamily::WindowsServer,
    ),
    arch(
        "file-server",
        "File server",
        "shared files over SMB and FTP",
        &["smb", "ftp", "ssh"],
        &["debian", "ubuntu22", "rocky9"],
        OsFamily::Linux,
    ),
    arch(
        "industrial-control",
        "Industrial control",
        "PLC and SCADA gear",
        &["conpot", "snmp"],
        &["debian"],
        OsFamily::Embedded,
    ),
    arch(
        "iot-device",
        "IoT device",
        "a connected gadget",
        &["mqtt", "snmp", "telnet"],
        &["alpine"],
        OsFamily::Embedded,
    ),
    arch(
        "linux-server",
        "Linux server",
        "general purpose Linux host",
        &["ssh", "http"],
        &["debian", "ubuntu22", "rocky9", "fedora"],
        OsFamily::Linux,
    ),
    arch(
        "mail-server",
        "Mail server",
        "SMTP, POP3 and IMAP",
        &["smtp", "pop3", "imap"],
        &["debian", "ubuntu22"],
        OsFamily::Linux,
    ),
    arch(
        "monitoring-node",
        "Monitoring node",
        "metrics collector",
        &["snmp", "ssh"],
        &["debian", "rocky9"],
        OsFamily::Linux,
    ),
    arch("printer", "Printer", "a network printer", &["snmp", "ftp"], &["alpine", "debian"], OsFamily::Embedded),
    arch("voip-server", "VoIP server", "SIP registrar", &["sip"], &["debian", "ubuntu22"], OsFamily::Linux),
    arch(
        "web-server",
        "Web server",
        "web and file transfer",
        &["http", "ftp"],
        &["debian", "ubuntu22", "ubuntu20"],
        OsFamily::Linux,
    ),
    arch(
        "windows-server",
        "Windows server",
        "member server of a domain",
        &["smb", "rdp", "ldap"],
        &["debian", "ubuntu22"],
        OsFamily::WindowsServer,
    ),
    arch(
        "windows-workstation",
        "Windows workstation",
        "a user's desktop",
        &["smb", "rdp"],
        &["debian", "ubuntu22"],
        OsFamily::Windows,
    ),
];

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
