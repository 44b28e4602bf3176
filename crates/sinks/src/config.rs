//! The configuration file of `decnet serve --config FILE` (YAML or JSON): its sinks and
//! its alert rules (`decnet_domain::alerts`), checked whole at
//! start: an unknown key, a wrong type or a bad value is an error naming where it is.
//!
//! ```yaml
//! sinks:
//!   - name: archive
//!     file: { path: /var/log/decnet/events.jsonl, max_bytes: 104857600, keep: 5 }
//!   - name: siem
//!     types: ["ssh.*", "http.request"]
//!     syslog: { transport: tls, address: "siem.example:6514", ca: /etc/decnet/siem-ca.pem }
//!   - name: soar
//!     webhook: { url: "https://soar.example/hooks/decnet", secret_env: DECNET_HOOK_SECRET }
//!   - name: search
//!     elasticsearch: { url: "https://search.example:9200", index: decnet-events, api_key_env: ES_KEY }
//! alerts:
//!   ignore: { sources: ["10.0.0.0/8"] }     # our own scanners
//! ```

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Longest sink name.
const MAX_NAME_LEN: usize = 64;

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It does not parse, or a key is unknown or of the wrong type.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's words (the key or the line and column).
        message: String,
    },
    /// A value is out of its range or inconsistent.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where, as `sinks[1].syslog.address`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where events go besides the store.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Which events make incidents (the defaults when absent).
    #[serde(default)]
    pub alerts: decnet_domain::alerts::AlertConfig,
}

/// One sink: common settings and exactly one transport.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Unique name: letters, digits, `-`, `_` (it names the sink's cursor and metrics).
    pub name: String,
    /// Only events of these types (`ssh.login`, or a prefix as `ssh.*`); all when absent.
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// Events delivered per batch (1 to 10,000).
    #[serde(default = "defaults::batch")]
    pub batch: usize,
    /// Most events waiting for this sink (its spool, in the event log); beyond it the
    /// oldest are skipped and counted as dropped.
    #[serde(default = "defaults::spool_max_events")]
    pub spool_max_events: u64,
    /// Longest wait between attempts at a failing receiver, in seconds (the wait doubles
    /// from half a second up to this).
    #[serde(default = "defaults::retry_max_secs")]
    pub retry_max_secs: u64,
    /// JSON lines to a file.
    #[serde(default)]
    pub file: Option<FileConfig>,
    /// RFC 5424 syslog.
    #[serde(default)]
    pub syslog: Option<SyslogConfig>,
    /// An HTTP webhook.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// An Elasticsearch or OpenSearch bulk endpoint.
    #[serde(default)]
    pub elasticsearch: Option<ElasticConfig>,
}

/// The transport of a sink.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkKind {
    /// JSON lines to a file.
    File(FileConfig),
    /// RFC 5424 syslog.
    Syslog(SyslogConfig),
    /// An HTTP webhook.
    Webhook(WebhookConfig),
    /// An Elasticsearch or OpenSearch bulk endpoint.
    Elasticsearch(ElasticConfig),
}

impl SinkKind {
    /// The transport's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SinkKind::File(_) => "file",
            SinkKind::Syslog(_) => "syslog",
            SinkKind::Webhook(_) => "webhook",
            SinkKind::Elasticsearch(_) => "elasticsearch",
        }
    }
}

/// JSON lines to a file, rotated by size, rotated files kept by count and age.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file written to; rotated files are `PATH.1` (newest) to `PATH.KEEP`.
    pub path: PathBuf,
    /// Size at which the file is rotated, in bytes (at least 4096).
    #[serde(default = "defaults::max_bytes")]
    pub max_bytes: u64,
    /// Rotated files kept (0 to 1000).
    #[serde(default = "defaults::keep")]
    pub keep: u32,
    /// Rotated files older than this many days are deleted.
    #[serde(default = "defaults::max_age_days")]
    pub max_age_days: u64,
}

/// How syslog messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransport {
    /// One datagram per message (RFC 5426).
    Udp,
    /// Octet-counted frames over TCP (RFC 6587).
    Tcp,
    /// Octet-counted frames over TLS (RFC 5425).
    Tls,
}

/// RFC 5424 syslog.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `udp`, `tcp` or `tls`.
    pub transport: SyslogTransport,
    /// The receiver, `host:port`.
    pub address: String,
    /// TLS: the CA that signed the receiver's certificate (PEM); the system's roots when absent.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// TLS: the name the receiver's certificate must carry (the address's host when absent).
    #[serde(default)]
    pub server_name: Option<String>,
    /// The APP-NAME field.
    #[serde(default = "defaults::app_name")]
    pub app_name: String,
    /// The facility (0 to 23; 16 is local0).
    #[serde(default = "defaults::facility")]
    pub facility: u8,
}

/// An HTTP webhook: each batch is `POST`ed as `{"events": [...]}`, signed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL.
    pub url: String,
    /// The signing secret (prefer `secret_env`).
    #[serde(default)]
    pub secret: Option<String>,
    /// The environment variable holding the signing secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The CA of the receiver's certificate (PEM); the system's roots when absent.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Seconds one attempt may take.
    #[serde(default = "defaults::timeout_secs")]
    pub timeout_secs: u64,
}

/// An Elasticsearch or OpenSearch `_bulk` endpoint; documents in ECS field names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticConfig {
    /// The cluster's URL (`/_bulk` is appended).
    pub url: String,
    /// The index (or data stream) written to.
    #[serde(default = "defaults::index")]
    pub index: String,
    /// Basic authentication user.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the basic authentication password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The environment variable holding an API key (`Authorization: ApiKey ...`).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The CA of the cluster's certificate (PEM); the system's roots when absent.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Seconds one attempt may take.
    #[serde(default = "defaults::timeout_secs")]
    pub timeout_secs: u64,
}

mod defaults {
    pub fn batch() -> usize {
        500
    }
    pub fn spool_max_events() -> u64 {
        1_000_000
    }
    pub fn retry_max_secs() -> u64 {
        60
    }
    pub fn max_bytes() -> u64 {
        100 << 20
    }
    pub fn keep() -> u32 {
        5
    }
    pub fn max_age_days() -> u64 {
        30
    }
    pub fn app_name() -> String {
        "decnet".into()
    }
    pub fn facility() -> u8 {
        16
    }
    pub fn timeout_secs() -> u64 {
        10
    }
    pub fn index() -> String {
        "decnet-events".into()
    }
}

impl SinkConfig {
    /// The sink's transport (checked by [`Config::load`] to be exactly one).
    pub fn kind(&self) -> Option<SinkKind> {
        let mut kinds = [
            self.file.clone().map(SinkKind::File),
            self.syslog.clone().map(SinkKind::Syslog),
            self.webhook.clone().map(SinkKind::Webhook),
            self.elasticsearch.clone().map(SinkKind::Elasticsearch),
        ]
        .into_iter()
        .flatten();
        let kind = kinds.next()?;
        kinds.next().is_none().then_some(kind)
    }

    /// Whether events of type `kind` go to this sink.
    pub fn wants(&self, kind: &str) -> bool {
        self.types.as_ref().is_none_or(|types| {
            types.iter().any(|t| match t.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => kind == t,
            })
        })
    }

    /// Where events go, for people: no credentials.
    pub fn target(&self) -> String {
        match self.kind() {
            Some(SinkKind::File(f)) => f.path.display().to_string(),
            Some(SinkKind::Syslog(s)) => format!("{}://{}", transport_name(s.transport), s.address),
            Some(SinkKind::Webhook(w)) => without_credentials(&w.url),
            Some(SinkKind::Elasticsearch(e)) => {
                format!("{}/{}", without_credentials(&e.url).trim_end_matches('/'), e.index)
            }
            None => String::new(),
        }
    }
}

fn transport_name(transport: SyslogTransport) -> &'static str {
    match transport {
        SyslogTransport::Udp => "udp",
        SyslogTransport::Tcp => "tcp",
        SyslogTransport::Tls => "tls",
    }
}

/// `url` without a `user:password@` part or a query (which may carry tokens).
fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => "(invalid URL)".into(),
    }
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(path, &text)
    }

    /// Parses and checks `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let config: Config = serde_saphyr::from_str(text)
            .map_err(|e| ConfigError::Syntax { path: path.to_owned(), message: e.to_string() })?;
        config.check().map_err(|(key, message)| ConfigError::Invalid { path: path.to_owned(), key, message })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), (String, String)> {
        self.alerts.check()?;
        let mut names = BTreeSet::new();
        for (n, sink) in self.sinks.iter().enumerate() {
            let at = |key: &str| format!("sinks[{n}].{key}");
            let valid_name = (1..=MAX_NAME_LEN).contains(&sink.name.len())
                && sink.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid_name {
                return Err((at("name"), format!("1 to {MAX_NAME_LEN} letters, digits, '-' or '_'")));
            }
            if !names.insert(sink.name.as_str()) {
                return Err((at("name"), format!("{:?} names two sinks", sink.name)));
            }
            if !(1..=10_000).contains(&sink.batch) {
                return Err((at("batch"), "between 1 and 10000".into()));
            }
            if sink.spool_max_events == 0 {
                return Err((at("spool_max_events"), "at least 1".into()));
            }
            if !(1..=3600).contains(&sink.retry_max_secs) {
                return Err((at("retry_max_secs"), "between 1 and 3600".into()));
            }
            if let Some(types) = &sink.types
                && (types.is_empty() || types.iter().any(|t| t.is_empty() || t.trim() != t))
            {
                return Err((at("types"), "a non-empty list of event types (or prefixes as ssh.*)".into()));
            }
            let kind = sink.kind().ok_or_else(|| {
                (at("name"), "exactly one of file, syslog, webhook or elasticsearch must be given".to_owned())
            })?;
            match kind {
                SinkKind::File(file) => {
                    if file.max_bytes < 4096 {
                        return Err((at("file.max_bytes"), "at least 4096".into()));
                    }
                    if file.keep > 1000 {
                        return Err((at("file.keep"), "at most 1000".into()));
                    }
                    if file.path.file_name().is_none() {
                        return Err((at("file.path"), "a file, not a directory".into()));
                    }
                }
                SinkKind::Syslog(syslog) => {
                    if syslog.address.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none()
                        && syslog.address.parse::<SocketAddr>().is_err()
                    {
                        return Err((at("syslog.address"), "host:port".into()));
                    }
                    if syslog.facility > 23 {
                        return Err((at("syslog.facility"), "0 to 23".into()));
                    }
                    let printable = |s: &str| (1..=48).contains(&s.len()) && s.bytes().all(|b| (33..=126).contains(&b));
                    if !printable(&syslog.app_name) {
                        return Err((at("syslog.app_name"), "1 to 48 printable ASCII characters".into()));
                    }
                    if syslog.transport != SyslogTransport::Tls && (syslog.ca.is_some() || syslog.server_name.is_some())
                    {
                        return Err((at("syslog.ca"), "only a tls transport takes a CA or a server name".into()));
                    }
                }
                SinkKind::Webhook(hook) => {
                    check_url(&hook.url).map_err(|m| (at("webhook.url"), m))?;
                    if hook.secret.is_some() && hook.secret_env.is_some() {
                        return Err((at("webhook.secret"), "give secret or secret_env, not both".into()));
                    }
                    check_timeout(hook.timeout_secs).map_err(|m| (at("webhook.timeout_secs"), m))?;
                }
                SinkKind::Elasticsearch(search) => {
                    check_url(&search.url).map_err(|m| (at("elasticsearch.url"), m))?;
                    let index_ok = !search.index.is_empty()
                        && search.index.len() <= 255
                        && search
                            .index
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
                    if !index_ok {
                        return Err((at("elasticsearch.index"), "lower-case letters, digits, '-', '_' or '.'".into()));
                    }
                    if search.password_env.is_some() != search.username.is_some() {
                        return Err((at("elasticsearch.username"), "username and password_env go together".into()));
                    }
                    check_timeout(search.timeout_secs).map_err(|m| (at("elasticsearch.timeout_secs"), m))?;
                }
            }
        }
        Ok(())
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("an http:// or https:// URL with a host".into());
    }
    Ok(())
}

fn check_timeout(secs: u64) -> Result<(), String> {
    if (1..=300).contains(&secs) { Ok(()) } else { Err("between 1 and 300 seconds".into()) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("decnet.yaml"), text)
    }

    #[test]
    fn a_full_file_parses_with_defaults_filled_in() {
        let config = parse(
            "sinks:\n  - name: archive\n    file: { path: /tmp/x.jsonl }\n  - name: siem\n    types: [\"ssh.*\"]\n    syslog: { transport: tls, address: \"127.0.0.1:6514\", ca: /tmp/ca.pem }\n  - name: hook\n    webhook: { url: \"http://127.0.0.1:9/h?token=x\", secret: s }\n  - name: es\n    elasticsearch: { url: \"http://u:p@127.0.0.1:9200\" }\n",
        )
        .unwrap();
        assert_eq!(config.sinks.len(), 4);
        assert_eq!(config.sinks[0].batch, 500);
        assert!(matches!(config.sinks[0].kind(), Some(SinkKind::File(f)) if f.keep == 5));
        assert!(config.sinks[1].wants("ssh.login") && !config.sinks[1].wants("http.request"));
        assert!(config.sinks[0].wants("anything"));
        assert_eq!(config.sinks[1].target(), "tls://127.0.0.1:6514");
        assert_eq!(config.sinks[2].target(), "http://127.0.0.1:9/h", "no token in what is shown");
        assert_eq!(config.sinks[3].target(), "http://127.0.0.1:9200/decnet-events", "no credentials");
    }

    #[test]
    fn errors_name_the_key_that_is_wrong() {
        let cases = [
            ("sinks:\n  - name: a\n    file: { path: /tmp/x, sise: 3 }\n", "sise"),
            ("sinks:\n  - name: a\n    syslog: { transport: carrier-pigeon, address: \"h:1\" }\n", "carrier-pigeon"),
            ("sinks:\n  - name: a\n    batch: 0\n    file: { path: /tmp/x }\n", "sinks[0].batch"),
            ("sinks:\n  - name: a\n  - name: b\n", "sinks[0].name: exactly one"),
            ("sinks:\n  - name: a\n    file: { path: /tmp/x }\n    webhook: { url: \"http://h/\" }\n", "exactly one"),
            (
                "sinks:\n  - name: a\n    file: { path: /tmp/x }\n  - name: a\n    file: { path: /tmp/y }\n",
                "sinks[1].name",
            ),
            ("sinks:\n  - name: \"a b\"\n    file: { path: /tmp/x }\n", "sinks[0].name"),
            ("sinks:\n  - name: a\n    syslog: { transport: udp, address: nowhere }\n", "sinks[0].syslog.address"),
            ("sinks:\n  - name: a\n    webhook: { url: \"ftp://h/\" }\n", "sinks[0].webhook.url"),
            (
                "sinks:\n  - name: a\n    elasticsearch: { url: \"http://h\", index: UPPER }\n",
                "sinks[0].elasticsearch.index",
            ),
            ("alerts: { rules: [ { name: x, severity: loud } ] }\n", "loud"),
            ("alerts: { ignore: { sources: [nowhere] } }\n", "alerts.ignore.sources[0]"),
            ("alert: {}\n", "alert"),
        ];
        for (text, named) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(named), "{text:?} gave {err:?}, which does not name {named:?}");
            assert!(err.starts_with("decnet.yaml"), "{err}");
        }
    }
}
