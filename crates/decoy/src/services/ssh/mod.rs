//! `ssh`: an OpenSSH persona on russh, with the fake shell behind a successful login.
//!
//! The identification string is the persona's OpenSSH build (or `version`), the algorithm
//! lists are OpenSSH's own plus the legacy ones old clients and bots still need
//! (diffie-hellman-group14-sha1, ssh-rsa, hmac-sha1, CBC ciphers), and the host keys
//! (Ed25519, ECDSA P-256, RSA 2048) are derived from the decky's seed, so they survive
//! restarts and differ between deckies. Every password and every offered public key
//! (its SHA-256 fingerprint) is an `auth_attempt`; a failed password keeps password
//! authentication on offer, so brute-forcers keep going. The configured root or user
//! password opens the fake shell; every line is a `command`, and exec requests run
//! through it. Local forwarding (`-L`, `-J`, `-W`, `-D`) opens real, bounded tunnels to
//! destinations inside the maze; subsystems (sftp), X11 and remote forwarding are refused
//! and recorded.

mod handler;
mod hop;
pub(crate) mod keys;
mod tunnel;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use russh::keys::{EcdsaCurve, HashAlg};
use russh::{MethodKind, MethodSet, SshId, cipher, kex, mac};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::Config;
use crate::event::{Fields, Kind, SessionLog};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Limits, abort_after_hang_up};
use handler::Handler;
pub use keys::{KeyError, host_keys};

/// Key exchange as OpenSSH 8.x/9.x offers it, then the legacy SHA-1 groups.
const KEX: &[kex::Name] = &[
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::ECDH_SHA2_NISTP256,
    kex::ECDH_SHA2_NISTP384,
    kex::ECDH_SHA2_NISTP521,
    kex::DH_GEX_SHA256,
    kex::DH_G16_SHA512,
    kex::DH_G18_SHA512,
    kex::DH_G14_SHA256,
    kex::DH_G14_SHA1,
    kex::DH_GEX_SHA1,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

const CIPHERS: &[cipher::Name] = &[
    cipher::CHACHA20_POLY1305,
    cipher::AES_128_CTR,
    cipher::AES_192_CTR,
    cipher::AES_256_CTR,
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
    cipher::AES_128_CBC,
    cipher::AES_256_CBC,
];

const MACS: &[mac::Name] = &[
    mac::HMAC_SHA256_ETM,
    mac::HMAC_SHA512_ETM,
    mac::HMAC_SHA1_ETM,
    mac::HMAC_SHA256,
    mac::HMAC_SHA512,
    mac::HMAC_SHA1,
];

/// The ssh decoy.
#[derive(Debug)]
pub struct Ssh {
    /// The server configuration with the host keys, made at the first connection:
    /// deriving the RSA key is the costliest thing the decoy does (in time and in the
    /// memory it leaves mapped), and an idle decoy never needs it.
    config: tokio::sync::OnceCell<Result<Arc<russh::server::Config>, KeyError>>,
    version: String,
    idle: std::time::Duration,
    persona: Persona,
    accounts: Arc<Vec<(String, String)>>,
    accept_any: bool,
    reach: crate::routes::Reach,
}

impl Ssh {
    /// The decoy for `persona` with `config` and the connection `limits`.
    pub fn new(persona: &Persona, config: &Config, limits: &Limits) -> Self {
        let mut persona = persona.clone();
        if let Some(hostname) = config.string("hostname") {
            persona.hostname = hostname.to_owned();
        }
        let version = config.string("version").unwrap_or(persona.ssh_version).to_owned();
        let mut accounts = Vec::new();
        if let Some(password) = config.string("password") {
            accounts.push(("root".to_owned(), password.to_owned()));
        }
        if let (Some(user), Some(password)) = (config.string("user"), config.string("user_password")) {
            accounts.push((user.to_owned(), password.to_owned()));
        }
        // The decky's lure account (what breadcrumbs on other deckies name).
        accounts.extend(super::lure_accounts());
        Self {
            config: tokio::sync::OnceCell::new(),
            version,
            idle: limits.idle,
            persona,
            accounts: Arc::new(accounts),
            accept_any: config.bool("accept_any").unwrap_or(false),
            reach: limits.reach.clone(),
        }
    }

    /// The server configuration, with the host keys derived (off the runtime's threads)
    /// by the first connection that needs them.
    async fn server_config(&self) -> Result<Arc<russh::server::Config>, KeyError> {
        let made = self
            .config
            .get_or_init(|| async {
                let persona = self.persona.clone();
                let keys = tokio::task::spawn_blocking(move || host_keys(&persona))
                    .await
                    .unwrap_or_else(|err| Err(KeyError::from(err.to_string())))?;
                Ok(Arc::new(self.server_config_with(keys)))
            })
            .await;
        made.clone()
    }

    fn server_config_with(&self, keys: Vec<russh::keys::PrivateKey>) -> russh::server::Config {
        russh::server::Config {
            server_id: SshId::Standard(format!("SSH-2.0-{}", self.version).into()),
            methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
            auth_rejection_time: std::time::Duration::from_millis(300),
            auth_rejection_time_initial: Some(std::time::Duration::ZERO),
            keys,
            max_auth_attempts: 6,
            // The handshake is many small round trips: Nagle's algorithm against delayed
            // ACKs would add tens of milliseconds to each.
            nodelay: true,
            inactivity_timeout: Some(self.idle),
            preferred: russh::Preferred {
                kex: KEX.into(),
                cipher: CIPHERS.into(),
                mac: MACS.into(),
                key: vec![
                    russh::keys::Algorithm::Ed25519,
                    russh::keys::Algorithm::Ecdsa { curve: EcdsaCurve::NistP256 },
                    russh::keys::Algorithm::Rsa { hash: Some(HashAlg::Sha512) },
                    russh::keys::Algorithm::Rsa { hash: Some(HashAlg::Sha256) },
                    russh::keys::Algorithm::Rsa { hash: None },
                ]
                .into(),
                ..russh::Preferred::default()
            },
            ..russh::server::Config::default()
        }
    }
}

/// The socket as russh sees it: counts the bytes it reads and writes, and notices when the
/// client hung up, so the connection is then aborted (see [`abort_after_hang_up`]).
struct Counted {
    inner: TcpStream,
    read: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    hung_up: bool,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if matches!(polled, Poll::Ready(Ok(()))) && read == 0 && buf.remaining() > 0 {
            self.hung_up = true;
        }
        self.read.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &polled {
            self.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.hung_up {
            // No FIN after the client's: the connection is reset when dropped.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.hung_up {
            abort_after_hang_up(&self.inner);
        }
    }
}

/// Ends the russh session if the serving future is dropped (a session over its limit).
struct DisconnectOnDrop(Option<russh::server::Handle>);

impl Drop for DisconnectOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            tokio::spawn(async move {
                let _ = handle.disconnect(russh::Disconnect::ByApplication, "session limit".into(), "en".into()).await;
            });
        }
    }
}

impl Decoy for Ssh {
    fn name(&self) -> &'static str {
        "ssh"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        let Some(stream) = conn.take_stream() else { return End::Io };
        let (read, written) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let counted = Counted { inner: stream, read: read.clone(), written: written.clone(), hung_up: false };
        let authenticated = Arc::new(AtomicBool::new(false));
        let handler = Handler {
            log: conn.log.clone(),
            persona: self.persona.clone(),
            accounts: self.accounts.clone(),
            accept_any: self.accept_any,
            authenticated: authenticated.clone(),
            channels: HashMap::new(),
            user: String::new(),
            tunnels: tunnel::Tunnels::new(self.reach.clone()),
            reach: self.reach.clone(),
        };
        let log = conn.log.clone();
        let config = match self.server_config().await {
            Ok(config) => config,
            Err(err) => {
                log.record(Kind::ProtocolError, Fields::default().detail("reason", format!("host keys: {err}"))).await;
                return End::Io;
            }
        };
        let end = match russh::server::run_stream(config, counted, handler).await {
            Err(err) => ended_by(&log, err).await,
            Ok(running) => {
                let mut guard = DisconnectOnDrop(Some(running.handle()));
                tokio::pin!(running);
                let deadline = tokio::time::sleep(conn.limits().auth);
                tokio::pin!(deadline);
                let mut watching = true;
                let end = loop {
                    tokio::select! {
                        result = &mut running => break match result {
                            Ok(()) => End::Closed,
                            Err(err) => ended_by(&log, err).await,
                        },
                        () = &mut deadline, if watching => {
                            if authenticated.load(Ordering::Relaxed) {
                                watching = false;
                            } else {
                                break End::Timeout;
                            }
                        }
                    }
                };
                if end != End::Timeout {
                    guard.0 = None;
                }
                end
            }
        };
        conn.count(read.load(Ordering::Relaxed), written.load(Ordering::Relaxed));
        end
    }
}

/// Why a session ended with `err`; anything but the peer going away is a protocol
/// violation, recorded with russh's description.
async fn ended_by(log: &SessionLog, err: russh::Error) -> End {
    use std::io::ErrorKind;
    match err {
        russh::Error::InactivityTimeout => End::Idle,
        russh::Error::Disconnect | russh::Error::HUP => End::Closed,
        russh::Error::IO(io)
            if matches!(io.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) =>
        {
            End::Closed
        }
        other => {
            log.record(Kind::ProtocolError, Fields::default().detail("reason", other.to_string())).await;
            End::Violation
        }
    }
}
