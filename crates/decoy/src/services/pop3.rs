//! `pop3` (110): a Dovecot persona with a bait mailbox. USER/PASS and AUTH PLAIN are
//! recorded as attempts; the configured login and the logins lures name for this decky get
//! in and find two messages worth stealing (each RETR or TOP recorded as a download); the
//! rest are refused as Dovecot refuses them. Deletions are recorded and never happen. No
//! STLS: the persona offers none, so clients do not try.

use crate::config::Config;
use crate::event::{Fields, Kind};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::services::CommandLine;
use crate::services::mailbox::{Mailbox, Plain};

/// Failed logins allowed on one connection before it is closed, as Dovecot does.
const MAX_FAILURES: usize = 3;
/// Dovecot's answer to a failed login.
const AUTH_FAILED: &str = "-ERR [AUTH] Authentication failed.\r\n";

/// The pop3 decoy.
#[derive(Debug)]
pub struct Pop3 {
    greeting: String,
    mailbox: Mailbox,
}

impl Pop3 {
    /// The decoy of `persona`, accepting `config`'s `user`/`user_password` and the lure logins.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let mailbox = Mailbox::new(persona, config);
        Self { greeting: format!("+OK Dovecot{} ready.", mailbox.distro), mailbox }
    }

    fn octets(&self) -> usize {
        self.mailbox.messages.iter().map(String::len).sum()
    }

    /// The message numbered `argument` (1-based), if there is one.
    fn numbered(&self, argument: &str) -> Option<(usize, &String)> {
        let n: usize = argument.split_whitespace().next()?.parse().ok()?;
        Some((n, self.mailbox.messages.get(n.checked_sub(1)?)?))
    }
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
                match super::command_line(conn, b"-ERR Unknown command.\r\n", &["PASS", "AUTH"]).await {
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
                        logged_in = self.mailbox.login(conn, &name, argument.as_bytes(), "user").await;
                        if logged_in { "+OK Logged in.\r\n".to_owned() } else { AUTH_FAILED.to_owned() }
                    }
                },
                "AUTH" => match self.mailbox.plain(conn, &argument).await {
                    Err(end) => return end,
                    Ok(Plain::Unsupported) => "-ERR Unsupported authentication mechanism.\r\n".to_owned(),
                    Ok(Plain::Invalid) => "-ERR Invalid base64 data in continued response\r\n".to_owned(),
                    Ok(Plain::Attempted(accepted)) => {
                        logged_in = accepted;
                        if logged_in { "+OK Logged in.\r\n".to_owned() } else { AUTH_FAILED.to_owned() }
                    }
                },
                _ if !logged_in => "-ERR Unknown command.\r\n".to_owned(),
                "STAT" => format!("+OK {} {}\r\n", self.mailbox.messages.len(), self.octets()),
                "LIST" if argument.is_empty() => {
                    let mut out = format!("+OK {} messages:\r\n", self.mailbox.messages.len());
                    for (i, m) in self.mailbox.messages.iter().enumerate() {
                        out.push_str(&format!("{} {}\r\n", i + 1, m.len()));
                    }
                    out + ".\r\n"
                }
                "UIDL" if argument.is_empty() => {
                    let mut out = "+OK\r\n".to_owned();
                    for i in 0..self.mailbox.messages.len() {
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
            if reply == AUTH_FAILED {
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
