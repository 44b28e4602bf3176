//! `sip` (UDP and TCP 5060): an Asterisk PBX (chan_sip) of the persona's distribution.
//! OPTIONS is answered 200 with the PBX's `Server` header, as scanners expect; REGISTER,
//! INVITE, SUBSCRIBE and MESSAGE without credentials are challenged with 401 and a Digest
//! (realm `asterisk`, a fresh nonce, recorded); a request with an `Authorization` Digest is
//! recorded as an `auth_attempt` (user, realm, nonce, uri, method and response: enough to
//! crack the password offline) and refused with 403, as a PBX whose password was not
//! guessed. Every request is a `command` event (method, URI, From, To, User-Agent).

use std::net::SocketAddr;
use std::sync::Arc;

use rand::{RngCore, SeedableRng};
use tokio::net::UdpSocket;

use crate::config::Config;
use crate::event::{Fields, Kind, Recorder, Secret, SecretKind, SessionLog, hex, printable};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 8192;
/// Largest body read with a request over TCP.
const MAX_BODY: usize = 16 * 1024;
/// Most headers read from one request.
const MAX_HEADERS: usize = 64;
/// The realm Asterisk challenges with by default.
const REALM: &str = "asterisk";
/// What chan_sip allows.
const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE";

/// One SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent.
    pub method: String,
    /// The Request-URI.
    pub uri: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header called `name` (or its compact form), case-insensitively.
    pub fn header(&self, name: &str, compact: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name) || (!compact.is_empty() && n.eq_ignore_ascii_case(compact)))
            .map(|(_, v)| v.as_str())
    }

    /// Every header called `name` (or its compact form), in order.
    fn all(&self, name: &str, compact: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(compact))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Reads the head of a request: the request line and the headers (unfolded), and the body
/// length it announces.
fn head(text: &str) -> Result<(Request, usize), String> {
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut words = line.split(' ');
    let (Some(method), Some(uri), Some(version)) = (words.next(), words.next(), words.next()) else {
        return Err("not a SIP request line".into());
    };
    if !version.eq_ignore_ascii_case("SIP/2.0") || method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return Err("not a SIP request line".into());
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            // A folded continuation of the previous header.
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else { return Err("header without a colon".into()) };
        if headers.len() < MAX_HEADERS {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let request = Request { method: method.to_owned(), uri: uri.to_owned(), headers };
    let length = match request.header("Content-Length", "l") {
        Some(value) => value.parse::<usize>().map_err(|_| "bad Content-Length".to_owned())?,
        None => 0,
    };
    Ok((request, length))
}

/// Frames one request from a stream (TCP): head up to the blank line, then the body its
/// Content-Length announces. Keep-alive blank lines before a request are skipped.
pub fn parse(buf: &[u8]) -> Parse<Request> {
    let skipped = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    let rest = buf.get(skipped..).unwrap_or_default();
    let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else { return Parse::Incomplete };
    let Ok(text) = std::str::from_utf8(rest.get(..end).unwrap_or_default()) else {
        return Parse::Invalid("request head is not UTF-8".into());
    };
    let (request, length) = match head(text) {
        Ok(found) => found,
        Err(reason) => return Parse::Invalid(reason),
    };
    if length > MAX_BODY {
        return Parse::Invalid(format!("body of {length} bytes"));
    }
    let total = skipped + end + 4 + length;
    if buf.len() < total { Parse::Incomplete } else { Parse::Done(request, total) }
}

/// One datagram as one request (its body, if any, is not needed).
pub fn parse_datagram(datagram: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(datagram).map_err(|_| "datagram is not UTF-8".to_owned())?;
    let text = text.trim_start_matches(['\r', '\n']);
    let head_text = text.split("\r\n\r\n").next().unwrap_or_default();
    head(head_text).map(|(request, _)| request)
}

/// A Digest `Authorization` header's parameters.
pub fn digest_params(value: &str) -> Option<Vec<(String, String)>> {
    let rest = value.trim().strip_prefix("Digest").or_else(|| value.trim().strip_prefix("digest"))?;
    let mut params = Vec::new();
    let mut chars = rest.trim_start();
    while !chars.is_empty() && params.len() < 16 {
        let (name, after) = chars.split_once('=')?;
        let name = name.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let close = quoted.find('"')?;
            (quoted.get(..close)?, quoted.get(close + 1..)?)
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after.get(..end)?.trim(), after.get(end..)?)
        };
        params.push((name, value.to_owned()));
        chars = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(params)
}

/// The sip decoy.
#[derive(Debug)]
pub struct Sip {
    server: String,
}

impl Sip {
    /// The PBX of `persona`: Asterisk as its distribution packages it.
    pub fn new(persona: &Persona, _config: &Config) -> Self {
        let version = match persona.distro.slug {
            "ubuntu22" => "18.10.0~dfsg+~cs6.10.40431411-1",
            "ubuntu20" => "16.2.1~dfsg-2ubuntu1",
            "rocky9" => "18.20.2",
            "alpine" => "20.5.2",
            _ => "20.6.0",
        };
        Self { server: format!("Asterisk PBX {version}") }
    }

    /// Records `request` from `log`'s peer over `transport` and builds the answer (none for
    /// ACK, as SIP wants).
    async fn answer(&self, request: &Request, log: &SessionLog, transport: &str) -> Option<String> {
        let header = |name: &str, compact: &str| request.header(name, compact).unwrap_or_default();
        let fields = Fields::default()
            .command(format!("{} {}", request.method, request.uri))
            .detail("method", request.method.as_str())
            .detail("uri", request.uri.as_str())
            .detail("from", header("From", "f"))
            .detail("to", header("To", "t"))
            .detail("call_id", header("Call-ID", "i"))
            .detail("user_agent", header("User-Agent", ""))
            .detail("transport", transport);
        log.record(Kind::Command, fields).await;
        let method = request.method.to_ascii_uppercase();
        let (status, extra) = match method.as_str() {
            "ACK" => return None,
            "OPTIONS" => (
                "200 OK",
                format!(
                    "Allow: {ALLOW}\r\nSupported: replaces, timer\r\nContact: <sip:{}>\r\nAccept: application/sdp\r\n",
                    log.local()
                ),
            ),
            "REGISTER" | "INVITE" | "SUBSCRIBE" | "MESSAGE" | "PUBLISH" | "REFER" | "NOTIFY" | "INFO" => {
                match request.header("Authorization", "").or_else(|| request.header("Proxy-Authorization", "")) {
                    Some(authorization) => {
                        self.attempt(request, authorization, log).await;
                        ("403 Forbidden", String::new())
                    }
                    None => {
                        let mut nonce = [0u8; 4];
                        rand::rngs::StdRng::from_os_rng().fill_bytes(&mut nonce);
                        let nonce = hex(&nonce);
                        let fields = Fields::default().detail("realm", REALM).detail("nonce", nonce.as_str());
                        log.record(Kind::Command, fields.command("challenge").detail("method", method.as_str())).await;
                        (
                            "401 Unauthorized",
                            format!("WWW-Authenticate: Digest algorithm=MD5, realm=\"{REALM}\", nonce=\"{nonce}\"\r\n"),
                        )
                    }
                }
            }
            "BYE" | "CANCEL" => ("481 Call/Transaction Does Not Exist", String::new()),
            _ => ("501 Not Implemented", String::new()),
        };
        Some(self.response(request, status, &extra, log.peer()))
    }

    async fn attempt(&self, request: &Request, authorization: &str, log: &SessionLog) {
        let params = digest_params(authorization).unwrap_or_default();
        let param = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default();
        let secret = Secret {
            kind: SecretKind::SipDigest,
            value: printable(param("response").as_bytes()),
            salt: Some(printable(param("nonce").as_bytes())),
        };
        let mut fields = Fields::default()
            .principal(param("username"))
            .secret(secret)
            .detail("method", request.method.as_str())
            .detail("realm", param("realm"))
            .detail("nonce", param("nonce"))
            .detail("uri", param("uri"))
            .detail("algorithm", param("algorithm"))
            .detail("outcome", "failure");
        for optional in ["qop", "nc", "cnonce"] {
            if !param(optional).is_empty() {
                fields = fields.detail(optional, param(optional));
            }
        }
        if params.is_empty() {
            fields = fields.detail("authorization", authorization);
        }
        log.record(Kind::AuthAttempt, fields).await;
    }

    /// A response echoing the request's transaction headers, as chan_sip writes it.
    fn response(&self, request: &Request, status: &str, extra: &str, peer: SocketAddr) -> String {
        let mut out = format!("SIP/2.0 {status}\r\n");
        for via in request.all("Via", "v") {
            // The first Via gets where the request really came from (RFC 3261, RFC 3581).
            if out.contains("\r\nVia: ") {
                out.push_str(&format!("Via: {via}\r\n"));
                continue;
            }
            let mut params: Vec<String> = via.split(';').map(str::to_owned).collect();
            let mut received = false;
            for param in params.iter_mut().skip(1) {
                let name = param.split('=').next().unwrap_or_default().trim().to_ascii_lowercase();
                if name == "rport" {
                    *param = format!("received={};rport={}", peer.ip(), peer.port());
                    received = true;
                } else if name == "received" {
                    *param = format!("received={}", peer.ip());
                    received = true;
                }
            }
            if !received {
                params.push(format!("received={}", peer.ip()));
            }
            out.push_str(&format!("Via: {}\r\n", params.join(";")));
        }
        let to = request.header("To", "t").unwrap_or_default();
        let tag = if to.contains(";tag=") {
            String::new()
        } else {
            let mut tag = [0u8; 4];
            rand::rngs::StdRng::from_os_rng().fill_bytes(&mut tag);
            format!(";tag=as{}", hex(&tag))
        };
        out.push_str(&format!("From: {}\r\n", request.header("From", "f").unwrap_or_default()));
        out.push_str(&format!("To: {to}{tag}\r\n"));
        out.push_str(&format!("Call-ID: {}\r\n", request.header("Call-ID", "i").unwrap_or_default()));
        out.push_str(&format!("CSeq: {}\r\n", request.header("CSeq", "").unwrap_or_default()));
        out.push_str(&format!("Server: {}\r\n", self.server));
        if !extra.starts_with("Allow") {
            out.push_str(&format!("Allow: {ALLOW}\r\nSupported: replaces, timer\r\n"));
        }
        out.push_str(extra);
        out.push_str("Content-Length: 0\r\n\r\n");
        out
    }
}

impl Decoy for Sip {
    fn name(&self) -> &'static str {
        "sip"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        loop {
            let request = match conn.frame(parse).await {
                Ok(request) => request,
                Err(end) => return end,
            };
            if let Some(reply) = self.answer(&request, &conn.log, "tcp").await
                && let Err(end) = conn.write(reply.as_bytes()).await
            {
                return end;
            }
        }
    }
}

/// Serves SIP over UDP on `socket` until `shutdown` resolves, one session per datagram.
pub async fn run_udp(
    sip: Arc<Sip>,
    socket: UdpSocket,
    recorder: Recorder,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let sip = &*sip;
    let answer_udp = |datagram: Vec<u8>, log: SessionLog| async move {
        // Keep-alives (CRLF) are not requests.
        if datagram.iter().all(|b| b.is_ascii_whitespace()) {
            return None;
        }
        match parse_datagram(&datagram) {
            Err(reason) => {
                let fields = Fields::default()
                    .detail("reason", reason)
                    .detail("transport", "udp")
                    .detail("bytes", datagram.len())
                    .detail("input", printable(datagram.get(..128).unwrap_or(&datagram)));
                log.record(Kind::ProtocolError, fields).await;
                None
            }
            Ok(request) => sip.answer(&request, &log, "udp").await.map(String::into_bytes),
        }
    };
    crate::server::run_udp(&socket, &recorder, MAX_DATAGRAM, shutdown, answer_udp).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/TCP nm;branch=foo\r\nFrom: <sip:nm@nm>;tag=root\r\nTo: <sip:nm2@nm2>\r\nCall-ID: 50000\r\nCSeq: 42 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn requests_frame_with_their_bodies() {
        let Parse::Done(request, used) = parse(OPTIONS) else { panic!() };
        assert_eq!((request.method.as_str(), request.uri.as_str(), used), ("OPTIONS", "sip:nm", OPTIONS.len()));
        assert_eq!(request.header("call-id", "i"), Some("50000"));
        assert_eq!(parse(&OPTIONS[..30]), Parse::Incomplete);
        let with_body = b"\r\n\r\nMESSAGE sip:a SIP/2.0\r\nl: 5\r\n\r\nhello!";
        let Parse::Done(request, used) = parse(with_body) else { panic!() };
        assert_eq!((request.method.as_str(), used), ("MESSAGE", with_body.len() - 1));
        assert_eq!(parse(b"MESSAGE sip:a SIP/2.0\r\nl: 5\r\n\r\nhel"), Parse::Incomplete);
        assert!(matches!(parse(b"GET / HTTP/1.1\r\n\r\n"), Parse::Invalid(_)));
        assert!(matches!(parse(b"INVITE sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"), Parse::Invalid(_)));
        assert!(matches!(parse(b"INVITE sip:a SIP/2.0\r\nbroken\r\n\r\n"), Parse::Invalid(_)));
        assert!(parse_datagram(OPTIONS).is_ok());
        assert!(parse_datagram(b"\xff\xfe").is_err());
    }

    #[test]
    fn the_first_via_learns_the_real_source() {
        let sip = Sip { server: "Asterisk PBX 20.6.0".into() };
        let Parse::Done(request, _) = parse(b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP nm;branch=foo;rport\r\nv: SIP/2.0/UDP b\r\nCSeq: 1 OPTIONS\r\n\r\n") else { panic!() };
        let out = sip.response(&request, "200 OK", "", "10.1.1.1:5062".parse().unwrap());
        assert!(out.starts_with("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP nm;branch=foo;received=10.1.1.1;rport=5062\r\nVia: SIP/2.0/UDP b\r\n"), "{out}");
        assert!(
            out.contains("\r\nServer: Asterisk PBX 20.6.0\r\n") && out.ends_with("Content-Length: 0\r\n\r\n"),
            "{out}"
        );
    }

    #[test]
    fn digest_authorizations() {
        let params = digest_params(
            "Digest username=\"100\", realm=\"asterisk\", nonce=\"1a2b\", uri=\"sip:10.0.0.1\", response=\"0123abcd\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"x,y\"",
        )
        .unwrap();
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("username"), Some("100"));
        assert_eq!(get("uri"), Some("sip:10.0.0.1"));
        assert_eq!(get("algorithm"), Some("MD5"));
        assert_eq!(get("nc"), Some("00000001"));
        assert_eq!(get("cnonce"), Some("x,y"));
        assert!(digest_params("Basic YWxhZGRpbjpvcGVuc2VzYW1l").is_none());
        assert!(digest_params("Digest username=\"unterminated").is_none());
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
            let _ = parse_datagram(&bytes);
            let _ = digest_params(&String::from_utf8_lossy(&bytes));
        }
    }
}
