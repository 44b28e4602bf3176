//! LDAP (389) as an Active Directory domain controller shows it to an unauthenticated
//! client: BER through `rasn-ldap`, one message per frame (definite lengths, bounded),
//! message ids echoed. The rootDSE (a base search of the empty DN) answers what AD
//! answers: naming contexts, `dnsHostName`, supported versions and SASL mechanisms,
//! functional levels. Anonymous binds succeed and may read only the rootDSE; simple binds
//! are recorded with their DN and password and refused as invalid credentials. NTLM binds,
//! both Microsoft's "Sicily" bind (impacket, ldp.exe) and SASL GSS-SPNEGO/NTLM, get the
//! decky's NTLM challenge and are recorded as NetNTLMv2 lines, then refused; other SASL
//! binds are recorded by mechanism and refused. Nothing is ever written.

use std::collections::BTreeSet;

use rasn::types::OctetString;
use rasn_ldap::{
    AddResponse, AuthenticationChoice, BindResponse, CompareResponse, DelResponse, ExtendedResponse, LdapMessage,
    LdapResult, ModifyDnResponse, ModifyResponse, PartialAttribute, ProtocolOp, ResultCode, SearchRequest,
    SearchRequestScope, SearchResultDone, SearchResultEntry,
};

use crate::config::Config;
use crate::event::{Fields, Kind, Secret};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};

/// Largest LDAP message accepted (AD's default MaxReceiveBuffer is 10 MiB; a decoy needs
/// far less).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// The length of the BER-framed LDAP message at the start of `buf`: a universal
/// SEQUENCE with a definite length of at most [`MAX_MESSAGE`].
pub fn frame(buf: &[u8]) -> Parse<usize> {
    let Some(&tag) = buf.first() else { return Parse::Incomplete };
    if tag != 0x30 {
        return Parse::Invalid(format!("not an LDAP message (tag 0x{tag:02x})"));
    }
    let Some(&first) = buf.get(1) else { return Parse::Incomplete };
    let (header, length) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return Parse::Invalid("indefinite or oversized BER length".into());
        }
        let Some(bytes) = buf.get(2..2 + count) else { return Parse::Incomplete };
        (2 + count, bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b)))
    };
    if length > MAX_MESSAGE {
        return Parse::Invalid(format!("message of {length} bytes"));
    }
    if buf.len() < header + length { Parse::Incomplete } else { Parse::Done(header + length, header + length) }
}

/// AD's refusal of an operation on an anonymous connection.
const BIND_FIRST: &str = "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful \
                          bind must be completed on the connection., data 0, v4563";
/// AD's refusal of an operation it does not offer.
const UNSUPPORTED: &str = "00002035: LdapErr: DSID-0C090F78, comment: operation not supported, data 0, v4563";

/// The bytes of the LDAP message at the start of `buf`.
fn message_bytes(buf: &[u8]) -> Parse<Vec<u8>> {
    match frame(buf) {
        Parse::Done(length, used) => Parse::Done(buf[..length].to_vec(), used),
        Parse::Incomplete => Parse::Incomplete,
        Parse::Invalid(reason) => Parse::Invalid(reason),
    }
}

/// An NTLM bind at the start of an LDAP message: the message id, the NTLM token, and
/// whether it came through SASL (else Microsoft's Sicily bind, tags 9 to 11, which BER
/// libraries do not know).
fn ntlm_bind(message: &[u8]) -> Option<(u32, &[u8], bool)> {
    let at = match *message.get(1)? {
        n if n < 0x80 => 2,
        n => 2 + usize::from(n & 0x7f),
    };
    if message.get(at)? != &0x02 {
        return None;
    }
    let id_len = usize::from(*message.get(at + 1)?);
    let id = message
        .get(at + 2..at + 2 + id_len)
        .filter(|b| b.len() <= 4)?
        .iter()
        .fold(0u32, |a, b| (a << 8) | u32::from(*b));
    if message.get(at + 2 + id_len)? != &0x60 {
        return None;
    }
    let start = message.windows(crate::ntlm::SIGNATURE.len()).position(|w| w == crate::ntlm::SIGNATURE)?;
    let sasl = message.windows(10).any(|w| w == b"GSS-SPNEGO") || message.windows(6).any(|w| w == b"\x04\x04NTLM");
    Some((id, message.get(start..)?, sasl))
}

impl Ldap {
    /// One leg of an NTLM bind: the CHALLENGE for a NEGOTIATE (in `matchedDN` for a Sicily
    /// bind, as AD puts it, or as SASL credentials), a refusal for an AUTHENTICATE.
    async fn ntlm(&self, conn: &mut Conn, challenge: &mut [u8; 8], token: &[u8], sasl: bool) -> BindResponse {
        let method = if sasl { "sasl-ntlm" } else { "sicily-ntlm" };
        let text = |t: &str| OctetString::from(t.as_bytes().to_vec());
        match crate::ntlm::parse(token) {
            Ok(crate::ntlm::Message::Negotiate { flags }) => {
                *challenge = crate::ntlm::random();
                let message =
                    crate::ntlm::challenge_message(&self.identity, *challenge, flags, crate::ntlm::filetime_now());
                if sasl {
                    let creds = crate::ntlm::spnego_response(crate::ntlm::NegState::Incomplete, Some(&message));
                    BindResponse::new(ResultCode::SaslBindInProgress, text(""), text(""), None, Some(creds.into()))
                } else {
                    BindResponse::new(ResultCode::Success, message.into(), text(""), None, None)
                }
            }
            Ok(crate::ntlm::Message::Authenticate(auth)) => {
                let fields = crate::ntlm::attempt_fields(&auth, *challenge, method, "failure");
                conn.log.record(Kind::AuthAttempt, fields).await;
                BindResponse::new(
                    ResultCode::InvalidCredentials,
                    text(""),
                    text("80090308: LdapErr: DSID-0C090569, comment: AcceptSecurityContext error, data 52e, v4563"),
                    None,
                    None,
                )
            }
            Err(err) => {
                conn.violation_in(&format!("NTLM bind: {err}"), token).await;
                BindResponse::new(ResultCode::ProtocolError, text(""), text(""), None, None)
            }
        }
    }
}

/// The directory a domain controller of `domain` shows.
#[derive(Debug)]
pub struct Ldap {
    /// Who the DC is to NTLM.
    identity: crate::windows::Identity,
    /// The rootDSE's attributes, in the order AD lists them.
    root_dse: Vec<(&'static str, Vec<String>)>,
}

/// `corp.example` → `DC=corp,DC=example`.
fn domain_dn(domain: &str) -> String {
    domain.split('.').filter(|p| !p.is_empty()).map(|p| format!("DC={p}")).collect::<Vec<_>>().join(",")
}

impl Ldap {
    /// The directory of `persona` in the domain of `config` (`domain`, default the decky's
    /// domain, as SMB and NTLM name it).
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let domain = config.string("domain").map_or_else(crate::windows::domain, str::to_ascii_lowercase);
        let identity = crate::windows::Identity::in_domain(persona, &domain);
        let base = domain_dn(&domain);
        let host = persona.hostname.to_ascii_uppercase();
        let config_nc = format!("CN=Configuration,{base}");
        let server = format!("CN={host},CN=Servers,CN=Default-First-Site-Name,CN=Sites,{config_nc}");
        let realm = domain.to_ascii_uppercase();
        let usn = (persona.derive("ldap usn") % 900_000 + 100_000).to_string();
        let one = |v: String| vec![v];
        let root_dse = vec![
            ("currentTime", Vec::new()),
            ("subschemaSubentry", one(format!("CN=Aggregate,CN=Schema,{config_nc}"))),
            ("dsServiceName", one(format!("CN=NTDS Settings,{server}"))),
            (
                "namingContexts",
                vec![
                    base.clone(),
                    config_nc.clone(),
                    format!("CN=Schema,{config_nc}"),
                    format!("DC=DomainDnsZones,{base}"),
                    format!("DC=ForestDnsZones,{base}"),
                ],
            ),
            ("defaultNamingContext", one(base.clone())),
            ("rootDomainNamingContext", one(base.clone())),
            ("configurationNamingContext", one(config_nc.clone())),
            ("schemaNamingContext", one(format!("CN=Schema,{config_nc}"))),
            ("serverName", one(server)),
            ("supportedLDAPVersion", vec!["3".into(), "2".into()]),
            ("highestCommittedUSN", one(usn)),
            (
                "supportedSASLMechanisms",
                vec!["GSSAPI".into(), "GSS-SPNEGO".into(), "EXTERNAL".into(), "DIGEST-MD5".into()],
            ),
            ("dnsHostName", one(format!("{}.{domain}", persona.hostname.to_ascii_lowercase()))),
            ("ldapServiceName", one(format!("{domain}:{}$@{realm}", persona.hostname.to_ascii_lowercase()))),
            ("supportedCapabilities", vec!["1.2.840.113556.1.4.800".into(), "1.2.840.113556.1.4.1670".into()]),
            ("isSynchronized", one("TRUE".into())),
            ("isGlobalCatalogReady", one("TRUE".into())),
            ("domainFunctionality", one("7".into())),
            ("forestFunctionality", one("7".into())),
            ("domainControllerFunctionality", one("7".into())),
        ];
        Self { identity, root_dse }
    }

    /// The rootDSE entry with the attributes `wanted` asks for (all for none or `*`).
    fn root_entry(&self, wanted: &[String]) -> SearchResultEntry {
        let all = wanted.is_empty() || wanted.iter().any(|w| w == "*" || w == "+");
        let attributes = self
            .root_dse
            .iter()
            .filter(|(name, _)| all || wanted.iter().any(|w| w.eq_ignore_ascii_case(name)))
            .map(|(name, values)| {
                let values = if *name == "currentTime" {
                    vec![chrono::Utc::now().format("%Y%m%d%H%M%S.0Z").to_string()]
                } else {
                    values.clone()
                };
                let vals: BTreeSet<OctetString> =
                    values.into_iter().map(|v| OctetString::from(v.into_bytes())).collect();
                PartialAttribute::new(OctetString::from(name.as_bytes().to_vec()), vals)
            })
            .collect();
        SearchResultEntry::new(OctetString::new(), attributes)
    }

    /// The answers to one request, in order (none for an unbind or an abandon).
    fn answer(&self, id: u32, op: &ProtocolOp) -> Vec<LdapMessage> {
        let result = |code: ResultCode, text: &str| {
            LdapResult::new(code, OctetString::new(), OctetString::from(text.as_bytes().to_vec()))
        };
        match op {
            ProtocolOp::BindRequest(bind) => {
                let anonymous = matches!(&bind.authentication, AuthenticationChoice::Simple(p) if p.is_empty());
                let (code, text) = match &bind.authentication {
                    _ if bind.version != 3 && bind.version != 2 => (
                        ResultCode::ProtocolError,
                        "00002021: LdapErr: DSID-0C0907D2, comment: Unsupported version, data 0, v4563",
                    ),
                    _ if anonymous => (ResultCode::Success, ""),
                    AuthenticationChoice::Simple(_) => (
                        ResultCode::InvalidCredentials,
                        "80090308: LdapErr: DSID-0C090569, comment: AcceptSecurityContext error, data 52e, v4563",
                    ),
                    _ => (
                        ResultCode::AuthMethodNotSupported,
                        "00002027: LdapErr: DSID-0C090639, comment: The server does not support the requested SASL mechanism, data 0, v4563",
                    ),
                };
                let response = BindResponse::new(
                    code,
                    OctetString::new(),
                    OctetString::from(text.as_bytes().to_vec()),
                    None,
                    None,
                );
                vec![LdapMessage::new(id, ProtocolOp::BindResponse(response))]
            }
            ProtocolOp::SearchRequest(search) if is_root_dse(search) => {
                let wanted: Vec<String> =
                    search.attributes.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                vec![
                    LdapMessage::new(id, ProtocolOp::SearchResEntry(self.root_entry(&wanted))),
                    LdapMessage::new(id, ProtocolOp::SearchResDone(SearchResultDone(result(ResultCode::Success, "")))),
                ]
            }
            // AD answers an anonymous search of the directory with "a successful bind must
            // be completed".
            ProtocolOp::SearchRequest(_) => vec![LdapMessage::new(
                id,
                ProtocolOp::SearchResDone(SearchResultDone(result(ResultCode::OperationsError, BIND_FIRST))),
            )],
            ProtocolOp::UnbindRequest(_) | ProtocolOp::AbandonRequest(_) => Vec::new(),
            // Every other operation needs a bind first, as AD says.
            other => {
                let denied = || result(ResultCode::OperationsError, BIND_FIRST);
                let op = match other {
                    ProtocolOp::ModifyRequest(_) => ProtocolOp::ModifyResponse(ModifyResponse(denied())),
                    ProtocolOp::AddRequest(_) => ProtocolOp::AddResponse(AddResponse(denied())),
                    ProtocolOp::DelRequest(_) => ProtocolOp::DelResponse(DelResponse(denied())),
                    ProtocolOp::ModDnRequest(_) => ProtocolOp::ModDnResponse(ModifyDnResponse(denied())),
                    ProtocolOp::CompareRequest(_) => ProtocolOp::CompareResponse(CompareResponse(denied())),
                    _ => {
                        let refused = result(ResultCode::UnwillingToPerform, UNSUPPORTED);
                        ProtocolOp::ExtendedResp(ExtendedResponse {
                            result_code: refused.result_code,
                            matched_dn: refused.matched_dn,
                            diagnostic_message: refused.diagnostic_message,
                            referral: None,
                            response_name: None,
                            response_value: None,
                        })
                    }
                };
                vec![LdapMessage::new(id, op)]
            }
        }
    }
}

/// A base-scope search of the empty DN: the rootDSE.
fn is_root_dse(search: &SearchRequest) -> bool {
    search.base_object.is_empty() && search.scope == SearchRequestScope::BaseObject
}

/// The name of a request, for the `command` event.
fn op_name(op: &ProtocolOp) -> &'static str {
    match op {
        ProtocolOp::BindRequest(_) => "bind",
        ProtocolOp::UnbindRequest(_) => "unbind",
        ProtocolOp::SearchRequest(_) => "search",
        ProtocolOp::ModifyRequest(_) => "modify",
        ProtocolOp::AddRequest(_) => "add",
        ProtocolOp::DelRequest(_) => "delete",
        ProtocolOp::ModDnRequest(_) => "modrdn",
        ProtocolOp::CompareRequest(_) => "compare",
        ProtocolOp::AbandonRequest(_) => "abandon",
        ProtocolOp::ExtendedReq(_) => "extended",
        _ => "response",
    }
}

impl Decoy for Ldap {
    fn name(&self) -> &'static str {
        "ldap"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        let mut challenge = [0u8; 8];
        loop {
            let bytes = match conn.frame(message_bytes).await {
                Ok(bytes) => bytes,
                Err(end) => return end,
            };
            if let Some((id, token, sasl)) = ntlm_bind(&bytes) {
                let response = self.ntlm(conn, &mut challenge, token, sasl).await;
                let Ok(encoded) = rasn::ber::encode(&LdapMessage::new(id, ProtocolOp::BindResponse(response))) else {
                    return End::Io;
                };
                if let Err(end) = conn.write(&encoded).await {
                    return end;
                }
                continue;
            }
            let message: LdapMessage = match rasn::ber::decode(&bytes) {
                Ok(message) => message,
                Err(err) => {
                    conn.violation_in(&format!("undecodable LDAP message: {err}"), &bytes).await;
                    return End::Violation;
                }
            };
            let op = &message.protocol_op;
            match op {
                ProtocolOp::BindRequest(bind) => {
                    let dn = String::from_utf8_lossy(&bind.name).into_owned();
                    let fields = match &bind.authentication {
                        AuthenticationChoice::Simple(password) => Fields::default()
                            .principal(&bind.name)
                            .secret(Secret::password(password.as_ref()))
                            .detail("method", if password.is_empty() { "anonymous" } else { "simple" })
                            .detail("outcome", if password.is_empty() { "success" } else { "failure" }),
                        AuthenticationChoice::Sasl(sasl) => Fields::default()
                            .principal(&bind.name)
                            .detail("method", "sasl")
                            .detail("mechanism", String::from_utf8_lossy(&sasl.mechanism).into_owned())
                            .detail("outcome", "failure"),
                        _ => Fields::default()
                            .principal(&bind.name)
                            .detail("method", "other")
                            .detail("outcome", "failure"),
                    };
                    conn.log.record(Kind::AuthAttempt, fields.detail("version", bind.version).detail("dn", dn)).await;
                }
                ProtocolOp::SearchRequest(search) => {
                    let base = String::from_utf8_lossy(&search.base_object).into_owned();
                    let attributes: Vec<String> =
                        search.attributes.iter().take(16).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                    let command =
                        format!("search base=\"{base}\" scope={:?} attrs={}", search.scope, attributes.join(","));
                    conn.log
                        .record(
                            Kind::Command,
                            Fields::default().command(command).detail("operation", "search").detail("base", base),
                        )
                        .await;
                }
                other => {
                    conn.log
                        .record(
                            Kind::Command,
                            Fields::default().command(op_name(other)).detail("operation", op_name(other)),
                        )
                        .await;
                }
            }
            let answers = self.answer(message.message_id, op);
            for answer in &answers {
                let Ok(encoded) = rasn::ber::encode(answer) else { return End::Io };
                if let Err(end) = conn.write(&encoded).await {
                    return end;
                }
            }
            if matches!(op, ProtocolOp::UnbindRequest(_)) {
                return End::Done;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_definite_bounded_sequences() {
        assert_eq!(frame(b""), Parse::Incomplete);
        assert_eq!(frame(b"\x30"), Parse::Incomplete);
        assert_eq!(frame(b"\x30\x03\x02\x01"), Parse::Incomplete);
        assert_eq!(frame(b"\x30\x03\x02\x01\x01\xff"), Parse::Done(5, 5));
        assert_eq!(frame(b"\x30\x82\x00\x03\x02\x01\x01"), Parse::Done(7, 7));
        assert_eq!(frame(b"\x30\x82\x00"), Parse::Incomplete);
        assert!(matches!(frame(b"\x31\x00"), Parse::Invalid(_)));
        assert!(matches!(frame(b"\x30\x80"), Parse::Invalid(_)), "indefinite length");
        assert!(matches!(frame(b"\x30\x84\x7f\xff\xff\xff"), Parse::Invalid(_)), "oversized");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_frame_within_bounds_and_decode_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            if let Parse::Done(length, used) = frame(&bytes) {
                proptest::prop_assert!(length == used && used <= bytes.len());
                let _ = rasn::ber::decode::<LdapMessage>(&bytes[..length]);
            }
        }
    }

    #[test]
    fn domains_become_distinguished_names() {
        assert_eq!(domain_dn("corp.example.com"), "DC=corp,DC=example,DC=com");
    }
}
