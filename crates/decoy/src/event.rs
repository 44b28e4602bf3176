//! The interaction event schema (version 2) and where events go.
//!
//! One JSON object per line on stdout, modelled on Cowrie's `eventid` taxonomy: every
//! event names its session (one per connection), the source and destination address, the
//! decky and service, and what happened (`connect`, `auth_attempt`, `command`, `request`,
//! `file_download`, `file_upload`, `protocol_error`, `disconnect`, ...). Credentials carry
//! their kind and, for challenge-response schemes, the salt or challenge, so a captured
//! hash can be cracked offline. Free-form details are bounded in size. Null fields are
//! omitted.
//!
//! Events are written by one writer thread behind a bounded buffer: a session that
//! produces events faster than stdout drains them waits (the attacker is slowed down),
//! nothing is dropped and memory stays bounded.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

/// The event schema version.
pub const SCHEMA_VERSION: u32 = 2;

/// Longest string kept in an event field (longer ones are cut and marked).
pub const MAX_FIELD: usize = 1024;

/// Most entries kept in an event's `details`.
pub const MAX_DETAILS: usize = 32;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A connection was accepted (or a datagram arrived).
    Connect,
    /// A connection was refused by the limits (too many from that source, or in all).
    Rejected,
    /// Credentials were presented.
    AuthAttempt,
    /// What a client offered when the protocol started (TLS, SMB or RDP negotiation):
    /// versions, names and options, which fingerprint the tool.
    Handshake,
    /// A shell or protocol command.
    Command,
    /// An HTTP (or HTTP-like) request.
    Request,
    /// A file was read from the bait filesystem.
    FileDownload,
    /// A client tried to store a file.
    FileUpload,
    /// A tunnel through this decky (ssh `direct-tcpip`) opened, was refused, or closed.
    Tunnel,
    /// The client broke the protocol (the input is recorded, the decoy goes on).
    ProtocolError,
    /// The connection ended.
    Disconnect,
}

/// What kind of secret was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// A password in clear.
    Password,
    /// PostgreSQL `md5` response (`md5` + hex(md5(md5(password + user) + salt))), with the salt.
    PostgresMd5,
    /// MySQL `mysql_native_password` scramble response, with the 20-byte salt.
    MysqlNative,
    /// The SHA-256 fingerprint of an offered public key.
    PublicKey,
    /// An NTLMv1 response as hashcat's NetNTLMv1 line (mode 5500), with the server challenge.
    NetNtlmv1,
    /// An NTLMv2 response as hashcat's NetNTLMv2 line (mode 5600), with the server challenge.
    NetNtlmv2,
    /// VNC Authentication: the 16-byte DES encryption of the 16-byte challenge (the salt)
    /// under the password (its first 8 bytes, each byte's bits reversed), hex.
    VncDes,
    /// SIP (HTTP) Digest `response` (`MD5(MD5(user:realm:password):nonce:MD5(method:uri))`);
    /// the salt is the nonce, the realm, method and uri are in the details.
    SipDigest,
}

/// A captured secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Secret {
    /// Its kind.
    pub kind: SecretKind,
    /// The secret: clear text (non-printable bytes escaped), or hex for hashes.
    pub value: String,
    /// The salt or challenge the client answered, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

impl Secret {
    /// A clear-text password.
    pub fn password(bytes: &[u8]) -> Self {
        Self { kind: SecretKind::Password, value: printable(bytes), salt: None }
    }
}

/// Who the decoy is, as the container's environment says.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Origin {
    /// `DECNET_TOPOLOGY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    /// `DECNET_DECKY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decky: Option<String>,
    /// `DECNET_LAN`, when the decky is on one LAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lan: Option<String>,
}

impl Origin {
    /// Reads the origin from the environment.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self { topology: var("DECNET_TOPOLOGY"), decky: var("DECNET_DECKY"), lan: var("DECNET_LAN") }
    }
}

/// One event line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Schema version.
    pub v: u32,
    /// RFC 3339 UTC time with microseconds.
    pub ts: String,
    /// Topology, decky and LAN.
    #[serde(flatten)]
    pub origin: Origin,
    /// Service slug.
    pub service: &'static str,
    /// The connection's session id.
    pub session: String,
    /// What happened.
    pub event: Kind,
    /// Remote address.
    pub src_ip: String,
    /// Remote port.
    pub src_port: u16,
    /// Local address.
    pub dst_ip: String,
    /// Local port.
    pub dst_port: u16,
    /// The identity presented (user name, key owner, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The secret presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// The command line or protocol command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Bounded service-specific details.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
}

/// Bytes as text: valid UTF-8 kept (cut at [`MAX_FIELD`]), anything else escaped.
pub fn printable(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_FIELD)];
    let mut text =
        String::from_utf8_lossy(cut).chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    if bytes.len() > MAX_FIELD {
        text.push('…');
    }
    text
}

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where events go: JSON lines for a writer thread, or a test's channel.
#[derive(Debug, Clone)]
pub struct Sink {
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Lines(Arc<LinesHandle>),
    Channel(mpsc::Sender<Event>),
}

impl Sink {
    /// Events as JSON lines on stdout (see [`Sink::lines`]).
    pub fn stdout() -> (Self, std::thread::JoinHandle<()>) {
        Self::lines(std::io::stdout())
    }

    /// Events as JSON lines on `out`, written by a dedicated thread; join the handle after
    /// the last sink clone is dropped to be sure every event was written.
    ///
    /// Sessions serialize their events into a shared buffer and the writer takes the whole
    /// buffer at each turn, so a burst of events costs one write and at most one wake-up of
    /// the writer, and no allocation crosses threads. A session that finds the buffer full
    /// ([`PENDING_BYTES`]) waits until the writer has taken it: nothing is dropped and
    /// memory stays bounded.
    pub fn lines(mut out: impl Write + Send + 'static) -> (Self, std::thread::JoinHandle<()>) {
        let lines = Arc::new(Lines::default());
        let shared = lines.clone();
        let writer = std::thread::spawn(move || shared.write_until_closed(&mut out));
        (Self { target: Target::Lines(Arc::new(LinesHandle(lines))) }, writer)
    }

    /// A sink and the receiving end (tests read events from it).
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { target: Target::Channel(tx) }, rx)
    }

    async fn send(&self, event: Event) {
        match &self.target {
            Target::Lines(handle) => handle.0.push(&event).await,
            // Only fails when the receiver is gone, i.e. the test is over.
            Target::Channel(tx) => {
                let _ = tx.send(event).await;
            }
        }
    }
}

/// Serialized events waiting for the writer beyond which sessions wait.
pub const PENDING_BYTES: usize = 256 * 1024;

/// How long the writer lets events gather after the first one woke it.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(1);

/// The buffer between sessions and the writer thread.
#[derive(Debug, Default)]
struct Lines {
    pending: std::sync::Mutex<Pending>,
    /// Wakes the writer (only when it sleeps: a wake-up is a system call).
    work: std::sync::Condvar,
    /// Wakes sessions waiting for room.
    room: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    writer_asleep: bool,
    closed: bool,
}

/// The senders' share of [`Lines`]: when the last sink clone drops it, the writer writes
/// what is left and ends.
#[derive(Debug)]
struct LinesHandle(Arc<Lines>);

impl Drop for LinesHandle {
    fn drop(&mut self) {
        let mut pending = self.0.lock();
        pending.closed = true;
        self.0.work.notify_one();
    }
}

impl Lines {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A writer that panicked mid-write leaves bytes, not broken invariants.
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn push(&self, event: &Event) {
        loop {
            let room = self.room.notified();
            {
                let mut pending = self.lock();
                if pending.bytes.len() < PENDING_BYTES {
                    // Serializing plain data into a Vec cannot fail.
                    if serde_json::to_writer(&mut pending.bytes, event).is_ok() {
                        pending.bytes.push(b'\n');
                    }
                    if pending.writer_asleep {
                        pending.writer_asleep = false;
                        self.work.notify_one();
                    }
                    return;
                }
            }
            room.await;
        }
    }

    fn write_until_closed(&self, out: &mut impl Write) {
        let mut batch = Vec::new();
        loop {
            {
                let mut pending = self.lock();
                while pending.bytes.is_empty() {
                    if pending.closed {
                        return;
                    }
                    pending.writer_asleep = true;
                    pending = self.work.wait(pending).unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
            // Woken by the first event of a burst: let the rest of it join the batch, so a
            // busy decoy wakes the writer a few hundred times a second, not once per event.
            std::thread::sleep(BATCH_WINDOW);
            std::mem::swap(&mut self.lock().bytes, &mut batch);
            self.room.notify_waiters();
            // A closed stdout is not worth crashing a decoy over; keep draining.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
    }
}

/// What every event of a service shares.
#[derive(Debug, Clone)]
pub struct Recorder {
    origin: Arc<Origin>,
    service: &'static str,
    sink: Sink,
}

impl Recorder {
    /// A recorder for `service`.
    pub fn new(origin: Origin, service: &'static str, sink: Sink) -> Self {
        Self { origin: Arc::new(origin), service, sink }
    }

    /// The recorder of one connection.
    pub fn session(&self, id: String, peer: SocketAddr, local: SocketAddr) -> SessionLog {
        SessionLog { recorder: self.clone(), id, peer, local }
    }
}

/// The events of one session (connection).
#[derive(Debug, Clone)]
pub struct SessionLog {
    recorder: Recorder,
    id: String,
    peer: SocketAddr,
    local: SocketAddr,
}

/// The optional parts of an event, filled by the caller.
#[derive(Debug, Default)]
pub struct Fields {
    /// See [`Event::principal`].
    pub principal: Option<String>,
    /// See [`Event::secret`].
    pub secret: Option<Secret>,
    /// See [`Event::command`].
    pub command: Option<String>,
    /// See [`Event::details`].
    pub details: Map<String, Value>,
}

impl Fields {
    /// Adds a detail (bounded in count and length).
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if self.details.len() < MAX_DETAILS {
            self.details.insert(key.to_owned(), bound(value.into()));
        }
        self
    }

    /// Sets the principal.
    pub fn principal(mut self, principal: impl AsRef<[u8]>) -> Self {
        self.principal = Some(printable(principal.as_ref()));
        self
    }

    /// Sets the secret.
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Sets the command.
    pub fn command(mut self, command: impl AsRef<[u8]>) -> Self {
        self.command = Some(printable(command.as_ref()));
        self
    }
}

/// Cuts long strings and big containers down to size.
fn bound(value: Value) -> Value {
    match value {
        Value::String(s) if s.len() > MAX_FIELD => Value::String(printable(s.as_bytes())),
        Value::Array(items) => Value::Array(items.into_iter().take(MAX_DETAILS).map(bound).collect()),
        Value::Object(map) => Value::Object(map.into_iter().take(MAX_DETAILS).map(|(k, v)| (k, bound(v))).collect()),
        other => other,
    }
}

impl SessionLog {
    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The remote address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The local address.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Records one event.
    pub async fn record(&self, kind: Kind, fields: Fields) {
        let event = Event {
            v: SCHEMA_VERSION,
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            origin: (*self.recorder.origin).clone(),
            service: self.recorder.service,
            session: self.id.clone(),
            event: kind,
            src_ip: self.peer.ip().to_string(),
            src_port: self.peer.port(),
            dst_ip: self.local.ip().to_string(),
            dst_port: self.local.port(),
            principal: fields.principal,
            secret: fields.secret,
            command: fields.command,
            details: fields.details,
        };
        self.recorder.sink.send(event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};

    /// An output that holds every write until its gate opens.
    #[derive(Clone, Default)]
    struct Gated {
        written: Arc<Mutex<Vec<u8>>>,
        gate: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Gated {
        fn open(&self) {
            *self.gate.0.lock().unwrap() = true;
            self.gate.1.notify_all();
        }
    }

    impl Write for Gated {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let open = self.gate.0.lock().unwrap();
            drop(self.gate.1.wait_while(open, |open| !*open).unwrap());
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn session(sink: Sink) -> SessionLog {
        let recorder = Recorder::new(Origin::default(), "ftp", sink);
        recorder.session("s1".into(), "127.0.0.1:40000".parse().unwrap(), "127.0.0.1:21".parse().unwrap())
    }

    fn command(n: usize) -> Fields {
        Fields::default().command(format!("LIST {n:06} {}", "x".repeat(200)))
    }

    #[tokio::test]
    async fn every_event_is_written_in_order_before_the_writer_ends() {
        let output = Gated::default();
        output.open();
        let (sink, writer) = Sink::lines(output.clone());
        let log = session(sink);
        for n in 0..5_000 {
            log.record(Kind::Command, command(n)).await;
        }
        drop(log);
        writer.join().unwrap();
        let text = String::from_utf8(output.written.lock().unwrap().clone()).unwrap();
        let commands: Vec<String> = text
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["command"].as_str().unwrap()[5..11].to_owned())
            .collect();
        let expected: Vec<String> = (0..5_000).map(|n| format!("{n:06}")).collect();
        assert_eq!(commands, expected);
    }

    #[tokio::test]
    async fn a_stalled_output_makes_sessions_wait_with_bounded_memory_and_loses_nothing() {
        let output = Gated::default();
        let (sink, writer) = Sink::lines(output.clone());
        let log = session(sink.clone());
        let producer = tokio::spawn(async move {
            for n in 0..10_000 {
                log.record(Kind::Command, command(n)).await;
            }
        });
        // The writer holds its first batch at the gate; the sessions fill the buffer and
        // then wait: the producer cannot finish while the output is stalled.
        let Target::Lines(lines) = &sink.target else { unreachable!() };
        while lines.0.lock().bytes.len() < PENDING_BYTES {
            tokio::task::yield_now().await;
        }
        assert!(!producer.is_finished());
        let pending = lines.0.lock().bytes.len();
        assert!(pending < PENDING_BYTES + 2 * MAX_FIELD, "{pending} bytes pending");
        // Open the gate: everything arrives.
        output.open();
        producer.await.unwrap();
        drop(sink);
        writer.join().unwrap();
        assert_eq!(output.written.lock().unwrap().iter().filter(|&&b| b == b'\n').count(), 10_000);
    }
}
