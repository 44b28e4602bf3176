//! `smb` (445, and 139 behind a NetBIOS session request): a Windows (or, for a Linux
//! decky, Samba) file server as SMB2/3 clients and scanners see it.
//!
//! - An SMB1 NEGOTIATE that lists SMB2 dialects is upgraded to SMB2 (the wildcard dialect
//!   `2.???`) as Windows does; a client that offers SMB1 only is recorded and cut off, as a
//!   current Windows host (SMB1 removed) does.
//! - SMB2 NEGOTIATE 2.0.2 to 3.1.1 with the 3.1.1 negotiate contexts (pre-authentication
//!   integrity, encryption and signing algorithms), a SPNEGO token offering NTLMSSP, signing
//!   enabled but not required. The client's dialects, GUID, capabilities and contexts are a
//!   `handshake` event.
//! - SESSION_SETUP runs NTLM: the CHALLENGE carries the decky's [`Identity`]; every
//!   AUTHENTICATE is an `auth_attempt` with the hashcat NetNTLMv1/v2 line and the server
//!   challenge. Anonymous (null) sessions are let in; named logins are refused
//!   (STATUS_LOGON_FAILURE) once captured.
//! - TREE_CONNECT to `IPC$` and to the bait share; `srvsvc` over IPC$ lists the shares
//!   (DCE/RPC NetrShareEnum), so `smbclient -L` works. The bait share can be listed and
//!   read (each file read is a `file_download`); every write, rename or delete is refused
//!   and recorded.

mod rpc;
mod share;
mod smb1;
mod wire;

use std::collections::HashMap;

use crate::config::Config;
use crate::event::{Fields, Kind, printable};
use crate::ntlm::{self, Message, NegState};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::windows::Identity;
use share::{Node, Share};
use wire::{Header, Read, Write, command as cmd, status};

/// Largest read, write and transaction a client may ask for (what Windows advertises).
const MAX_IO: u32 = 8 * 1024 * 1024;
/// Members of one compound request served; more is a violation.
const MAX_COMPOUND: usize = 16;
/// Trees and opens one connection may hold.
const MAX_TREES: usize = 16;
const MAX_OPENS: usize = 64;
/// A named pipe's queued answers, at most.
const MAX_PIPE_QUEUE: usize = 64 * 1024;
/// Longest name (in UTF-16 units) read from a request.
const MAX_NAME: usize = 1024;

/// File attributes.
const ATTR_DIRECTORY: u32 = 0x10;
const ATTR_ARCHIVE: u32 = 0x20;

/// The smb decoy.
#[derive(Debug)]
pub struct Smb {
    identity: Identity,
    server_guid: [u8; 16],
    share: Share,
    shares: Vec<rpc::ShareInfo>,
    /// When the bait files were written (Windows time).
    file_time: u64,
}

impl Smb {
    /// The decoy of `persona` (its Windows identity and lure files) with `config`'s `share`.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let identity = Identity::of(persona);
        let mut server_guid = [0u8; 16];
        server_guid[..8].copy_from_slice(&persona.derive("smb guid a").to_le_bytes());
        server_guid[8..].copy_from_slice(&persona.derive("smb guid b").to_le_bytes());
        let name = config.string("share").filter(|s| valid_share_name(s)).unwrap_or("Shared");
        let lures: Vec<decnet_domain::lures::LureFile> =
            std::env::var("DECNET_LURES").ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
        let share = Share::bait(name, &identity.netbios_domain, &identity.dns_domain, &lures);
        let shares = vec![
            rpc::ShareInfo { name: "ADMIN$".into(), kind: 0x8000_0000, remark: "Remote Admin".into() },
            rpc::ShareInfo { name: "C$".into(), kind: 0x8000_0000, remark: "Default share".into() },
            rpc::ShareInfo { name: "IPC$".into(), kind: 0x8000_0003, remark: "Remote IPC".into() },
            rpc::ShareInfo { name: name.to_owned(), kind: 0, remark: String::new() },
        ];
        let age_days = 30 + persona.derive("smb files age") % 300;
        let file_time = ntlm::filetime(chrono::Utc::now().timestamp() - i64::try_from(age_days * 86_400).unwrap_or(0));
        Self { identity, server_guid, share, shares, file_time }
    }

    /// The Windows time of a node (stable, a little apart per file).
    fn time_of(&self, node: &Node) -> u64 {
        self.file_time + (node.id & 0xffff) * 7_919 * 10_000_000
    }
}

/// Whether `name` can be a share name (letters, digits, `$`, `-`, `_`, at most 80).
fn valid_share_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 80 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"$-_".contains(&b))
}

/// What a tree id is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    Ipc,
    Disk,
}

/// An open handle.
#[derive(Debug)]
enum Open {
    /// The srvsvc named pipe with its queued answers.
    Pipe { queue: Vec<u8> },
    /// A directory being listed (index into the share's nodes by path) from `cursor`.
    Dir { path: String, cursor: usize },
    /// A file being read; `read` once the download was recorded.
    File { path: String, read: bool },
}

/// One connection's state.
#[derive(Debug, Default)]
struct State {
    dialect: u16,
    challenge: [u8; 8],
    client_flags: u32,
    session_id: u64,
    /// Whether the session finished authenticating (anonymously).
    authenticated: bool,
    trees: HashMap<u32, Tree>,
    next_tree: u32,
    opens: HashMap<u64, Open>,
    next_file: u64,
    /// The file id the previous member of a compound created (for related members).
    last_file: Option<u64>,
    /// Whether the client has spoken SMB2 yet (a second NEGOTIATE is a violation).
    negotiated: bool,
    /// The SMB1 session, once NT LM 0.12 was negotiated (Windows Server 2016 only).
    smb1: Option<smb1::Session>,
}

/// A command's answer: its status and body.
type Answer = (u32, Vec<u8>);

/// The error response body (StructureSize 9, no error data).
fn error(code: u32) -> Answer {
    (code, vec![9, 0, 0, 0, 0, 0, 0, 0, 0])
}

/// A body of StructureSize `size` (with the variable byte padded when empty).
fn body(size: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::from(size) + 16);
    out.u16(size);
    out
}

/// A body of StructureSize 4 with its reserved field (ECHO, LOGOFF, TREE_DISCONNECT, FLUSH).
fn reserved4() -> Vec<u8> {
    vec![4, 0, 0, 0]
}

fn utf16_name(bytes: &[u8]) -> String {
    let cut = bytes.get(..bytes.len().min(MAX_NAME * 2)).unwrap_or(&[]);
    wire::from_utf16(cut)
}

impl Decoy for Smb {
    fn name(&self) -> &'static str {
        "smb"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        let mut state = State { next_tree: 1, next_file: 1, ..State::default() };
        loop {
            let (kind, payload) = match conn.frame(wire::frame).await {
                Ok(frame) => frame,
                Err(end) => return end,
            };
            match kind {
                wire::NBT_SESSION_REQUEST => {
                    // Port 139: a positive session response, then SMB as on 445.
                    if let Err(end) = conn.write(&[0x82, 0, 0, 0]).await {
                        return end;
                    }
                    continue;
                }
                wire::NBT_KEEPALIVE => continue,
                _ => {}
            }
            let answer = match payload.get(..4) {
                Some(b"\xffSMB") => match self.smb1(conn, &mut state, &payload).await {
                    Ok(answer) => answer,
                    Err(end) => return end,
                },
                Some(b"\xfeSMB") => match self.smb2(conn, &mut state, &payload).await {
                    Ok(answer) => answer,
                    Err(end) => return end,
                },
                _ => {
                    conn.violation_in("not an SMB message", &payload).await;
                    return End::Violation;
                }
            };
            if !answer.is_empty()
                && let Err(end) = conn.write(&wire::nbt(wire::NBT_MESSAGE, &answer)).await
            {
                return end;
            }
        }
    }
}

impl Smb {
    /// An SMB1 message: only NEGOTIATE, upgraded to SMB2 when the client offers it.
    async fn smb1(&self, conn: &mut Conn, state: &mut State, message: &[u8]) -> Result<Vec<u8>, End> {
        if let Some(session) = state.smb1.as_mut() {
            let (answer, seen) = smb1::answer(message, &self.identity, session);
            let challenge = session.challenge;
            let protocol = |fields: Fields| fields.detail("protocol", "SMB1");
            match seen {
                smb1::Seen::Login(auth, ok) => {
                    let method = if ok { "anonymous" } else { "smb1" };
                    let fields = ntlm::attempt_fields(&auth, challenge, method, if ok { "success" } else { "failure" });
                    conn.log.record(Kind::AuthAttempt, protocol(fields)).await;
                }
                smb1::Seen::TreeConnect(path, ok) => {
                    let fields = Fields::default()
                        .command(format!("TREE_CONNECT {path}"))
                        .detail("outcome", if ok { "success" } else { "no such share" });
                    conn.log.record(Kind::Command, protocol(fields)).await;
                }
                smb1::Seen::Ms17010Probe => {
                    let fields = Fields::default()
                        .command("TRANS PeekNamedPipe FID 0")
                        .detail("probe", "ms17-010")
                        .detail("outcome", "answered as patched");
                    conn.log.record(Kind::Command, protocol(fields)).await;
                }
                smb1::Seen::Unsupported(command) => {
                    let fields = Fields::default()
                        .command(format!("SMB1 command 0x{command:02x}"))
                        .detail("outcome", "not supported");
                    conn.log.record(Kind::Command, protocol(fields)).await;
                }
                smb1::Seen::Nothing => {}
            }
            return Ok(answer);
        }
        let Some(dialects) = wire::smb1_dialects(message) else {
            conn.violation_in("SMB1 message other than NEGOTIATE", message).await;
            return Err(End::Violation);
        };
        let upgrade = if dialects.iter().any(|d| d == "SMB 2.???") {
            Some(0x02ff)
        } else if dialects.iter().any(|d| d == "SMB 2.002") {
            Some(0x0202)
        } else {
            None
        };
        let nt1 = dialects.iter().position(|d| d == "NT LM 0.12").filter(|_| self.identity.release.smb1);
        let chosen = match (upgrade, nt1) {
            (Some(dialect), _) => wire::dialect_name(dialect),
            (None, Some(_)) => "NT LM 0.12".into(),
            (None, None) => "none (SMB1 only)".into(),
        };
        let fields = Fields::default()
            .detail("protocol", "SMB1")
            .detail(
                "dialects",
                dialects.iter().map(|d| serde_json::Value::from(printable(d.as_bytes()))).collect::<Vec<_>>(),
            )
            .detail("upgraded_to", chosen);
        conn.log.record(Kind::Handshake, fields).await;
        let Some(dialect) = upgrade else {
            if let Some(index) = nt1 {
                // Windows Server 2016 still speaks SMB1 to a client that offers nothing newer.
                let mut session = smb1::Session::default();
                let answer = smb1::negotiate(message, index as u16, &self.identity, &self.server_guid, &mut session);
                state.smb1 = Some(session);
                return Ok(answer);
            }
            // SMB1 is removed from current Windows: the connection is dropped.
            return Err(End::Done);
        };
        let request = Header {
            credit_charge: 0,
            command: cmd::NEGOTIATE,
            credits: 1,
            flags: 0,
            next: 0,
            message_id: 0,
            tree_id: 0,
            session_id: 0,
        };
        if dialect == 0x0202 {
            state.dialect = 0x0202;
            state.negotiated = true;
        }
        let mut out = request.response(status::SUCCESS, 1, 0, 0);
        out.extend_from_slice(&self.negotiate_body(dialect, &[]));
        Ok(out)
    }

    /// An SMB2 message, possibly a compound: the answers, compounded the same way.
    async fn smb2(&self, conn: &mut Conn, state: &mut State, message: &[u8]) -> Result<Vec<u8>, End> {
        let mut answers: Vec<Vec<u8>> = Vec::new();
        let mut offset = 0usize;
        state.last_file = None;
        loop {
            let rest = message.get(offset..).unwrap_or(&[]);
            let Some(header) = Header::parse(rest) else {
                conn.violation_in("malformed SMB2 header", rest).await;
                return Err(End::Violation);
            };
            let len = match header.next as usize {
                0 => rest.len(),
                next if next >= wire::HEADER && next <= rest.len() && next % 8 == 0 => next,
                _ => {
                    conn.violation_in("compound offset outside the message", rest).await;
                    return Err(End::Violation);
                }
            };
            let request = rest.get(wire::HEADER..len).unwrap_or(&[]);
            if answers.len() == MAX_COMPOUND {
                conn.violation("more than 16 compounded requests").await;
                return Err(End::Violation);
            }
            if let Some(answer) = self.command(conn, state, &header, request).await? {
                answers.push(answer);
            }
            if header.next == 0 {
                break;
            }
            offset += len;
        }
        // Compound the answers: each but the last padded to 8 bytes and pointing at the next.
        let mut out = Vec::new();
        let count = answers.len();
        for (i, mut answer) in answers.into_iter().enumerate() {
            if i + 1 < count {
                answer.pad(8);
                let next = u32::try_from(answer.len()).unwrap_or(0).to_le_bytes();
                if let Some(field) = answer.get_mut(20..24) {
                    field.copy_from_slice(&next);
                }
            }
            out.extend_from_slice(&answer);
        }
        Ok(out)
    }

    /// One request: its answer (header and body), or `None` for requests answered by
    /// nothing (CANCEL).
    async fn command(
        &self,
        conn: &mut Conn,
        state: &mut State,
        header: &Header,
        request: &[u8],
    ) -> Result<Option<Vec<u8>>, End> {
        let credits = header.credits.clamp(1, 512);
        if header.command == cmd::CANCEL {
            return Ok(None);
        }
        if header.command == cmd::NEGOTIATE {
            if state.negotiated {
                conn.violation_in("a second NEGOTIATE", request).await;
                return Err(End::Violation);
            }
            let (code, body) = self.negotiate(conn, state, request).await;
            let mut out = header.response(code, credits, 0, 0);
            out.extend_from_slice(&body);
            return Ok(Some(out));
        }
        if !state.negotiated {
            conn.violation_in("a request before NEGOTIATE", request).await;
            return Err(End::Violation);
        }
        let related = header.flags & wire::FLAG_RELATED != 0;
        let tree_id = header.tree_id;
        let (code, body) = match header.command {
            cmd::SESSION_SETUP => self.session_setup(conn, state, request).await,
            cmd::ECHO => (status::SUCCESS, reserved4()),
            _ if !state.authenticated || (header.session_id != state.session_id && !related) => {
                error(status::USER_SESSION_DELETED)
            }
            cmd::LOGOFF => {
                state.authenticated = false;
                state.trees.clear();
                state.opens.clear();
                (status::SUCCESS, reserved4())
            }
            cmd::TREE_CONNECT => self.tree_connect(conn, state, request).await,
            cmd::TREE_DISCONNECT => match state.trees.remove(&tree_id) {
                Some(_) => (status::SUCCESS, reserved4()),
                None => error(status::NETWORK_NAME_DELETED),
            },
            command => match state.trees.get(&tree_id).copied() {
                None => error(status::NETWORK_NAME_DELETED),
                Some(tree) => self.file_command(conn, state, tree, command, request, related).await,
            },
        };
        let session = if header.command == cmd::SESSION_SETUP { state.session_id } else { header.session_id };
        let tree = if header.command == cmd::TREE_CONNECT && code == status::SUCCESS {
            state.next_tree.wrapping_sub(4)
        } else {
            tree_id
        };
        let mut out = header.response(code, credits, session, tree);
        out.extend_from_slice(&body);
        Ok(Some(out))
    }

    /// The NEGOTIATE response body for `dialect`, with `contexts` (3.1.1) after the token.
    fn negotiate_body(&self, dialect: u16, contexts: &[Vec<u8>]) -> Vec<u8> {
        let token = ntlm::spnego_init();
        let capabilities: u32 = match dialect {
            0x0202 | 0x02ff => 0x01,
            0x0210 => 0x07,
            _ => 0x2f,
        };
        let mut out = body(65);
        out.u16(0x01).u16(dialect).u16(if dialect == 0x0311 { contexts.len() as u16 } else { 0 });
        out.extend_from_slice(&self.server_guid);
        out.u32(capabilities).u32(MAX_IO).u32(MAX_IO).u32(MAX_IO);
        // System time now; boot time 0, as current Windows reports it.
        out.u64(ntlm::filetime_now()).u64(0);
        let token_offset = (wire::HEADER + 64) as u16;
        out.u16(token_offset).u16(token.len() as u16);
        let contexts_at = (wire::HEADER + 64 + token.len()).next_multiple_of(8);
        out.u32(if contexts.is_empty() { 0 } else { contexts_at as u32 });
        out.extend_from_slice(&token);
        if !contexts.is_empty() {
            while wire::HEADER + out.len() < contexts_at {
                out.push(0);
            }
            for (i, context) in contexts.iter().enumerate() {
                out.extend_from_slice(context);
                if i + 1 < contexts.len() {
                    while !(wire::HEADER + out.len()).is_multiple_of(8) {
                        out.push(0);
                    }
                }
            }
        } else if token.is_empty() {
            out.push(0);
        }
        out
    }

    async fn negotiate(&self, conn: &mut Conn, state: &mut State, request: &[u8]) -> Answer {
        let count = usize::from(request.u16_at(2).unwrap_or(0)).min(64);
        let dialects: Vec<u16> = (0..count).filter_map(|i| request.u16_at(36 + 2 * i)).collect();
        let security_mode = request.u16_at(4).unwrap_or(0);
        let capabilities = request.u32_at(8).unwrap_or(0);
        let client_guid = request.bytes_at(12, 16).map(wire::guid).unwrap_or_default();
        let max = self.identity.release.max_dialect;
        let chosen =
            [0x0311u16, 0x0302, 0x0300, 0x0210, 0x0202].into_iter().find(|d| *d <= max && dialects.contains(d));
        let mut fields = Fields::default()
            .detail("protocol", "SMB2")
            .detail(
                "dialects",
                dialects.iter().map(|d| serde_json::Value::from(wire::dialect_name(*d))).collect::<Vec<_>>(),
            )
            .detail("client_guid", client_guid)
            .detail("signing_required", security_mode & 0x02 != 0)
            .detail("capabilities", format!("0x{capabilities:08x}"))
            .detail("dialect", chosen.map(wire::dialect_name).unwrap_or_else(|| "none".into()));
        let mut contexts = Vec::new();
        if chosen == Some(0x0311) {
            let offset = request.u32_at(28).and_then(|o| usize::try_from(o).ok()).unwrap_or(0);
            let mut at = offset.saturating_sub(wire::HEADER);
            let mut ciphers = Vec::new();
            let mut signing = Vec::new();
            for _ in 0..usize::from(request.u16_at(32).unwrap_or(0)).min(16) {
                let (Some(kind), Some(len)) = (request.u16_at(at), request.u16_at(at + 2)) else { break };
                let data = request.bytes_at(at + 8, usize::from(len)).unwrap_or(&[]);
                let list = |data: &[u8]| -> Vec<u16> {
                    let n = usize::from(data.u16_at(0).unwrap_or(0)).min(32);
                    (0..n).filter_map(|i| data.u16_at(2 + 2 * i)).collect()
                };
                match kind {
                    2 => ciphers = list(data),
                    5 => fields = fields.detail("netname", utf16_name(data)),
                    8 => signing = list(data),
                    _ => {}
                }
                at = (at + 8 + usize::from(len)).next_multiple_of(8);
            }
            fields =
                fields.detail("ciphers", format!("{ciphers:?}")).detail("signing_algorithms", format!("{signing:?}"));
            // Pre-authentication integrity: SHA-512 with a fresh salt.
            let salt: [u8; 32] = ntlm::random();
            let mut preauth = Vec::new();
            preauth.u16(1).u16(38).u32(0).u16(1).u16(32).u16(1);
            preauth.extend_from_slice(&salt);
            contexts.push(preauth);
            if !ciphers.is_empty() {
                let cipher = [2u16, 1, 4, 3].into_iter().find(|c| ciphers.contains(c)).unwrap_or(0);
                let mut context = Vec::new();
                context.u16(2).u16(4).u32(0).u16(1).u16(cipher);
                contexts.push(context);
            }
            if !signing.is_empty() {
                let algorithm = [2u16, 1, 0].into_iter().find(|a| signing.contains(a)).unwrap_or(1);
                let mut context = Vec::new();
                context.u16(8).u16(4).u32(0).u16(1).u16(algorithm);
                contexts.push(context);
            }
        }
        conn.log.record(Kind::Handshake, fields).await;
        let Some(dialect) = chosen else { return error(status::NOT_SUPPORTED) };
        state.dialect = dialect;
        state.negotiated = true;
        (status::SUCCESS, self.negotiate_body(dialect, &contexts))
    }

    async fn session_setup(&self, conn: &mut Conn, state: &mut State, request: &[u8]) -> Answer {
        let offset = usize::from(request.u16_at(12).unwrap_or(0)).saturating_sub(wire::HEADER);
        let token = request.bytes_at(offset, usize::from(request.u16_at(14).unwrap_or(0))).unwrap_or(&[]);
        let spnego = ntlm::is_spnego(token);
        let answer = |code: u32, flags: u16, token: Vec<u8>| -> Answer {
            let mut out = body(9);
            out.u16(flags).u16((wire::HEADER + 8) as u16).u16(token.len() as u16);
            if token.is_empty() {
                out.push(0);
            }
            out.extend_from_slice(&token);
            (code, out)
        };
        match ntlm::parse(token) {
            Ok(Message::Negotiate { flags }) => {
                state.challenge = ntlm::random();
                state.client_flags = flags;
                state.authenticated = false;
                state.session_id = 0x0000_1000_0000_0000 | u64::from(u32::from_le_bytes(ntlm::random()));
                let challenge = ntlm::challenge_message(&self.identity, state.challenge, flags, ntlm::filetime_now());
                let token =
                    if spnego { ntlm::spnego_response(NegState::Incomplete, Some(&challenge)) } else { challenge };
                answer(status::MORE_PROCESSING_REQUIRED, 0, token)
            }
            Ok(Message::Authenticate(auth)) => {
                let anonymous = auth.anonymous();
                let (method, outcome) = if anonymous { ("anonymous", "success") } else { ("ntlm", "failure") };
                conn.log.record(Kind::AuthAttempt, ntlm::attempt_fields(&auth, state.challenge, method, outcome)).await;
                if anonymous && state.session_id != 0 {
                    state.authenticated = true;
                    let token = if spnego { ntlm::spnego_response(NegState::Completed, None) } else { Vec::new() };
                    // SMB2_SESSION_FLAG_IS_NULL: an anonymous session.
                    answer(status::SUCCESS, 0x0002, token)
                } else {
                    state.session_id = 0;
                    error(status::LOGON_FAILURE)
                }
            }
            Err(err) => {
                conn.violation_in(&err.to_string(), token).await;
                error(status::LOGON_FAILURE)
            }
        }
    }

    async fn tree_connect(&self, conn: &mut Conn, state: &mut State, request: &[u8]) -> Answer {
        let offset = usize::from(request.u16_at(4).unwrap_or(0)).saturating_sub(wire::HEADER);
        let path = utf16_name(request.bytes_at(offset, usize::from(request.u16_at(6).unwrap_or(0))).unwrap_or(&[]));
        let share = path.trim_start_matches('\\').split_once('\\').map_or(path.as_str(), |(_, share)| share);
        let tree = if share.eq_ignore_ascii_case("IPC$") {
            Some(Tree::Ipc)
        } else if share.eq_ignore_ascii_case(&self.share.name) {
            Some(Tree::Disk)
        } else {
            None
        };
        let known = self.shares.iter().any(|s| s.name.eq_ignore_ascii_case(share));
        let outcome = match tree {
            Some(_) if state.trees.len() >= MAX_TREES => "refused (too many trees)",
            Some(_) => "success",
            None if known => "access denied",
            None => "no such share",
        };
        let fields = Fields::default().command(format!("TREE_CONNECT {path}")).detail("outcome", outcome);
        conn.log.record(Kind::Command, fields).await;
        match tree {
            Some(_) if state.trees.len() >= MAX_TREES => error(status::INSUFFICIENT_RESOURCES),
            Some(tree) => {
                state.trees.insert(state.next_tree, tree);
                state.next_tree = state.next_tree.wrapping_add(4);
                let mut out = body(16);
                let (kind, flags, access) = match tree {
                    Tree::Ipc => (2u8, 0x30u32, 0x001f_01ffu32),
                    Tree::Disk => (1, 0x0000_0800, 0x0012_00a9),
                };
                out.push(kind);
                out.push(0);
                out.u32(flags).u32(0).u32(access);
                (status::SUCCESS, out)
            }
            None if known => error(status::ACCESS_DENIED),
            None => error(status::BAD_NETWORK_NAME),
        }
    }

    /// The commands that work on a tree's files.
    async fn file_command(
        &self,
        conn: &mut Conn,
        state: &mut State,
        tree: Tree,
        command: u16,
        request: &[u8],
        related: bool,
    ) -> Answer {
        // Every file command but CREATE names its file at this offset.
        let file_at = match command {
            cmd::CLOSE | cmd::FLUSH | cmd::QUERY_DIRECTORY | cmd::IOCTL => 8,
            cmd::READ | cmd::WRITE => 16,
            cmd::QUERY_INFO => 24,
            cmd::SET_INFO => 16,
            cmd::LOCK => 8,
            _ => 0,
        };
        let file_id = match request.u64_at(file_at + 8) {
            Some(u64::MAX) if related => state.last_file.unwrap_or(0),
            Some(id) => id,
            None => 0,
        };
        match command {
            cmd::CREATE => {
                let answer = self.create(conn, state, tree, request).await;
                if answer.0 != status::SUCCESS {
                    state.last_file = None;
                }
                answer
            }
            cmd::CLOSE => match state.opens.remove(&file_id) {
                Some(open) => {
                    let mut out = body(60);
                    let flags = request.u16_at(2).unwrap_or(0) & 1;
                    out.u16(flags).u32(0);
                    let node = match &open {
                        Open::Dir { path, .. } | Open::File { path, .. } if flags == 1 => self.share.find(path),
                        _ => None,
                    };
                    match node {
                        Some(node) => self.times_sizes_attributes(&mut out, node),
                        None => out.extend_from_slice(&[0; 52]),
                    }
                    (status::SUCCESS, out)
                }
                None => error(status::FILE_CLOSED),
            },
            cmd::READ => self.read(conn, state, file_id, request).await,
            cmd::WRITE => self.write(conn, state, file_id, request).await,
            cmd::IOCTL => self.ioctl(conn, state, file_id, request).await,
            cmd::QUERY_DIRECTORY => self.query_directory(conn, state, file_id, request).await,
            cmd::QUERY_INFO => self.query_info(state, file_id, request),
            cmd::SET_INFO => {
                let path = match state.opens.get(&file_id) {
                    Some(Open::File { path, .. } | Open::Dir { path, .. }) => path.clone(),
                    _ => String::new(),
                };
                let class = request.u8_at(3).unwrap_or(0);
                let fields = Fields::default()
                    .command(format!("SET_INFO class {class} {path}"))
                    .detail("outcome", "access denied (read-only share)");
                conn.log.record(Kind::Command, fields).await;
                error(status::ACCESS_DENIED)
            }
            cmd::FLUSH | cmd::LOCK => (status::SUCCESS, reserved4()),
            _ => error(status::NOT_SUPPORTED),
        }
    }

    async fn create(&self, conn: &mut Conn, state: &mut State, tree: Tree, request: &[u8]) -> Answer {
        let offset = usize::from(request.u16_at(44).unwrap_or(0)).saturating_sub(wire::HEADER);
        let name = utf16_name(request.bytes_at(offset, usize::from(request.u16_at(46).unwrap_or(0))).unwrap_or(&[]));
        let access = request.u32_at(24).unwrap_or(0);
        let disposition = request.u32_at(36).unwrap_or(1);
        let options = request.u32_at(40).unwrap_or(0);
        if state.opens.len() >= MAX_OPENS {
            return error(status::INSUFFICIENT_RESOURCES);
        }
        let id = state.next_file;
        match tree {
            Tree::Ipc => {
                let pipe = name.trim_start_matches('\\').to_ascii_lowercase();
                let found = pipe == "srvsvc";
                let fields = Fields::default()
                    .command(format!("open pipe {name}"))
                    .detail("outcome", if found { "success" } else { "not found" });
                conn.log.record(Kind::Command, fields).await;
                if !found {
                    return error(status::OBJECT_NAME_NOT_FOUND);
                }
                state.opens.insert(id, Open::Pipe { queue: Vec::new() });
                state.next_file += 1;
                state.last_file = Some(id);
                (status::SUCCESS, self.create_body(None, id))
            }
            Tree::Disk => {
                const WRITE_ACCESS: u32 =
                    0x0000_0002 | 0x0000_0004 | 0x0001_0000 | 0x0004_0000 | 0x0008_0000 | 0x1000_0000 | 0x4000_0000;
                let node = self.share.find(&name);
                let writes = access & WRITE_ACCESS != 0
                    || matches!(disposition, 0 | 2 | 4 | 5)
                    || (disposition == 3 && node.is_none())
                    || options & 0x1000 != 0;
                if writes {
                    let fields = Fields::default()
                        .command(format!("create {name}"))
                        .detail("access", format!("0x{access:08x}"))
                        .detail("disposition", disposition)
                        .detail("outcome", "access denied (read-only share)");
                    conn.log.record(Kind::FileUpload, fields).await;
                    return error(status::ACCESS_DENIED);
                }
                let Some(node) = node else {
                    let parent = share::normalise(&name).rsplit_once('\\').map(|(p, _)| p.to_owned());
                    let missing_parent = parent.is_some_and(|p| self.share.find(&p).is_none());
                    return error(if missing_parent {
                        status::OBJECT_PATH_NOT_FOUND
                    } else {
                        status::OBJECT_NAME_NOT_FOUND
                    });
                };
                if options & 0x1 != 0 && !node.is_dir() {
                    return error(status::NOT_A_DIRECTORY);
                }
                if options & 0x40 != 0 && node.is_dir() {
                    return error(status::FILE_IS_A_DIRECTORY);
                }
                let open = if node.is_dir() {
                    Open::Dir { path: node.path.clone(), cursor: 0 }
                } else {
                    Open::File { path: node.path.clone(), read: false }
                };
                state.opens.insert(id, open);
                state.next_file += 1;
                state.last_file = Some(id);
                (status::SUCCESS, self.create_body(Some(node), id))
            }
        }
    }

    fn create_body(&self, node: Option<&Node>, id: u64) -> Vec<u8> {
        let mut out = body(89);
        out.push(0); // no oplock
        out.push(0);
        out.u32(1); // FILE_OPENED
        match node {
            Some(node) => self.times_sizes_attributes(&mut out, node),
            None => {
                out.extend_from_slice(&[0; 48]);
                out.u32(0x80); // FILE_ATTRIBUTE_NORMAL, as a pipe shows
            }
        }
        out.u32(0);
        out.u64(id).u64(id);
        out.u32(0).u32(0);
        out.push(0);
        out
    }

    /// Creation, last access, last write and change times, allocation size, end of file and
    /// attributes (52 bytes), as CREATE and CLOSE carry them.
    fn times_sizes_attributes(&self, out: &mut Vec<u8>, node: &Node) {
        let time = self.time_of(node);
        out.u64(time).u64(time).u64(time).u64(time);
        out.u64(allocation(node)).u64(node.size());
        out.u32(attributes(node));
    }

    async fn read(&self, conn: &mut Conn, state: &mut State, file_id: u64, request: &[u8]) -> Answer {
        let length = request.u32_at(4).unwrap_or(0).min(MAX_IO) as usize;
        let offset = request.u64_at(8).unwrap_or(0);
        let data = match state.opens.get_mut(&file_id) {
            Some(Open::Pipe { queue }) => {
                if queue.is_empty() {
                    return error(0xc000_00d9); // STATUS_PIPE_EMPTY
                }
                let n = length.min(queue.len());
                queue.drain(..n).collect::<Vec<u8>>()
            }
            Some(Open::File { path, read }) => {
                let Some(node) = self.share.find(path) else { return error(status::FILE_CLOSED) };
                let content = node.content.as_deref().unwrap_or(&[]);
                let Some(rest) = usize::try_from(offset).ok().and_then(|o| content.get(o..)).filter(|r| !r.is_empty())
                else {
                    return error(status::END_OF_FILE);
                };
                if !*read {
                    *read = true;
                    let fields = Fields::default()
                        .detail("path", format!("{}\\{}", self.share.name, node.path))
                        .detail("size", node.size());
                    conn.log.record(Kind::FileDownload, fields).await;
                }
                rest[..length.min(rest.len())].to_vec()
            }
            Some(Open::Dir { .. }) => return error(status::INVALID_DEVICE_REQUEST),
            None => return error(status::FILE_CLOSED),
        };
        let mut out = body(17);
        out.push((wire::HEADER + 16) as u8);
        out.push(0);
        out.u32(data.len() as u32).u32(0).u32(0);
        out.extend_from_slice(&data);
        (status::SUCCESS, out)
    }

    async fn write(&self, conn: &mut Conn, state: &mut State, file_id: u64, request: &[u8]) -> Answer {
        let offset = usize::from(request.u16_at(2).unwrap_or(0)).saturating_sub(wire::HEADER);
        let length = request.u32_at(4).unwrap_or(0) as usize;
        let Some(data) = request.bytes_at(offset, length) else { return error(status::INVALID_PARAMETER) };
        match state.opens.get_mut(&file_id) {
            Some(Open::Pipe { queue }) => {
                let Some((answer, call)) = rpc::answer(data, &self.shares) else {
                    conn.violation_in("not a DCE/RPC PDU on srvsvc", data).await;
                    return error(status::INVALID_PARAMETER);
                };
                self.record_call(conn, &call).await;
                if queue.len() + answer.len() <= MAX_PIPE_QUEUE {
                    queue.extend_from_slice(&answer);
                }
                let mut out = body(17);
                out.u16(0).u32(length as u32).u32(0).u16(0).u16(0);
                (status::SUCCESS, out)
            }
            Some(_) => error(status::ACCESS_DENIED),
            None => error(status::FILE_CLOSED),
        }
    }

    async fn record_call(&self, conn: &mut Conn, call: &rpc::Call) {
        let command = match call {
            rpc::Call::Bind(interface) => format!("srvsvc bind {interface}"),
            rpc::Call::Request(15) => "srvsvc NetrShareEnum".to_owned(),
            rpc::Call::Request(opnum) => format!("srvsvc opnum {opnum}"),
        };
        conn.log.record(Kind::Command, Fields::default().command(command)).await;
    }

    async fn ioctl(&self, conn: &mut Conn, state: &mut State, file_id: u64, request: &[u8]) -> Answer {
        const PIPE_TRANSCEIVE: u32 = 0x0011_c017;
        const VALIDATE_NEGOTIATE: u32 = 0x0014_0204;
        const DFS_REFERRALS: u32 = 0x0006_0194;
        let code = request.u32_at(4).unwrap_or(0);
        let input_at = usize::try_from(request.u32_at(24).unwrap_or(0)).unwrap_or(0).saturating_sub(wire::HEADER);
        let input = request.bytes_at(input_at, request.u32_at(28).unwrap_or(0) as usize).unwrap_or(&[]);
        let output = match code {
            PIPE_TRANSCEIVE => {
                if !matches!(state.opens.get(&file_id), Some(Open::Pipe { .. })) {
                    return error(status::INVALID_DEVICE_REQUEST);
                }
                let Some((answer, call)) = rpc::answer(input, &self.shares) else {
                    conn.violation_in("not a DCE/RPC PDU on srvsvc", input).await;
                    return error(status::INVALID_PARAMETER);
                };
                self.record_call(conn, &call).await;
                answer
            }
            VALIDATE_NEGOTIATE => {
                let mut out = Vec::new();
                out.u32(0x2f);
                out.extend_from_slice(&self.server_guid);
                out.u16(0x01).u16(state.dialect);
                out
            }
            DFS_REFERRALS => return error(status::FS_DRIVER_REQUIRED),
            _ => return error(status::NOT_SUPPORTED),
        };
        let mut out = body(49);
        out.u16(0).u32(code);
        out.extend_from_slice(request.bytes_at(8, 16).unwrap_or(&[0; 16]));
        let output_at = (wire::HEADER + 48) as u32;
        out.u32(output_at).u32(0).u32(output_at).u32(output.len() as u32).u32(0).u32(0);
        out.extend_from_slice(&output);
        (status::SUCCESS, out)
    }

    async fn query_directory(&self, conn: &mut Conn, state: &mut State, file_id: u64, request: &[u8]) -> Answer {
        let class = request.u8_at(2).unwrap_or(0);
        let flags = request.u8_at(3).unwrap_or(0);
        let offset = usize::from(request.u16_at(24).unwrap_or(0)).saturating_sub(wire::HEADER);
        let pattern = utf16_name(request.bytes_at(offset, usize::from(request.u16_at(26).unwrap_or(0))).unwrap_or(&[]));
        let room = request.u32_at(28).unwrap_or(0).min(MAX_IO) as usize;
        let Some(Open::Dir { path, cursor }) = state.opens.get_mut(&file_id) else {
            return error(status::INVALID_PARAMETER);
        };
        if !matches!(class, 0x01 | 0x02 | 0x03 | 0x0c | 0x25 | 0x26) {
            return error(status::INVALID_INFO_CLASS);
        }
        if flags & 0x11 != 0 {
            *cursor = 0;
        }
        let Some(dir) = self.share.find(path) else { return error(status::FILE_CLOSED) };
        let start = *cursor;
        if start == 0 {
            let fields = Fields::default().command(format!("dir {}\\{}\\{pattern}", self.share.name, dir.path));
            conn.log.record(Kind::Command, fields).await;
        }
        let pattern = if pattern.is_empty() { "*".to_owned() } else { pattern };
        let parent = self.share.find(dir.path.rsplit_once('\\').map_or("", |(p, _)| p)).unwrap_or(dir);
        let mut entries: Vec<(String, &Node)> = vec![(".".into(), dir), ("..".into(), parent)];
        entries.extend(self.share.children(dir).into_iter().map(|n| (n.name().to_owned(), n)));
        let entries: Vec<(String, &Node)> = entries.into_iter().filter(|(name, _)| glob(&pattern, name)).collect();
        if start >= entries.len() {
            return error(if start == 0 { status::NO_SUCH_FILE } else { status::NO_MORE_FILES });
        }
        let mut buffer: Vec<u8> = Vec::new();
        let mut last_entry = 0usize;
        let mut taken = 0;
        for (name, node) in entries.iter().skip(start) {
            let entry = self.directory_entry(class, name, node);
            let at = buffer.len().next_multiple_of(8);
            if at + entry.len() > room {
                break;
            }
            buffer.resize(at, 0);
            if taken > 0 {
                let next = u32::try_from(at - last_entry).unwrap_or(0).to_le_bytes();
                if let Some(field) = buffer.get_mut(last_entry..last_entry + 4) {
                    field.copy_from_slice(&next);
                }
            }
            last_entry = at;
            buffer.extend_from_slice(&entry);
            taken += 1;
            if flags & 0x02 != 0 {
                break;
            }
        }
        if taken == 0 {
            return error(0xc000_0023); // STATUS_BUFFER_TOO_SMALL
        }
        *cursor = start + taken;
        let mut out = body(9);
        out.u16((wire::HEADER + 8) as u16).u32(buffer.len() as u32);
        out.extend_from_slice(&buffer);
        (status::SUCCESS, out)
    }

    /// One directory entry of information class `class` (NextEntryOffset left 0).
    fn directory_entry(&self, class: u8, name: &str, node: &Node) -> Vec<u8> {
        let name16 = wire::utf16(name);
        let time = self.time_of(node);
        let mut out = Vec::new();
        out.u32(0).u32(0);
        if class == 0x0c {
            out.u32(name16.len() as u32);
            out.extend_from_slice(&name16);
            return out;
        }
        out.u64(time).u64(time).u64(time).u64(time).u64(node.size()).u64(allocation(node)).u32(attributes(node));
        out.u32(name16.len() as u32);
        if class != 0x01 {
            out.u32(0); // EaSize
        }
        match class {
            0x03 | 0x25 => {
                out.push(0); // no short name
                out.push(0);
                out.extend_from_slice(&[0; 24]);
                if class == 0x25 {
                    out.u16(0).u64(node.id);
                }
            }
            0x26 => {
                out.u32(0).u64(node.id);
            }
            _ => {}
        }
        out.extend_from_slice(&name16);
        out
    }

    fn query_info(&self, state: &State, file_id: u64, request: &[u8]) -> Answer {
        let info_type = request.u8_at(2).unwrap_or(0);
        let class = request.u8_at(3).unwrap_or(0);
        let room = request.u32_at(4).unwrap_or(0).min(MAX_IO) as usize;
        let node = match state.opens.get(&file_id) {
            Some(Open::File { path, .. } | Open::Dir { path, .. }) => self.share.find(path),
            Some(Open::Pipe { .. }) => return error(status::NOT_SUPPORTED),
            None => return error(status::FILE_CLOSED),
        };
        let Some(node) = node else { return error(status::FILE_CLOSED) };
        let time = self.time_of(node);
        let mut info = Vec::new();
        let basic = |info: &mut Vec<u8>| {
            info.u64(time).u64(time).u64(time).u64(time).u32(attributes(node)).u32(0);
        };
        let standard = |info: &mut Vec<u8>| {
            info.u64(allocation(node)).u64(node.size()).u32(1);
            info.push(0);
            info.push(u8::from(node.is_dir()));
            info.u16(0);
        };
        let name16 = wire::utf16(&format!("\\{}", node.path));
        let fixed = match (info_type, class) {
            (1, 4) => {
                basic(&mut info);
                true
            }
            (1, 5) => {
                standard(&mut info);
                true
            }
            (1, 6) => {
                info.u64(node.id);
                true
            }
            (1, 7) => {
                info.u32(0);
                true
            }
            (1, 8) => {
                info.u32(0x0012_0089);
                true
            }
            (1, 14) => {
                info.u64(0);
                true
            }
            (1, 16) | (1, 17) => {
                info.u32(0);
                true
            }
            (1, 9) => {
                info.u32(name16.len() as u32);
                info.extend_from_slice(&name16);
                false
            }
            (1, 18) => {
                basic(&mut info);
                standard(&mut info);
                info.u64(node.id).u32(0).u32(0x0012_0089).u64(0).u32(0).u32(0);
                info.u32(name16.len() as u32);
                info.extend_from_slice(&name16);
                false
            }
            (1, 22) if !node.is_dir() => {
                let stream = wire::utf16("::$DATA");
                info.u32(0).u32(stream.len() as u32).u64(node.size()).u64(allocation(node));
                info.extend_from_slice(&stream);
                false
            }
            (1, 34) => {
                info.u64(time).u64(time).u64(time).u64(time).u64(allocation(node)).u64(node.size());
                info.u32(attributes(node)).u32(0);
                true
            }
            (1, 35) => {
                info.u32(attributes(node)).u32(0);
                true
            }
            (2, 1) => {
                let label = wire::utf16("Data");
                info.u64(self.file_time).u32(0x5a3c_19e4).u32(label.len() as u32);
                info.push(0);
                info.push(0);
                info.extend_from_slice(&label);
                false
            }
            (2, 3) => {
                info.u64(26_214_400).u64(9_437_184).u32(8).u32(512);
                true
            }
            (2, 4) => {
                info.u32(7).u32(0x20);
                true
            }
            (2, 5) => {
                let fs = wire::utf16("NTFS");
                info.u32(0x00e7_00ff).u32(255).u32(fs.len() as u32);
                info.extend_from_slice(&fs);
                false
            }
            (2, 7) => {
                info.u64(26_214_400).u64(9_437_184).u64(9_437_184).u32(8).u32(512);
                true
            }
            (3, _) => return error(status::ACCESS_DENIED),
            _ => return error(status::INVALID_INFO_CLASS),
        };
        let mut code = status::SUCCESS;
        if info.len() > room {
            if fixed {
                return error(status::INFO_LENGTH_MISMATCH);
            }
            info.truncate(room);
            code = status::BUFFER_OVERFLOW;
        }
        let mut out = body(9);
        out.u16((wire::HEADER + 8) as u16).u32(info.len() as u32);
        if info.is_empty() {
            out.push(0);
        }
        out.extend_from_slice(&info);
        (code, out)
    }
}

fn attributes(node: &Node) -> u32 {
    if node.is_dir() { ATTR_DIRECTORY } else { ATTR_ARCHIVE }
}

fn allocation(node: &Node) -> u64 {
    node.size().next_multiple_of(4096)
}

/// Whether `name` matches the Windows wildcard `pattern` (`*`, `?`; `*` and `*.*` match all).
fn glob(pattern: &str, name: &str) -> bool {
    if pattern == "*" || pattern == "*.*" || pattern == "<" {
        return true;
    }
    let p: Vec<char> = pattern.to_lowercase().chars().take(256).collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    // Iterative wildcard match with one backtrack point: linear in practice, never exponential.
    let (mut i, mut j, mut star, mut mark) = (0usize, 0usize, None, 0usize);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_windows_does() {
        assert!(glob("*", "anything"));
        assert!(glob("*.txt", "VPN-Setup.TXT"));
        assert!(glob("vpn-setup.txt", "VPN-Setup.txt"));
        assert!(glob("V?N*", "VPN-Setup.txt"));
        assert!(!glob("*.csv", "VPN-Setup.txt"));
        assert!(!glob("a*b*c*d*e*f*g*h*i*j*k", &"a".repeat(5000)));
    }

    #[test]
    fn share_names_are_checked() {
        assert!(valid_share_name("Finance$"));
        assert!(!valid_share_name("a/b"));
        assert!(!valid_share_name(""));
    }
}
