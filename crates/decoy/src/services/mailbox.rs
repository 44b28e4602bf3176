//! What the mail decoys (`pop3`, `imap`) share: the Dovecot persona's greeting suffix,
//! the logins they accept (the configured one and the ones lures name), the bait messages,
//! and the recorded login and SASL PLAIN exchange.

use base64::Engine as _;

use crate::config::Config;
use crate::event::{Fields, Kind, Secret};
use crate::persona::Persona;
use crate::server::{Conn, End};
use crate::services::lure_accounts;

/// A decky's mailbox: who may log in, and what they find.
#[derive(Debug)]
pub(crate) struct Mailbox {
    /// ` (Ubuntu)`, ` (Debian)` or nothing, as Dovecot's greeting says.
    pub distro: &'static str,
    /// The bait messages, whole RFC 5322 texts with CRLF.
    pub messages: Vec<String>,
    logins: Vec<(String, String)>,
}

/// What an AUTH/AUTHENTICATE PLAIN exchange brought.
pub(crate) enum Plain {
    /// Another mechanism was asked for.
    Unsupported,
    /// The response was not base64.
    Invalid,
    /// A login attempt was recorded; whether it got in.
    Attempted(bool),
}

impl Mailbox {
    /// The mailbox of `persona` with `config`'s `user`/`user_password` and the lure logins.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        Self { distro: dovecot_distro(persona), messages: bait_mailbox(persona), logins: accounts(config) }
    }

    /// Records a login attempt by `method`; whether it got in.
    pub async fn login(&self, conn: &mut Conn, user: &str, password: &[u8], method: &str) -> bool {
        let accepted = self.logins.iter().any(|(u, p)| u == user && p.as_bytes() == password);
        let fields = Fields::default()
            .principal(user)
            .secret(Secret::password(password))
            .detail("method", method)
            .detail("outcome", if accepted { "success" } else { "failure" });
        conn.log.record(Kind::AuthAttempt, fields).await;
        accepted
    }

    /// SASL PLAIN after `AUTH`/`AUTHENTICATE` with `arguments` (the mechanism and an
    /// optional initial response; without one, `+ ` asks for it on the next line).
    pub async fn plain(&self, conn: &mut Conn, arguments: &str) -> Result<Plain, End> {
        let mut words = arguments.split_whitespace();
        if !words.next().is_some_and(|m| m.eq_ignore_ascii_case("PLAIN")) {
            return Ok(Plain::Unsupported);
        }
        let response = match words.next() {
            Some(initial) => initial.as_bytes().to_vec(),
            None => {
                conn.write(b"+ \r\n").await?;
                let line = conn.line().await?;
                line.strip_suffix(b"\r").unwrap_or(&line).to_vec()
            }
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(response) else { return Ok(Plain::Invalid) };
        let mut parts = decoded.split(|&b| b == 0).skip(1);
        let user = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let password = parts.next().unwrap_or_default().to_vec();
        Ok(Plain::Attempted(self.login(conn, &user, &password, "plain").await))
    }
}

/// How Dovecot names the distribution in its greeting.
fn dovecot_distro(persona: &Persona) -> &'static str {
    match persona.distro.id {
        "ubuntu" => " (Ubuntu)",
        "debian" => " (Debian)",
        _ => "",
    }
}

/// The mailbox logins a mail decoy accepts: the configured `user`/`user_password` and the
/// logins lures name for this decky.
fn accounts(config: &Config) -> Vec<(String, String)> {
    let mut accounts = lure_accounts();
    if let (Some(user), Some(password)) = (config.string("user"), config.string("user_password")) {
        accounts.push((user.to_owned(), password.to_owned()));
    }
    accounts
}

/// The bait messages of a decky's mailbox (whole RFC 5322 messages with CRLF).
fn bait_mailbox(persona: &Persona) -> Vec<String> {
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
