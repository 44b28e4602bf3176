//! `telnet`: a netkit-style telnetd with a login prompt and the fake shell.
//!
//! It opens as Linux telnetd does (DO TTYPE, TSPEED, XDISPLOC, NEW-ENVIRON) and waits for
//! the client, then takes over echo (WILL ECHO, WILL SGA) and shows the distribution's
//! issue line and `login:`. Options are decoded by a small state machine that survives
//! sequences split across reads; keystrokes are echoed (not the password), backspace and
//! Ctrl-C work. Every login is an `auth_attempt`; the configured root or user password
//! opens the fake shell, three failures close the connection. Every command is recorded.

use crate::config::Config;
use crate::event::{Fields, Kind, Secret};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::services::shell::Shell;

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL: u8 = 251;
const DO: u8 = 253;
const ECHO: u8 = 1;
const SGA: u8 = 3;

/// Longest subnegotiation kept before it counts as a protocol violation.
const MAX_SUBNEGOTIATION: usize = 1024;
/// Longest input line.
const MAX_LINE: usize = 4096;

/// What the client sent, with the telnet protocol taken out.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A data byte.
    Byte(u8),
    /// An option command (WILL/WONT/DO/DONT) and its option.
    Option(u8, u8),
    /// The client broke the protocol; `true` when the session cannot go on.
    Violation(&'static str, bool),
}

/// The telnet decoder's state between reads.
#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
    sub_len: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Data,
    Iac,
    Option(u8),
    Sub,
    SubIac,
}

impl Decoder {
    /// Decodes `bytes`, continuing from where the last call stopped.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Input> {
        let mut out = Vec::new();
        for &b in bytes {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, b) => {
                    out.push(Input::Byte(b));
                    State::Data
                }
                (State::Iac, IAC) => {
                    out.push(Input::Byte(IAC));
                    State::Data
                }
                (State::Iac, SB) => {
                    self.sub_len = 0;
                    State::Sub
                }
                (State::Iac, 251..=254) => State::Option(b),
                (State::Iac, 240..=249) => State::Data, // NOP, GA, AYT, ... carry nothing we need
                (State::Iac, _) => {
                    out.push(Input::Violation("undefined telnet command", false));
                    State::Data
                }
                (State::Option(command), option) => {
                    out.push(Input::Option(command, option));
                    State::Data
                }
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => {
                    self.sub_len += 1;
                    if self.sub_len > MAX_SUBNEGOTIATION {
                        out.push(Input::Violation("subnegotiation too long", true));
                        State::Data
                    } else {
                        State::Sub
                    }
                }
                (State::SubIac, SE) => State::Data,
                (State::SubIac, _) => State::Sub,
            };
        }
        out
    }
}

/// A line being typed.
#[derive(Debug, Default)]
struct Line {
    text: Vec<u8>,
    after_cr: bool,
}

/// What one keystroke did to the line.
enum Key {
    /// Echo these bytes.
    Echo(Vec<u8>),
    /// The line is complete.
    Enter(Vec<u8>),
    /// Ctrl-D on an empty line.
    EndOfFile,
    /// Too long.
    Overflow,
}

impl Line {
    fn key(&mut self, b: u8) -> Key {
        let after_cr = std::mem::take(&mut self.after_cr);
        match b {
            b'\n' | 0 if after_cr => Key::Echo(Vec::new()),
            b'\r' | b'\n' => {
                self.after_cr = b == b'\r';
                Key::Enter(std::mem::take(&mut self.text))
            }
            0x7f | 0x08 => {
                if self.text.pop().is_some() {
                    Key::Echo(b"\x08 \x08".to_vec())
                } else {
                    Key::Echo(Vec::new())
                }
            }
            0x03 => {
                self.text.clear();
                Key::Echo(b"^C\r\n".to_vec())
            }
            0x04 if self.text.is_empty() => Key::EndOfFile,
            b if b < 0x20 && b != b'\t' => Key::Echo(Vec::new()),
            b => {
                if self.text.len() >= MAX_LINE {
                    return Key::Overflow;
                }
                self.text.push(b);
                Key::Echo(vec![b])
            }
        }
    }
}

/// The telnet decoy.
#[derive(Debug)]
pub struct Telnet {
    persona: Persona,
    accounts: Vec<(String, String)>,
}

impl Telnet {
    /// The decoy for `persona` with `config`.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let mut persona = persona.clone();
        if let Some(hostname) = config.string("hostname") {
            persona.hostname = hostname.to_owned();
        }
        let mut accounts = Vec::new();
        if let Some(password) = config.string("password") {
            accounts.push(("root".to_owned(), password.to_owned()));
        }
        if let (Some(user), Some(password)) = (config.string("user"), config.string("user_password")) {
            accounts.push((user.to_owned(), password.to_owned()));
        }
        Self { persona, accounts }
    }
}

/// Reads one line, echoing it when `echo` is set.
async fn read_line(conn: &mut Conn, decoder: &mut Decoder, pending: &mut Vec<u8>, echo: bool) -> Result<Vec<u8>, End> {
    let mut line = Line::default();
    loop {
        let mut i = 0;
        while i < pending.len() {
            let b = pending[i];
            i += 1;
            match line.key(b) {
                Key::Echo(bytes) => {
                    if echo && !bytes.is_empty() {
                        conn.write(&bytes).await?;
                    }
                }
                Key::Enter(text) => {
                    pending.drain(..i);
                    conn.write(b"\r\n").await?;
                    return Ok(text);
                }
                Key::EndOfFile => return Err(End::Quit),
                Key::Overflow => {
                    conn.violation("input line too long").await;
                    return Err(End::Violation);
                }
            }
        }
        pending.clear();
        conn.fill().await?;
        absorb(conn, decoder, pending).await?;
    }
}

/// Decodes what the connection buffered into `pending` keystrokes, recording violations
/// (a fatal one ends the session).
async fn absorb(conn: &mut Conn, decoder: &mut Decoder, pending: &mut Vec<u8>) -> Result<(), End> {
    let raw = conn.take_buffered();
    for input in decoder.feed(&raw) {
        match input {
            Input::Byte(b) => pending.push(b),
            Input::Option(..) => {}
            Input::Violation(reason, fatal) => {
                conn.violation_in(reason, &raw).await;
                if fatal {
                    return Err(End::Violation);
                }
            }
        }
    }
    Ok(())
}

impl Decoy for Telnet {
    fn name(&self) -> &'static str {
        "telnet"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        match self.session(conn).await {
            Ok(end) | Err(end) => end,
        }
    }
}

impl Telnet {
    async fn session(&self, conn: &mut Conn) -> Result<End, End> {
        // As netkit telnetd: ask about the terminal and wait for the client's answer.
        conn.write(&[IAC, DO, 24, IAC, DO, 32, IAC, DO, 35, IAC, DO, 39]).await?;
        conn.fill().await?;
        let mut decoder = Decoder::default();
        let mut pending: Vec<u8> = Vec::new();
        absorb(conn, &mut decoder, &mut pending).await?;
        conn.write(&[IAC, WILL, ECHO, IAC, WILL, SGA]).await?;
        conn.write(format!("{}\r\n", self.persona.distro.issue).as_bytes()).await?;
        let mut failures = 0;
        let user = loop {
            if conn.auth_expired() {
                conn.write(b"\r\nLogin timed out after 60 seconds.\r\n").await?;
                return Ok(End::Timeout);
            }
            conn.write(format!("{} login: ", self.persona.hostname).as_bytes()).await?;
            let name = read_line(conn, &mut decoder, &mut pending, true).await?;
            if name.is_empty() {
                continue;
            }
            conn.write(b"Password: ").await?;
            let password = read_line(conn, &mut decoder, &mut pending, false).await?;
            let name_text = String::from_utf8_lossy(&name).into_owned();
            let accepted = self.accounts.iter().any(|(u, p)| *u == name_text && p.as_bytes() == password.as_slice());
            let fields = Fields::default()
                .principal(&name)
                .secret(Secret::password(&password))
                .detail("outcome", if accepted { "success" } else { "failure" });
            conn.log.record(Kind::AuthAttempt, fields).await;
            if accepted {
                break name_text;
            }
            failures += 1;
            conn.write(b"\r\nLogin incorrect\r\n").await?;
            if failures >= 3 {
                return Ok(End::Done);
            }
        };
        let reach = conn.limits().reach.clone();
        let mut shell =
            Shell::new(&self.persona, &user, conn.log.local().ip(), conn.log.peer().ip()).on_network(&reach).await;
        conn.write(shell.motd().replace('\n', "\r\n").as_bytes()).await?;
        loop {
            conn.write(shell.prompt().as_bytes()).await?;
            let line = match read_line(conn, &mut decoder, &mut pending, true).await {
                Ok(line) => line,
                Err(End::Quit) => {
                    conn.write(b"logout\r\n").await?;
                    return Ok(End::Quit);
                }
                Err(end) => return Err(end),
            };
            let text = String::from_utf8_lossy(&line).into_owned();
            if text.trim().is_empty() {
                continue;
            }
            let mut outcome = shell.run(&text).await;
            if let Some(request) = outcome.hop.take() {
                // Hops are made from the ssh decoy's shell; here the login fails as a key-only host's would.
                outcome
                    .output
                    .push_str(&format!("{}@{}: Permission denied (publickey).\n", request.user, request.host));
                outcome.status = 255;
            }
            let mut fields = Fields::default().command(&line).detail("user", user.as_str());
            if !outcome.fetches.is_empty() {
                fields = fields.detail("fetch", outcome.fetches.clone());
            }
            conn.log.record(Kind::Command, fields).await;
            conn.write(outcome.output.replace('\n', "\r\n").as_bytes()).await?;
            if outcome.exit {
                conn.write(b"logout\r\n").await?;
                return Ok(End::Quit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_decoded_across_split_reads() {
        let mut decoder = Decoder::default();
        assert_eq!(decoder.feed(&[b'a', IAC]), vec![Input::Byte(b'a')]);
        assert_eq!(decoder.feed(&[WILL]), vec![]);
        assert_eq!(decoder.feed(&[24, b'b']), vec![Input::Option(WILL, 24), Input::Byte(b'b')]);
        assert_eq!(decoder.feed(&[IAC, SB, 24, 0, b'x', b't', IAC, SE, b'c']), vec![Input::Byte(b'c')]);
        assert_eq!(decoder.feed(&[IAC, IAC]), vec![Input::Byte(IAC)]);
        let long: Vec<u8> = [IAC, SB].into_iter().chain(std::iter::repeat_n(b'x', MAX_SUBNEGOTIATION + 1)).collect();
        assert!(decoder.feed(&long).contains(&Input::Violation("subnegotiation too long", true)));
        assert_eq!(
            decoder.feed(&[IAC, 7, b'd']),
            vec![Input::Violation("undefined telnet command", false), Input::Byte(b'd')]
        );
    }

    #[test]
    fn lines_handle_cr_lf_backspace_and_ctrl_c() {
        let mut line = Line::default();
        for &b in b"lx" {
            line.key(b);
        }
        line.key(0x7f);
        for &b in b"s" {
            line.key(b);
        }
        let Key::Enter(text) = line.key(b'\r') else { panic!("enter") };
        assert_eq!(text, b"ls");
        assert!(matches!(line.key(b'\n'), Key::Echo(e) if e.is_empty()), "CR LF is one line end");
        line.key(b'x');
        line.key(0x03);
        let Key::Enter(text) = line.key(b'\n') else { panic!("enter") };
        assert!(text.is_empty(), "Ctrl-C drops the line");
    }
}
