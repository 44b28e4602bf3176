//! `rdp` (3389): a Windows host's Remote Desktop endpoint up to the credential exchange.
//!
//! The X.224 Connection Request's cookie (`mstshash`) and requested protocols are a
//! `handshake` event, and the answer depends on what the client offered, as on a current
//! Windows host: HYBRID (NLA) → TLS, then CredSSP with NTLM, whose AUTHENTICATE is an
//! `auth_attempt` with the hashcat NetNTLMv2 line and is refused with STATUS_LOGON_FAILURE;
//! SSL only → TLS, and the session ends at the MCS layer (unless `nla` is set, which refuses
//! it as a host that requires NLA does); plain RDP only → RDP_NEG_FAILURE (SSL or HYBRID
//! required). The certificate is self-signed for the host's DNS name, valid six months,
//! as the one Windows makes itself.

use crate::config::Config;
use crate::event::{Fields, Kind, printable};
use crate::ntlm::{self, Message, NegState};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};
use crate::windows::Identity;

/// Requested protocol flags (MS-RDPBCGR 2.2.1.1.1).
const PROTOCOL_SSL: u32 = 0x1;
const PROTOCOL_HYBRID: u32 = 0x2;
const PROTOCOL_HYBRID_EX: u32 = 0x8;
/// RDP_NEG_FAILURE codes.
const SSL_REQUIRED_BY_SERVER: u32 = 0x1;
const HYBRID_REQUIRED_BY_SERVER: u32 = 0x5;
/// Most CredSSP round trips served (NEGOTIATE, AUTHENTICATE).
const MAX_CREDSSP_MESSAGES: usize = 4;

/// The rdp decoy.
pub struct Rdp {
    identity: Identity,
    tls: crate::tls::Acceptor,
    /// Whether NLA is required (plain TLS sessions refused).
    nla: bool,
}

impl Rdp {
    /// The endpoint of `persona` (its Windows identity) with `config`'s `nla`.
    pub fn new(persona: &Persona, config: &Config) -> Result<Self, crate::tls::TlsError> {
        let identity = Identity::of(persona);
        let subject =
            crate::tls::Subject { common_name: identity.dns_name.clone(), alt_names: Vec::new(), valid_days: 182 };
        let tls = crate::tls::acceptor(persona, &subject, None, &[])?;
        Ok(Self { identity, tls, nla: config.bool("nla").unwrap_or(false) })
    }
}

/// A TPKT packet (version 3): its payload.
pub fn tpkt(buf: &[u8]) -> Parse<Vec<u8>> {
    let Some(head) = buf.get(..4) else { return Parse::Incomplete };
    if head[0] != 3 {
        return Parse::Invalid(format!("not a TPKT packet (version byte 0x{:02x})", head[0]));
    }
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    if len < 7 {
        return Parse::Invalid(format!("TPKT length {len}"));
    }
    match buf.get(4..len) {
        Some(payload) => Parse::Done(payload.to_vec(), len),
        None => Parse::Incomplete,
    }
}

/// What an X.224 Connection Request carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionRequest {
    /// The `Cookie: mstshash=` value, if any.
    pub cookie: Option<String>,
    /// The requested protocols (`None` without an RDP_NEG_REQ: plain RDP).
    pub protocols: Option<u32>,
}

/// Reads an X.224 Connection Request (the TPKT payload).
pub fn connection_request(payload: &[u8]) -> Option<ConnectionRequest> {
    let length = usize::from(*payload.first()?);
    if payload.get(1)? & 0xf0 != 0xe0 {
        return None;
    }
    let mut rest = payload.get(7..(length + 1).min(payload.len()))?;
    let mut request = ConnectionRequest::default();
    if let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = &rest[..line_end];
        if let Some(value) = line.strip_prefix(b"Cookie: mstshash=") {
            request.cookie = Some(printable(value));
        }
        rest = &rest[line_end + 2..];
    }
    if rest.first() == Some(&0x01) && rest.len() >= 8 {
        request.protocols = Some(u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]));
    }
    Some(request)
}

/// The X.224 Connection Confirm with an RDP_NEG_RSP (type 2) or RDP_NEG_FAILURE (type 3).
fn connection_confirm(kind: u8, value: u32) -> Vec<u8> {
    let mut out = vec![0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00];
    // Flags: EXTENDED_CLIENT_DATA_SUPPORTED | DYNVC_GFX_PROTOCOL_SUPPORTED | RESTRICTED_ADMIN_MODE_SUPPORTED
    // | REDIRECTED_AUTHENTICATION_MODE_SUPPORTED, as Windows 10 and Server 2016+ answer.
    let flags = if kind == 2 { 0x1f } else { 0x00 };
    out.extend_from_slice(&[kind, flags, 0x08, 0x00]);
    out.extend_from_slice(&value.to_le_bytes());
    out
}

/// One DER element (a CredSSP TSRequest): its bytes.
pub fn der_message(buf: &[u8]) -> Parse<Vec<u8>> {
    let (Some(&tag), Some(&first)) = (buf.first(), buf.get(1)) else { return Parse::Incomplete };
    if tag != 0x30 {
        return Parse::Invalid(format!("not a TSRequest (tag 0x{tag:02x})"));
    }
    let (header, len) = match first {
        n if n < 0x80 => (2, usize::from(n)),
        0x81..=0x83 => {
            let count = usize::from(first & 0x7f);
            let Some(bytes) = buf.get(2..2 + count) else { return Parse::Incomplete };
            (2 + count, bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
        }
        _ => return Parse::Invalid("unsupported DER length".into()),
    };
    match buf.get(..header + len) {
        Some(message) => Parse::Done(message.to_vec(), header + len),
        None => Parse::Incomplete,
    }
}

/// The CredSSP version a TSRequest names (`[0] INTEGER` first in the sequence).
fn credssp_version(message: &[u8]) -> Option<u8> {
    let at = message.windows(3).position(|w| w == [0xa0, 0x03, 0x02])?;
    (message.get(at + 3) == Some(&1)).then(|| message.get(at + 4).copied()).flatten()
}

/// A DER element `tag` around `body`.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

/// A TSRequest of `version` carrying `token`, or `error` (an NTSTATUS, CredSSP 3+).
fn ts_request(version: u8, token: Option<&[u8]>, error: Option<u32>) -> Vec<u8> {
    let mut body = der(0xa0, &der(0x02, &[version]));
    if let Some(token) = token {
        body.extend_from_slice(&der(0xa1, &der(0x30, &der(0x30, &der(0xa0, &der(0x04, token))))));
    }
    if let Some(code) = error {
        // A positive INTEGER: a leading zero when the high bit is set.
        let mut value = vec![0];
        value.extend_from_slice(&code.to_be_bytes());
        body.extend_from_slice(&der(0xa4, &der(0x02, &value)));
    }
    der(0x30, &body)
}

fn protocol_names(protocols: Option<u32>) -> Vec<serde_json::Value> {
    let Some(p) = protocols else { return vec!["RDP".into()] };
    let mut names = vec![];
    if p == 0 {
        names.push("RDP".into());
    }
    for (bit, name) in [(1, "SSL"), (2, "HYBRID"), (4, "RDSTLS"), (8, "HYBRID_EX"), (0x10, "RDSAAD")] {
        if p & bit != 0 {
            names.push(name.into());
        }
    }
    names
}

impl Decoy for Rdp {
    fn name(&self) -> &'static str {
        "rdp"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        let payload = match conn.frame(tpkt).await {
            Ok(payload) => payload,
            Err(end) => return end,
        };
        let Some(request) = connection_request(&payload) else {
            conn.violation_in("not an X.224 Connection Request", &payload).await;
            return End::Violation;
        };
        let offered = request.protocols.unwrap_or(0);
        let (answer, selected) = if offered & (PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX) != 0 {
            let hybrid = if offered & PROTOCOL_HYBRID_EX != 0 { PROTOCOL_HYBRID_EX } else { PROTOCOL_HYBRID };
            (connection_confirm(2, hybrid), Some(hybrid))
        } else if offered & PROTOCOL_SSL != 0 && !self.nla {
            (connection_confirm(2, PROTOCOL_SSL), Some(PROTOCOL_SSL))
        } else {
            let code = if self.nla || offered & PROTOCOL_SSL != 0 {
                HYBRID_REQUIRED_BY_SERVER
            } else {
                SSL_REQUIRED_BY_SERVER
            };
            (connection_confirm(3, code), None)
        };
        let mut fields = Fields::default()
            .detail("requested_protocols", protocol_names(request.protocols))
            .detail("selected", selected.map_or_else(|| "refused".into(), |p| protocol_names(Some(p))[0].clone()));
        if let Some(cookie) = &request.cookie {
            fields = fields.detail("cookie", cookie.as_str());
        }
        conn.log.record(Kind::Handshake, fields).await;
        if let Err(end) = conn.write(&answer).await {
            return end;
        }
        let Some(selected) = selected else { return End::Done };
        if let Err(end) = conn.start_tls(&self.tls).await {
            return end;
        }
        if selected == PROTOCOL_SSL {
            // The MCS Connect Initial would follow: the session ends there.
            let _ = conn.fill().await;
            return End::Done;
        }
        self.credssp(conn).await
    }
}

impl Rdp {
    /// CredSSP over the TLS channel: the NTLM exchange, its AUTHENTICATE captured and refused.
    async fn credssp(&self, conn: &mut Conn) -> End {
        let mut challenge = [0u8; 8];
        for _ in 0..MAX_CREDSSP_MESSAGES {
            let message = match conn.frame(der_message).await {
                Ok(message) => message,
                Err(end) => return end,
            };
            let version = credssp_version(&message).unwrap_or(2).clamp(2, 6);
            // A client that wraps NTLM in SPNEGO (the SPNEGO OID in its token) gets SPNEGO back.
            let spnego = message.windows(6).any(|w| w == [0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]);
            match ntlm::parse(&message) {
                Ok(Message::Negotiate { flags }) => {
                    challenge = ntlm::random();
                    let token = ntlm::challenge_message(&self.identity, challenge, flags, ntlm::filetime_now());
                    let token = if spnego { ntlm::spnego_response(NegState::Incomplete, Some(&token)) } else { token };
                    if let Err(end) = conn.write(&ts_request(version, Some(&token), None)).await {
                        return end;
                    }
                }
                Ok(Message::Authenticate(auth)) => {
                    let fields = ntlm::attempt_fields(&auth, challenge, "credssp-ntlm", "failure")
                        .detail("credssp_version", version);
                    conn.log.record(Kind::AuthAttempt, fields).await;
                    // STATUS_LOGON_FAILURE, as a host answers a wrong password.
                    let _ = conn.write(&ts_request(version, None, Some(0xc000_006d))).await;
                    return End::Done;
                }
                Err(err) => {
                    conn.violation_in(&format!("CredSSP: {err}"), &message).await;
                    return End::Violation;
                }
            }
        }
        End::Done
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// mstsc's Connection Request: cookie and RDP_NEG_REQ offering SSL | HYBRID.
    const MSTSC: &[u8] =
        b"\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=admin\r\n\x01\x00\x08\x00\x03\x00\x00\x00";

    #[test]
    fn a_connection_request_gives_its_cookie_and_protocols() {
        let Parse::Done(payload, used) = tpkt(MSTSC) else { panic!("not framed") };
        assert_eq!(used, MSTSC.len());
        let request = connection_request(&payload).unwrap();
        assert_eq!(request.cookie.as_deref(), Some("admin"));
        assert_eq!(request.protocols, Some(PROTOCOL_SSL | PROTOCOL_HYBRID));
        assert_eq!(tpkt(&MSTSC[..10]), Parse::Incomplete);
        assert!(matches!(tpkt(b"\x16\x03\x01\x00\x05"), Parse::Invalid(_)));
    }

    #[test]
    fn confirms_and_ts_requests_have_correct_lengths() {
        let confirm = connection_confirm(2, PROTOCOL_HYBRID);
        assert_eq!(usize::from(confirm[3]), confirm.len());
        assert_eq!(usize::from(confirm[4]) + 5, confirm.len());
        let request = ts_request(6, Some(&[7u8; 300]), None);
        let Parse::Done(message, used) = der_message(&request) else { panic!("not DER") };
        assert_eq!((message.len(), used), (request.len(), request.len()));
        assert_eq!(credssp_version(&request), Some(6));
        let failure = ts_request(6, None, Some(0xc000_006d));
        assert!(failure.ends_with(&[0x02, 0x05, 0x00, 0xc0, 0x00, 0x00, 0x6d]));
    }

    #[test]
    fn truncated_requests_are_not_panics() {
        for cut in 0..MSTSC.len() {
            let _ = connection_request(&MSTSC[4..cut.max(4)]);
            let _ = der_message(&MSTSC[..cut]);
        }
    }
}
