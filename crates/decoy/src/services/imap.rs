//! `imap` (143): the Dovecot persona of `pop3` over IMAP4rev1, with the same bait mailbox
//! and logins. LOGIN and AUTHENTICATE PLAIN (with SASL-IR) are recorded as attempts;
//! inside, LIST, SELECT/EXAMINE, SEARCH, FETCH and UID FETCH of whole messages work, each
//! message read recorded as a download; STORE, COPY, APPEND and EXPUNGE are refused (the
//! mailbox is read-only). Literals are not accepted (no client needs them to log in).

use crate::config::Config;
use crate::event::{Fields, Kind};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::services::mailbox::{Mailbox, Plain};

/// Failed logins allowed on one connection before it is closed.
const MAX_FAILURES: usize = 3;
/// UIDVALIDITY of the bait INBOX.
const UID_VALIDITY: u32 = 1_763_280_764;

const CAPABILITY: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN";

/// The imap decoy.
#[derive(Debug)]
pub struct Imap {
    greeting: String,
    mailbox: Mailbox,
}

/// The IMAP arguments of `text`: atoms and quoted strings (with `\"` and `\\`); `None` for a
/// literal or an unterminated string.
pub fn arguments(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        match chars.peek() {
            None => return Some(out),
            Some('{') => return None,
            Some('"') => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => word.push(chars.next()?),
                        c => word.push(c),
                    }
                }
                out.push(word);
            }
            Some(_) => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(word);
            }
        }
    }
}

/// The message numbers a sequence set (`1`, `1:2`, `*`, `1,2`) names among `count`.
fn sequence(set: &str, count: usize) -> Vec<usize> {
    let number = |s: &str| if s == "*" { Some(count) } else { s.parse::<usize>().ok() };
    let mut out = Vec::new();
    for part in set.split(',') {
        let (from, to) = match part.split_once(':') {
            Some((a, b)) => (number(a), number(b)),
            None => (number(part), number(part)),
        };
        if let (Some(a), Some(b)) = (from, to) {
            let (low, high) = (a.min(b).max(1), a.max(b).min(count));
            out.extend(low..=high);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl Imap {
    /// The decoy of `persona`, accepting `config`'s `user`/`user_password` and the lure logins.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let mailbox = Mailbox::new(persona, config);
        Self { greeting: format!("* OK [CAPABILITY {CAPABILITY}] Dovecot{} ready.", mailbox.distro), mailbox }
    }

    /// The answer to a login that got in (`accepted`) or did not.
    fn logged_in(tag: &str, accepted: bool) -> String {
        if accepted {
            format!("{tag} OK [CAPABILITY {CAPABILITY}] Logged in\r\n")
        } else {
            format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        }
    }

    /// The FETCH answers for `numbers` (whole messages, or their size and flags).
    async fn fetch(&self, conn: &mut Conn, tag: &str, numbers: &[usize], uid: bool, items: &str) -> String {
        let wants_body = items.to_ascii_uppercase().contains("BODY") || items.to_ascii_uppercase().contains("RFC822");
        let mut out = String::new();
        for &n in numbers {
            let Some(message) = self.mailbox.messages.get(n - 1) else { continue };
            let mut parts = vec![format!("UID {n}"), "FLAGS (\\Seen)".into(), format!("RFC822.SIZE {}", message.len())];
            if wants_body {
                let fields = Fields::default().detail("message", n).detail("bytes", message.len());
                conn.log.record(Kind::FileDownload, fields.detail("path", format!("INBOX/{n}"))).await;
                parts.push(format!("BODY[] {{{}}}\r\n{message}", message.len()));
            }
            out.push_str(&format!("* {n} FETCH ({})\r\n", parts.join(" ")));
        }
        out.push_str(&format!("{tag} OK {}Fetch completed.\r\n", if uid { "UID " } else { "" }));
        out
    }
}

impl Decoy for Imap {
    fn name(&self) -> &'static str {
        "imap"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        if conn.write(format!("{}\r\n", self.greeting).as_bytes()).await.is_err() {
            return End::Io;
        }
        let mut logged_in = false;
        let mut selected = false;
        let mut failures = 0;
        loop {
            // The tag is the line's first word and the verb the second, so the line is read
            // raw and recorded below (LOGIN lines carry secrets: recorded as attempts).
            let line = match conn.line().await {
                Ok(line) => line,
                Err(end) => return end,
            };
            if super::binary(&line) {
                conn.violation("non-printable bytes in a command").await;
                if conn.write(b"* BAD Error in IMAP command received by server.\r\n").await.is_err() {
                    return End::Io;
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            let (tag, argument) = text.trim_end_matches('\r').split_once(' ').unwrap_or((&text, ""));
            let tag = tag.to_owned();
            let (verb, rest) = match argument.trim().split_once(' ') {
                Some((verb, rest)) => (verb.to_ascii_uppercase(), rest.trim().to_owned()),
                None => (argument.trim().to_ascii_uppercase(), String::new()),
            };
            let (verb, rest, uid) = match verb.as_str() {
                "UID" => match rest.split_once(' ') {
                    Some((inner, r)) => (inner.to_ascii_uppercase(), r.to_owned(), true),
                    None => (rest.to_ascii_uppercase(), String::new(), true),
                },
                _ => (verb, rest, false),
            };
            let reply = match verb.as_str() {
                "CAPABILITY" => format!(
                    "* CAPABILITY {CAPABILITY}\r\n{tag} OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
                ),
                "NOOP" => format!("{tag} OK NOOP completed.\r\n"),
                "ID" => format!("* ID (\"name\" \"Dovecot\")\r\n{tag} OK ID completed.\r\n"),
                "LOGOUT" => {
                    let _ = conn.write(format!("* BYE Logging out\r\n{tag} OK Logout completed.\r\n").as_bytes()).await;
                    return End::Done;
                }
                "LOGIN" | "AUTHENTICATE" if logged_in => format!("{tag} BAD Already logged in.\r\n"),
                "LOGIN" => match arguments(&rest).as_deref() {
                    Some([user, password]) => {
                        logged_in = self.mailbox.login(conn, user, password.as_bytes(), "login").await;
                        Self::logged_in(&tag, logged_in)
                    }
                    _ => format!("{tag} BAD Error in IMAP command LOGIN: Invalid arguments.\r\n"),
                },
                "AUTHENTICATE" => match self.mailbox.plain(conn, &rest).await {
                    Err(end) => return end,
                    Ok(Plain::Unsupported) => format!("{tag} NO Unsupported authentication mechanism.\r\n"),
                    Ok(Plain::Invalid) => format!("{tag} BAD Invalid base64 data in continued response\r\n"),
                    Ok(Plain::Attempted(accepted)) => {
                        logged_in = accepted;
                        Self::logged_in(&tag, logged_in)
                    }
                },
                _ if !logged_in => format!("{tag} BAD Error in IMAP command received by server.\r\n"),
                "LIST" | "LSUB" => format!(
                    "* {verb} (\\HasNoChildren) \".\" INBOX\r\n* {verb} (\\HasNoChildren \\Sent) \".\" Sent\r\n{tag} OK {} completed.\r\n",
                    if verb == "LIST" { "List" } else { "Lsub" }
                ),
                "SELECT" | "EXAMINE" => match arguments(&rest).and_then(|a| a.into_iter().next()) {
                    Some(name) if name.eq_ignore_ascii_case("INBOX") => {
                        selected = true;
                        let count = self.mailbox.messages.len();
                        format!(
                            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n\
                             * {count} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY {UID_VALIDITY}] UIDs valid\r\n* OK [UIDNEXT {}] Predicted next UID\r\n\
                             {tag} OK [READ-ONLY] Select completed.\r\n",
                            count + 1
                        )
                    }
                    Some(_) => format!("{tag} NO Mailbox doesn't exist.\r\n"),
                    None => format!("{tag} BAD Error in IMAP command {verb}: Invalid arguments.\r\n"),
                },
                _ if !selected => format!("{tag} BAD No mailbox selected.\r\n"),
                "SEARCH" => {
                    let all: Vec<String> = (1..=self.mailbox.messages.len()).map(|n| n.to_string()).collect();
                    format!(
                        "* SEARCH {}\r\n{tag} OK {}Search completed.\r\n",
                        all.join(" "),
                        if uid { "UID " } else { "" }
                    )
                }
                "FETCH" => {
                    let (set, items) = rest.split_once(' ').unwrap_or((rest.as_str(), ""));
                    let numbers = sequence(set, self.mailbox.messages.len());
                    self.fetch(conn, &tag, &numbers, uid, items).await
                }
                "CLOSE" | "UNSELECT" => {
                    selected = false;
                    format!("{tag} OK {} completed.\r\n", if verb == "CLOSE" { "Close" } else { "Unselect" })
                }
                "STORE" | "COPY" | "MOVE" | "APPEND" | "EXPUNGE" | "CREATE" | "DELETE" | "RENAME" => {
                    format!("{tag} NO [READ-ONLY] Mailbox is read-only.\r\n")
                }
                _ => format!("{tag} BAD Error in IMAP command {verb}: Unknown command.\r\n"),
            };
            if verb != "LOGIN" && verb != "AUTHENTICATE" {
                let command = format!("{}{verb} {rest}", if uid { "UID " } else { "" });
                conn.log
                    .record(Kind::Command, Fields::default().command(command.trim_end()).detail("verb", verb.as_str()))
                    .await;
            }
            if conn.write(reply.as_bytes()).await.is_err() {
                return End::Io;
            }
            if reply.contains("[AUTHENTICATIONFAILED]") {
                failures += 1;
                if failures >= MAX_FAILURES {
                    let _ = conn.write(b"* BYE Disconnected for too many invalid commands\r\n").await;
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
    fn arguments_are_atoms_and_quoted_strings() {
        assert_eq!(arguments(r#"user "pa ss\"word""#), Some(vec!["user".into(), "pa ss\"word".into()]));
        assert_eq!(arguments(r#""a\\b" c"#), Some(vec!["a\\b".into(), "c".into()]));
        assert_eq!(arguments("{5}"), None);
        assert_eq!(arguments("\"unterminated"), None);
        assert_eq!(arguments(""), Some(vec![]));
    }

    #[test]
    fn sequence_sets_stay_within_the_mailbox() {
        assert_eq!(sequence("1:*", 2), vec![1, 2]);
        assert_eq!(sequence("2,1,2", 2), vec![1, 2]);
        assert_eq!(sequence("0:99999999", 2), vec![1, 2]);
        assert_eq!(sequence("x", 2), Vec::<usize>::new());
    }
}
