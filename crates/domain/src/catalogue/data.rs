//! The catalogue's tables: every decoy service with its ports and config keys, and the
//! archetypes. Kept apart from the types and lookups so the data reads as data.

use super::{Archetype, ConfigKey, DefaultValue, FieldType, OsFamily, Service};

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

const MAILBOX_KEYS: &[ConfigKey] = &[
    key("user", F::String, D::Str("j.smith"), "mailbox login accepted (besides the logins lures name)"),
    secret("user_password", F::Password, D::Str("Winter2024!"), "password of that mailbox login"),
];

const LDAP_KEYS: &[ConfigKey] = &[key(
    "domain",
    F::String,
    D::None,
    "Active Directory DNS domain the rootDSE names (default: the decky's domain, corp.local)",
)];

const SNMP_KEYS: &[ConfigKey] = &[
    secret(
        "community",
        F::Password,
        D::Str("public"),
        "read community answered (v1/v2c); every other is recorded, then ignored",
    ),
    key("contact", F::String, D::Str("root@localhost"), "sysContact"),
    key("location", F::String, D::Str("server room"), "sysLocation"),
];

const SSH_KEYS: &[ConfigKey] = &[
    secret("password", F::Password, D::Str("admin"), "root password accepted by the fake login"),
    key("user", F::String, D::Str("ubuntu"), "unprivileged user accepted by the fake login"),
    secret("user_password", F::Password, D::Str("admin"), "password of the unprivileged user"),
    key("hostname", F::String, D::None, "hostname shown in the shell prompt (defaults to the decky name)"),
    key("version", F::String, D::None, "identification after SSH-2.0- (defaults to the persona's OpenSSH build)"),
    key(
        "accept_any",
        F::Bool,
        D::Bool(false),
        "let every password in (each is still recorded), as a permissive honeypot",
    ),
];

const FTP_KEYS: &[ConfigKey] = &[
    key("anonymous", F::Bool, D::Bool(true), "accept anonymous logins"),
    key("user", F::String, D::Str("backup"), "account accepted besides anonymous"),
    secret("password", F::Password, D::Str("backup123"), "password of that account"),
    key("banner", F::String, D::None, "220 greeting text (defaults to the persona's vsFTPd)"),
];

const POSTGRES_AUTH: &[&str] = &["md5", "password"];

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

const DNS_MODES: &[&str] = &["auth", "recursive", "open"];
const DNS_KEYS: &[ConfigKey] = &[
    key(
        "zone_mode",
        F::Enum(DNS_MODES),
        D::Str("auth"),
        "auth refuses other names; recursive (private sources) and open (anyone) answer them SERVFAIL, never forwarding",
    ),
    key("domain", F::String, D::Str(""), "zone served (empty: corp.local)"),
    key("bind_version", F::String, D::None, "answer to version.bind (defaults to the persona's BIND build)"),
    key("nsid", F::String, D::Str(""), "NSID option value"),
    key(
        "extra_records",
        F::Textarea,
        D::None,
        "extra zone records, one per line: name TYPE value (A, AAAA, CNAME, NS, MX, TXT)",
    ),
];

/// Every service, sorted by name.
pub static SERVICES: &[Service] = &[
    svc(
        "conpot",
        &[502, 80],
        &[161],
        &[],
        "a Schneider Modicon PLC: Modbus/TCP (reads, recorded writes, device id), web login, SNMP",
    ),
    svc(
        "dns",
        &[53],
        &[53],
        DNS_KEYS,
        "authoritative DNS server (BIND persona): zone records, version.bind, transfers refused, every query recorded",
    ),
    svc(
        "docker_api",
        &[2375],
        &[],
        &[],
        "unauthenticated Docker Engine API: runs, execs and pulls recorded, nothing run",
    ),
    svc(
        "elasticsearch",
        &[9200],
        &[],
        &[],
        "Elasticsearch 7.x REST API with bait indices; writes, deletes and scripts recorded",
    ),
    svc("ftp", &[21], &[], FTP_KEYS, "FTP server with a read-only bait filesystem"),
    svc("http", &[80], &[], HTTP_KEYS, "web server with optional fake application"),
    svc("https", &[443], &[], HTTPS_KEYS, "TLS web server (the persona's certificate) with optional fake application"),
    svc("imap", &[143], &[], MAILBOX_KEYS, "IMAP server (Dovecot) with a bait mailbox"),
    svc(
        "k8s",
        &[6443],
        &[],
        &[],
        "Kubernetes API server over TLS: anonymous reads, tokens and takeover moves recorded",
    ),
    svc("ldap", &[389], &[], LDAP_KEYS, "LDAP as an Active Directory domain controller: rootDSE, binds recorded"),
    svc(
        "llmnr",
        &[],
        &[5355, 5353],
        &[],
        "passive LLMNR and mDNS listener recording every query and claimed answer, never answering",
    ),
    svc(
        "mongodb",
        &[27017],
        &[],
        &[],
        "MongoDB 7.0 without access control: bait databases, commands and SCRAM logins recorded",
    ),
    svc(
        "mqtt",
        &[1883],
        &[],
        &[
            key("anonymous", F::Bool, D::Bool(true), "let clients in without credentials (an open broker)"),
            key(
                "user",
                F::String,
                D::None,
                "the only login accepted (besides lures); unset: any login while anonymous",
            ),
            secret("user_password", F::Password, D::None, "password of that login"),
        ],
        "MQTT broker (Mosquitto) recording logins, subscriptions and publishes; retained $SYS and sensor topics",
    ),
    svc("mssql", &[1433], &[], &[], "Microsoft SQL Server: TLS inside TDS, SQL and NTLM logins captured"),
    svc(
        "mysql",
        &[3306],
        &[],
        &[key("version", F::String, D::None, "server version in the handshake")],
        "MySQL server capturing login hashes",
    ),
    svc("pop3", &[110], &[], MAILBOX_KEYS, "POP3 server (Dovecot) with a bait mailbox"),
    svc(
        "postgres",
        &[5432],
        &[],
        &[
            key("auth_method", F::Enum(POSTGRES_AUTH), D::Str("md5"), "md5 (salted hash) or password (clear text)"),
            key("version", F::String, D::None, "server_version (defaults to the persona's)"),
        ],
        "PostgreSQL server capturing login hashes",
    ),
    svc(
        "rdp",
        &[3389],
        &[],
        &[key("nla", F::Bool, D::Bool(false), "require network level authentication")],
        "Remote Desktop: NLA/CredSSP NTLM hashes captured, cookie and protocols recorded",
    ),
    svc(
        "redis",
        &[6379],
        &[],
        &[
            key("version", F::String, D::None, "redis_version reported by INFO"),
            key("os_string", F::String, D::None, "os reported by INFO"),
            secret("password", F::Password, D::None, "requirepass: AUTH with it succeeds (none: no password)"),
        ],
        "Redis server with a fake keyspace",
    ),
    svc("sip", &[5060], &[5060], &[], "SIP registrar (Asterisk persona) recording Digest responses with their nonce"),
    svc(
        "smb",
        &[445, 139],
        &[],
        &[key("share", F::String, D::Str("Shared"), "name of the bait file share")],
        "Windows file server (SMB2/3): NTLM hashes captured, null sessions, a readable bait share",
    ),
    svc("smtp", &[25, 587], &[], SMTP_KEYS, "SMTP server capturing credentials, refusing relay"),
    // No upstream keys: a decoy never delivers (nor opens any connection), so the relay
    // records each message and answers "queued".
    svc(
        "smtp_relay",
        &[25, 587],
        &[],
        SMTP_KEYS,
        "SMTP open relay: accepts mail for anyone, records each message, delivers none",
    ),
    Service {
        name: "sniffer",
        tcp_ports: &[],
        udp_ports: &[],
        keys: &[],
        singleton: true,
        description: "passive TLS sniffer, one per host",
    },
    svc("snmp", &[], &[161], SNMP_KEYS, "SNMP v1/v2c agent with a walkable MIB-II (system, interfaces, addresses)"),
    svc("ssh", &[22], &[], SSH_KEYS, "SSH server with a fake shell"),
    svc("telnet", &[23], &[], LOGIN_KEYS, "Telnet server with a fake shell"),
    svc("tftp", &[], &[69], &[], "TFTP server (tftpd-hpa) serving switch configs and a PXE menu, recording uploads"),
    svc("vnc", &[5900], &[], &[], "VNC server (RFB 3.8) capturing DES challenge responses with their challenge"),
];

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
        // conpot answers SNMP itself: a second SNMP service would bind the same port.
        &["conpot"],
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
