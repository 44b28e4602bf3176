//! `postgres`: the PostgreSQL startup, a captured password, then "authentication failed".
//!
//! SSL and GSS encryption requests are declined (`N`), the startup message gives the user,
//! database and application name, and the server asks for `md5` (with a fresh 4-byte
//! salt, recorded with the response `md5` + hex(md5(hex(md5(password + user)) + salt)),
//! hashcat mode 11100) or for the clear-text password, as `auth_method` says. The answer
//! is FATAL 28P01, worded as the real server words it, unless the password is the lure
//! account's (`DECNET_ACCOUNTS`) that breadcrumbs elsewhere in the maze name: then the
//! client gets a low-privilege session whose simple queries are recorded and answered by
//! [`super::sql`] (nothing is executed). Unsupported protocol versions get the real
//! server's error, which is also what nmap identifies it by.

use md5::{Digest, Md5};
use rand::{RngCore, SeedableRng};

use crate::config::Config;
use crate::event::{Fields, Kind, Secret, SecretKind, hex, printable};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};
use crate::services::sql;

const SSL_REQUEST: u32 = 80_877_103;
const GSS_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
const PROTOCOL_3: u32 = 196_608;

/// The postgres decoy.
#[derive(Debug)]
pub struct Postgres {
    md5: bool,
    version: String,
    hostname: String,
    /// Logins that open a session (the lure account).
    accounts: Vec<(String, String)>,
}

/// Queries one session may send before it is closed.
const MAX_QUERIES: usize = 1_000;

/// A frontend message before authentication.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// A startup-phase packet: code and the rest of its body.
    Startup(u32, Vec<u8>),
}

/// Parses a startup-phase packet (length, then a 32-bit code, then the body).
pub fn parse_startup(buf: &[u8]) -> Parse<Message> {
    if buf.len() < 8 {
        return Parse::Incomplete;
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if !(8..=10_000).contains(&len) {
        return Parse::Invalid(format!("invalid length of startup packet {len}"));
    }
    if buf.len() < len {
        return Parse::Incomplete;
    }
    let code = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Parse::Done(Message::Startup(code, buf[8..len].to_vec()), len)
}

/// Parses a typed frontend message (type byte, 32-bit length including itself, body).
pub fn parse_typed(buf: &[u8]) -> Parse<(u8, Vec<u8>)> {
    if buf.len() < 5 {
        return Parse::Incomplete;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if !(4..=10_000).contains(&len) {
        return Parse::Invalid(format!("invalid message length {len}"));
    }
    if buf.len() < 1 + len {
        return Parse::Incomplete;
    }
    Parse::Done((buf[0], buf[5..1 + len].to_vec()), 1 + len)
}

/// The `key\0value\0` pairs of a startup message.
fn parameters(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut parts = body.split(|&b| b == 0);
    let mut pairs = Vec::new();
    while let (Some(key), Some(value)) = (parts.next(), parts.next()) {
        if key.is_empty() || pairs.len() >= 32 {
            break;
        }
        pairs.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
    }
    pairs
}

/// An ErrorResponse with the fields a real server sends.
fn error(severity: &str, code: &str, message: &str, file: &str, line: &str, routine: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (tag, value) in
        [(b'S', severity), (b'V', severity), (b'C', code), (b'M', message), (b'F', file), (b'L', line), (b'R', routine)]
    {
        body.push(tag);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

impl Postgres {
    /// The decoy for `persona` with `config`.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        Self {
            md5: config.string("auth_method") != Some("password"),
            version: persona.postgres_version.to_owned(),
            hostname: persona.hostname.clone(),
            accounts: super::lure_accounts(),
        }
    }

    /// Whether `answer` (to `salt`, when md5) is `user`'s account password.
    fn accepts(&self, user: &[u8], salt: &[u8; 4], answer: &[u8]) -> bool {
        self.accounts.iter().any(|(name, password)| {
            name.as_bytes() == user
                && if self.md5 {
                    answer == md5_answer(password, name, salt).as_bytes()
                } else {
                    answer == password.as_bytes()
                }
        })
    }
}

/// `md5` + hex(md5(hex(md5(password + user)) + salt)): what a client answers to md5.
pub fn md5_answer(password: &str, user: &str, salt: &[u8; 4]) -> String {
    let inner = hex(&Md5::new().chain_update(password).chain_update(user).finalize());
    format!("md5{}", hex(&Md5::new().chain_update(inner).chain_update(salt).finalize()))
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn ready() -> Vec<u8> {
    message(b'Z', b"I")
}

/// What the server sends after a successful login, up to ReadyForQuery.
fn welcome(version: &str, user: &str, application: &str) -> Vec<u8> {
    let mut out = message(b'R', &0u32.to_be_bytes());
    for (key, value) in [
        ("application_name", application),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
        ("IntervalStyle", "postgres"),
        ("is_superuser", "off"),
        ("server_encoding", "UTF8"),
        ("server_version", version),
        ("session_authorization", user),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "Etc/UTC"),
    ] {
        let mut body = key.as_bytes().to_vec();
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
        out.extend(message(b'S', &body));
    }
    let mut key = [0u8; 8];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut key);
    out.extend(message(b'K', &key));
    out.extend(ready());
    out
}

/// RowDescription, DataRows and CommandComplete of a text result.
fn rows(columns: &[String], rows: &[Vec<String>]) -> Vec<u8> {
    let mut description = (columns.len() as u16).to_be_bytes().to_vec();
    for name in columns {
        description.extend_from_slice(name.as_bytes());
        description.push(0);
        description.extend_from_slice(&0u32.to_be_bytes()); // table oid
        description.extend_from_slice(&0u16.to_be_bytes()); // column number
        description.extend_from_slice(&25u32.to_be_bytes()); // text
        description.extend_from_slice(&(-1i16).to_be_bytes());
        description.extend_from_slice(&(-1i32).to_be_bytes());
        description.extend_from_slice(&0u16.to_be_bytes()); // text format
    }
    let mut out = message(b'T', &description);
    for row in rows {
        let mut data = (row.len() as u16).to_be_bytes().to_vec();
        for value in row {
            data.extend_from_slice(&(value.len() as u32).to_be_bytes());
            data.extend_from_slice(value.as_bytes());
        }
        out.extend(message(b'D', &data));
    }
    out.extend(message(b'C', format!("SELECT {}\0", rows.len()).as_bytes()));
    out
}

impl Decoy for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        // At most two encryption requests may precede the startup message.
        let (code, body) = loop {
            let Message::Startup(code, body) = match conn.frame(parse_startup).await {
                Ok(message) => message,
                Err(end) => return end,
            };
            match code {
                SSL_REQUEST | GSS_REQUEST => {
                    if conn.write(b"N").await.is_err() {
                        return End::Io;
                    }
                }
                CANCEL_REQUEST => return End::Done,
                _ => break (code, body),
            }
        };
        if code != PROTOCOL_3 {
            let message =
                format!("unsupported frontend protocol {}.{}: server supports 3.0 to 3.0", code >> 16, code & 0xffff);
            conn.violation(&message).await;
            let _ =
                conn.write(&error("FATAL", "0A000", &message, "postmaster.c", "2188", "ProcessStartupPacket")).await;
            return End::Violation;
        }
        let params = parameters(&body);
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let user = param("user").unwrap_or_default();
        if user.is_empty() {
            let _ = conn
                .write(&error(
                    "FATAL",
                    "28000",
                    "no PostgreSQL user name specified in startup packet",
                    "postmaster.c",
                    "2265",
                    "ProcessStartupPacket",
                ))
                .await;
            return End::Done;
        }
        let mut salt = [0u8; 4];
        rand::rngs::StdRng::from_os_rng().fill_bytes(&mut salt);
        let mut request = vec![b'R'];
        if self.md5 {
            request.extend_from_slice(&12u32.to_be_bytes());
            request.extend_from_slice(&5u32.to_be_bytes());
            request.extend_from_slice(&salt);
        } else {
            request.extend_from_slice(&8u32.to_be_bytes());
            request.extend_from_slice(&3u32.to_be_bytes());
        }
        if conn.write(&request).await.is_err() {
            return End::Io;
        }
        let (kind, body) = match conn.frame(parse_typed).await {
            Ok(message) => message,
            Err(end) => return end,
        };
        if kind != b'p' {
            conn.violation(&format!("expected a password message, got type {kind:#04x}")).await;
            return End::Violation;
        }
        let password = body.strip_suffix(&[0]).unwrap_or(&body);
        let secret = if self.md5 {
            Secret { kind: SecretKind::PostgresMd5, value: printable(password), salt: Some(hex(&salt)) }
        } else {
            Secret::password(password)
        };
        let mut fields = Fields::default().principal(&user).secret(secret);
        for key in ["database", "application_name", "client_encoding"] {
            if let Some(value) = param(key) {
                fields = fields.detail(key, printable(&value));
            }
        }
        let accepted = self.accepts(&user, &salt, password);
        fields = fields.detail("outcome", if accepted { "success" } else { "failure" });
        conn.log.record(Kind::AuthAttempt, fields).await;
        if !accepted {
            let message = format!("password authentication failed for user \"{}\"", printable(&user));
            let _ = conn.write(&error("FATAL", "28P01", &message, "auth.c", "323", "auth_failed")).await;
            return End::Done;
        }
        let user = String::from_utf8_lossy(&user).into_owned();
        let application = param("application_name").map(|a| printable(&a)).unwrap_or_default();
        if conn.write(&welcome(&self.version, &user, &application)).await.is_err() {
            return End::Io;
        }
        let session = sql::Session {
            dialect: sql::Dialect::Postgres,
            version: self.version.clone(),
            database: param("database").map_or_else(|| user.clone(), |d| String::from_utf8_lossy(&d).into_owned()),
            user,
            client_host: conn.log.peer().ip().to_string(),
            hostname: self.hostname.clone(),
        };
        self.session(conn, &session).await
    }
}

impl Postgres {
    /// The query phase of an accepted login: every simple query recorded and answered;
    /// the extended protocol is declined as a pooler that allows only simple queries does.
    async fn session(&self, conn: &mut Conn, session: &sql::Session) -> End {
        let mut declined = false;
        for _ in 0..MAX_QUERIES {
            let (kind, body) = match conn.frame(parse_typed).await {
                Ok(message) => message,
                Err(end) => return end,
            };
            let reply = match kind {
                b'X' => return End::Done,
                b'Q' => {
                    let text = body.strip_suffix(&[0]).unwrap_or(&body);
                    let statement = String::from_utf8_lossy(text);
                    conn.log.record(Kind::Command, Fields::default().command(text)).await;
                    let mut out = match sql::answer(&statement, session) {
                        sql::Answer::Rows { columns, rows: values } => rows(&columns, &values),
                        sql::Answer::Done("EMPTY") => message(b'I', b""),
                        sql::Answer::Done(tag) => message(b'C', format!("{tag}\0").as_bytes()),
                        sql::Answer::Error { state, message: text, .. } => {
                            error("ERROR", state, &text, "aclchk.c", "2806", "aclcheck_error")
                        }
                    };
                    out.extend(ready());
                    out
                }
                // Sync ends an extended-protocol exchange: ready again.
                b'S' => {
                    declined = false;
                    ready()
                }
                b'H' => Vec::new(),
                // The extended protocol is declined once; the rest up to Sync is ignored.
                _ if declined => Vec::new(),
                _ => {
                    declined = true;
                    error(
                        "ERROR",
                        "0A000",
                        "extended query protocol not supported",
                        "postgres.c",
                        "4567",
                        "PostgresMain",
                    )
                }
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
    fn startup_and_typed_messages_parse_and_truncation_asks_for_more() {
        let mut startup = 0u32.to_be_bytes().to_vec();
        startup.extend_from_slice(&PROTOCOL_3.to_be_bytes());
        startup.extend_from_slice(b"user\0alice\0database\0shop\0\0");
        let len = startup.len() as u32;
        startup[..4].copy_from_slice(&len.to_be_bytes());
        let Parse::Done(Message::Startup(code, body), used) = parse_startup(&startup) else { panic!() };
        assert_eq!((code, used), (PROTOCOL_3, startup.len()));
        assert_eq!(parameters(&body), vec![("user".into(), b"alice".to_vec()), ("database".into(), b"shop".to_vec())]);
        for cut in 0..startup.len() {
            assert_eq!(parse_startup(&startup[..cut]), Parse::Incomplete);
        }
        assert!(matches!(parse_startup(&[0, 0, 0, 2, 0, 0, 0, 0]), Parse::Invalid(_)));
        assert_eq!(parse_typed(b"p\0\0\0\x08abc\0"), Parse::Done((b'p', b"abc\0".to_vec()), 9));
        assert!(matches!(parse_typed(b"p\xff\xff\xff\xff"), Parse::Invalid(_)));
    }
}
