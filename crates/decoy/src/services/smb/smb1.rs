//! SMB1 as Windows Server 2016 still speaks it (SMB1 removed from later releases): the
//! NT LM 0.12 NEGOTIATE with and without extended security, SESSION_SETUP_ANDX (NTLMSSP,
//! or the old challenge/response with the 8-byte key), whose answer names the OS as
//! `smb-os-discovery` reads it, TREE_CONNECT_ANDX to IPC$, and the TRANS PeekNamedPipe on
//! FID 0 that MS17-010 scanners send, recorded as such and answered as a patched host.

use super::wire::{Read, Write, utf16};
use crate::ntlm::{self, Authenticate, Message, NegState};
use crate::windows::Identity;

/// SMB1 commands.
const NEGOTIATE: u8 = 0x72;
const SESSION_SETUP_ANDX: u8 = 0x73;
const LOGOFF_ANDX: u8 = 0x74;
const TREE_CONNECT_ANDX: u8 = 0x75;
const TREE_DISCONNECT: u8 = 0x71;
const TRANSACTION: u8 = 0x25;
const ECHO: u8 = 0x2b;

/// Status codes.
const SUCCESS: u32 = 0;
const MORE_PROCESSING_REQUIRED: u32 = 0xc000_0016;
const LOGON_FAILURE: u32 = 0xc000_006d;
const INVALID_HANDLE: u32 = 0xc000_0008;
const NOT_SUPPORTED: u32 = 0xc000_00bb;
const BAD_NETWORK_NAME: u32 = 0xc000_00cc;
const ACCESS_DENIED: u32 = 0xc000_0022;

/// Flags2 bits.
const FLAGS2_EXTENDED_SECURITY: u16 = 0x0800;
const FLAGS2_UNICODE: u16 = 0x8000;

/// What one SMB1 request did, for the decoy to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Nothing worth an event.
    Nothing,
    /// A login (NTLM or the old challenge/response) and whether it was let in.
    Login(Authenticate, bool),
    /// A tree connect to this path, and whether it succeeded.
    TreeConnect(String, bool),
    /// The MS17-010 check: PeekNamedPipe on FID 0 of IPC$.
    Ms17010Probe,
    /// A command the decoy does not serve.
    Unsupported(u8),
}

/// One SMB1 connection's state.
#[derive(Debug, Default)]
pub struct Session {
    /// The 8-byte challenge (negotiate key, or the NTLM server challenge).
    pub challenge: [u8; 8],
    extended: bool,
    uid: u16,
    authenticated: bool,
    ipc_tid: Option<u16>,
}

/// The header of an answer to `request` with `status` (echoing its tree, process and
/// multiplex ids).
fn header(request: &[u8], command: u8, status: u32, uid: u16, tid: u16, flags2: u16) -> Vec<u8> {
    let mut out = b"\xffSMB".to_vec();
    out.push(command);
    out.u32(status);
    out.push(0x98); // reply, case-insensitive, canonicalised paths
    out.u16(flags2);
    out.u16(request.u16_at(12).unwrap_or(0));
    out.extend_from_slice(&[0; 8]);
    out.u16(0);
    out.u16(tid);
    out.u16(request.u16_at(26).unwrap_or(0));
    out.u16(uid);
    out.u16(request.u16_at(30).unwrap_or(0));
    out
}

/// An error answer: the header, no words, no bytes.
fn error(request: &[u8], command: u8, status: u32, uid: u16, flags2: u16) -> Vec<u8> {
    let mut out = header(request, command, status, uid, request.u16_at(24).unwrap_or(0), flags2);
    out.extend_from_slice(&[0, 0, 0]);
    out
}

/// A string with its terminator: UTF-16 aligned to 2 from the header's start when the
/// client speaks unicode (Flags2), else OEM (ASCII) bytes.
fn string(out: &mut Vec<u8>, text: &str, unicode: bool) {
    if unicode {
        out.pad(2);
        out.extend_from_slice(&utf16(text));
        out.u16(0);
    } else {
        out.extend(text.bytes().filter(u8::is_ascii));
        out.push(0);
    }
}

/// The NEGOTIATE answer choosing NT LM 0.12 at `index` of the client's dialects.
pub fn negotiate(request: &[u8], index: u16, identity: &Identity, guid: &[u8; 16], session: &mut Session) -> Vec<u8> {
    session.extended = request.u16_at(10).unwrap_or(0) & FLAGS2_EXTENDED_SECURITY != 0;
    session.challenge = ntlm::random();
    let flags2 = 0xc003 | (if session.extended { FLAGS2_EXTENDED_SECURITY } else { 0 }) | FLAGS2_UNICODE;
    let mut out = header(request, NEGOTIATE, SUCCESS, 0, 0, flags2);
    // Capabilities of Windows Server 2016 (extended security only when asked).
    let capabilities = 0x0001_e3fd | (if session.extended { 0x8000_0000 } else { 0 });
    out.push(17);
    out.u16(index);
    out.push(0x03); // user-level security, challenge/response
    out.u16(50).u16(1).u32(16_644).u32(65_536).u32(0).u32(capabilities);
    out.u64(ntlm::filetime_now()).u16(0);
    if session.extended {
        out.push(0);
        let blob = ntlm::spnego_init();
        out.u16((16 + blob.len()) as u16);
        out.extend_from_slice(guid);
        out.extend_from_slice(&blob);
    } else {
        out.push(8);
        let mut bytes = session.challenge.to_vec();
        bytes.extend_from_slice(&utf16(&identity.netbios_domain));
        bytes.u16(0);
        bytes.extend_from_slice(&utf16(&identity.netbios_name));
        bytes.u16(0);
        out.u16(bytes.len() as u16);
        out.extend_from_slice(&bytes);
    }
    out
}

/// The OS strings a Windows host puts in its SESSION_SETUP answer.
fn native(identity: &Identity) -> (String, String) {
    let release = identity.release;
    // Windows 10-family hosts still name their LAN manager by the NT 6.3 kernel version.
    (format!("{} {}", release.name, release.build), format!("{} 6.3", release.name))
}

/// Answers one SMB1 request after NEGOTIATE; what it saw.
pub fn answer(request: &[u8], identity: &Identity, session: &mut Session) -> (Vec<u8>, Seen) {
    let command = request.u8_at(4).unwrap_or(0);
    // The client's unicode choice is kept; NT status codes and long names are always on.
    let flags2 = request.u16_at(10).unwrap_or(0) | 0x4000 | 0x0001;
    let words = usize::from(request.u8_at(32).unwrap_or(0));
    let params = request.get(33..33 + words * 2).unwrap_or(&[]);
    let bytes_at = 33 + words * 2 + 2;
    let bytes = request.get(bytes_at..).unwrap_or(&[]);
    match command {
        SESSION_SETUP_ANDX => session_setup(request, params, bytes, bytes_at, identity, session, flags2),
        TREE_CONNECT_ANDX if session.authenticated => {
            let password_len = usize::from(params.u16_at(6).unwrap_or(0));
            let rest = bytes.get(password_len..).unwrap_or(&[]);
            let path = if flags2 & FLAGS2_UNICODE != 0 {
                // UTF-16, aligned to 2 from the header's start.
                let skip = usize::from(!(bytes_at + password_len).is_multiple_of(2));
                let path_bytes = rest.get(skip..).unwrap_or(&[]);
                let end = path_bytes.chunks_exact(2).position(|c| c == [0, 0]).map_or(path_bytes.len(), |i| i * 2);
                super::utf16_name(path_bytes.get(..end).unwrap_or(&[]))
            } else {
                let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len()).min(1024);
                String::from_utf8_lossy(rest.get(..end).unwrap_or(&[])).into_owned()
            };
            let ipc = path.to_ascii_uppercase().ends_with("\\IPC$");
            if !ipc {
                return (
                    error(request, command, BAD_NETWORK_NAME, session.uid, flags2),
                    Seen::TreeConnect(path, false),
                );
            }
            let tid = 0x0800;
            session.ipc_tid = Some(tid);
            let mut out = header(request, command, SUCCESS, session.uid, tid, flags2);
            out.push(3);
            out.extend_from_slice(&[0xff, 0, 0, 0]);
            out.u16(0x0001);
            let mut data = b"IPC\0".to_vec();
            data.extend_from_slice(&[0, 0]);
            out.u16(data.len() as u16);
            out.extend_from_slice(&data);
            (out, Seen::TreeConnect(path, true))
        }
        TRANSACTION if session.authenticated => {
            // Setup words follow the 14 fixed parameter words: [0] the function, [1] the FID.
            let function = params.u16_at(28).unwrap_or(0);
            let fid = params.u16_at(30).unwrap_or(0xffff);
            let tid = request.u16_at(24).unwrap_or(0);
            if function == 0x23 && fid == 0 && Some(tid) == session.ipc_tid {
                // A patched host answers the probe so.
                return (error(request, command, INVALID_HANDLE, session.uid, flags2), Seen::Ms17010Probe);
            }
            (error(request, command, ACCESS_DENIED, session.uid, flags2), Seen::Unsupported(command))
        }
        TREE_DISCONNECT | LOGOFF_ANDX | ECHO if session.authenticated || command == ECHO => {
            let mut out = header(request, command, SUCCESS, session.uid, request.u16_at(24).unwrap_or(0), flags2);
            if command == ECHO {
                out.push(1);
                out.u16(1);
                let data = bytes.get(..bytes.len().min(256)).unwrap_or(&[]);
                out.u16(data.len() as u16);
                out.extend_from_slice(data);
            } else if command == LOGOFF_ANDX {
                out.push(2);
                out.extend_from_slice(&[0xff, 0, 0, 0]);
                out.u16(0);
                session.authenticated = false;
            } else {
                out.extend_from_slice(&[0, 0, 0]);
            }
            (out, Seen::Nothing)
        }
        _ => (error(request, command, NOT_SUPPORTED, session.uid, flags2), Seen::Unsupported(command)),
    }
}

fn session_setup(
    request: &[u8],
    params: &[u8],
    bytes: &[u8],
    bytes_at: usize,
    identity: &Identity,
    session: &mut Session,
    flags2: u16,
) -> (Vec<u8>, Seen) {
    let (os, lanman) = native(identity);
    if params.len() == 24 {
        // Extended security: NTLMSSP in the security blob.
        let blob_len = usize::from(params.u16_at(14).unwrap_or(0));
        let blob = bytes.get(..blob_len).unwrap_or(&[]);
        let (status, token, seen) = match ntlm::parse(blob) {
            Ok(Message::Negotiate { flags }) => {
                session.uid = 0x0800;
                let challenge = ntlm::challenge_message(identity, session.challenge, flags, ntlm::filetime_now());
                (MORE_PROCESSING_REQUIRED, ntlm::spnego_response(NegState::Incomplete, Some(&challenge)), Seen::Nothing)
            }
            Ok(Message::Authenticate(auth)) => {
                let anonymous = auth.anonymous();
                session.authenticated = anonymous;
                let (status, state) =
                    if anonymous { (SUCCESS, NegState::Completed) } else { (LOGON_FAILURE, NegState::Reject) };
                (status, ntlm::spnego_response(state, None), Seen::Login(auth, anonymous))
            }
            Err(_) => (LOGON_FAILURE, Vec::new(), Seen::Unsupported(SESSION_SETUP_ANDX)),
        };
        if status == LOGON_FAILURE {
            return (error(request, SESSION_SETUP_ANDX, status, 0, flags2), seen);
        }
        let mut out = header(request, SESSION_SETUP_ANDX, status, session.uid, 0, flags2);
        out.push(4);
        out.extend_from_slice(&[0xff, 0, 0, 0]);
        out.u16(0).u16(token.len() as u16);
        let mut data = token;
        let start = out.len() + 2;
        let mut strings = vec![0u8; start + data.len()];
        for text in [os.as_str(), lanman.as_str(), identity.netbios_domain.as_str()] {
            string(&mut strings, text, flags2 & FLAGS2_UNICODE != 0);
        }
        data.extend_from_slice(&strings[start + data.len()..]);
        out.u16(data.len() as u16);
        out.extend_from_slice(&data);
        return (out, seen);
    }
    // The old form: passwords answering the negotiate key, then account and domain.
    let oem_len = usize::from(params.u16_at(14).unwrap_or(0));
    let unicode_len = usize::from(params.u16_at(16).unwrap_or(0));
    let lm_response = bytes.get(..oem_len).unwrap_or(&[]).to_vec();
    let nt_response = bytes.get(oem_len..oem_len + unicode_len).unwrap_or(&[]).to_vec();
    let mut at = oem_len + unicode_len;
    let unicode = flags2 & FLAGS2_UNICODE != 0;
    if unicode {
        at += usize::from(!(bytes_at + at).is_multiple_of(2));
    }
    let mut strings = Vec::new();
    for _ in 0..2 {
        let rest = bytes.get(at..).unwrap_or(&[]);
        if unicode {
            let end = rest.chunks_exact(2).position(|c| c == [0, 0]).map_or(rest.len(), |i| i * 2);
            strings.push(super::utf16_name(rest.get(..end).unwrap_or(&[])));
            at += end + 2;
        } else {
            let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len()).min(1024);
            strings.push(String::from_utf8_lossy(rest.get(..end).unwrap_or(&[])).into_owned());
            at += end + 1;
        }
    }
    let auth = Authenticate {
        user: strings.first().cloned().unwrap_or_default(),
        domain: strings.get(1).cloned().unwrap_or_default(),
        lm_response,
        nt_response,
        ..Authenticate::default()
    };
    let anonymous = auth.user.is_empty() && auth.nt_response.iter().all(|b| *b == 0);
    if !anonymous {
        return (error(request, SESSION_SETUP_ANDX, LOGON_FAILURE, 0, flags2), Seen::Login(auth, false));
    }
    session.uid = 0x0800;
    session.authenticated = true;
    let mut out = header(request, SESSION_SETUP_ANDX, SUCCESS, session.uid, 0, flags2);
    out.push(3);
    out.extend_from_slice(&[0xff, 0, 0, 0]);
    out.u16(0);
    let start = out.len() + 2;
    let mut data = vec![0u8; start];
    for text in [os.as_str(), lanman.as_str(), identity.netbios_domain.as_str()] {
        string(&mut data, text, flags2 & FLAGS2_UNICODE != 0);
    }
    let data = data.split_off(start);
    out.u16(data.len() as u16);
    out.extend_from_slice(&data);
    (out, Seen::Login(auth, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persona::Persona;

    fn request(command: u8, flags2: u16, words: &[u8], bytes: &[u8]) -> Vec<u8> {
        let mut out = b"\xffSMB".to_vec();
        out.push(command);
        out.extend_from_slice(&[0; 5]);
        out.extend_from_slice(&flags2.to_le_bytes());
        out.resize(32, 0);
        out.push((words.len() / 2) as u8);
        out.extend_from_slice(words);
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(bytes);
        out
    }

    fn identity() -> Identity {
        Identity::in_domain(&Persona::new("t", "d", Some("fs01"), Some("windows-server"), None), "corp.local")
    }

    #[test]
    fn a_null_session_names_the_os_and_the_probe_is_seen() {
        let id = identity();
        let mut session = Session::default();
        let neg =
            negotiate(&request(NEGOTIATE, FLAGS2_UNICODE, &[], b"\x02NT LM 0.12\0"), 0, &id, &[0; 16], &mut session);
        assert_eq!(neg.u32_at(5), Some(SUCCESS));
        // WordCount 13 session setup with empty passwords and account.
        let mut words = vec![0xff, 0, 0, 0];
        words.extend_from_slice(&[0; 22]);
        let (answer, seen) = answer(&request(SESSION_SETUP_ANDX, FLAGS2_UNICODE, &words, &[0; 6]), &id, &mut session);
        assert!(matches!(seen, Seen::Login(_, true)), "{seen:?}");
        let text = super::super::wire::from_utf16(&answer[answer.len() % 2..]);
        assert!(text.contains(id.release.name), "{text}");
        let mut trans = vec![0u8; 28];
        trans.extend_from_slice(&[0x23, 0, 0, 0]);
        let mut probe = request(TRANSACTION, FLAGS2_UNICODE, &trans, b"\\PIPE\\\0");
        probe[24] = 0x00;
        probe[25] = 0x08;
        session.ipc_tid = Some(0x0800);
        let (reply, seen) = super::answer(&probe, &id, &mut session);
        assert_eq!(seen, Seen::Ms17010Probe);
        assert_eq!(reply.u32_at(5), Some(INVALID_HANDLE));
        for cut in 0..probe.len() {
            let _ = super::answer(&probe[..cut], &id, &mut session);
        }
    }
}
