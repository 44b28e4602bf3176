//! `mysql`: the MySQL/MariaDB handshake, a captured login, then "access denied" — or,
//! for the decky's lure account, a session.
//!
//! The server greets with protocol 10, the configured (or persona) version, a connection
//! id and a fresh 20-byte salt for `mysql_native_password`. A client that starts with
//! another plugin (`caching_sha2_password`) is switched to `mysql_native_password` with a
//! new salt. The response, recorded with its salt, is
//! `SHA1(password) XOR SHA1(salt + SHA1(SHA1(password)))`, which is crackable offline
//! (hashcat mode 11200 takes `salt:response`). The answer is ERR 1045, unless the response
//! matches the lure account (`DECNET_ACCOUNTS`) that breadcrumbs elsewhere in the maze
//! name: then the client gets a low-privilege session whose statements are recorded and
//! answered by [`super::sql`] (nothing is executed).

use rand::{RngCore, SeedableRng};
use sha1::{Digest, Sha1};

use crate::config::Config;
use crate::event::{Fields, Kind, Secret, SecretKind, hex};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};
use crate::services::sql;

const NATIVE: &str = "mysql_native_password";

/// Capability flags of the greeting: protocol 4.1, secure connection, plugin auth with
/// length-encoded data, connect attributes, deprecate EOF; no SSL, no compression.
const CAPABILITIES: u32 = 0x0000_0001 // LONG_PASSWORD
    | 0x0000_0002 // FOUND_ROWS
    | 0x0000_0004 // LONG_FLAG
    | 0x0000_0008 // CONNECT_WITH_DB
    | 0x0000_0010 // NO_SCHEMA
    | 0x0000_0040 // ODBC
    | 0x0000_0080 // LOCAL_FILES
    | 0x0000_0100 // IGNORE_SPACE
    | 0x0000_0200 // PROTOCOL_41
    | 0x0000_0400 // INTERACTIVE
    | 0x0000_1000 // IGNORE_SIGPIPE
    | 0x0000_2000 // TRANSACTIONS
    | 0x0000_8000 // SECURE_CONNECTION
    | 0x0001_0000 // MULTI_STATEMENTS
    | 0x0002_0000 // MULTI_RESULTS
    | 0x0004_0000 // PS_MULTI_RESULTS
    | 0x0008_0000 // PLUGIN_AUTH
    | 0x0010_0000 // CONNECT_ATTRS
    | 0x0020_0000 // PLUGIN_AUTH_LENENC_CLIENT_DATA
    | 0x0080_0000 // SESSION_TRACK
    | 0x0100_0000; // DEPRECATE_EOF

const DEPRECATE_EOF: u32 = 0x0100_0000;

/// Statements one session may send before it is closed.
const MAX_STATEMENTS: usize = 1_000;

/// The mysql decoy.
#[derive(Debug)]
pub struct Mysql {
    version: String,
    hostname: String,
    next_connection: std::sync::atomic::AtomicU32,
    /// Logins that open a session (the lure account).
    accounts: Vec<(String, String)>,
}

/// One MySQL packet: sequence number and payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet {
    /// Sequence id.
    pub seq: u8,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Parses one packet (3-byte length, 1-byte sequence, payload).
pub fn parse(buf: &[u8]) -> Parse<Packet> {
    if buf.len() < 4 {
        return Parse::Incomplete;
    }
    let len = usize::from(buf[0]) | usize::from(buf[1]) << 8 | usize::from(buf[2]) << 16;
    if len == 0 {
        return Parse::Invalid("empty packet".into());
    }
    if len > 64 * 1024 {
        return Parse::Invalid(format!("packet of {len} bytes before authentication"));
    }
    if buf.len() < 4 + len {
        return Parse::Incomplete;
    }
    Parse::Done(Packet { seq: buf[3], payload: buf[4..4 + len].to_vec() }, 4 + len)
}

/// A client's HandshakeResponse41.
#[derive(Debug, PartialEq, Eq)]
pub struct Login {
    /// Capability flags.
    pub capabilities: u32,
    /// User name.
    pub user: Vec<u8>,
    /// Auth response.
    pub response: Vec<u8>,
    /// Database, if any.
    pub database: Option<Vec<u8>>,
    /// Auth plugin the client used.
    pub plugin: Option<String>,
    /// Connection attributes.
    pub attributes: Vec<(String, String)>,
}

/// Reads a length-encoded integer at `*at`.
fn lenenc(data: &[u8], at: &mut usize) -> Option<u64> {
    let first = *data.get(*at)?;
    *at += 1;
    let width = match first {
        0..=0xfa => return Some(u64::from(first)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let bytes = data.get(*at..*at + width)?;
    *at += width;
    Some(bytes.iter().rev().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
}

fn nul_terminated(data: &[u8], at: &mut usize) -> Option<Vec<u8>> {
    let end = data.get(*at..)?.iter().position(|&b| b == 0)?;
    let value = data[*at..*at + end].to_vec();
    *at += end + 1;
    Some(value)
}

/// Parses a HandshakeResponse41 payload; `None` when it is malformed.
pub fn parse_login(data: &[u8]) -> Option<Login> {
    let capabilities = u32::from_le_bytes(data.get(0..4)?.try_into().ok()?);
    if capabilities & 0x0200 == 0 {
        return None; // pre-4.1 clients are not served
    }
    let mut at = 32;
    let user = nul_terminated(data, &mut at)?;
    let response = if capabilities & 0x0020_0000 != 0 {
        let len = usize::try_from(lenenc(data, &mut at)?).ok()?;
        let bytes = data.get(at..at.checked_add(len)?)?.to_vec();
        at += len;
        bytes
    } else if capabilities & 0x8000 != 0 {
        let len = usize::from(*data.get(at)?);
        let bytes = data.get(at + 1..at + 1 + len)?.to_vec();
        at += 1 + len;
        bytes
    } else {
        nul_terminated(data, &mut at)?
    };
    let database = if capabilities & 0x0008 != 0 && at < data.len() { nul_terminated(data, &mut at) } else { None };
    let plugin = if capabilities & 0x0008_0000 != 0 && at < data.len() {
        nul_terminated(data, &mut at).map(|p| String::from_utf8_lossy(&p).into_owned())
    } else {
        None
    };
    let mut attributes = Vec::new();
    if capabilities & 0x0010_0000 != 0 && at < data.len() {
        let total = usize::try_from(lenenc(data, &mut at)?).ok()?;
        let end = at.checked_add(total)?.min(data.len());
        while at < end && attributes.len() < 32 {
            let klen = usize::try_from(lenenc(data, &mut at)?).ok()?;
            let key = String::from_utf8_lossy(data.get(at..at.checked_add(klen)?)?).into_owned();
            at += klen;
            let vlen = usize::try_from(lenenc(data, &mut at)?).ok()?;
            let value = String::from_utf8_lossy(data.get(at..at.checked_add(vlen)?)?).into_owned();
            at += vlen;
            attributes.push((key, value));
        }
    }
    Some(Login { capabilities, user, response, database, plugin, attributes })
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![(len & 0xff) as u8, (len >> 8 & 0xff) as u8, (len >> 16 & 0xff) as u8, seq];
    out.extend_from_slice(payload);
    out
}

/// 20 random salt bytes, printable and never NUL (as MySQL makes them).
fn salt() -> [u8; 20] {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut salt = [0u8; 20];
    rng.fill_bytes(&mut salt);
    for byte in &mut salt {
        *byte = 0x21 + (*byte % 0x5e);
    }
    salt
}

impl Mysql {
    /// The decoy for `persona` with `config`.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let first = 8 + (persona.derive("mysql connection id") % 5000) as u32;
        Self {
            version: config.string("version").unwrap_or(persona.mysql_version).to_owned(),
            hostname: persona.hostname.clone(),
            next_connection: std::sync::atomic::AtomicU32::new(first),
            accounts: super::lure_accounts(),
        }
    }

    /// Whether `response` to `salt` is `user`'s account password.
    fn accepts(&self, user: &str, salt: &[u8], response: &[u8]) -> bool {
        self.accounts.iter().any(|(name, password)| name == user && response == native_scramble(password, salt))
    }

    fn greeting(&self, connection: u32, salt: &[u8; 20]) -> Vec<u8> {
        let mut g = vec![10];
        g.extend_from_slice(self.version.as_bytes());
        g.push(0);
        g.extend_from_slice(&connection.to_le_bytes());
        g.extend_from_slice(&salt[..8]);
        g.push(0);
        g.extend_from_slice(&(CAPABILITIES as u16).to_le_bytes());
        g.push(0xff); // utf8mb4_0900_ai_ci
        g.extend_from_slice(&0x0002u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
        g.extend_from_slice(&((CAPABILITIES >> 16) as u16).to_le_bytes());
        g.push(21);
        g.extend_from_slice(&[0; 10]);
        g.extend_from_slice(&salt[8..]);
        g.push(0);
        g.extend_from_slice(NATIVE.as_bytes());
        g.push(0);
        g
    }
}

/// `SHA1(password) XOR SHA1(salt + SHA1(SHA1(password)))`: what a client answers.
pub fn native_scramble(password: &str, salt: &[u8]) -> Vec<u8> {
    let stage1 = Sha1::digest(password.as_bytes());
    let stage2 = Sha1::digest(stage1);
    let mix = Sha1::new().chain_update(salt).chain_update(stage2).finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

fn ok_packet(seq: u8, header: u8) -> Vec<u8> {
    packet(seq, &[header, 0, 0, 0x02, 0, 0, 0])
}

fn error_packet(seq: u8, code: u16, state: &str, message: &str) -> Vec<u8> {
    let mut payload = vec![0xff];
    payload.extend_from_slice(&code.to_le_bytes());
    payload.push(b'#');
    payload.extend_from_slice(state.as_bytes());
    payload.extend_from_slice(message.as_bytes());
    packet(seq, &payload)
}

fn lenenc_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len();
    if len < 0xfb {
        out.push(len as u8);
    } else {
        out.push(0xfc);
        out.extend_from_slice(&(len.min(0xffff) as u16).to_le_bytes());
    }
    out.extend_from_slice(&bytes[..len.min(0xffff)]);
}

/// The packets of a text result set, from sequence id 1.
fn result_set(columns: &[String], rows: &[Vec<String>], deprecate_eof: bool) -> Vec<u8> {
    let mut seq = 1u8;
    let mut next = || {
        let current = seq;
        seq = seq.wrapping_add(1);
        current
    };
    let mut out = packet(next(), &[columns.len().min(250) as u8]);
    for name in columns.iter().take(250) {
        let mut def = Vec::new();
        for field in ["def", "", "", ""] {
            lenenc_bytes(&mut def, field.as_bytes());
        }
        lenenc_bytes(&mut def, name.as_bytes());
        lenenc_bytes(&mut def, name.as_bytes());
        def.push(0x0c);
        def.extend_from_slice(&33u16.to_le_bytes()); // utf8mb3_general_ci
        def.extend_from_slice(&1024u32.to_le_bytes());
        def.push(0xfd); // VAR_STRING
        def.extend_from_slice(&[0, 0, 0x1f, 0, 0]); // flags, decimals, filler
        out.extend(packet(next(), &def));
    }
    if !deprecate_eof {
        out.extend(packet(next(), &[0xfe, 0, 0, 0x02, 0]));
    }
    for row in rows {
        let mut data = Vec::new();
        for value in row {
            lenenc_bytes(&mut data, value.as_bytes());
        }
        out.extend(packet(next(), &data));
    }
    let end = next();
    if deprecate_eof {
        out.extend(ok_packet(end, 0xfe))
    } else {
        out.extend(packet(end, &[0xfe, 0, 0, 0x02, 0]))
    }
    out
}

fn access_denied(seq: u8, user: &str, host: &str, with_password: bool) -> Vec<u8> {
    let mut payload = vec![0xff];
    payload.extend_from_slice(&1045u16.to_le_bytes());
    payload.extend_from_slice(b"#28000");
    let using = if with_password { "YES" } else { "NO" };
    payload.extend_from_slice(format!("Access denied for user '{user}'@'{host}' (using password: {using})").as_bytes());
    packet(seq, &payload)
}

impl Decoy for Mysql {
    fn name(&self) -> &'static str {
        "mysql"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        let connection = self.next_connection.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut salt = salt();
        if conn.write(&packet(0, &self.greeting(connection, &salt))).await.is_err() {
            return End::Io;
        }
        let reply = match conn.frame(parse).await {
            Ok(reply) => reply,
            Err(end) => return end,
        };
        if reply.payload.len() == 32 {
            // An SSL request: the greeting did not offer TLS, so this is a protocol error.
            conn.violation("SSL requested but not offered").await;
            return End::Violation;
        }
        let Some(login) = parse_login(&reply.payload) else {
            conn.violation("malformed handshake response").await;
            let _ = conn.write(&packet(reply.seq.wrapping_add(1), b"\xff\x84\x04#08S01Bad handshake")).await;
            return End::Violation;
        };
        let mut seq = reply.seq.wrapping_add(1);
        let mut response = login.response.clone();
        let plugin = login.plugin.clone().unwrap_or_else(|| NATIVE.to_owned());
        if plugin != NATIVE && !login.response.is_empty() {
            // Ask for the native scramble instead, with a fresh salt.
            salt = self::salt();
            let mut switch = vec![0xfe];
            switch.extend_from_slice(NATIVE.as_bytes());
            switch.push(0);
            switch.extend_from_slice(&salt);
            switch.push(0);
            if conn.write(&packet(seq, &switch)).await.is_err() {
                return End::Io;
            }
            match conn.frame(parse).await {
                Ok(answer) => {
                    response = answer.payload;
                    seq = answer.seq.wrapping_add(1);
                }
                Err(end) => return end,
            }
        }
        let user = String::from_utf8_lossy(&login.user).into_owned();
        let mut fields = Fields::default()
            .principal(&login.user)
            .detail("connection_id", connection)
            .detail("client_plugin", plugin);
        if !response.is_empty() {
            fields =
                fields.secret(Secret { kind: SecretKind::MysqlNative, value: hex(&response), salt: Some(hex(&salt)) });
        } else {
            fields = fields.detail("empty_password", true);
        }
        if let Some(database) = &login.database {
            fields = fields.detail("database", String::from_utf8_lossy(database).into_owned());
        }
        if !login.attributes.is_empty() {
            let attributes: serde_json::Map<String, serde_json::Value> =
                login.attributes.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str()))).collect();
            fields = fields.detail("client_attributes", attributes);
        }
        let accepted = self.accepts(&user, &salt, &response);
        fields = fields.detail("outcome", if accepted { "success" } else { "failure" });
        conn.log.record(Kind::AuthAttempt, fields).await;
        let host = conn.log.peer().ip().to_string();
        if !accepted {
            let _ = conn.write(&access_denied(seq, &user, &host, !response.is_empty())).await;
            return End::Done;
        }
        if conn.write(&ok_packet(seq, 0)).await.is_err() {
            return End::Io;
        }
        let mut session = sql::Session {
            dialect: sql::Dialect::Mysql,
            version: self.version.clone(),
            user,
            client_host: host,
            database: login.database.as_deref().map(|d| String::from_utf8_lossy(d).into_owned()).unwrap_or_default(),
            hostname: self.hostname.clone(),
        };
        self.session(conn, &mut session, login.capabilities & CAPABILITIES & DEPRECATE_EOF != 0).await
    }
}

impl Mysql {
    /// The command phase of an accepted login: every statement recorded and answered.
    async fn session(&self, conn: &mut Conn, session: &mut sql::Session, deprecate_eof: bool) -> End {
        for _ in 0..MAX_STATEMENTS {
            let command = match conn.frame(parse).await {
                Ok(command) => command,
                Err(end) => return end,
            };
            let (&code, body) = command.payload.split_first().unwrap_or((&0, &[]));
            let reply = match code {
                0x01 => return End::Done, // COM_QUIT
                0x02 => {
                    // COM_INIT_DB (`use db`)
                    session.database = String::from_utf8_lossy(body).chars().take(64).collect();
                    conn.log
                        .record(Kind::Command, Fields::default().command(format!("use {}", session.database)))
                        .await;
                    ok_packet(1, 0)
                }
                0x0e => ok_packet(1, 0), // COM_PING
                0x03 => {
                    let statement = String::from_utf8_lossy(body);
                    conn.log.record(Kind::Command, Fields::default().command(statement.as_bytes())).await;
                    match sql::answer(&statement, session) {
                        sql::Answer::Rows { columns, rows } => result_set(&columns, &rows, deprecate_eof),
                        sql::Answer::Done(_) => ok_packet(1, 0),
                        sql::Answer::Error { code, state, message } => error_packet(1, code, state, &message),
                    }
                }
                _ => error_packet(1, 1047, "08S01", "Unknown command"),
            };
            if conn.write(&reply).await.is_err() {
                return End::Io;
            }
        }
        End::Done
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn packets_parse_and_truncation_asks_for_more() {
        let raw = [3, 0, 0, 1, b'a', b'b', b'c'];
        assert_eq!(parse(&raw), Parse::Done(Packet { seq: 1, payload: b"abc".to_vec() }, 7));
        for cut in 0..raw.len() {
            assert_eq!(parse(&raw[..cut]), Parse::Incomplete);
        }
        assert!(matches!(parse(&[0, 0, 0, 0]), Parse::Invalid(_)));
        assert!(matches!(parse(&[0xff, 0xff, 0xff, 0]), Parse::Invalid(_)));
    }

    #[test]
    fn a_handshake_response_yields_user_response_database_and_plugin() {
        let mut data = (CAPABILITIES).to_le_bytes().to_vec();
        data.extend_from_slice(&[0, 0, 0, 1, 0xff]);
        data.extend_from_slice(&[0; 23]);
        data.extend_from_slice(b"root\0");
        data.push(20);
        data.extend_from_slice(&[7; 20]);
        data.extend_from_slice(b"shop\0mysql_native_password\0");
        data.push(11);
        data.extend_from_slice(&[4, b'_', b'p', b'i', b'd', 1, b'9', 1, b'x', 1, b'y']);
        let login = parse_login(&data).unwrap();
        assert_eq!(login.user, b"root");
        assert_eq!(login.response, vec![7; 20]);
        assert_eq!(login.database.as_deref(), Some(&b"shop"[..]));
        assert_eq!(login.plugin.as_deref(), Some(NATIVE));
        assert_eq!(login.attributes, vec![("_pid".into(), "9".into()), ("x".into(), "y".into())]);
        for cut in 0..data.len() - 12 {
            let _ = parse_login(&data[..cut]); // never panics on truncation
        }
    }
}
