//! `smtp` and `smtp_relay`: an MTA persona (Postfix, Exim or Sendmail) that harvests
//! credentials; `smtp` refuses to relay, `smtp_relay` is a misconfigured open relay.
//!
//! EHLO/HELO with a believable capability list, AUTH PLAIN and AUTH LOGIN captured (then
//! 535), MAIL FROM and RCPT TO recorded. `smtp` accepts mail for the decky's own domain
//! and refuses anything else as relaying; `smtp_relay` accepts every recipient, which is
//! what spammers probe for. Accepted DATA is read line by line (only its size, subject
//! and a bounded excerpt are kept), recorded as one `file_upload` event per message (from,
//! to, subject, size, excerpt, whether it was to be relayed) and answered "queued": it is
//! never stored or delivered, and no connection ever leaves the decoy. VRFY, RSET, NOOP,
//! HELP, STARTTLS (not available) and QUIT answer as the persona would; unknown verbs are
//! recorded.

use base64::Engine as _;

use crate::config::Config;
use crate::event::{Fields, Kind, Secret, printable};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::services::CommandLine;

/// Largest message body read after DATA.
const MAX_MESSAGE: usize = 1024 * 1024;
/// Most recipients per message.
const MAX_RECIPIENTS: usize = 50;
/// Bytes of a message kept in its event.
const EXCERPT: usize = 1024;

/// Which MTA the decoy imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mta {
    Postfix,
    Exim,
    Sendmail,
}

/// The smtp decoy.
#[derive(Debug)]
pub struct Smtp {
    name: &'static str,
    /// Accept mail for any domain (`smtp_relay`).
    open_relay: bool,
    hostname: String,
    domain: String,
    banner: String,
    mta: Mta,
}

impl Smtp {
    /// The decoy for `persona` with `config`.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let mta = match config.string("mta") {
            Some("exim") => Mta::Exim,
            Some("sendmail") => Mta::Sendmail,
            _ => Mta::Postfix,
        };
        let hostname = persona.hostname.clone();
        let domain = format!("{hostname}.localdomain");
        let date = || chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S +0000").to_string();
        let banner = config.string("banner").map_or_else(
            || match mta {
                Mta::Postfix => format!("{hostname} {}", persona.distro.smtp),
                Mta::Exim => format!("{hostname} ESMTP Exim 4.96 {}", date()),
                Mta::Sendmail => format!("{domain} ESMTP Sendmail 8.17.1.9/8.17.1.9; {}", date()),
            },
            str::to_owned,
        );
        Self { name: "smtp", open_relay: false, hostname, domain, banner, mta }
    }

    /// The `smtp_relay` decoy: the same MTA, relaying for anyone (its `banner` and `mta`
    /// keys mean what they mean for `smtp`).
    pub fn open_relay(persona: &Persona, config: &Config) -> Self {
        Self { name: "smtp_relay", open_relay: true, ..Self::new(persona, config) }
    }

    fn ehlo(&self, client: &str) -> String {
        let first = match self.mta {
            Mta::Postfix => self.hostname.clone(),
            Mta::Exim => format!("{} Hello {client}", self.hostname),
            Mta::Sendmail => format!("{} Hello {client}, pleased to meet you", self.domain),
        };
        let lines = [
            first.as_str(),
            "PIPELINING",
            "SIZE 10240000",
            "VRFY",
            "ETRN",
            "AUTH PLAIN LOGIN",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
        ];
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            out.push_str(&format!("250{sep}{line}\r\n"));
        }
        out
    }
}

/// The address inside `<...>` after `MAIL FROM:` / `RCPT TO:`.
fn address(argument: &str) -> Option<String> {
    let start = argument.find('<')?;
    let end = argument[start..].find('>')? + start;
    Some(argument[start + 1..end].to_owned())
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

impl Decoy for Smtp {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        if conn.write(format!("220 {}\r\n", self.banner).as_bytes()).await.is_err() {
            return End::Io;
        }
        let mut greeted = false;
        let mut sender: Option<String> = None;
        let mut recipients: Vec<String> = Vec::new();
        loop {
            // AUTH lines carry secrets: they are recorded as attempts, not as commands.
            let CommandLine { line, verb, argument } =
                match super::command_line(conn, b"500 5.5.2 Error: bad syntax\r\n", &["AUTH"]).await {
                    Ok(Some(command)) => command,
                    Ok(None) => continue,
                    Err(end) => return end,
                };
            let argument = argument.trim();
            let reply: String = match verb.as_str() {
                "EHLO" | "HELO" if argument.is_empty() => format!("501 5.5.4 Syntax: {verb} hostname\r\n"),
                "EHLO" => {
                    greeted = true;
                    self.ehlo(argument)
                }
                "HELO" => {
                    greeted = true;
                    format!("250 {}\r\n", self.hostname)
                }
                "AUTH" => {
                    let mut words = argument.split_whitespace();
                    let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
                    let initial = words.next().map(str::to_owned);
                    match self.authenticate(conn, &mechanism, initial).await {
                        Ok(reply) => reply,
                        Err(end) => return end,
                    }
                }
                "MAIL" if !greeted => "503 5.5.1 Error: send HELO/EHLO first\r\n".into(),
                "MAIL" => {
                    match argument.to_ascii_uppercase().starts_with("FROM:").then(|| address(argument)).flatten() {
                        Some(from) => {
                            sender = Some(from);
                            recipients.clear();
                            "250 2.1.0 Ok\r\n".into()
                        }
                        None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".into(),
                    }
                }
                "RCPT" if sender.is_none() => "503 5.5.1 Error: need MAIL command\r\n".into(),
                "RCPT" => match argument.to_ascii_uppercase().starts_with("TO:").then(|| address(argument)).flatten() {
                    Some(to) => {
                        let local = self.is_local(&to);
                        if !local && !self.open_relay {
                            let fields = Fields::default()
                                .command(&line)
                                .detail("recipient", to.as_str())
                                .detail("refused", "relay");
                            conn.log.record(Kind::Request, fields).await;
                            format!("554 5.7.1 <{to}>: Relay access denied\r\n")
                        } else if recipients.len() >= MAX_RECIPIENTS {
                            "452 4.5.3 Error: too many recipients\r\n".into()
                        } else {
                            recipients.push(to);
                            "250 2.1.5 Ok\r\n".into()
                        }
                    }
                    None => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".into(),
                },
                "DATA" if recipients.is_empty() => "554 5.5.1 Error: no valid recipients\r\n".into(),
                "DATA" => {
                    if conn.write(b"354 End data with <CR><LF>.<CR><LF>\r\n").await.is_err() {
                        return End::Io;
                    }
                    match read_message(conn).await {
                        Ok(Message { size, subject, truncated, excerpt }) => {
                            let relayed = recipients.iter().any(|to| !self.is_local(to));
                            let mut fields = Fields::default()
                                .detail("from", sender.clone().unwrap_or_default())
                                .detail("to", recipients.clone())
                                .detail("size", size)
                                .detail("truncated", truncated)
                                .detail("relay", relayed)
                                .detail("excerpt", excerpt);
                            if let Some(subject) = subject {
                                fields = fields.detail("subject", subject);
                            }
                            conn.log.record(Kind::FileUpload, fields.detail("kind", "mail")).await;
                            recipients.clear();
                            sender = None;
                            let queue = format!(
                                "{:011X}",
                                rand::RngCore::next_u64(&mut <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng())
                                    & 0x0FFF_FFFF_FFFF
                            );
                            format!("250 2.0.0 Ok: queued as {queue}\r\n")
                        }
                        Err(end) => return end,
                    }
                }
                "RSET" => {
                    sender = None;
                    recipients.clear();
                    "250 2.0.0 Ok\r\n".into()
                }
                "NOOP" => "250 2.0.0 Ok\r\n".into(),
                "VRFY" => "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n".into(),
                "STARTTLS" => "454 4.7.0 TLS not available due to local problem\r\n".into(),
                "QUIT" => {
                    let _ = conn.write(b"221 2.0.0 Bye\r\n").await;
                    return End::Quit;
                }
                _ => "502 5.5.2 Error: command not recognized\r\n".into(),
            };
            if conn.write(reply.as_bytes()).await.is_err() {
                return End::Io;
            }
        }
    }
}

impl Smtp {
    /// Whether `address` is the decky's own mail (no domain, or its host or domain).
    fn is_local(&self, address: &str) -> bool {
        address
            .rsplit_once('@')
            .is_none_or(|(_, d)| d.eq_ignore_ascii_case(&self.domain) || d.eq_ignore_ascii_case(&self.hostname))
    }

    /// Runs an AUTH exchange and records the credentials; the final reply.
    async fn authenticate(&self, conn: &mut Conn, mechanism: &str, initial: Option<String>) -> Result<String, End> {
        let (user, pass) = match mechanism {
            "PLAIN" => {
                let encoded = match initial {
                    Some(text) => text,
                    None => {
                        conn.write(b"334 \r\n").await?;
                        String::from_utf8_lossy(&conn.line().await?).into_owned()
                    }
                };
                let Some(decoded) = decode_b64(&encoded) else {
                    return Ok("501 5.5.2 Syntax: Cannot decode response\r\n".into());
                };
                // authzid \0 authcid \0 password
                let parts: Vec<&[u8]> = decoded.splitn(3, |&b| b == 0).collect();
                match parts.as_slice() {
                    [_, user, pass] => (user.to_vec(), pass.to_vec()),
                    _ => {
                        return Ok(
                            "535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n".into()
                        );
                    }
                }
            }
            "LOGIN" => {
                let user = match initial.and_then(|t| decode_b64(&t)) {
                    Some(user) => user,
                    None => {
                        conn.write(b"334 VXNlcm5hbWU6\r\n").await?;
                        let line = conn.line().await?;
                        decode_b64(&String::from_utf8_lossy(&line)).unwrap_or(line)
                    }
                };
                conn.write(b"334 UGFzc3dvcmQ6\r\n").await?;
                let line = conn.line().await?;
                let pass = decode_b64(&String::from_utf8_lossy(&line)).unwrap_or(line);
                (user, pass)
            }
            "" => return Ok("501 5.5.4 Syntax: AUTH mechanism\r\n".into()),
            other => {
                conn.log.record(Kind::Command, Fields::default().command(format!("AUTH {other}"))).await;
                return Ok("535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n".into());
            }
        };
        let fields = Fields::default().principal(&user).secret(Secret::password(&pass)).detail("mechanism", mechanism);
        conn.log.record(Kind::AuthAttempt, fields).await;
        Ok("535 5.7.8 Error: authentication failed: authentication failure\r\n".into())
    }
}

/// What is kept of a message.
#[derive(Debug, Default, PartialEq, Eq)]
struct Message {
    /// Its size in bytes (counted to [`MAX_MESSAGE`]).
    size: usize,
    /// Its `Subject:` header.
    subject: Option<String>,
    /// Whether it was longer than [`MAX_MESSAGE`].
    truncated: bool,
    /// Its first [`EXCERPT`] bytes, headers included.
    excerpt: String,
}

/// Reads a message up to the lone `.` line, keeping only a [`Message`]: however long the
/// message, memory holds one line and the excerpt.
async fn read_message(conn: &mut Conn) -> Result<Message, End> {
    let mut size = 0;
    let mut subject = None;
    let mut in_headers = true;
    let mut excerpt = Vec::new();
    loop {
        let line = conn.line().await?;
        if line == b"." {
            let excerpt = printable(&excerpt);
            return Ok(Message { size: size.min(MAX_MESSAGE), subject, truncated: size > MAX_MESSAGE, excerpt });
        }
        // Dot-stuffing: a leading `..` stands for `.`.
        let line = line.strip_prefix(b".").filter(|rest| rest.starts_with(b".")).unwrap_or(&line);
        size += line.len() + 2;
        if excerpt.len() < EXCERPT {
            let room = EXCERPT - excerpt.len();
            excerpt.extend_from_slice(&line[..line.len().min(room)]);
            excerpt.push(b'\n');
        }
        if line.is_empty() {
            in_headers = false;
        } else if in_headers && subject.is_none() && line.len() > 8 && line[..8].eq_ignore_ascii_case(b"subject:") {
            subject = Some(printable(line[8..].trim_ascii()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_angle_brackets() {
        assert_eq!(address("FROM:<a@b.example> SIZE=10"), Some("a@b.example".into()));
        assert_eq!(address("TO:<>"), Some(String::new()));
        assert_eq!(address("TO: nobody"), None);
        assert_eq!(address("TO:<unterminated"), None);
    }

    #[test]
    fn the_relay_is_the_same_mta_open_to_every_domain() {
        let persona = Persona::new("t", "d", Some("mx-01"), None, Some("debian"));
        let closed = Smtp::new(&persona, &Config::default());
        let open = Smtp::open_relay(&persona, &Config::default());
        assert_eq!((closed.name(), open.name(), open.banner.as_str()), ("smtp", "smtp_relay", closed.banner.as_str()));
        assert!(open.open_relay && !closed.open_relay);
        assert!(
            open.is_local("postmaster@mx-01.localdomain") && open.is_local("root") && !open.is_local("a@example.org")
        );
    }
}
