//! The transports: a rotating JSON-lines file, syslog over UDP, TCP or TLS, a signed
//! webhook, an Elasticsearch/OpenSearch bulk endpoint. Each delivers a batch whole or
//! fails; the runner retries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use sha2::Sha256;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::config::{ElasticConfig, FileConfig, SinkConfig, SinkKind, SyslogConfig, SyslogTransport, WebhookConfig};
use crate::{Deliver, SinkError, SinkEvent, format};

/// The header carrying the webhook's signature: `sha256=` and the hex HMAC-SHA256 of
/// `TIMESTAMP.BODY` under the secret, `TIMESTAMP` being the [`TIMESTAMP_HEADER`] value.
pub const SIGNATURE_HEADER: &str = "x-decnet-signature";
/// The header carrying the webhook's Unix time of sending (part of what is signed, so a
/// receiver can refuse replays).
pub const TIMESTAMP_HEADER: &str = "x-decnet-timestamp";

/// How long connecting to a syslog receiver may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn open(config: &SinkConfig) -> Result<Box<dyn Deliver>, SinkError> {
    let kind = config.kind().ok_or_else(|| SinkError::Refused("a sink needs exactly one transport".into()))?;
    Ok(match kind {
        SinkKind::File(file) => Box::new(FileSink::new(file)),
        SinkKind::Syslog(syslog) => Box::new(SyslogSink::new(syslog)?),
        SinkKind::Webhook(hook) => Box::new(WebhookSink::new(hook)?),
        SinkKind::Elasticsearch(search) => Box::new(BulkSink::new(search)?),
    })
}

/// What a file sink's files use on disk and may use: the file and its rotated copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskUse {
    /// Bytes used now.
    pub used: u64,
    /// Bytes they may reach: `max_bytes` for the file and each rotated copy kept.
    pub limit: u64,
}

/// The disk use of `config`'s files, for a file sink.
pub fn disk_use(config: &SinkConfig) -> Option<DiskUse> {
    let Some(SinkKind::File(file)) = config.kind() else { return None };
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let sink = FileSink::new(file.clone());
    let used = size(&file.path) + (1..=file.keep).map(|n| size(&sink.rotated(n))).sum::<u64>();
    Some(DiskUse { used, limit: file.max_bytes.saturating_mul(u64::from(file.keep) + 1) })
}

/// A rustls client configuration trusting `ca` only, or the system's roots without it.
fn tls_config(ca: Option<&Path>) -> Result<rustls::ClientConfig, SinkError> {
    tls_config_with(ca, true)
}

/// As [`tls_config`]; `need_roots` false allows none (for a client that never uses TLS).
fn tls_config_with(ca: Option<&Path>, need_roots: bool) -> Result<rustls::ClientConfig, SinkError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(ca) => {
            for cert in
                CertificateDer::pem_file_iter(ca).map_err(|e| SinkError::Tls(format!("{}: {e}", ca.display())))?
            {
                let cert = cert.map_err(|e| SinkError::Tls(format!("{}: {e}", ca.display())))?;
                roots.add(cert).map_err(|e| SinkError::Tls(format!("{}: {e}", ca.display())))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system root rustls cannot use is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() && need_roots {
        return Err(SinkError::Tls("no trusted certificate authority".into()));
    }
    // ring, not aws-lc: no C toolchain needed, as for the decoys' TLS.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn http_client(ca: Option<&Path>, timeout: u64, https: bool) -> Result<reqwest::Client, SinkError> {
    // reqwest is built without a TLS provider of its own: it is always given this one.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout))
        .no_proxy()
        .tls_backend_preconfigured(tls_config_with(ca, https)?)
        .build()
        .map_err(|e| SinkError::Tls(e.to_string()))
}

/// JSON lines appended to a file, rotated at `max_bytes`.
struct FileSink {
    config: FileConfig,
    file: Option<(tokio::fs::File, u64)>,
}

impl FileSink {
    fn new(config: FileConfig) -> Self {
        Self { config, file: None }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.config.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// `PATH` becomes `PATH.1`, `PATH.1` becomes `PATH.2`, ...; beyond `keep`, and older
    /// than `max_age_days`, rotated files are deleted.
    async fn rotate(&mut self) -> Result<(), SinkError> {
        self.file = None;
        let keep = self.config.keep;
        let _ = tokio::fs::remove_file(self.rotated(keep.max(1))).await;
        for n in (1..keep).rev() {
            let _ = tokio::fs::rename(self.rotated(n), self.rotated(n + 1)).await;
        }
        if keep == 0 {
            tokio::fs::remove_file(&self.config.path).await.map_err(|e| SinkError::io("remove", e))?;
        } else {
            tokio::fs::rename(&self.config.path, self.rotated(1)).await.map_err(|e| SinkError::io("rotate", e))?;
        }
        self.expire().await;
        Ok(())
    }

    /// Deletes rotated files older than `max_age_days`.
    async fn expire(&self) {
        let max_age = Duration::from_secs(self.config.max_age_days.saturating_mul(86_400));
        for n in 1..=self.config.keep {
            let path = self.rotated(n);
            let modified = tokio::fs::metadata(&path).await.and_then(|m| m.modified());
            let old = modified.is_ok_and(|at| SystemTime::now().duration_since(at).unwrap_or_default() > max_age);
            if old {
                let _ = tokio::fs::remove_file(&path).await;
            }
        }
    }

    async fn opened(&mut self) -> Result<&mut (tokio::fs::File, u64), SinkError> {
        if self.file.is_none() {
            let path = &self.config.path;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| SinkError::io(format!("create {}", dir.display()), e))?;
            }
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
                .map_err(|e| SinkError::io(format!("open {}", path.display()), e))?;
            let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
            self.file = Some((file, size));
            self.expire().await;
        }
        self.file.as_mut().ok_or_else(|| SinkError::Refused("file not open".into()))
    }
}

#[async_trait]
impl Deliver for FileSink {
    async fn deliver(&mut self, batch: &[SinkEvent]) -> Result<(), SinkError> {
        let max = self.config.max_bytes;
        let mut pending = Vec::new();
        for event in batch {
            let line = format::json_line(event);
            let size = self.opened().await?.1;
            if size + (pending.len() + line.len()) as u64 > max && size + pending.len() as u64 > 0 {
                self.write(&pending).await?;
                pending.clear();
                self.rotate().await?;
            }
            pending.extend_from_slice(&line);
        }
        self.write(&pending).await
    }
}

impl FileSink {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let (file, size) = self.opened().await?;
        let written = async {
            file.write_all(bytes).await?;
            file.flush().await
        };
        if let Err(e) = written.await {
            self.file = None;
            return Err(SinkError::io("write", e));
        }
        *size += bytes.len() as u64;
        Ok(())
    }
}

/// The local host name for syslog headers.
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "-".into())
}

enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// RFC 5424 messages over UDP (one per datagram) or octet-counted over TCP or TLS.
struct SyslogSink {
    config: SyslogConfig,
    hostname: String,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    connection: Option<Connection>,
}

impl SyslogSink {
    fn new(config: SyslogConfig) -> Result<Self, SinkError> {
        let tls = match config.transport {
            SyslogTransport::Tls => {
                let host = config.address.rsplit_once(':').map_or(config.address.as_str(), |(h, _)| h);
                let name = config.server_name.clone().unwrap_or_else(|| host.trim_matches(['[', ']']).to_owned());
                let name = ServerName::try_from(name).map_err(|e| SinkError::Tls(e.to_string()))?;
                let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(config.ca.as_deref())?));
                Some((connector, name))
            }
            _ => None,
        };
        Ok(Self { config, hostname: local_hostname(), tls, connection: None })
    }

    async fn connect(&self) -> Result<Connection, SinkError> {
        let address = &self.config.address;
        let what = |e| SinkError::io(format!("connect to {address}"), e);
        let timed = |e: tokio::time::error::Elapsed| {
            SinkError::io(format!("connect to {address}"), std::io::Error::new(std::io::ErrorKind::TimedOut, e))
        };
        Ok(match (&self.config.transport, &self.tls) {
            (SyslogTransport::Udp, _) => {
                let target = tokio::net::lookup_host(address.as_str())
                    .await
                    .map_err(what)?
                    .next()
                    .ok_or_else(|| SinkError::Refused(format!("{address} has no address")))?;
                let bind = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let socket = UdpSocket::bind(bind).await.map_err(what)?;
                socket.connect(target).await.map_err(what)?;
                Connection::Udp(socket)
            }
            (SyslogTransport::Tcp, _) => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address.as_str()))
                    .await
                    .map_err(timed)?
                    .map_err(what)?;
                Connection::Tcp(stream)
            }
            (SyslogTransport::Tls, Some((connector, name))) => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address.as_str()))
                    .await
                    .map_err(timed)?
                    .map_err(what)?;
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), stream))
                    .await
                    .map_err(timed)?
                    .map_err(|e| SinkError::Tls(format!("{address}: {e}")))?;
                Connection::Tls(Box::new(tls))
            }
            (SyslogTransport::Tls, None) => return Err(SinkError::Tls("no TLS configuration".into())),
        })
    }
}

#[async_trait]
impl Deliver for SyslogSink {
    async fn deliver(&mut self, batch: &[SinkEvent]) -> Result<(), SinkError> {
        if self.connection.is_none() {
            self.connection = Some(self.connect().await?);
        }
        let messages =
            batch.iter().map(|e| format::rfc5424(e, self.config.facility, &self.hostname, &self.config.app_name));
        let result = match self.connection.as_mut() {
            Some(Connection::Udp(socket)) => {
                let mut result = Ok(());
                for message in messages {
                    if let Err(e) = socket.send(&message).await {
                        result = Err(e);
                        break;
                    }
                }
                result
            }
            Some(Connection::Tcp(stream)) => write_framed(stream, messages).await,
            Some(Connection::Tls(stream)) => write_framed(stream.as_mut(), messages).await,
            None => Ok(()),
        };
        result.map_err(|e| {
            // A broken connection is made again on the next attempt.
            self.connection = None;
            SinkError::io(format!("send to {}", self.config.address), e)
        })
    }
}

/// Octet-counting framing (RFC 6587 §3.4.1, RFC 5425 §4.3): `LEN SP MSG`.
async fn write_framed<W: AsyncWriteExt + Unpin>(
    stream: &mut W,
    messages: impl Iterator<Item = Vec<u8>>,
) -> std::io::Result<()> {
    let mut frames = Vec::new();
    for message in messages {
        frames.extend_from_slice(format!("{} ", message.len()).as_bytes());
        frames.extend_from_slice(&message);
    }
    stream.write_all(&frames).await?;
    stream.flush().await
}

fn secret_from(inline: Option<&String>, env: Option<&String>) -> Result<Option<String>, SinkError> {
    match (inline, env) {
        (Some(secret), _) => Ok(Some(secret.clone())),
        (None, Some(var)) => std::env::var(var)
            .map(Some)
            .map_err(|_| SinkError::Refused(format!("the environment variable {var} is not set"))),
        (None, None) => Ok(None),
    }
}

/// Each batch `POST`ed as `{"events": [...]}`, signed with HMAC-SHA256 when a secret is set.
struct WebhookSink {
    client: reqwest::Client,
    url: String,
    secret: Option<String>,
}

impl WebhookSink {
    fn new(config: WebhookConfig) -> Result<Self, SinkError> {
        let secret = secret_from(config.secret.as_ref(), config.secret_env.as_ref())?;
        let client = http_client(config.ca.as_deref(), config.timeout_secs, config.url.starts_with("https:"))?;
        Ok(Self { client, url: config.url, secret })
    }
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait]
impl Deliver for WebhookSink {
    async fn deliver(&mut self, batch: &[SinkEvent]) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&json!({ "events": batch })).map_err(|e| SinkError::Refused(e.to_string()))?;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp);
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, &timestamp, &body));
        }
        let response = request.body(body).send().await.map_err(|e| SinkError::Refused(describe(&e)))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(SinkError::Refused(format!("the webhook answered {status}"))) }
    }
}

/// A reqwest error with its causes, without the URL (its query may carry a token).
fn describe(err: &reqwest::Error) -> String {
    let mut text = String::from(if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    });
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Batches as `_bulk` `create` requests with the log id as the document id, so a batch
/// delivered twice makes no second document (its 409s count as delivered).
struct BulkSink {
    client: reqwest::Client,
    url: String,
    index: String,
    auth: Option<String>,
}

impl BulkSink {
    fn new(config: ElasticConfig) -> Result<Self, SinkError> {
        use base64::Engine as _;
        let auth = match (&config.username, &config.api_key_env) {
            (_, Some(var)) => Some(format!("ApiKey {}", secret_from(None, Some(var))?.unwrap_or_default())),
            (Some(user), None) => {
                let password = secret_from(None, config.password_env.as_ref())?.unwrap_or_default();
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                ))
            }
            (None, None) => None,
        };
        let client = http_client(config.ca.as_deref(), config.timeout_secs, config.url.starts_with("https:"))?;
        Ok(Self { client, url: format!("{}/_bulk", config.url.trim_end_matches('/')), index: config.index, auth })
    }
}

#[async_trait]
impl Deliver for BulkSink {
    async fn deliver(&mut self, batch: &[SinkEvent]) -> Result<(), SinkError> {
        let mut body = Vec::new();
        for event in batch {
            let action = json!({ "create": { "_index": self.index, "_id": format!("decnet-{}", event.id) } });
            for line in [action, format::ecs(event)] {
                serde_json::to_writer(&mut body, &line).map_err(|e| SinkError::Refused(e.to_string()))?;
                body.push(b'\n');
            }
        }
        let mut request = self.client.post(&self.url).header(reqwest::header::CONTENT_TYPE, "application/x-ndjson");
        if let Some(auth) = &self.auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        let response = request.body(body).send().await.map_err(|e| SinkError::Refused(describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SinkError::Refused(format!("the bulk endpoint answered {status}")));
        }
        let answer: serde_json::Value =
            response.json().await.map_err(|e| SinkError::Refused(format!("bulk answer: {}", describe(&e))))?;
        if answer["errors"] == json!(true) {
            // Already there (409, a repeated batch) is delivered; anything else is retried.
            let items = answer["items"].as_array().map(Vec::as_slice).unwrap_or_default();
            let failed =
                items.iter().map(|i| &i["create"]).find(|c| c["status"].as_u64().is_none_or(|s| s != 409 && s >= 300));
            if let Some(item) = failed {
                return Err(SinkError::Refused(format!("the bulk endpoint refused a document: {}", item["error"])));
            }
        }
        Ok(())
    }
}
