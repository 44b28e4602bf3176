//! NTLM as a Windows server speaks it, for every decoy that authenticates with it (SMB,
//! RDP's CredSSP, LDAP's SASL, MSSQL): the CHALLENGE with the identity's names, a
//! timestamp and the version block (which nmap and NetExec read the OS build from), and the
//! AUTHENTICATE turned into a hashcat-ready NetNTLMv1/v2 line with the server challenge.
//!
//! SPNEGO is handled only as far as servers must: the NTLM message is found inside the
//! client's token by its signature, and answers are wrapped in a minimal NegTokenResp.

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;

type HmacMd5 = Hmac<Md5>;

/// Longest NT response recorded as a hashcat line (real clients send a few hundred bytes).
const MAX_RECORDED_RESPONSE: usize = 2048;

use crate::event::{Fields, Secret, SecretKind, printable};
use crate::windows::Identity;

/// The NTLMSSP signature every message starts with.
pub const SIGNATURE: &[u8] = b"NTLMSSP\0";
/// The NTLMSSP mechanism's OID (1.3.6.1.4.1.311.2.2.10), DER-encoded.
pub const NTLMSSP_OID: &[u8] = &[0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// The SPNEGO OID (1.3.6.1.5.5.2), DER-encoded.
const SPNEGO_OID: &[u8] = &[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

/// Negotiate flags (MS-NLMP 2.2.2.5).
mod flag {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const SIGN: u32 = 0x0000_0010;
    pub const SEAL: u32 = 0x0000_0020;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const N128: u32 = 0x2000_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const N56: u32 = 0x8000_0000;
}

/// What the server offers whatever the client asked: what Windows answers a current client.
const SERVER_FLAGS: u32 = flag::UNICODE
    | flag::REQUEST_TARGET
    | flag::SIGN
    | flag::SEAL
    | flag::NTLM
    | flag::ALWAYS_SIGN
    | flag::EXTENDED_SESSIONSECURITY
    | flag::TARGET_INFO
    | flag::VERSION
    | flag::N128
    | flag::KEY_EXCH
    | flag::N56;

/// Windows time (100 ns since 1601) of a Unix time in seconds.
pub fn filetime(unix_seconds: i64) -> u64 {
    u64::try_from(unix_seconds.saturating_add(11_644_473_600)).unwrap_or(0).saturating_mul(10_000_000)
}

/// Windows time now.
pub fn filetime_now() -> u64 {
    let now = chrono::Utc::now();
    filetime(now.timestamp()) + u64::from(now.timestamp_subsec_nanos() / 100)
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The CHALLENGE message (type 2) for `identity` with `challenge`, answering a client that
/// sent `client_flags` in its NEGOTIATE.
pub fn challenge_message(identity: &Identity, challenge: [u8; 8], client_flags: u32, now: u64) -> Vec<u8> {
    let target_type = if identity.windows && !identity.dns_domain.is_empty() {
        flag::TARGET_TYPE_DOMAIN
    } else {
        flag::TARGET_TYPE_SERVER
    };
    // OEM strings are not offered: every current client speaks Unicode.
    let flags = (SERVER_FLAGS & (client_flags | !(flag::SIGN | flag::SEAL | flag::KEY_EXCH))) | target_type;
    let target_name = utf16(&identity.netbios_domain);
    let mut info = Vec::new();
    let mut pair = |id: u16, value: &[u8]| {
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&u16::try_from(value.len()).unwrap_or(0).to_le_bytes());
        info.extend_from_slice(value);
    };
    pair(2, &utf16(&identity.netbios_domain));
    pair(1, &utf16(&identity.netbios_name));
    pair(4, &utf16(&identity.dns_domain));
    pair(3, &utf16(&identity.dns_name));
    if !identity.dns_domain.is_empty() {
        pair(5, &utf16(&identity.dns_domain));
    }
    pair(7, &now.to_le_bytes());
    pair(0, &[]);

    const HEADER: usize = 56;
    let mut out = Vec::with_capacity(HEADER + target_name.len() + info.len());
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&2u32.to_le_bytes());
    let field = |out: &mut Vec<u8>, len: usize, offset: usize| {
        let len = u16::try_from(len).unwrap_or(0);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&u32::try_from(offset).unwrap_or(0).to_le_bytes());
    };
    field(&mut out, target_name.len(), HEADER);
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&challenge);
    out.extend_from_slice(&[0; 8]);
    field(&mut out, info.len(), HEADER + target_name.len());
    let release = identity.release;
    out.extend_from_slice(&[release.major, release.minor]);
    out.extend_from_slice(&release.build.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 15]);
    out.extend_from_slice(&target_name);
    out.extend_from_slice(&info);
    out
}

/// A client's NTLM message, as far as a server needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// NEGOTIATE (type 1), with the client's flags.
    Negotiate {
        /// Its negotiate flags.
        flags: u32,
    },
    /// AUTHENTICATE (type 3).
    Authenticate(Authenticate),
}

/// The AUTHENTICATE message's fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authenticate {
    /// The user name.
    pub user: String,
    /// The domain the user named.
    pub domain: String,
    /// The client's computer name.
    pub workstation: String,
    /// The LM challenge response.
    pub lm_response: Vec<u8>,
    /// The NT challenge response (24 bytes for NTLMv1, more for NTLMv2).
    pub nt_response: Vec<u8>,
    /// The negotiate flags.
    pub flags: u32,
    /// The client's OS version block (`10.0.19041`), if it sent one.
    pub version: Option<String>,
}

impl Authenticate {
    /// An anonymous login (no user, no NT response), as null sessions are.
    pub fn anonymous(&self) -> bool {
        self.user.is_empty() && self.nt_response.is_empty()
    }

    /// The hashcat line for this response to `challenge`: NetNTLMv2 (mode 5600) or
    /// NetNTLMv1 (mode 5500); `None` for an anonymous login.
    pub fn hashcat(&self, challenge: [u8; 8]) -> Option<(String, &'static str)> {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        match self.nt_response.len() {
            0 => None,
            24 => Some((
                format!(
                    "{}::{}:{}:{}:{}",
                    self.user,
                    self.domain,
                    hex(&self.lm_response),
                    hex(&self.nt_response),
                    hex(&challenge)
                ),
                "netntlmv1",
            )),
            n if n > 16 => {
                let (proof, blob) = self.nt_response.split_at(16);
                Some((
                    format!("{}::{}:{}:{}:{}", self.user, self.domain, hex(&challenge), hex(proof), hex(blob)),
                    "netntlmv2",
                ))
            }
            _ => None,
        }
    }

    /// Whether this NTLMv2 response to `challenge` was made with `password` (for the
    /// logins a decoy lets in).
    pub fn verifies(&self, challenge: [u8; 8], password: &str) -> bool {
        let Some((proof, blob)) = self.nt_response.split_at_checked(16).filter(|(_, blob)| !blob.is_empty()) else {
            return false;
        };
        proof == nt_proof(password, &self.user, &self.domain, challenge, blob)
    }
}

/// The `auth_attempt` fields of `auth`, which answered `challenge`: the principal
/// (`DOMAIN\user`), the hashcat line with the challenge as salt, the client's workstation,
/// flags and version, `method` and `outcome`.
pub fn attempt_fields(auth: &Authenticate, challenge: [u8; 8], method: &str, outcome: &str) -> Fields {
    let principal = if auth.domain.is_empty() { auth.user.clone() } else { format!("{}\\{}", auth.domain, auth.user) };
    let mut fields = Fields::default()
        .principal(principal.as_bytes())
        .detail("method", method)
        .detail("workstation", auth.workstation.as_str())
        .detail("ntlm_flags", format!("0x{:08x}", auth.flags))
        .detail("outcome", outcome);
    if let Some(version) = &auth.version {
        fields = fields.detail("client_version", version.as_str());
    }
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if auth.nt_response.len() <= MAX_RECORDED_RESPONSE
        && let Some((line, kind)) = auth.hashcat(challenge)
    {
        let kind = if kind == "netntlmv2" { SecretKind::NetNtlmv2 } else { SecretKind::NetNtlmv1 };
        fields = fields.secret(Secret { kind, value: printable(line.as_bytes()), salt: Some(hex(&challenge)) });
    }
    fields
}

/// A fresh random server challenge (or salt, or id).
pub fn random<const N: usize>() -> [u8; N] {
    use rand::{RngCore, SeedableRng};
    let mut bytes = [0u8; N];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut bytes);
    bytes
}

/// NTProofStr = HMAC-MD5(NTOWFv2, server challenge ‖ blob) (MS-NLMP 3.3.2).
pub fn nt_proof(password: &str, user: &str, domain: &str, challenge: [u8; 8], blob: &[u8]) -> [u8; 16] {
    let nt_hash = Md4::digest(utf16(password));
    // HMAC takes keys of any length: these constructors never fail.
    let Ok(mut owf) = HmacMd5::new_from_slice(&nt_hash) else { return [0; 16] };
    owf.update(&utf16(&user.to_uppercase()));
    owf.update(&utf16(domain));
    let Ok(mut proof) = HmacMd5::new_from_slice(&owf.finalize().into_bytes()) else { return [0; 16] };
    proof.update(&challenge);
    proof.update(blob);
    proof.finalize().into_bytes().into()
}

/// Why a client's NTLM message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    /// No NTLMSSP message in the token.
    #[error("no NTLMSSP message in the security token")]
    Missing,
    /// A field points outside the message or the message is cut short.
    #[error("NTLM message truncated or with a field outside it")]
    Truncated,
    /// A message type a client does not send.
    #[error("unexpected NTLM message type {0}")]
    Type(u32),
}

/// The NTLM message inside `token` (raw, or wrapped in SPNEGO/GSS-API).
pub fn parse(token: &[u8]) -> Result<Message, NtlmError> {
    let start = token.windows(SIGNATURE.len()).position(|w| w == SIGNATURE).ok_or(NtlmError::Missing)?;
    let message = token.get(start..).ok_or(NtlmError::Missing)?;
    let u32_at = |at: usize| -> Result<u32, NtlmError> {
        let bytes = message.get(at..at + 4).ok_or(NtlmError::Truncated)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    match u32_at(8)? {
        1 => Ok(Message::Negotiate { flags: u32_at(12)? }),
        3 => {
            let field = |at: usize| -> Result<&[u8], NtlmError> {
                let len = usize::from(u16::from_le_bytes([
                    *message.get(at).ok_or(NtlmError::Truncated)?,
                    *message.get(at + 1).ok_or(NtlmError::Truncated)?,
                ]));
                let offset = usize::try_from(u32_at(at + 4)?).map_err(|_| NtlmError::Truncated)?;
                message.get(offset..offset.checked_add(len).ok_or(NtlmError::Truncated)?).ok_or(NtlmError::Truncated)
            };
            let flags = u32_at(60)?;
            let text = |bytes: &[u8]| -> String {
                if flags & flag::UNICODE != 0 {
                    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                    String::from_utf16_lossy(&units)
                } else {
                    String::from_utf8_lossy(bytes).into_owned()
                }
            };
            // The version block follows the fixed fields when the client says so and the
            // payload starts after it.
            let version = (flags & flag::VERSION != 0)
                .then(|| message.get(64..72))
                .flatten()
                .filter(|v| v[0] != 0)
                .map(|v| format!("{}.{}.{}", v[0], v[1], u16::from_le_bytes([v[2], v[3]])));
            Ok(Message::Authenticate(Authenticate {
                lm_response: field(12)?.to_vec(),
                nt_response: field(20)?.to_vec(),
                domain: text(field(28)?),
                user: text(field(36)?),
                workstation: text(field(44)?),
                flags,
                version,
            }))
        }
        other => Err(NtlmError::Type(other)),
    }
}

/// A DER length.
fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

/// A DER element: `tag`, its length, `body`.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// The SPNEGO NegTokenInit a server puts in its SMB NEGOTIATE response: NTLMSSP offered.
pub fn spnego_init() -> Vec<u8> {
    let mech_types = der(0xa0, &der(0x30, NTLMSSP_OID));
    let init = der(0xa0, &der(0x30, &mech_types));
    let mut body = SPNEGO_OID.to_vec();
    body.extend_from_slice(&init);
    der(0x60, &body)
}

/// The state a NegTokenResp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegState {
    /// Authentication succeeded.
    Completed = 0,
    /// Another leg follows (with the CHALLENGE).
    Incomplete = 1,
    /// Authentication failed.
    Reject = 2,
}

/// A SPNEGO NegTokenResp with `state` and, on the first answer, the NTLM `token`.
pub fn spnego_response(state: NegState, token: Option<&[u8]>) -> Vec<u8> {
    let mut seq = der(0xa0, &der(0x0a, &[state as u8]));
    if let Some(token) = token {
        seq.extend_from_slice(&der(0xa1, NTLMSSP_OID));
        seq.extend_from_slice(&der(0xa2, &der(0x04, token)));
    }
    der(0xa1, &der(0x30, &seq))
}

/// Whether a client's token is SPNEGO-wrapped (then answers are wrapped too).
pub fn is_spnego(token: &[u8]) -> bool {
    matches!(token.first(), Some(0x60 | 0xa1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::persona::Persona;

    fn identity() -> Identity {
        let persona = Persona::new("t", "d", Some("fs01"), Some("windows-server"), None);
        Identity::in_domain(&persona, "corp.local")
    }

    /// An AUTHENTICATE message as a client builds one (Unicode, with a version block).
    pub(crate) fn authenticate(user: &str, domain: &str, host: &str, lm: &[u8], nt: &[u8]) -> Vec<u8> {
        let (user, domain, host) = (utf16(user), utf16(domain), utf16(host));
        let mut payload = Vec::new();
        let mut fields = Vec::new();
        for part in [lm, nt, &domain[..], &user[..], &host[..], &[][..]] {
            fields.push((part.len(), 88 + payload.len()));
            payload.extend_from_slice(part);
        }
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        for (len, offset) in fields {
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&(offset as u32).to_le_bytes());
        }
        out.extend_from_slice(&(flag::UNICODE | flag::VERSION | flag::EXTENDED_SESSIONSECURITY).to_le_bytes());
        out.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn the_challenge_names_the_host_and_domain_and_carries_the_version() {
        let id = identity();
        let msg = challenge_message(&id, *b"\x01\x23\x45\x67\x89\xab\xcd\xef", flag::UNICODE | flag::SIGN, 42);
        assert_eq!(&msg[..8], SIGNATURE);
        assert_eq!(&msg[24..32], b"\x01\x23\x45\x67\x89\xab\xcd\xef");
        assert_eq!(msg[48], 10, "major version");
        assert_eq!(u16::from_le_bytes([msg[50], msg[51]]), id.release.build);
        let text = String::from_utf16_lossy(
            &msg[56..].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect::<Vec<_>>(),
        );
        assert!(text.contains("CORP") && text.contains("FS01") && text.contains("fs01.corp.local"), "{text}");
        let flags = u32::from_le_bytes([msg[20], msg[21], msg[22], msg[23]]);
        assert_ne!(flags & flag::TARGET_TYPE_DOMAIN, 0);
    }

    #[test]
    fn an_ntlmv2_response_becomes_a_hashcat_line_that_verifies() {
        let challenge = *b"\x11\x22\x33\x44\x55\x66\x77\x88";
        let blob = b"\x01\x01\x00\x00\x00\x00\x00\x00blob-with-client-challenge-and-av-pairs";
        let mut nt = nt_proof("Winter2024!", "alice", "CORP", challenge, blob).to_vec();
        nt.extend_from_slice(blob);
        let token = authenticate("alice", "CORP", "WS-042", &[0; 24], &nt);
        let Message::Authenticate(auth) = parse(&token).unwrap() else { panic!("not an authenticate") };
        assert_eq!((auth.user.as_str(), auth.domain.as_str(), auth.workstation.as_str()), ("alice", "CORP", "WS-042"));
        assert_eq!(auth.version.as_deref(), Some("10.0.19041"));
        let (line, kind) = auth.hashcat(challenge).unwrap();
        assert_eq!(kind, "netntlmv2");
        assert!(line.starts_with("alice::CORP:1122334455667788:"), "{line}");
        assert!(auth.verifies(challenge, "Winter2024!"));
        assert!(!auth.verifies(challenge, "winter2024!"));
    }

    #[test]
    fn truncated_and_foreign_messages_are_errors_not_panics() {
        let token = authenticate("a", "b", "c", &[1; 24], &[2; 24]);
        for cut in 0..token.len() {
            let _ = parse(&token[..cut]);
        }
        assert_eq!(parse(b"hello"), Err(NtlmError::Missing));
        assert_eq!(parse(b"NTLMSSP\0\x02\0\0\0"), Err(NtlmError::Type(2)));
        let mut bad = token.clone();
        bad[24] = 0xff; // the NT response's offset far outside the message
        bad[25] = 0xff;
        assert_eq!(parse(&bad), Err(NtlmError::Truncated));
    }

    #[test]
    fn spnego_wraps_with_correct_lengths() {
        let init = spnego_init();
        assert_eq!(init[0], 0x60);
        assert_eq!(usize::from(init[1]), init.len() - 2);
        let resp = spnego_response(NegState::Incomplete, Some(&[0u8; 200]));
        assert_eq!(&resp[..2], &[0xa1, 0x81]);
        assert_eq!(usize::from(resp[2]), resp.len() - 3);
    }
}
