//! `mssql` (1433): a Microsoft SQL Server login endpoint as current clients meet it.
//!
//! PRELOGIN is answered with the persona's SQL Server version and the encryption the client
//! asked for; TLS then runs inside TDS PRELOGIN packets (as TDS 7.x does it), so ODBC 18,
//! impacket and FreeTDS reach LOGIN7. With encryption "off" only the login travels under
//! TLS and the session falls back to clear text after it, as SQL Server does. LOGIN7's
//! password is only obfuscated, so SQL logins are recorded in clear; Windows (integrated)
//! logins run NTLM inside the SSPI token and are recorded as NetNTLMv2 lines. Every login
//! is refused with error 18456, as a server answers a wrong password.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::config::Config;
use crate::event::{Fields, Kind, Secret, printable};
use crate::ntlm::{self, Message};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};
use crate::windows::Identity;
use tds_tls::TdsWrap;

mod tds_tls;

/// TDS packet types.
const PRELOGIN: u8 = 0x12;
const LOGIN7: u8 = 0x10;
const SSPI: u8 = 0x11;
const TABULAR_RESULT: u8 = 0x04;
/// Largest TDS packet (the protocol's own bound).
const MAX_PACKET: usize = 32_767;
/// PRELOGIN encryption values.
const ENCRYPT_OFF: u8 = 0;
const ENCRYPT_ON: u8 = 1;
const ENCRYPT_NOT_SUP: u8 = 2;
const ENCRYPT_REQ: u8 = 3;

/// SQL Server before 2022 speaks TLS up to 1.2 inside TDS.
const TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// SQL Server releases a persona picks from: (major, minor, build, sub-build).
const RELEASES: &[(u8, u8, u16, u16)] = &[(14, 0, 1000, 169), (15, 0, 2000, 5)];

/// The mssql decoy.
pub struct Mssql {
    identity: Identity,
    tls: crate::tls::Acceptor,
    version: (u8, u8, u16, u16),
}

impl Mssql {
    /// The server of `persona`: its Windows identity and a SQL Server release.
    pub fn new(persona: &Persona, _config: &Config) -> Result<Self, crate::tls::TlsError> {
        let identity = Identity::of(persona);
        // SQL Server's self-generated certificate, valid for years from its first start.
        let subject = crate::tls::Subject {
            common_name: "SSL_Self_Signed_Fallback".into(),
            alt_names: Vec::new(),
            valid_days: 30 * 365,
        };
        let tls = crate::tls::acceptor_with(persona, &subject, None, &[], TLS12_ONLY)?;
        let version =
            RELEASES.get(persona.derive("mssql release") as usize % RELEASES.len()).copied().unwrap_or(RELEASES[1]);
        Ok(Self { identity, tls, version })
    }
}

/// One TDS message (its packets up to the one marked end-of-message): type and payload.
pub fn message(buf: &[u8]) -> Parse<(u8, Vec<u8>)> {
    let mut at = 0;
    let mut payload = Vec::new();
    let mut kind = None;
    loop {
        let Some(header) = buf.get(at..at + 8) else { return Parse::Incomplete };
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if !(8..=MAX_PACKET).contains(&len) {
            return Parse::Invalid(format!("TDS packet length {len}"));
        }
        if !matches!(header[0], 0x01..=0x12) {
            return Parse::Invalid(format!("TDS packet type 0x{:02x}", header[0]));
        }
        if kind.is_some_and(|k| k != header[0]) {
            return Parse::Invalid("TDS packet type changed inside a message".into());
        }
        kind = Some(header[0]);
        let Some(body) = buf.get(at + 8..at + len) else { return Parse::Incomplete };
        payload.extend_from_slice(body);
        at += len;
        if header[1] & 0x01 != 0 {
            return Parse::Done((header[0], payload), at);
        }
    }
}

/// A TDS packet of `kind` with `payload` (one packet: every answer here is small).
fn packet(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 8).unwrap_or(u16::MAX);
    let mut out = vec![kind, 0x01];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0, 1, 0]);
    out.extend_from_slice(payload);
    out
}

/// PRELOGIN options (token, data), up to the terminator.
fn prelogin_options(payload: &[u8]) -> Vec<(u8, &[u8])> {
    let mut options = Vec::new();
    let mut at = 0;
    while let Some(&token) = payload.get(at) {
        if token == 0xff || options.len() == 16 {
            break;
        }
        let (Some(offset), Some(len)) = (payload.get(at + 1..at + 3), payload.get(at + 3..at + 5)) else { break };
        let (offset, len) = (
            usize::from(u16::from_be_bytes([offset[0], offset[1]])),
            usize::from(u16::from_be_bytes([len[0], len[1]])),
        );
        options.push((token, payload.get(offset..offset + len).unwrap_or(&[])));
        at += 5;
    }
    options
}

/// The PRELOGIN answer: the server's version, the chosen encryption, and an answer to each
/// other option the client sent (`asked`), as SQL Server answers only what it was asked.
fn prelogin_answer(version: (u8, u8, u16, u16), encryption: u8, asked: &[u8]) -> Vec<u8> {
    let (major, minor, build, sub) = version;
    let mut version_data = vec![major, minor];
    version_data.extend_from_slice(&build.to_be_bytes());
    version_data.extend_from_slice(&sub.to_be_bytes());
    // VERSION, ENCRYPTION, INSTOPT (the default instance), THREADID (empty), MARS (off),
    // FEDAUTHREQUIRED (no).
    let mut options: Vec<(u8, Vec<u8>)> = vec![(0, version_data), (1, vec![encryption])];
    for (token, data) in [(2u8, vec![0u8]), (3, vec![]), (4, vec![0]), (6, vec![0])] {
        if asked.contains(&token) {
            options.push((token, data));
        }
    }
    let mut out = Vec::new();
    let mut offset = options.len() * 5 + 1;
    for (token, data) in &options {
        out.push(*token);
        out.extend_from_slice(&u16::try_from(offset).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
        offset += data.len();
    }
    out.push(0xff);
    for (_, data) in options {
        out.extend_from_slice(&data);
    }
    out
}

/// What LOGIN7 carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Login {
    /// The client's TDS version.
    pub tds_version: u32,
    /// Client host name.
    pub host: String,
    /// SQL login name.
    pub user: String,
    /// SQL login password (de-obfuscated).
    pub password: String,
    /// Application name.
    pub app: String,
    /// The server name the client asked for.
    pub server: String,
    /// The client library (`ODBC`, `DB-Library`, ...).
    pub library: String,
    /// The database asked for.
    pub database: String,
    /// The SSPI token of an integrated (Windows) login.
    pub sspi: Vec<u8>,
}

/// Reads a LOGIN7 payload.
pub fn login7(payload: &[u8]) -> Option<Login> {
    let u16_at = |at: usize| payload.get(at..at + 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])));
    let text = |at: usize, deobfuscate: bool| -> Option<String> {
        let (offset, chars) = (u16_at(at)?, u16_at(at + 2)?);
        let bytes = payload.get(offset..offset + chars * 2)?;
        let bytes: Vec<u8> =
            if deobfuscate { bytes.iter().map(|b| (b ^ 0xa5).rotate_left(4)).collect() } else { bytes.to_vec() };
        let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        Some(String::from_utf16_lossy(&units))
    };
    let tds_version = u32::from_le_bytes(payload.get(4..8)?.try_into().ok()?);
    let sspi = match (u16_at(78), u16_at(80)) {
        (Some(offset), Some(len)) if len > 0 => payload.get(offset..offset + len)?.to_vec(),
        _ => Vec::new(),
    };
    Some(Login {
        tds_version,
        host: text(36, false)?,
        user: text(40, false)?,
        password: text(44, true)?,
        app: text(48, false)?,
        server: text(52, false)?,
        library: text(60, false)?,
        database: text(68, false)?,
        sspi,
    })
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The answer to a refused login: ERROR 18456 and DONE (error), in the field widths of the
/// client's TDS version (line numbers and row counts grew in TDS 7.2).
fn login_failed(user: &str, server: &str, tds_version: u32) -> Vec<u8> {
    // TDS 7.2 and later (0x72090002..), and TDS 8.0 (0x08000000).
    let tds72 = (0x7209_0002..0x8000_0000).contains(&tds_version) || tds_version == 0x0800_0000;
    let message = utf16(&format!("Login failed for user '{user}'."));
    let server16 = utf16(server);
    let mut token = Vec::new();
    token.extend_from_slice(&18_456u32.to_le_bytes());
    token.push(1); // state
    token.push(14); // class
    token.extend_from_slice(&u16::try_from(message.len() / 2).unwrap_or(0).to_le_bytes());
    token.extend_from_slice(&message);
    token.push(u8::try_from(server16.len() / 2).unwrap_or(0));
    token.extend_from_slice(&server16);
    token.push(0); // no procedure
    if tds72 {
        token.extend_from_slice(&1u32.to_le_bytes());
    } else {
        token.extend_from_slice(&1u16.to_le_bytes());
    }
    let mut out = vec![0xaa];
    out.extend_from_slice(&u16::try_from(token.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&token);
    out.extend_from_slice(&[0xfd, 0x02, 0x00, 0x00, 0x00]);
    out.extend_from_slice(if tds72 { &[0; 8] } else { &[0; 4] });
    packet(TABULAR_RESULT, &out)
}

/// The next TDS message from a stream the service holds itself (the TLS channel), bounded
/// by `max` bytes and the idle limit.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    max: usize,
    idle: std::time::Duration,
) -> Result<(u8, Vec<u8>), String> {
    loop {
        match message(buf) {
            Parse::Done(found, used) => {
                buf.drain(..used);
                return Ok(found);
            }
            Parse::Invalid(reason) => return Err(reason),
            Parse::Incomplete if buf.len() >= max => return Err(format!("message larger than {max} bytes")),
            Parse::Incomplete => {
                let mut chunk = [0u8; 4096];
                match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => return Err("the client went away".into()),
                }
            }
        }
    }
}

impl Decoy for Mssql {
    fn name(&self) -> &'static str {
        "mssql"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        let (kind, prelogin) = match conn.frame(message).await {
            Ok(found) => found,
            Err(end) => return end,
        };
        if kind != PRELOGIN {
            conn.violation_in("the first TDS message is not PRELOGIN", &prelogin).await;
            return End::Violation;
        }
        let options = prelogin_options(&prelogin);
        let option = |token: u8| options.iter().find(|(t, _)| *t == token).map(|(_, data)| *data);
        let asked = option(1).and_then(|d| d.first().copied()).unwrap_or(ENCRYPT_NOT_SUP);
        let encryption = match asked & 0x0f {
            ENCRYPT_OFF => ENCRYPT_OFF,
            ENCRYPT_NOT_SUP => ENCRYPT_NOT_SUP,
            ENCRYPT_ON | ENCRYPT_REQ => ENCRYPT_ON,
            _ => ENCRYPT_ON,
        };
        let mut fields = Fields::default()
            .detail("encryption_requested", asked)
            .detail("encryption", encryption)
            .detail("instance", printable(option(2).unwrap_or(&[]).split(|b| *b == 0).next().unwrap_or(&[])));
        if let Some(v) = option(0).filter(|v| v.len() >= 6) {
            fields = fields.detail("client_version", format!("{}.{}.{}", v[0], v[1], u16::from_be_bytes([v[2], v[3]])));
        }
        conn.log.record(Kind::Handshake, fields).await;
        if let Err(end) = conn
            .write(&packet(
                TABULAR_RESULT,
                &prelogin_answer(self.version, encryption, &options.iter().map(|(t, _)| *t).collect::<Vec<_>>()),
            ))
            .await
        {
            return end;
        }
        // A client may send its LOGIN7 in clear even after asking for encryption "off" (nmap
        // does); SQL Server takes it unless encryption is forced. Anything else opens TLS.
        while conn.buffered().is_empty() {
            if let Err(end) = conn.fill().await {
                return end;
            }
        }
        if encryption == ENCRYPT_NOT_SUP || conn.buffered().first() == Some(&LOGIN7) {
            let login = match conn.frame(message).await {
                Ok(found) => found,
                Err(end) => return end,
            };
            return self.login(conn, login).await;
        }
        // TLS inside TDS: the login under TLS; with encryption "off", clear text after it.
        let Some(io) = conn.take_io() else { return End::Io };
        let raw = Arc::new(AtomicBool::new(false));
        let idle = conn.limits().idle;
        let acceptor = match self.tls.get() {
            Ok(acceptor) => acceptor,
            Err(err) => {
                eprintln!("decnet-decoy: TLS: {err}");
                return End::Io;
            }
        };
        let mut tls = match tokio::time::timeout(idle, acceptor.accept(TdsWrap::new(io, raw.clone()))).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(err)) => {
                let reason = format!("TLS handshake failed: {err}");
                conn.log.record(Kind::ProtocolError, Fields::default().detail("reason", reason.as_str())).await;
                return End::Violation;
            }
            Err(_) => return End::Idle,
        };
        raw.store(true, Ordering::Release);
        let mut pending = Vec::new();
        let login = read_message(&mut tls, &mut pending, conn.limits().max_frame, idle).await;
        if encryption == ENCRYPT_OFF {
            let (wrap, _) = tls.into_inner();
            conn.put_layer(wrap.inner);
        } else {
            conn.put_layer(Box::new(tls));
        }
        match login {
            Ok(login) => self.login(conn, login).await,
            Err(reason) => {
                conn.violation(&reason).await;
                End::Violation
            }
        }
    }
}

impl Mssql {
    /// A LOGIN7 (or the SSPI message that continues one): recorded and refused.
    async fn login(&self, conn: &mut Conn, (kind, payload): (u8, Vec<u8>)) -> End {
        if kind != LOGIN7 {
            conn.violation_in("expected LOGIN7", &payload).await;
            return End::Violation;
        }
        let Some(login) = login7(&payload) else {
            conn.violation_in("malformed LOGIN7", &payload).await;
            return End::Violation;
        };
        let details = |fields: Fields| {
            fields
                .detail("client_host", login.host.as_str())
                .detail("app", login.app.as_str())
                .detail("library", login.library.as_str())
                .detail("server_name", login.server.as_str())
                .detail("database", login.database.as_str())
                .detail("tds_version", format!("0x{:08x}", login.tds_version))
        };
        let server = self.identity.netbios_name.clone();
        if login.sspi.is_empty() {
            let fields = Fields::default()
                .principal(login.user.as_bytes())
                .secret(Secret::password(login.password.as_bytes()))
                .detail("method", "sql")
                .detail("outcome", "failure");
            conn.log.record(Kind::AuthAttempt, details(fields)).await;
            let _ = conn.write(&login_failed(&login.user, &server, login.tds_version)).await;
            return End::Done;
        }
        // Integrated login: NTLM inside SSPI tokens.
        let flags = match ntlm::parse(&login.sspi) {
            Ok(Message::Negotiate { flags }) => flags,
            _ => {
                conn.violation_in("SSPI token without an NTLM NEGOTIATE", &login.sspi).await;
                return End::Violation;
            }
        };
        let challenge = ntlm::random();
        let token = ntlm::challenge_message(&self.identity, challenge, flags, ntlm::filetime_now());
        let mut sspi = vec![0xed];
        sspi.extend_from_slice(&u16::try_from(token.len()).unwrap_or(0).to_le_bytes());
        sspi.extend_from_slice(&token);
        if let Err(end) = conn.write(&packet(TABULAR_RESULT, &sspi)).await {
            return end;
        }
        let (kind, answer) = match conn.frame(message).await {
            Ok(found) => found,
            Err(end) => return end,
        };
        match (kind, ntlm::parse(&answer)) {
            (SSPI, Ok(Message::Authenticate(auth))) => {
                let fields = ntlm::attempt_fields(&auth, challenge, "ntlm", "failure");
                conn.log.record(Kind::AuthAttempt, details(fields)).await;
                let user = if auth.domain.is_empty() { auth.user } else { format!("{}\\{}", auth.domain, auth.user) };
                let _ = conn.write(&login_failed(&user, &server, login.tds_version)).await;
                End::Done
            }
            _ => {
                conn.violation_in("expected an SSPI message with an NTLM AUTHENTICATE", &answer).await;
                End::Violation
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A LOGIN7 payload for `user`/`password` as clients build it.
    fn login_payload(user: &str, password: &str) -> Vec<u8> {
        let fields = ["WS-042", user, "", "sqlcmd", "db01", "", "ODBC", "", "master"];
        let mut fixed = vec![0u8; 94];
        fixed[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
        let mut data = Vec::new();
        for (i, value) in fields.iter().enumerate() {
            let at = 36 + 4 * i;
            let mut bytes = utf16(if i == 2 { password } else { value });
            if i == 2 {
                bytes = bytes.iter().map(|b| b.rotate_left(4) ^ 0xa5).collect();
            }
            fixed[at..at + 2].copy_from_slice(&((94 + data.len()) as u16).to_le_bytes());
            fixed[at + 2..at + 4].copy_from_slice(&((bytes.len() / 2) as u16).to_le_bytes());
            data.extend_from_slice(&bytes);
        }
        fixed.extend_from_slice(&data);
        fixed
    }

    #[test]
    fn login7_gives_the_user_and_the_deobfuscated_password() {
        let login = login7(&login_payload("sa", "P@ssw0rd!")).unwrap();
        assert_eq!((login.user.as_str(), login.password.as_str()), ("sa", "P@ssw0rd!"));
        assert_eq!((login.host.as_str(), login.app.as_str(), login.database.as_str()), ("WS-042", "sqlcmd", "master"));
        assert!(login.sspi.is_empty());
        let payload = login_payload("sa", "x");
        for cut in 0..payload.len() {
            let _ = login7(&payload[..cut]);
        }
    }

    #[test]
    fn messages_are_gathered_across_packets_and_bounded() {
        let mut two = packet(PRELOGIN, b"abc");
        two[1] = 0; // not the last packet
        two.extend_from_slice(&packet(PRELOGIN, b"def"));
        assert_eq!(message(&two), Parse::Done((PRELOGIN, b"abcdef".to_vec()), two.len()));
        assert_eq!(message(&two[..12]), Parse::Incomplete);
        assert!(matches!(message(b"\x12\x01\x00\x02\x00\x00\x01\x00"), Parse::Invalid(_)));
    }

    #[test]
    fn the_prelogin_answer_carries_version_and_encryption() {
        let answer = prelogin_answer((15, 0, 2000, 5), ENCRYPT_OFF, &[0, 1, 2, 3, 5]);
        let options = prelogin_options(&answer);
        assert_eq!(options[0], (0, &[15, 0, 0x07, 0xd0, 0, 5][..]));
        assert_eq!(options[1], (1, &[ENCRYPT_OFF][..]));
        assert_eq!(options.iter().map(|(t, _)| *t).collect::<Vec<_>>(), [0, 1, 2, 3], "no MARS, no TRACEID");
    }
}
