//! `ssh user@host` typed in the fake shell: a real SSH login from this decky to the next
//! one, with the password the attacker types, as a real host would make it.
//!
//! The login leaves from this decky's namespace (so the next decky records this decky's
//! address as its source, and the hop is linked into the attacker's path through the
//! `tunnel` events recorded here). On success the attacker's terminal continues in the
//! target's own shell — its persona, prompt and files — until it ends, then the session
//! is back at this decky's prompt, as `exit` does over real ssh. Bounded like a tunnel:
//! connect and login time, bytes, idle time.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use russh::ChannelId;
use russh::keys::PublicKeyOrCertificate;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::tunnel::{CHANNEL_BYTES, IDLE};
use crate::event::{Fields, Kind, SessionLog};
use crate::services::shell_net::HopRequest;

/// How long connecting and logging in may take.
const LOGIN: Duration = Duration::from_secs(10);

/// The client side of a hop: trusts whatever key the next decky shows (as an attacker
/// answering `yes` to the host key prompt does).
struct Client;

impl russh::client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// A hop in progress: what the attacker types goes to it.
#[derive(Debug)]
pub(super) struct Hop {
    input: mpsc::Sender<Vec<u8>>,
}

impl Hop {
    /// Passes typed bytes on; false once the hop has ended.
    pub(super) fn send(&self, bytes: &[u8]) -> bool {
        match self.input.try_send(bytes.to_vec()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Where the hop's output goes: the attacker's channel, and the prompt to show after.
pub(super) struct Terminal {
    /// The server session's handle.
    pub(super) handle: russh::server::Handle,
    /// The attacker's channel.
    pub(super) channel: ChannelId,
    /// Its size.
    pub(super) size: (u32, u32),
    /// This decky's prompt, shown when the hop ends.
    pub(super) prompt: String,
}

impl Terminal {
    async fn write(&self, text: &str) {
        let _ = self.handle.data(self.channel, text.replace('\n', "\r\n").into_bytes()).await;
    }
}

/// Logs in to `request` with `password` and relays the terminal until the far shell ends.
pub(super) fn start(request: HopRequest, password: String, terminal: Terminal, log: SessionLog) -> Hop {
    let (input, typed) = mpsc::channel(64);
    tokio::spawn(async move {
        let destination = SocketAddrV4::new(request.host, request.port);
        let opened = Fields::default()
            .command(format!("ssh {}@{destination}", request.user))
            .detail("tunnel", "open")
            .detail("via", "shell")
            .detail("host", request.host.to_string())
            .detail("port", request.port)
            .detail("user", request.user.as_str());
        let (text, closed) = match relay(&request, &password, &terminal, typed, &log, opened).await {
            Ok(closed) => (format!("Connection to {} closed.\n", request.host), closed),
            Err(text) => (text, None),
        };
        terminal.write(&format!("{text}{}", terminal.prompt)).await;
        if let Some(fields) = closed {
            log.record(Kind::Tunnel, fields).await;
        }
    });
    Hop { input }
}

/// The login and the relay; the close record, or what to tell the attacker on failure.
async fn relay(
    request: &HopRequest,
    password: &str,
    terminal: &Terminal,
    mut typed: mpsc::Receiver<Vec<u8>>,
    log: &SessionLog,
    opened: Fields,
) -> Result<Option<Fields>, String> {
    let destination = SocketAddrV4::new(request.host, request.port);
    let refused = || format!("{}@{}: Permission denied (publickey,password).\n", request.user, request.host);
    let login = async {
        let stream = TcpStream::connect(SocketAddr::V4(destination)).await.map_err(|e| e.to_string())?;
        let from = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let config = Arc::new(russh::client::Config { inactivity_timeout: Some(IDLE), ..Default::default() });
        let mut handle = russh::client::connect_stream(config, stream, Client).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((handle.authenticate_password(&request.user, password).await, handle, from))
    };
    let (auth, handle, from) = match tokio::time::timeout(LOGIN, login).await {
        Ok(Ok(done)) => done,
        Ok(Err(err)) => {
            log.record(Kind::Tunnel, opened.detail("outcome", "failed").detail("reason", err)).await;
            return Err(format!("ssh: connect to host {} port {}: Connection refused\n", request.host, request.port));
        }
        Err(_) => {
            return Err(format!("ssh: connect to host {} port {}: Connection timed out\n", request.host, request.port));
        }
    };
    let opened = opened.detail("from", from.as_str());
    if !auth.is_ok_and(|a| a.success()) {
        log.record(Kind::Tunnel, opened.detail("outcome", "denied")).await;
        return Err(refused());
    }
    log.record(Kind::Tunnel, opened.detail("outcome", "open")).await;
    let mut channel = handle.channel_open_session().await.map_err(|_| refused())?;
    let (cols, rows) = terminal.size;
    let ready = async {
        channel.request_pty(false, "xterm-256color", cols, rows, 0, 0, &[]).await?;
        channel.request_shell(false).await
    };
    ready.await.map_err(|_| refused())?;
    let (mut up, mut down) = (0u64, 0u64);
    let reason = loop {
        let idle = tokio::time::sleep(IDLE);
        tokio::select! {
            bytes = typed.recv() => match bytes {
                Some(bytes) => {
                    up += bytes.len() as u64;
                    if channel.data(&bytes[..]).await.is_err() {
                        break "closed";
                    }
                }
                None => break "session ended",
            },
            message = channel.wait() => match message {
                Some(russh::ChannelMsg::Data { data }) => {
                    down += data.len() as u64;
                    if terminal.handle.data(terminal.channel, data).await.is_err() {
                        break "session ended";
                    }
                }
                Some(russh::ChannelMsg::Eof | russh::ChannelMsg::Close) | None => break "closed",
                Some(_) => {}
            },
            () = idle => break "idle",
        }
        if up + down >= CHANNEL_BYTES {
            break "channel byte cap";
        }
    };
    let _ = channel.close().await;
    Ok(Some(
        Fields::default()
            .command(format!("ssh {}@{destination} closed", request.user))
            .detail("tunnel", "close")
            .detail("via", "shell")
            .detail("destination", destination.to_string())
            .detail("from", from)
            .detail("bytes_up", up)
            .detail("bytes_down", down)
            .detail("reason", reason),
    ))
}
