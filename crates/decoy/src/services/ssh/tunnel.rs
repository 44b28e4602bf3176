//! `direct-tcpip` channels (`ssh -L`, `-J`, `-W`, `-D`): real tunnels into the maze.
//!
//! A tunnel is opened only to an IPv4 address this decky can reach inside its topology
//! ([`Reach`]: checked before any packet is sent), and the connection leaves from this
//! decky's namespace, so the next decky sees this decky's address, as on a real network.
//! Every tunnel is bounded — channels open at once and in all per session, bytes per
//! channel and per session, idle time — and recorded: a `tunnel` event when it opens (or
//! is refused) and one when it closes, with its byte counts and why it ended. A session
//! that asks for more channels than its limits is cut.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use russh::Channel;
use russh::server::Msg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::event::{Fields, Kind, SessionLog};
use crate::routes::Reach;

/// Tunnels open at once in one session (OpenSSH's `-D` opens one per proxied request).
pub const MAX_OPEN: usize = 16;
/// Tunnels opened in all in one session (a scan through `-D` opens one per port tried;
/// each is two events).
pub const MAX_OPENED: usize = 4096;
/// Bytes one tunnel carries, both ways together.
pub const CHANNEL_BYTES: u64 = 64 * 1024 * 1024;
/// Bytes all tunnels of one session carry.
pub const SESSION_BYTES: u64 = 256 * 1024 * 1024;
/// A tunnel that carries nothing for this long is closed.
pub const IDLE: Duration = Duration::from_secs(120);
/// How long connecting to the destination may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The tunnels of one session.
#[derive(Debug)]
pub(super) struct Tunnels {
    reach: Reach,
    open: Arc<AtomicUsize>,
    opened: usize,
    bytes: Arc<AtomicU64>,
    /// Dropped with the session's handler: every tunnel of the session then ends.
    session_alive: tokio::sync::watch::Sender<()>,
}

/// What to do with a `direct-tcpip` request.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Connect there.
    Connect(SocketAddrV4),
    /// Refuse the channel, for this reason.
    Refuse(String),
    /// Refuse and cut the session: it went past its limits.
    Cut(String),
}

impl Tunnels {
    pub(super) fn new(reach: Reach) -> Self {
        Tunnels {
            reach,
            open: Arc::new(AtomicUsize::new(0)),
            opened: 0,
            bytes: Arc::new(AtomicU64::new(0)),
            session_alive: tokio::sync::watch::channel(()).0,
        }
    }

    /// Whether a tunnel to `host:port` may open now.
    pub(super) async fn admit(&mut self, host: &str, port: u32) -> Admission {
        if self.open.load(Ordering::Relaxed) >= MAX_OPEN || self.opened >= MAX_OPENED {
            return Admission::Cut(format!("more than {MAX_OPEN} tunnels at once or {MAX_OPENED} in all"));
        }
        if self.bytes.load(Ordering::Relaxed) >= SESSION_BYTES {
            return Admission::Cut(format!("the session's tunnels carried {SESSION_BYTES} bytes"));
        }
        let Ok(ip) = host.parse::<Ipv4Addr>() else {
            return Admission::Refuse("not an IPv4 address".into());
        };
        let Ok(port) = u16::try_from(port) else {
            return Admission::Refuse("no such port".into());
        };
        if port == 0 {
            return Admission::Refuse("no such port".into());
        }
        match self.reach.check(ip).await {
            Ok(()) => {
                self.opened += 1;
                Admission::Connect(SocketAddrV4::new(ip, port))
            }
            Err(refusal) => Admission::Refuse(refusal.to_string()),
        }
    }

    /// Connects to `destination` from this namespace, then answers the channel request:
    /// opened (and carried until either side ends, a bound is reached or the session
    /// ends) or failed as the connection did; each recorded with `request`'s fields.
    pub(super) fn start(
        &self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        destination: SocketAddrV4,
        request: Fields,
        log: SessionLog,
    ) {
        let open = self.open.clone();
        open.fetch_add(1, Ordering::Relaxed);
        let bytes = self.bytes.clone();
        let mut session_alive = self.session_alive.subscribe();
        tokio::spawn(async move {
            let connected =
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(SocketAddr::V4(destination))).await {
                    Ok(Ok(stream)) => Ok(stream),
                    Ok(Err(err)) => Err(err.to_string()),
                    Err(_) => Err("connection timed out".to_owned()),
                };
            let stream = match connected {
                Ok(stream) => stream,
                Err(err) => {
                    open.fetch_sub(1, Ordering::Relaxed);
                    log.record(Kind::Tunnel, request.detail("outcome", "failed").detail("reason", err)).await;
                    reply.reject(russh::ChannelOpenFailure::ConnectFailed).await;
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            let from = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
            log.record(Kind::Tunnel, request.detail("outcome", "open").detail("from", from.as_str())).await;
            reply.accept().await;
            let (up, down, reason) = pump(channel, stream, &bytes, &mut session_alive).await;
            open.fetch_sub(1, Ordering::Relaxed);
            let fields = Fields::default()
                .command(format!("direct-tcpip {destination} closed"))
                .detail("tunnel", "close")
                .detail("destination", destination.to_string())
                .detail("from", from)
                .detail("bytes_up", up)
                .detail("bytes_down", down)
                .detail("reason", reason);
            log.record(Kind::Tunnel, fields).await;
        });
    }
}

/// Copies both ways; returns the bytes carried up (client to destination) and down, and
/// why it stopped.
async fn pump(
    channel: Channel<Msg>,
    stream: TcpStream,
    session_bytes: &AtomicU64,
    session_alive: &mut tokio::sync::watch::Receiver<()>,
) -> (u64, u64, &'static str) {
    let (mut from_client, mut to_client) = tokio::io::split(channel.into_stream());
    let (mut from_target, mut to_target) = stream.into_split();
    let mut up_buf = vec![0u8; 32 * 1024];
    let mut down_buf = vec![0u8; 32 * 1024];
    let (mut up, mut down) = (0u64, 0u64);
    let (mut up_open, mut down_open) = (true, true);
    let reason = loop {
        if !up_open && !down_open {
            break "closed";
        }
        let idle = tokio::time::sleep(IDLE);
        let carried = tokio::select! {
            read = from_client.read(&mut up_buf), if up_open => match read {
                Ok(0) | Err(_) => {
                    up_open = false;
                    let _ = to_target.shutdown().await;
                    0
                }
                Ok(n) => {
                    if to_target.write_all(&up_buf[..n]).await.is_err() {
                        break "destination closed";
                    }
                    up += n as u64;
                    n as u64
                }
            },
            read = from_target.read(&mut down_buf), if down_open => match read {
                Ok(0) | Err(_) => {
                    down_open = false;
                    let _ = to_client.shutdown().await;
                    0
                }
                Ok(n) => {
                    if to_client.write_all(&down_buf[..n]).await.is_err() {
                        break "client closed";
                    }
                    down += n as u64;
                    n as u64
                }
            },
            () = idle => break "idle",
            _ = session_alive.changed() => break "session ended",
        };
        let total = session_bytes.fetch_add(carried, Ordering::Relaxed) + carried;
        if up + down >= CHANNEL_BYTES {
            break "channel byte cap";
        }
        if total >= SESSION_BYTES {
            break "session byte cap";
        }
    };
    let _ = to_client.shutdown().await;
    (up, down, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tunnels_open_only_to_reachable_ipv4_destinations() {
        let mut tunnels = Tunnels::new(Reach::Only(vec!["127.0.0.0/8".parse().unwrap_or_default()]));
        assert_eq!(
            tunnels.admit("127.0.0.1", 22).await,
            Admission::Connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 22))
        );
        assert!(matches!(tunnels.admit("10.0.0.1", 22).await, Admission::Refuse(r) if r.contains("outside the maze")));
        assert!(matches!(tunnels.admit("db.internal", 22).await, Admission::Refuse(_)));
        assert!(matches!(tunnels.admit("127.0.0.1", 70000).await, Admission::Refuse(_)));
    }

    #[tokio::test]
    async fn a_session_past_its_channel_limits_is_cut() {
        let mut tunnels = Tunnels::new(Reach::Only(vec!["127.0.0.0/8".parse().unwrap_or_default()]));
        tunnels.open.store(MAX_OPEN, Ordering::Relaxed);
        assert!(matches!(tunnels.admit("127.0.0.1", 22).await, Admission::Cut(_)));
        tunnels.open.store(0, Ordering::Relaxed);
        tunnels.opened = MAX_OPENED;
        assert!(matches!(tunnels.admit("127.0.0.1", 22).await, Admission::Cut(_)));
    }
}
