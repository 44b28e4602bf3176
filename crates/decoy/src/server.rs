//! The decoy contract and the connection runner every service shares.
//!
//! The caller binds the listener (tests bind port 0). The runner accepts connections
//! under a total cap and a per-source cap (a connection over the total is recorded as
//! `rejected` and closed at once; one over its source's cap waits a moment for one of
//! that source's sessions to end, then is rejected the same way), gives each a session
//! id and a [`Conn`], records `connect` and `disconnect` (with the reason, duration and
//! byte counts), ends sessions that idle or outlive their limits, answers a client's
//! hang-up with a reset ([`abort_after_hang_up`]), and on shutdown stops accepting, lets
//! sessions finish for a grace period, then cuts them.
//!
//! Services read through [`Conn::frame`], whose parser answers [`Parse::Incomplete`]
//! ("need more bytes") or [`Parse::Invalid`] ("protocol violation", recorded as a
//! `protocol_error` event with an excerpt of the input) or a frame. No frame may grow
//! past [`Limits::max_frame`], so a client sending 100 MiB costs at most that much.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::event::{Fields, Kind, Recorder, SessionLog, printable};

mod udp;
pub use udp::run_udp;

/// Resource bounds of a decoy.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once, in total.
    pub max_connections: usize,
    /// Connections served at once from one source address.
    pub max_per_source: usize,
    /// A session that sends nothing for this long is closed.
    pub idle: Duration,
    /// A session that has not authenticated after this long is closed.
    pub auth: Duration,
    /// No session lasts longer than this.
    pub session: Duration,
    /// Largest frame (line, packet, request head and body) buffered.
    pub max_frame: usize,
    /// On shutdown, how long sessions may take to finish.
    pub grace: Duration,
    /// Where a decoy may open connections (tunnels, hops, fetches): the maze in a decky.
    pub reach: crate::routes::Reach,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            // Room for a brute-forcer's or a scanner's usual parallelism (tens of
            // connections) from one address, while eight addresses fill the total.
            max_per_source: 64,
            idle: Duration::from_secs(120),
            auth: Duration::from_secs(60),
            session: Duration::from_secs(3600),
            max_frame: 64 * 1024,
            grace: Duration::from_secs(2),
            reach: crate::routes::Reach::from_env(),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The client closed the connection.
    Closed,
    /// The protocol's own goodbye (QUIT, exit, ...).
    Quit,
    /// The decoy ended it after answering (e.g. access denied).
    Done,
    /// Nothing arrived for [`Limits::idle`].
    Idle,
    /// No authentication within [`Limits::auth`], or the session outlived its limit.
    Timeout,
    /// The client broke the protocol.
    Violation,
    /// A frame grew past [`Limits::max_frame`].
    TooLarge,
    /// The connection failed.
    Io,
}

impl End {
    fn as_str(&self) -> &'static str {
        match self {
            End::Closed => "closed",
            End::Quit => "quit",
            End::Done => "done",
            End::Idle => "idle",
            End::Timeout => "timeout",
            End::Violation => "protocol_error",
            End::TooLarge => "too_large",
            End::Io => "io_error",
        }
    }
}

/// What a parser made of the bytes buffered so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse<T> {
    /// Need more bytes.
    Incomplete,
    /// The bytes break the protocol.
    Invalid(String),
    /// A frame, and how many bytes it used.
    Done(T, usize),
}

/// A decoy service: serves one connection.
pub trait Decoy: Send + Sync + 'static {
    /// The service slug.
    fn name(&self) -> &'static str;

    /// Serves `conn` until the session ends.
    fn serve(&self, conn: &mut Conn) -> impl Future<Output = End> + Send;
}

/// A byte stream a connection can run over: the TCP stream or a layer over it (TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// The stream of a connection.
enum Stream {
    /// The accepted TCP stream.
    Tcp(TcpStream),
    /// A layer over it (TLS), which a service put in place.
    Layered(Box<dyn Io>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Tcp(stream) => stream.fmt(f),
            Stream::Layered(_) => f.write_str("Layered"),
        }
    }
}

impl Stream {
    fn io(&mut self) -> &mut dyn Io {
        match self {
            Stream::Tcp(stream) => stream,
            Stream::Layered(io) => io.as_mut(),
        }
    }
}

/// Bytes already read, then the stream: what a layer put over a connection reads first.
struct Prefixed {
    prefix: Vec<u8>,
    offset: usize,
    inner: Box<dyn Io>,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        if let Some(rest) = this.prefix.get(this.offset..).filter(|rest| !rest.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.offset += n;
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One connection as a service sees it.
#[derive(Debug)]
pub struct Conn {
    /// `None` once a service took the stream over ([`Conn::take_stream`]).
    stream: Option<Stream>,
    buf: Vec<u8>,
    /// The session's events.
    pub log: SessionLog,
    limits: Arc<Limits>,
    bytes_in: u64,
    bytes_out: u64,
    started: Instant,
}

impl Conn {
    /// A connection over `stream`.
    pub fn new(stream: TcpStream, log: SessionLog, limits: Arc<Limits>) -> Self {
        Self {
            stream: Some(Stream::Tcp(stream)),
            buf: Vec::new(),
            log,
            limits,
            bytes_in: 0,
            bytes_out: 0,
            started: Instant::now(),
        }
    }

    /// Hands the socket to a service that runs its own protocol engine (ssh); it reports
    /// the bytes it moved with [`Conn::count`]. `None` once a layer is in place.
    pub fn take_stream(&mut self) -> Option<TcpStream> {
        match self.stream.take() {
            Some(Stream::Tcp(stream)) => Some(stream),
            other => {
                self.stream = other;
                None
            }
        }
    }

    /// Takes the stream out to put a layer over it ([`Conn::put_layer`]); bytes already
    /// buffered are read first from what it returns.
    pub fn take_io(&mut self) -> Option<Box<dyn Io>> {
        let inner: Box<dyn Io> = match self.stream.take()? {
            Stream::Tcp(stream) => Box::new(stream),
            Stream::Layered(io) => io,
        };
        let prefix = std::mem::take(&mut self.buf);
        Some(if prefix.is_empty() { inner } else { Box::new(Prefixed { prefix, offset: 0, inner }) })
    }

    /// Runs the connection over `io` from now on (a layer over what [`Conn::take_io`] gave).
    pub fn put_layer(&mut self, io: Box<dyn Io>) {
        self.stream = Some(Stream::Layered(io));
    }

    /// Puts TLS over the connection with `acceptor` (waiting at most [`Limits::idle`] for
    /// the handshake). The handshake (version, SNI, ALPN) is a `handshake` event, a failed
    /// one a violation.
    pub async fn start_tls(&mut self, acceptor: &crate::tls::Acceptor) -> Result<(), End> {
        let acceptor = match acceptor.get() {
            Ok(acceptor) => acceptor,
            Err(err) => {
                eprintln!("decnet-decoy: TLS: {err}");
                return Err(End::Io);
            }
        };
        let Some(io) = self.take_io() else { return Err(End::Io) };
        match tokio::time::timeout(self.limits.idle, acceptor.accept(io)).await {
            Err(_) => Err(End::Idle),
            Ok(Err(err)) => {
                let fields = Fields::default().detail("reason", format!("TLS handshake failed: {err}").as_str());
                self.log.record(Kind::ProtocolError, fields).await;
                Err(End::Violation)
            }
            Ok(Ok(tls)) => {
                let (_, session) = tls.get_ref();
                let fields = Fields::default()
                    .detail("tls_version", session.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default())
                    .detail("sni", session.server_name().map(|name| printable(name.as_bytes())).unwrap_or_default())
                    .detail("alpn", session.alpn_protocol().map(printable).unwrap_or_default());
                self.stream = Some(Stream::Layered(Box::new(tls)));
                self.log.record(Kind::Handshake, fields).await;
                Ok(())
            }
        }
    }

    /// Adds bytes moved outside [`Conn::fill`] and [`Conn::write`].
    pub fn count(&mut self, bytes_in: u64, bytes_out: u64) {
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// When the session started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Takes every buffered byte (for protocols decoded incrementally, such as telnet).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Reads more bytes into the buffer (waiting at most [`Limits::idle`]).
    pub async fn fill(&mut self) -> Result<(), End> {
        if self.buf.len() >= self.limits.max_frame {
            return Err(End::TooLarge);
        }
        let mut chunk = [0u8; 4096];
        let room = chunk.len().min(self.limits.max_frame - self.buf.len());
        let Some(stream) = self.stream.as_mut() else { return Err(End::Io) };
        match tokio::time::timeout(self.limits.idle, stream.io().read(&mut chunk[..room])).await {
            Err(_) => Err(End::Idle),
            Ok(Err(_)) => Err(End::Io),
            Ok(Ok(0)) => Err(End::Closed),
            Ok(Ok(n)) => {
                self.bytes_in += n as u64;
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// The next frame as `parse` reads it. A violation is recorded and ends the read with
    /// [`End::Violation`]; the unparsable bytes are dropped.
    pub async fn frame<T>(&mut self, mut parse: impl FnMut(&[u8]) -> Parse<T>) -> Result<T, End> {
        loop {
            match parse(&self.buf) {
                Parse::Done(frame, used) => {
                    self.buf.drain(..used.min(self.buf.len()));
                    return Ok(frame);
                }
                Parse::Invalid(reason) => {
                    self.violation(&reason).await;
                    self.buf.clear();
                    return Err(End::Violation);
                }
                Parse::Incomplete => {
                    if let Err(end) = self.fill().await {
                        if end == End::TooLarge {
                            self.violation(&format!("frame larger than {} bytes", self.limits.max_frame)).await;
                            self.buf.clear();
                        }
                        return Err(end);
                    }
                }
            }
        }
    }

    /// Records a `protocol_error` with `reason` and an excerpt of the buffered input.
    pub async fn violation(&self, reason: &str) {
        self.violation_in(reason, &self.buf).await;
    }

    /// Records a `protocol_error` with `reason` and an excerpt of `input` (for services that
    /// took the bytes out of the buffer to decode them).
    pub async fn violation_in(&self, reason: &str, input: &[u8]) {
        let excerpt = &input[..input.len().min(256)];
        let fields = Fields::default().detail("reason", reason).detail("input", printable(excerpt));
        self.log.record(Kind::ProtocolError, fields).await;
    }

    /// The next line (without its `\n` or `\r\n`), at most [`Limits::max_frame`] long.
    pub async fn line(&mut self) -> Result<Vec<u8>, End> {
        self.frame(|buf| match buf.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
                Parse::Done(line.to_vec(), end + 1)
            }
            None => Parse::Incomplete,
        })
        .await
    }

    /// Writes `bytes` (waiting at most [`Limits::idle`] for a slow reader).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), End> {
        let Some(stream) = self.stream.as_mut() else { return Err(End::Io) };
        match tokio::time::timeout(self.limits.idle, stream.io().write_all(bytes)).await {
            Err(_) => Err(End::Idle),
            Ok(Err(_)) => Err(End::Io),
            Ok(Ok(())) => {
                self.bytes_out += bytes.len() as u64;
                Ok(())
            }
        }
    }

    /// Whether the authentication window has passed.
    pub fn auth_expired(&self) -> bool {
        self.started.elapsed() >= self.limits.auth
    }
}

/// Open sessions per source address, under [`Limits::max_per_source`].
#[derive(Debug, Default)]
struct Sources {
    open: Mutex<HashMap<IpAddr, Source>>,
}

#[derive(Debug, Default)]
struct Source {
    sessions: usize,
    /// Wakes one connection waiting for a session of this source to end.
    freed: Arc<tokio::sync::Notify>,
}

/// One of its source's sessions, given back on drop.
struct SourceSlot {
    sources: Arc<Sources>,
    ip: IpAddr,
}

impl Sources {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Source>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for `ip`, waiting up to [`SOURCE_WAIT`] for one to free when the source is at
    /// `cap`. A client that closes and reconnects at once is not refused because its
    /// closed session has not run yet; a source that really holds `cap` sessions is.
    async fn enter(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<SourceSlot> {
        if cap == 0 {
            return None;
        }
        let deadline = tokio::time::Instant::now() + SOURCE_WAIT;
        loop {
            let freed = {
                let mut open = self.lock();
                let source = open.entry(ip).or_default();
                if source.sessions < cap {
                    source.sessions += 1;
                    return Some(SourceSlot { sources: self.clone(), ip });
                }
                source.freed.clone()
            };
            // A slot freed since the check left a permit in `freed`: no wake-up is lost.
            tokio::time::timeout_at(deadline, freed.notified()).await.ok()?;
        }
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.sources.lock();
        if let Some(source) = open.get_mut(&self.ip) {
            source.sessions -= 1;
            source.freed.notify_one();
            if source.sessions == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// How long a connection over its source's cap waits for a slot before it is refused.
const SOURCE_WAIT: Duration = Duration::from_millis(100);

/// Session ids: a random prefix per process and a counter, so ids never repeat across
/// restarts and cost nothing to make.
fn session_ids() -> impl Fn() -> String {
    let prefix: u32 = rand::RngCore::next_u32(&mut <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng());
    let counter = AtomicU64::new(0);
    move || format!("{prefix:08x}{:08x}", counter.fetch_add(1, Ordering::Relaxed))
}

/// Serves `decoy` on `listener` until `shutdown` resolves.
pub async fn run_tcp<D: Decoy>(
    listener: TcpListener,
    decoy: Arc<D>,
    recorder: Recorder,
    limits: Arc<Limits>,
    shutdown: impl Future<Output = ()>,
) {
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let sources = Arc::new(Sources::default());
    let next_id = session_ids();
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while sessions.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors or a connection reset before accept: the next
                // accept may succeed; yielding lets sessions finish and free descriptors.
                Err(_) => {
                    tokio::task::yield_now().await;
                    continue;
                }
            },
        };
        let local = stream.local_addr().unwrap_or(peer);
        // Replies are small and answer the client at once; never hold them back (Nagle).
        let _ = stream.set_nodelay(true);
        let log = recorder.session(next_id(), peer, local);
        let Ok(total_slot) = total.clone().try_acquire_owned() else {
            drop(stream);
            log.record(Kind::Rejected, Fields::default().detail("reason", "connection limit")).await;
            continue;
        };
        let (decoy, limits, sources) = (decoy.clone(), limits.clone(), sources.clone());
        sessions.spawn(async move {
            let _total_slot = total_slot;
            let Some(_source_slot) = sources.enter(peer.ip(), limits.max_per_source).await else {
                drop(stream);
                log.record(Kind::Rejected, Fields::default().detail("reason", "source connection limit")).await;
                return;
            };
            log.record(Kind::Connect, Fields::default()).await;
            let mut conn = Conn::new(stream, log, limits.clone());
            let end = tokio::time::timeout(limits.session, decoy.serve(&mut conn)).await.unwrap_or(End::Timeout);
            match conn.stream.as_mut() {
                Some(Stream::Tcp(stream)) if end == End::Closed => abort_after_hang_up(stream),
                Some(stream) => {
                    // Bounded: a layer's goodbye (TLS close_notify) to a client that stopped reading.
                    let _ = tokio::time::timeout(limits.grace, stream.io().shutdown()).await;
                }
                None => {}
            }
            let fields = Fields::default()
                .detail("reason", end.as_str())
                .detail("duration_ms", u64::try_from(conn.started.elapsed().as_millis()).unwrap_or(u64::MAX))
                .detail("bytes_in", conn.bytes_in)
                .detail("bytes_out", conn.bytes_out);
            conn.log.record(Kind::Disconnect, fields).await;
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.grace, async { while sessions.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        sessions.abort_all();
    }
}

/// Closes a connection whose client hung up (its EOF read, every answer already written)
/// with a reset instead of a FIN of our own.
///
/// After a FIN exchange the side that closed first keeps the connection in TIME_WAIT for a
/// minute, and a client that keeps its ports in TIME_WAIT can reuse one only a second later:
/// a scanner grabbing banners from one address is then held to its port range per second
/// (about 14,000 connections/s on Linux, a third of what it reaches against a server that
/// closes first). The reset frees the connection on both ends at once. The cost: a client
/// that only half-closed reads a reset instead of an end of file, after the data.
pub(crate) fn abort_after_hang_up(stream: &TcpStream) {
    // Zero linger turns the close into a reset; failing to set it leaves a normal close.
    let _ = stream.set_zero_linger();
}

/// The address a caller asked for: an IP (the service's catalogue ports) or IP:PORT.
pub fn listen_addresses(listen: &str, catalogue_ports: &[u16]) -> Result<Vec<SocketAddr>, String> {
    if let Ok(addr) = listen.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let ip: IpAddr = listen.parse().map_err(|_| format!("--listen {listen}: expected IP or IP:PORT"))?;
    Ok(catalogue_ports.iter().map(|&p| SocketAddr::new(ip, p)).collect())
}
