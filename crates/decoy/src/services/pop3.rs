//! `pop3` (110): a Dovecot persona with a bait mailbox. USER/PASS and AUTH PLAIN are
//! recorded as attempts; the configured login and the logins lures name for this decky get
//! in and find two messages worth stealing (each RETR or TOP recorded as a download); the
//! rest are refused as Dovecot refuses them. Deletions are recorded and never happen. No
//! STLS: the persona offers none, so clients do not try.

use base64::Engine as _;

use crate::config::Config;
use crate::event::{Fields, Kind, Secret};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::services::{CommandLine, lure_accounts};

/// Failed logins allowed on one connection before it is closed, as Dovecot does.
const MAX_FAILURES: usize = 3;

/// The pop3 decoy.
#[derive(Debug)]
pub struct Pop3 {
    greeting: String,
    accounts: Vec<(String, String)>,
    mailbox: Vec<String>,
}

impl Pop3 {
    /// The decoy of `persona`, accepting `config`'s `user`/`user_password` and the lure logins.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        Self {
            greeting: format!("+OK Dovecot{} ready.", dovecot_distro(persona)),
            accounts: accounts(config),
            mailbox: bait_mailbox(persona),
        }
    }

    fn accepts(&self, user: &str, password: &str) -> bool {
        self.accounts.iter().any(|(u, p)| u == user && p == password)
    }

    fn octets(&self) -> usize {
        self.mailbox.iter().map(String::len).sum()
    }

    /// The message numbered `argument` (1-based), if there is one.
    fn numbered(&self, argument: &str) -> Option<(usize, &String)> {
        let n: usize = argument.split_whitespace().next()?.parse().ok()?;
        Some((n, self.mailbox.get(n.checked_sub(1)?)?))
    }

    async fn attempt(conn: &mut Conn, user: &str, password: &[u8], method: &str, accepted: bool) {
        let fields = Fields::default()
            .principal(user)
            .secret(Secret::password(password))
            .detail("method", method)
            .detail("outcome", if accepted { "success" } else { "failure" });
        conn.log.record(Kind::AuthAttempt, fields).await;
    }
}

/// How Dovecot names the distribution in its greeting.
pub(crate) fn dovecot_distro(persona: &Persona) -> &'static str {
    match persona.distro.id {
        "ubuntu" => " (Ubuntu)",
        "debian" => " (Debian)",
        _ => "",
    }
}

/// The mailbox logins a mail decoy accepts: the configured `user`/`user_password` and the
/// logins lures name for this decky.
pub(crate) fn accounts(config: &Config) -> Vec<(String, String)> {
    let mut accounts = lure_accounts();
    if let (Some(user), Some(password)) = (config.string("user"), config.string("user_password")) {
        accounts.push((user.to_owned(), password.to_owned()));
    }
    accounts
}

/// The bait messages of a decky's mailbox (whole RFC 5322 messages with CRLF).
pub(crate) fn bait_mailbox(persona: &Persona) -> Vec<String> {
    let host = persona.hostname.as_str();
    let token = format!("{:08x}", persona.derive("pop3 bait") as u32);
    vec![
        message(
            "it-helpdesk@",
            host,
            "VPN access for the new starters",
            &format!(
                "Hi,\r\n\r\nThe VPN accounts are ready. Temporary password for all of them: Welcome-{token}\r\n\
                     Gateway: vpn.{host}.internal (use the profile on the wiki).\r\nPlease change it at first login.\r\n\r\nIT Helpdesk\r\n"
            ),
        ),
        message(
            "backup@",
            host,
            "[cron] nightly backup report",
            "Backup of db01 finished: 14.2 GiB, 00:41:07.\r\nOffsite copy: s3://corp-backups/db01/ (key in /etc/backup/credentials)\r\n",
        ),
    ]
}

fn message(from: &str, host: &str, subject: &str, body: &str) -> String {
    format!(
        "Return-Path: <{from}{host}.internal>\r\nFrom: {from}{host}.internal\r\nTo: staff@{host}.internal\r\n\
         Subject: {subject}\r\nDate: Mon, 16 Nov 2026 08:12:44 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
}

/// A multi-line body with dot-stuffing and the closing dot.
fn multiline(first: &str, body: &str) -> String {
    let mut out = format!("{first}\r\n");
    for line in body.split("\r\n") {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

impl Decoy for Pop3 {
    fn name(&self) -> &'static str {
        "pop3"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        if conn.write(format!("{}\r\n", self.greeting).as_bytes()).await.is_err() {
            return End::Io;
        }
        let mut user: Option<String> = None;
        let mut logged_in = false;
        let mut failures = 0;
        loop {
            // PASS and AUTH carry secrets: recorded as attempts, not as commands.
            let CommandLine { verb, argument, .. } =
                match super::command_line(conn, b"-ERR Unknown command.\r\n", "PASS").await {
                    Ok(Some(command)) => command,
                    Ok(None) => continue,
                    Err(end) => return end,
                };
            let argument = argument.trim().to_owned();
            let reply = match verb.as_str() {
                "CAPA" => "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN\r\n.\r\n".to_owned(),
                "QUIT" => {
                    let _ = conn.write(b"+OK Logging out.\r\n").await;
                    return End::Done;
                }
                "NOOP" => "+OK\r\n".to_owned(),
                "USER" if logged_in => "-ERR Already logged in.\r\n".to_owned(),
                "USER" => {
                    user = Some(argument.clone());
                    "+OK\r\n".to_owned()
                }
                "PASS" | "AUTH" if logged_in => "-ERR Already logged in.\r\n".to_owned(),
                "PASS" => match user.take() {
                    None => "-ERR No username given.\r\n".to_owned(),
                    Some(name) => {
                        logged_in = self.accepts(&name, &argument);
                        Self::attempt(conn, &name, argument.as_bytes(), "user", logged_in).await;
                        if logged_in { "+OK Logged in.\r\n".to_owned() } else { "-ERR [AUTH] Authentication failed.\r\n".to_owned() }
                    }
                },
                "AUTH" => {
                    let mut words = argument.split_whitespace();
                    let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
                    let initial = match (mechanism.as_str(), words.next()) {
                        ("PLAIN", Some(initial)) => Some(initial.to_owned()),
                        ("PLAIN", None) => {
                            if conn.write(b"+ \r\n").await.is_err() {
                                return End::Io;
                            }
                            match conn.line().await {
                                Ok(line) => Some(String::from_utf8_lossy(&line).trim().to_owned()),
                                Err(end) => return end,
                            }
                        }
                        _ => None,
                    };
                    match initial.map(|i| base64::engine::general_purpose::STANDARD.decode(i.as_bytes())) {
                        None if mechanism == "PLAIN" => "-ERR [AUTH] Authentication failed.\r\n".to_owned(),
                        None => "-ERR Unsupported authentication mechanism.\r\n".to_owned(),
                        Some(Err(_)) => "-ERR Invalid base64 data in continued response\r\n".to_owned(),
                        Some(Ok(decoded)) => {
                            let mut parts = decoded.split(|&b| b == 0).skip(1);
                            let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
                            let password = parts.next().unwrap_or_default().to_vec();
                            logged_in = self.accepts(&name, &String::from_utf8_lossy(&password));
                            Self::attempt(conn, &name, &password, "plain", logged_in).await;
                            if logged_in { "+OK Logged in.\r\n".to_owned() } else { "-ERR [AUTH] Authentication failed.\r\n".to_owned() }
                        }
                    }
                }
                _ if !logged_in => "-ERR Unknown command.\r\n".to_owned(),
                "STAT" => format!("+OK {} {}\r\n", self.mailbox.len(), self.octets()),
                "LIST" if argument.is_empty() => {
                    let mut out = format!("+OK {} messages:\r\n", self.mailbox.len());
                    for (i, m) in self.mailbox.iter().enumerate() {
                        out.push_str(&format!("{} {}\r\n", i + 1, m.len()));
                    }
                    out + ".\r\n"
                }
                "UIDL" if argument.is_empty() => {
                    let mut out = "+OK\r\n".to_owned();
                    for i in 0..self.mailbox.len() {
                        out.push_str(&format!("{} {:08x}{:08x}\r\n", i + 1, 0x5f2c_0000 + i, 1_763_280_764 + i));
                    }
                    out + ".\r\n"
                }
                "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" => match self.numbered(&argument) {
                    None => "-ERR There's no message.\r\n".to_owned(),
                    Some((n, m)) => match verb.as_str() {
                        "LIST" => format!("+OK {n} {}\r\n", m.len()),
                        "UIDL" => format!("+OK {n} {:08x}{:08x}\r\n", 0x5f2c_0000 + n - 1, 1_763_280_764 + n - 1),
                        "DELE" => "+OK Marked to be deleted.\r\n".to_owned(),
                        _ => {
                            let fields = Fields::default().detail("message", n).detail("bytes", m.len());
                            conn.log.record(Kind::FileDownload, fields.detail("path", format!("INBOX/{n}"))).await;
                            let body = if verb == "TOP" {
                                let lines: usize = argument.split_whitespace().nth(1).and_then(|l| l.parse().ok()).unwrap_or(0);
                                let (head, text) = m.split_once("\r\n\r\n").unwrap_or((m.as_str(), ""));
                                let kept: Vec<&str> = text.split("\r\n").take(lines).collect();
                                format!("{head}\r\n\r\n{}", kept.join("\r\n"))
                            } else {
                                m.clone()
                            };
                            multiline("+OK", &body)
                        }
                    },
                },
                "RSET" => "+OK\r\n".to_owned(),
                _ => "-ERR Unknown command.\r\n".to_owned(),
            };
            if conn.write(reply.as_bytes()).await.is_err() {
                return End::Io;
            }
            if reply.starts_with("-ERR [AUTH]") {
                failures += 1;
                if failures >= MAX_FAILURES {
                    let _ = conn.write(b"-ERR Disconnected for inactivity.\r\n").await;
                    return End::Done;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_bodies_are_dot_stuffed_and_closed() {
        assert_eq!(multiline("+OK", "a\r\n.hidden\r\nb"), "+OK\r\na\r\n..hidden\r\nb\r\n.\r\n");
    }
}
