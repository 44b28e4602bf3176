//! `ssh`: an OpenSSH persona on russh, with the fake shell behind a successful login.
//!
//! The identification string is the persona's OpenSSH build (or `version`), the algorithm
//! lists are OpenSSH's own plus the legacy ones old clients and bots still need
//! (diffie-hellman-group14-sha1, ssh-rsa, hmac-sha1, CBC ciphers), and the host keys
//! (Ed25519, ECDSA P-256, RSA 2048) are derived from the decky's seed, so they survive
//! restarts and differ between deckies. Every password and every offered public key
//! (its SHA-256 fingerprint) is an `auth_attempt`; a failed password keeps password
//! authentication on offer, so brute-forcers keep going. The configured root or user
//! password opens the fake shell; every line is a `command`. `exec`, subsystems (sftp),
//! X11 and port forwarding are refused and recorded.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use russh::keys::ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use russh::keys::{EcdsaCurve, HashAlg, PrivateKey};
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet, SshId, cipher, kex, mac};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::Config;
use crate::event::{Fields, Kind, Secret, SecretKind, SessionLog};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Limits};
use crate::services::shell::Shell;

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

/// A deterministic generator (SHA-256 in counter mode over a secret seed), so a decky's
/// host keys are the same after every restart without being stored anywhere.
struct SeededRng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededRng {
    fn new(seed: [u8; 32]) -> Self {
        Self { seed, counter: 0, block: [0; 32], used: 32 }
    }
}

impl rand_core::TryRng for SeededRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            if self.used == self.block.len() {
                self.block =
                    Sha256::new().chain_update(self.seed).chain_update(self.counter.to_le_bytes()).finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SeededRng {}

/// Why the ssh decoy could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the ssh host keys: {0}")]
pub struct KeyError(String);

/// The decky's host keys, derived from its seed.
pub fn host_keys(persona: &Persona) -> Result<Vec<PrivateKey>, KeyError> {
    let err = |e: russh::keys::ssh_key::Error| KeyError(e.to_string());
    let ed25519 = Ed25519Keypair::from_seed(&persona.derive_key("ssh host key ed25519"));
    let ecdsa =
        EcdsaKeypair::random(&mut SeededRng::new(persona.derive_key("ssh host key ecdsa")), EcdsaCurve::NistP256)
            .map_err(err)?;
    let rsa = RsaKeypair::random(&mut SeededRng::new(persona.derive_key("ssh host key rsa")), 2048).map_err(err)?;
    let comment = format!("root@{}", persona.hostname);
    [KeypairData::from(ed25519), KeypairData::from(ecdsa), KeypairData::from(rsa)]
        .into_iter()
        .map(|data| PrivateKey::new(data, comment.as_str()).map_err(err))
        .collect()
}

/// The ssh decoy.
#[derive(Debug)]
pub struct Ssh {
    config: Arc<russh::server::Config>,
    persona: Persona,
    accounts: Arc<Vec<(String, String)>>,
    accept_any: bool,
}

impl Ssh {
    /// The decoy for `persona` with `config` and the connection `limits`.
    pub fn new(persona: &Persona, config: &Config, limits: &Limits) -> Result<Self, KeyError> {
        let mut persona = persona.clone();
        if let Some(hostname) = config.string("hostname") {
            persona.hostname = hostname.to_owned();
        }
        let version = config.string("version").unwrap_or(persona.ssh_version);
        let mut accounts = Vec::new();
        if let Some(password) = config.string("password") {
            accounts.push(("root".to_owned(), password.to_owned()));
        }
        if let (Some(user), Some(password)) = (config.string("user"), config.string("user_password")) {
            accounts.push((user.to_owned(), password.to_owned()));
        }
        let server = russh::server::Config {
            server_id: SshId::Standard(format!("SSH-2.0-{version}").into()),
            methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
            auth_rejection_time: std::time::Duration::from_millis(300),
            auth_rejection_time_initial: Some(std::time::Duration::ZERO),
            keys: host_keys(&persona)?,
            max_auth_attempts: 6,
            // The handshake is many small round trips: Nagle's algorithm against delayed
            // ACKs would add tens of milliseconds to each.
            nodelay: true,
            inactivity_timeout: Some(limits.idle),
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
        };
        Ok(Self {
            config: Arc::new(server),
            persona,
            accounts: Arc::new(accounts),
            accept_any: config.bool("accept_any").unwrap_or(false),
        })
    }
}

/// Counts the bytes of the stream russh reads and writes.
struct Counted<S> {
    inner: S,
    read: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
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
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
        let counted = Counted { inner: stream, read: read.clone(), written: written.clone() };
        let authenticated = Arc::new(AtomicBool::new(false));
        let handler = Handler {
            log: conn.log.clone(),
            persona: self.persona.clone(),
            accounts: self.accounts.clone(),
            accept_any: self.accept_any,
            authenticated: authenticated.clone(),
            channels: HashMap::new(),
            user: String::new(),
        };
        let log = conn.log.clone();
        let end = match russh::server::run_stream(self.config.clone(), counted, handler).await {
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

/// The state of one interactive channel.
#[derive(Debug)]
struct ChannelState {
    shell: Option<Shell>,
    line: Vec<u8>,
}

/// The russh handler of one connection.
struct Handler {
    log: SessionLog,
    persona: Persona,
    accounts: Arc<Vec<(String, String)>>,
    accept_any: bool,
    authenticated: Arc<AtomicBool>,
    channels: HashMap<ChannelId, ChannelState>,
    user: String,
}

fn keep_trying() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..])),
        partial_success: false,
    }
}

impl Handler {
    fn write(session: &mut Session, channel: ChannelId, text: &str) -> Result<(), russh::Error> {
        session.data(channel, text.replace('\n', "\r\n").into_bytes())
    }

    async fn run_line(&mut self, channel: ChannelId, line: Vec<u8>, session: &mut Session) -> Result<(), russh::Error> {
        let text = String::from_utf8_lossy(&line).into_owned();
        let Some(state) = self.channels.get_mut(&channel) else { return Ok(()) };
        let Some(shell) = state.shell.as_mut() else { return Ok(()) };
        if text.trim().is_empty() {
            let prompt = shell.prompt();
            return Self::write(session, channel, &prompt);
        }
        let outcome = shell.run(&text);
        let prompt = shell.prompt();
        let mut fields = Fields::default().command(&line).detail("user", self.user.as_str());
        if !outcome.fetches.is_empty() {
            fields = fields.detail("fetch", outcome.fetches.clone());
        }
        self.log.record(Kind::Command, fields).await;
        Self::write(session, channel, &outcome.output)?;
        if outcome.exit {
            Self::write(session, channel, "logout\n")?;
            session.exit_status_request(channel, 0)?;
            session.eof(channel)?;
            return session.close(channel);
        }
        Self::write(session, channel, &prompt)
    }
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(keep_trying())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let accepted = self.accept_any || self.accounts.iter().any(|(u, p)| u == user && p == password);
        let fields = Fields::default()
            .principal(user)
            .secret(Secret::password(password.as_bytes()))
            .detail("method", "password")
            .detail("outcome", if accepted { "success" } else { "failure" });
        self.log.record(Kind::AuthAttempt, fields).await;
        if accepted {
            self.user = user.to_owned();
            self.authenticated.store(true, Ordering::Relaxed);
            Ok(Auth::Accept)
        } else {
            Ok(keep_trying())
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let fingerprint = offer.public_key.fingerprint(HashAlg::Sha256).to_string();
        let fields = Fields::default()
            .principal(user)
            .secret(Secret { kind: SecretKind::PublicKey, value: fingerprint, salt: None })
            .detail("method", "publickey")
            .detail("algorithm", offer.algorithm.as_str())
            .detail("outcome", "failure");
        self.log.record(Kind::AuthAttempt, fields).await;
        Ok(keep_trying())
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        _user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(keep_trying())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), ChannelState { shell: None, line: Vec::new() });
        reply.accept().await;
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        host: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let fields = Fields::default()
            .command(format!("direct-tcpip {host}:{port}"))
            .detail("forward", "direct-tcpip")
            .detail("host", host)
            .detail("port", port)
            .detail("originator", format!("{originator}:{originator_port}"))
            .detail("refused", true);
        self.log.record(Kind::Request, fields).await;
        reply.reject(ChannelOpenFailure::AdministrativelyProhibited).await;
        Ok(())
    }

    async fn channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _originator: &str,
        _port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.log.record(Kind::Request, Fields::default().command("x11").detail("refused", true)).await;
        reply.reject(ChannelOpenFailure::AdministrativelyProhibited).await;
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let fields = Fields::default()
            .command(format!("tcpip-forward {address}:{port}"))
            .detail("forward", "tcpip-forward")
            .detail("host", address)
            .detail("port", *port)
            .detail("refused", true);
        self.log.record(Kind::Request, fields).await;
        Ok(false)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let fields = Fields::default()
            .command(format!("pty-req {term}"))
            .detail("term", term)
            .detail("cols", col_width)
            .detail("rows", row_height);
        self.log.record(Kind::Request, fields).await;
        session.channel_success(channel)
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        let peer = self.log.peer();
        let shell = Shell::new(&self.persona, &self.user, self.log.local().ip(), peer.ip());
        let greeting = format!("{}{}", shell.motd(), shell.prompt());
        if let Some(state) = self.channels.get_mut(&channel) {
            state.shell = Some(shell);
        }
        session.channel_success(channel)?;
        Self::write(session, channel, &greeting)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let fields = Fields::default()
            .command(data)
            .detail("exec", true)
            .detail("refused", true)
            .detail("user", self.user.as_str());
        self.log.record(Kind::Command, fields).await;
        session.channel_failure(channel)?;
        session.close(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let fields =
            Fields::default().command(format!("subsystem {name}")).detail("subsystem", name).detail("refused", true);
        self.log.record(Kind::Request, fields).await;
        session.channel_failure(channel)
    }

    async fn data(&mut self, channel: ChannelId, data: &[u8], session: &mut Session) -> Result<(), Self::Error> {
        let mut complete = Vec::new();
        {
            let Some(state) = self.channels.get_mut(&channel) else { return Ok(()) };
            if state.shell.is_none() {
                return Ok(());
            }
            let mut echo = Vec::new();
            for &b in data {
                match b {
                    b'\r' | b'\n' => {
                        echo.extend_from_slice(b"\r\n");
                        complete.push(std::mem::take(&mut state.line));
                    }
                    0x7f | 0x08 if state.line.pop().is_some() => echo.extend_from_slice(b"\x08 \x08"),
                    0x03 => {
                        state.line.clear();
                        echo.extend_from_slice(b"^C\r\n");
                        complete.push(Vec::new());
                    }
                    0x04 if state.line.is_empty() => complete.push(b"exit".to_vec()),
                    b if (b >= 0x20 || b == b'\t') && state.line.len() < 4096 => {
                        state.line.push(b);
                        echo.push(b);
                    }
                    _ => {}
                }
            }
            if !echo.is_empty() {
                session.data(channel, echo)?;
            }
        }
        for line in complete {
            self.run_line(channel, line, session).await?;
        }
        Ok(())
    }

    async fn channel_close(&mut self, channel: ChannelId, _session: &mut Session) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_stable_per_decky_and_differ_between_deckies() {
        let a = Persona::new("t", "decky-001", None, None, None);
        let b = Persona::new("t", "decky-002", None, None, None);
        let fingerprints = |p: &Persona| -> Vec<String> {
            host_keys(p).unwrap().iter().map(|k| k.public_key().fingerprint(HashAlg::Sha256).to_string()).collect()
        };
        let first = fingerprints(&a);
        assert_eq!(first.len(), 3);
        assert_eq!(first, fingerprints(&a), "restarts keep the keys");
        assert!(first.iter().zip(fingerprints(&b)).all(|(x, y)| *x != y), "no two deckies share a key");
    }
}
