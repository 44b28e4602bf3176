//! The russh handler of one SSH connection: records every authentication attempt, runs
//! the fake shell on interactive channels and for exec requests (`ssh host 'uname -a'`,
//! as bots do), opens tunnels into the maze (`direct-tcpip`, see [`super::tunnel`]),
//! refuses subsystems, X11 and remote forwarding.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use russh::keys::HashAlg;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet};

use super::hop::{self, Hop};
use super::tunnel::{Admission, Tunnels};
use crate::event::{Fields, Kind, Secret, SecretKind, SessionLog};
use crate::persona::Persona;
use crate::routes::Reach;
use crate::services::shell::Shell;
use crate::services::shell_net::HopRequest;

/// Where a channel's typed bytes go while the shell has asked to hop (`ssh user@host`).
#[derive(Debug, Default)]
enum HopPhase {
    /// To the shell.
    #[default]
    None,
    /// The password prompt of a hop (not echoed).
    Password { request: HopRequest, typed: Vec<u8> },
    /// The far shell.
    Active(Hop),
}

/// The state of one interactive channel.
#[derive(Debug)]
pub(super) struct ChannelState {
    shell: Option<Shell>,
    line: Vec<u8>,
    hop: HopPhase,
    size: (u32, u32),
}

/// The russh handler of one connection.
pub(super) struct Handler {
    pub(super) log: SessionLog,
    pub(super) persona: Persona,
    pub(super) accounts: Arc<Vec<(String, String)>>,
    pub(super) accept_any: bool,
    pub(super) authenticated: Arc<AtomicBool>,
    pub(super) channels: HashMap<ChannelId, ChannelState>,
    pub(super) user: String,
    pub(super) tunnels: Tunnels,
    pub(super) reach: Reach,
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

    /// A byte typed at a hop's password prompt: kept unechoed until Enter, which starts
    /// the login; Ctrl-C gives up.
    fn hop_password(&mut self, channel: ChannelId, byte: u8, session: &mut Session) -> Result<(), russh::Error> {
        let Some(state) = self.channels.get_mut(&channel) else { return Ok(()) };
        let HopPhase::Password { typed, .. } = &mut state.hop else { return Ok(()) };
        match byte {
            b'\r' | b'\n' => {
                let HopPhase::Password { request, typed } = std::mem::take(&mut state.hop) else { return Ok(()) };
                let password = String::from_utf8_lossy(&typed).into_owned();
                let prompt = state.shell.as_ref().map(Shell::prompt).unwrap_or_default();
                let terminal = hop::Terminal { handle: session.handle(), channel, size: state.size, prompt };
                state.hop = HopPhase::Active(hop::start(request, password, terminal, self.log.clone()));
                session.data(channel, b"\r\n".to_vec())
            }
            0x03 => {
                state.hop = HopPhase::None;
                let prompt = state.shell.as_ref().map(Shell::prompt).unwrap_or_default();
                Self::write(session, channel, &format!("^C\n{prompt}"))
            }
            0x7f | 0x08 => {
                typed.pop();
                Ok(())
            }
            b if typed.len() < 256 => {
                typed.push(b);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn run_line(&mut self, channel: ChannelId, line: Vec<u8>, session: &mut Session) -> Result<(), russh::Error> {
        let text = String::from_utf8_lossy(&line).into_owned();
        let Some(state) = self.channels.get_mut(&channel) else { return Ok(()) };
        let Some(shell) = state.shell.as_mut() else { return Ok(()) };
        if text.trim().is_empty() {
            let prompt = shell.prompt();
            return Self::write(session, channel, &prompt);
        }
        let outcome = shell.run(&text).await;
        let prompt = shell.prompt();
        let mut fields = Fields::default().command(&line).detail("user", self.user.as_str());
        if !outcome.fetches.is_empty() {
            fields = fields.detail("fetch", outcome.fetches.clone());
        }
        self.log.record(Kind::Command, fields).await;
        Self::write(session, channel, &outcome.output)?;
        if let Some(request) = outcome.hop {
            let ask = format!("{}@{}'s password: ", request.user, request.host);
            state.hop = HopPhase::Password { request, typed: Vec::new() };
            return Self::write(session, channel, &ask);
        }
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
        self.channels
            .insert(channel.id(), ChannelState { shell: None, line: Vec::new(), hop: HopPhase::None, size: (80, 24) });
        reply.accept().await;
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let request = Fields::default()
            .command(format!("direct-tcpip {host}:{port}"))
            .detail("tunnel", "open")
            .detail("host", host)
            .detail("port", port)
            .detail("user", self.user.as_str())
            .detail("originator", format!("{originator}:{originator_port}"));
        match self.tunnels.admit(host, port).await {
            Admission::Connect(destination) => {
                self.tunnels.start(channel, reply, destination, request, self.log.clone());
            }
            Admission::Refuse(reason) => {
                self.log.record(Kind::Tunnel, request.detail("outcome", "refused").detail("reason", reason)).await;
                reply.reject(ChannelOpenFailure::AdministrativelyProhibited).await;
            }
            Admission::Cut(reason) => {
                let fields = request.detail("outcome", "refused").detail("reason", reason.as_str()).detail("cut", true);
                self.log.record(Kind::Tunnel, fields).await;
                reply.reject(ChannelOpenFailure::ResourceShortage).await;
                session.disconnect(russh::Disconnect::ByApplication, &reason, "en")?;
            }
        }
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
        if let Some(state) = self.channels.get_mut(&channel) {
            state.size = (col_width.clamp(20, 500), row_height.clamp(5, 200));
        }
        session.channel_success(channel)
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        let peer = self.log.peer();
        let shell =
            Shell::new(&self.persona, &self.user, self.log.local().ip(), peer.ip()).on_network(&self.reach).await;
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
        // The command runs through the same emulated shell as a typed line: its output,
        // then its exit status, as sshd does for `ssh host command`.
        let command = String::from_utf8_lossy(data).into_owned();
        let mut shell = Shell::new(&self.persona, &self.user, self.log.local().ip(), self.log.peer().ip())
            .on_network(&self.reach)
            .await;
        let mut outcome = shell.run(&command).await;
        if let Some(request) = outcome.hop.take() {
            // No terminal to ask a password on: what ssh says in batch mode.
            outcome
                .output
                .push_str(&format!("{}@{}: Permission denied (publickey,password).\n", request.user, request.host));
            outcome.status = 255;
        }
        let mut fields = Fields::default()
            .command(data)
            .detail("exec", true)
            .detail("user", self.user.as_str())
            .detail("status", outcome.status);
        if !outcome.fetches.is_empty() {
            fields = fields.detail("fetch", outcome.fetches.clone());
        }
        self.log.record(Kind::Command, fields).await;
        session.channel_success(channel)?;
        if !outcome.output.is_empty() {
            session.data(channel, outcome.output.into_bytes())?;
        }
        session.exit_status_request(channel, outcome.status)?;
        session.eof(channel)?;
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
        // While hopped, everything typed goes to the far shell; once that has ended, the
        // shell here takes over again.
        if let Some(state) = self.channels.get_mut(&channel)
            && let HopPhase::Active(hop) = &state.hop
        {
            if hop.send(data) {
                return Ok(());
            }
            state.hop = HopPhase::None;
        }
        if self.channels.get(&channel).is_some_and(|s| matches!(s.hop, HopPhase::Password { .. })) {
            for (at, &byte) in data.iter().enumerate() {
                self.hop_password(channel, byte, session)?;
                match self.channels.get(&channel).map(|s| &s.hop) {
                    Some(HopPhase::Password { .. }) => continue,
                    // Typed ahead of the login: the far shell gets it.
                    Some(HopPhase::Active(hop)) if at + 1 < data.len() => {
                        hop.send(&data[at + 1..]);
                    }
                    _ => {}
                }
                break;
            }
            return Ok(());
        }
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
