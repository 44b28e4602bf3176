//! `dns` (TCP and UDP 53): BIND 9 of the persona's distribution, authoritative for one zone
//! (`domain`, default `corp.local`, the LDAP decoy's default domain) with SOA, NS, A, AAAA,
//! MX and TXT records derived from the persona, plus `extra_records`. `version.bind` (CH
//! TXT) tells the persona's BIND build (or `bind_version`), `hostname.bind` and `id.server`
//! the host name, and EDNS NSID is answered when `nsid` is set. Zone transfers are refused,
//! as `allow-transfer { none; }` does. Queries outside the zone are refused (`zone_mode`
//! `auth`) or, for a resolver persona (`recursive`: private sources only; `open`: anyone),
//! fail with SERVFAIL as a resolver whose upstream cannot be reached: the decoy never sends
//! a query anywhere. Every query is recorded (name, type, class, transport); the wire
//! format is `hickory-proto`'s.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

use crate::config::Config;
use crate::event::{Fields, Kind, Recorder, SessionLog, printable};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};

/// Largest UDP query read.
const MAX_DATAGRAM: usize = 4096;
/// The UDP answer size without EDNS.
const UDP_PLAIN: usize = 512;
/// The largest UDP answer, whatever EDNS asks (BIND's default `max-udp-size`).
const UDP_MAX: usize = 1232;
/// Most `extra_records` lines read.
const MAX_EXTRA: usize = 256;
/// Zone records' TTL.
const TTL: u32 = 3600;

/// How the server treats names outside its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Auth,
    Recursive,
    Open,
}

/// The dns decoy: the zone and the persona's answers.
#[derive(Debug)]
pub struct Dns {
    zone: Name,
    records: BTreeMap<(Name, RecordType), Vec<RData>>,
    version: String,
    hostname: String,
    nsid: Option<Vec<u8>>,
    mode: Mode,
}

/// What one query was and what was answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// The name asked for, as sent.
    pub qname: String,
    /// The type asked for (`A`, `AXFR`, ...).
    pub qtype: String,
    /// The class (`IN`, `CH`).
    pub qclass: String,
    /// Recursion desired.
    pub rd: bool,
    /// The answer's response code.
    pub rcode: String,
    /// The encoded answer (none for a message that gets no answer).
    pub reply: Option<Vec<u8>>,
}

/// A message that could not be answered as a query: why, and the FORMERR to send when
/// its header could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    /// Why.
    pub reason: String,
    /// The answer, if any.
    pub reply: Option<Vec<u8>>,
}

/// The BIND build each distribution ships, as `version.bind` tells it.
fn bind_version(persona: &Persona) -> &'static str {
    match persona.distro.slug {
        "debian" => "9.18.28-1~deb12u2-Debian",
        "ubuntu22" => "9.18.28-0ubuntu0.22.04.1-Ubuntu",
        "ubuntu20" => "9.16.48-Ubuntu",
        "rocky9" => "9.16.23-RH",
        "alpine" => "9.18.27",
        _ => "9.18.28",
    }
}

fn name(text: &str) -> Option<Name> {
    let mut name = Name::from_ascii(text).ok()?;
    name.set_fqdn(true);
    Some(name.to_lowercase())
}

/// The 2-byte length prefix of DNS over TCP: one message.
pub fn parse(buf: &[u8]) -> Parse<Vec<u8>> {
    let (Some(&hi), Some(&lo)) = (buf.first(), buf.get(1)) else { return Parse::Incomplete };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len < 12 {
        return Parse::Invalid(format!("{len}-byte message is shorter than a DNS header"));
    }
    match buf.get(2..2 + len) {
        Some(message) => Parse::Done(message.to_vec(), 2 + len),
        None => Parse::Incomplete,
    }
}

impl Dns {
    /// The server of `persona` with `config`'s zone, mode, version, NSID and extra records.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let domain = config.string("domain").unwrap_or("corp.local").trim_end_matches('.').to_ascii_lowercase();
        let zone = name(&domain).unwrap_or_else(|| name("corp.local").unwrap_or_default());
        let at = |label: &str| name(&format!("{label}.{domain}")).unwrap_or_else(|| zone.clone());
        let n = |purpose: &str, modulo: u64| persona.derive(purpose) % modulo;
        let (net_b, net_c) = (n("dns net b", 250) as u8 + 1, n("dns net c", 250) as u8 + 1);
        let v4 = |host: u8| RData::A(A(Ipv4Addr::new(10, net_b, net_c, host)));
        let ula = (n("dns ula", 0xffff) as u16, n("dns ula 2", 0xffff) as u16);
        let v6 = |host: u16| {
            RData::AAAA(AAAA(Ipv6Addr::new(
                0xfd00 | (ula.0 >> 8),
                ula.0 << 8 | (ula.1 >> 8),
                ula.1 & 0xff,
                0,
                0,
                0,
                0,
                host,
            )))
        };
        let mut records: BTreeMap<(Name, RecordType), Vec<RData>> = BTreeMap::new();
        let mut add = |owner: Name, rdata: RData| {
            records.entry((owner, rdata.record_type())).or_default().push(rdata);
        };
        // YYYYMMDDnn, as zone files are usually numbered.
        let serial = 2_024_000_000
            + (n("dns serial month", 12) as u32 + 1) * 10_000
            + (n("dns serial day", 28) as u32 + 1) * 100
            + n("dns serial rev", 9) as u32
            + 1;
        add(zone.clone(), RData::SOA(SOA::new(at("ns1"), at("hostmaster"), serial, 10_800, 3600, 604_800, 3600)));
        add(zone.clone(), RData::NS(NS(at("ns1"))));
        add(zone.clone(), RData::NS(NS(at("ns2"))));
        add(zone.clone(), RData::MX(MX::new(10, at("mail"))));
        add(zone.clone(), v4(20));
        add(zone.clone(), RData::TXT(TXT::new(vec![format!("v=spf1 mx ip4:10.{net_b}.{net_c}.0/24 -all")])));
        add(at("_dmarc"), RData::TXT(TXT::new(vec![format!("v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}")])));
        let hosts: [(&str, u8); 10] = [
            ("ns1", 2),
            ("ns2", 3),
            ("dc01", 10),
            ("mail", 25),
            ("www", 20),
            ("vpn", 30),
            ("gitlab", 41),
            ("jenkins", 42),
            ("fs01", 50),
            ("backup", 60),
        ];
        for (host, last) in hosts {
            add(at(host), v4(last));
        }
        for (host, last) in [("ns1", 2u16), ("mail", 25), ("www", 20)] {
            add(at(host), v6(last));
        }
        add(at("intranet"), RData::CNAME(CNAME(at("www"))));
        let own = persona.hostname.to_ascii_lowercase();
        if !hosts.iter().any(|(h, _)| *h == own) {
            add(at(&own), v4(n("dns own host", 150) as u8 + 100));
        }
        for line in config.string("extra_records").unwrap_or_default().lines().take(MAX_EXTRA) {
            if let Some((owner, rdata)) = extra(line, &domain) {
                add(owner, rdata);
            }
        }
        let mode = match config.string("zone_mode") {
            Some("recursive") => Mode::Recursive,
            Some("open") => Mode::Open,
            _ => Mode::Auth,
        };
        Self {
            zone,
            records,
            version: config.string("bind_version").unwrap_or(bind_version(persona)).to_owned(),
            hostname: persona.hostname.clone(),
            nsid: config.string("nsid").map(|s| s.as_bytes().to_vec()),
            mode,
        }
    }

    /// Answers one message from `source` (pure); a UDP answer is cut to the datagram size.
    pub fn exchange(&self, query: &[u8], source: IpAddr, udp: bool) -> Result<Exchange, Unreadable> {
        let request = match Message::from_vec(query) {
            Ok(request) => request,
            Err(e) => {
                // A readable header gets FORMERR, as BIND answers; anything shorter, nothing.
                let reply = (query.len() >= 12 && query.get(2).is_some_and(|b| b & 0x80 == 0)).then(|| {
                    let id =
                        u16::from_be_bytes([query.first().copied().unwrap_or(0), query.get(1).copied().unwrap_or(0)]);
                    Message::error_msg(id, OpCode::Query, ResponseCode::FormErr).to_vec().unwrap_or_default()
                });
                return Err(Unreadable { reason: format!("not a DNS message: {e}"), reply });
            }
        };
        if request.message_type() != MessageType::Query {
            return Err(Unreadable { reason: "a response sent to the server".into(), reply: None });
        }
        let mut response = Message::new();
        response
            .set_id(request.id())
            .set_message_type(MessageType::Response)
            .set_op_code(request.op_code())
            .set_recursion_desired(request.recursion_desired())
            .set_recursion_available(self.mode != Mode::Auth)
            .add_queries(request.queries().iter().cloned());
        let edns = request.extensions().as_ref();
        if let Some(edns) = edns {
            let mut answer = Edns::new();
            answer.set_max_payload(UDP_MAX as u16).set_version(0);
            if let (Some(nsid), Some(_)) = (&self.nsid, edns.option(EdnsCode::NSID)) {
                answer.options_mut().insert(EdnsOption::Unknown(EdnsCode::NSID.into(), nsid.clone()));
            }
            response.set_edns(answer);
        }
        let Some(query) = request.queries().first().filter(|_| request.queries().len() == 1) else {
            response.set_response_code(ResponseCode::FormErr);
            return Ok(self.finish(response, None, udp, edns));
        };
        let (qname, qtype, qclass) = (query.name().clone(), query.query_type(), query.query_class());
        let mut exchange = Exchange {
            qname: printable(qname.to_ascii().as_bytes()),
            qtype: qtype.to_string(),
            qclass: qclass.to_string(),
            rd: request.recursion_desired(),
            rcode: String::new(),
            reply: None,
        };
        let code = if request.op_code() != OpCode::Query {
            ResponseCode::NotImp
        } else if qclass == DNSClass::CH {
            self.chaos(&mut response, &qname, qtype)
        } else if qclass != DNSClass::IN {
            ResponseCode::Refused
        } else if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            // allow-transfer { none; }: BIND refuses, and a transfer is a recon signal.
            ResponseCode::Refused
        } else if self.zone.zone_of(&qname.to_lowercase()) {
            self.authoritative(&mut response, &qname, qtype)
        } else {
            match self.mode {
                Mode::Auth => ResponseCode::Refused,
                Mode::Recursive if !private(source) => ResponseCode::Refused,
                Mode::Recursive | Mode::Open => ResponseCode::ServFail,
            }
        };
        response.set_response_code(code);
        exchange.rcode = code.to_string();
        Ok(self.finish(response, Some(exchange), udp, edns))
    }

    fn finish(&self, mut response: Message, exchange: Option<Exchange>, udp: bool, edns: Option<&Edns>) -> Exchange {
        let mut bytes = response.to_vec().unwrap_or_default();
        let limit = match edns {
            Some(edns) => usize::from(edns.max_payload()).clamp(UDP_PLAIN, UDP_MAX),
            None => UDP_PLAIN,
        };
        if udp && bytes.len() > limit {
            // Too big for the datagram: the question and TC, the client retries over TCP.
            response.take_answers();
            response.take_name_servers();
            response.take_additionals();
            response.set_truncated(true);
            bytes = response.to_vec().unwrap_or_default();
        }
        let mut exchange = exchange.unwrap_or(Exchange {
            qname: String::new(),
            qtype: String::new(),
            qclass: String::new(),
            rd: response.recursion_desired(),
            rcode: response.response_code().to_string(),
            reply: None,
        });
        exchange.reply = Some(bytes);
        exchange
    }

    fn chaos(&self, response: &mut Message, qname: &Name, qtype: RecordType) -> ResponseCode {
        let asked = qname.to_lowercase().to_ascii();
        let text = match asked.trim_end_matches('.') {
            "version.bind" | "version.server" => self.version.clone(),
            "hostname.bind" | "id.server" => self.hostname.clone(),
            _ => return ResponseCode::Refused,
        };
        if !matches!(qtype, RecordType::TXT | RecordType::ANY) {
            return ResponseCode::NoError;
        }
        let mut record = Record::from_rdata(qname.clone(), 0, RData::TXT(TXT::new(vec![text])));
        record.set_dns_class(DNSClass::CH);
        response.add_answer(record);
        response.set_authoritative(true);
        ResponseCode::NoError
    }

    fn authoritative(&self, response: &mut Message, qname: &Name, qtype: RecordType) -> ResponseCode {
        response.set_authoritative(true);
        let owner = qname.to_lowercase();
        let exists = self.records.keys().any(|(n, _)| *n == owner);
        let mut found = false;
        for ((n, t), rdatas) in &self.records {
            let wanted =
                *t == qtype || qtype == RecordType::ANY || (*t == RecordType::CNAME && qtype != RecordType::CNAME);
            if *n == owner && wanted {
                for rdata in rdatas {
                    // The name as asked, case and all (0x20 randomisation).
                    response.add_answer(Record::from_rdata(qname.clone(), TTL, rdata.clone()));
                    found = true;
                }
            }
        }
        if found {
            if let Some(ns) = self.records.get(&(self.zone.clone(), RecordType::NS))
                && qtype != RecordType::NS
            {
                for rdata in ns {
                    response.add_name_server(Record::from_rdata(self.zone.clone(), TTL, rdata.clone()));
                }
            }
            return ResponseCode::NoError;
        }
        if let Some(soa) = self.records.get(&(self.zone.clone(), RecordType::SOA)).and_then(|s| s.first()) {
            response.add_name_server(Record::from_rdata(self.zone.clone(), TTL, soa.clone()));
        }
        if exists { ResponseCode::NoError } else { ResponseCode::NXDomain }
    }
}

/// Whether `ip` is a private, loopback or link-local source (a resolver's own clients).
fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments().first().is_some_and(|s| s & 0xfe00 == 0xfc00)),
    }
}

/// One `extra_records` line: `name TYPE value` (`@` is the apex; a name without a dot is
/// in the zone). A, AAAA, CNAME, NS, MX (`MX 10 host`) and TXT; anything else is skipped.
fn extra(line: &str, domain: &str) -> Option<(Name, RData)> {
    let mut words = line.split_whitespace();
    let owner = words.next()?;
    let kind = words.next()?.to_ascii_uppercase();
    let rest: Vec<&str> = words.collect();
    let qualify = |n: &str| -> Option<Name> {
        match n {
            "@" => name(domain),
            n if n.ends_with('.') => name(n),
            n => name(&format!("{n}.{domain}")),
        }
    };
    let owner = qualify(owner)?;
    let rdata = match kind.as_str() {
        "A" => RData::A(A(rest.first()?.parse().ok()?)),
        "AAAA" => RData::AAAA(AAAA(rest.first()?.parse().ok()?)),
        "CNAME" => RData::CNAME(CNAME(qualify(rest.first()?)?)),
        "NS" => RData::NS(NS(qualify(rest.first()?)?)),
        "MX" => RData::MX(MX::new(rest.first()?.parse().ok()?, qualify(rest.get(1)?)?)),
        "TXT" => RData::TXT(TXT::new(vec![rest.join(" ").trim_matches('"').to_owned()])),
        _ => return None,
    };
    Some((owner, rdata))
}

/// Records one query and says what to send back.
async fn answer(dns: &Dns, log: &SessionLog, query: &[u8], transport: &str) -> Option<Vec<u8>> {
    match dns.exchange(query, log.peer().ip(), transport == "udp") {
        Err(Unreadable { reason, reply }) => {
            let fields = Fields::default()
                .detail("reason", reason)
                .detail("transport", transport)
                .detail("bytes", query.len())
                .detail("input", printable(query.get(..64).unwrap_or(query)));
            log.record(Kind::ProtocolError, fields).await;
            reply
        }
        Ok(exchange) => {
            let transfer = matches!(exchange.qtype.as_str(), "AXFR" | "IXFR");
            let fields = Fields::default()
                .command(format!("{} {} {}", exchange.qname, exchange.qclass, exchange.qtype))
                .detail("qname", exchange.qname.as_str())
                .detail("qtype", exchange.qtype.as_str())
                .detail("qclass", exchange.qclass.as_str())
                .detail("transport", transport)
                .detail("rd", exchange.rd)
                .detail("rcode", exchange.rcode.as_str())
                .detail("zone_transfer", transfer);
            log.record(Kind::Command, fields).await;
            exchange.reply
        }
    }
}

impl Decoy for Dns {
    fn name(&self) -> &'static str {
        "dns"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        loop {
            let query = match conn.frame(parse).await {
                Ok(query) => query,
                Err(end) => return end,
            };
            let Some(reply) = answer(self, &conn.log, &query, "tcp").await else { return End::Violation };
            let mut framed = (reply.len().min(usize::from(u16::MAX)) as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            if let Err(end) = conn.write(&framed).await {
                return end;
            }
        }
    }
}

/// Serves DNS over UDP on `socket` until `shutdown` resolves, one session per datagram.
pub async fn run_udp(
    dns: Arc<Dns>,
    socket: UdpSocket,
    recorder: Recorder,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let dns = &*dns;
    let answer_udp = |datagram: Vec<u8>, log: SessionLog| async move { answer(dns, &log, &datagram, "udp").await };
    crate::server::run_udp(&socket, &recorder, MAX_DATAGRAM, shutdown, answer_udp).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use proptest::prelude::*;

    fn dns(config: serde_json::Value) -> Dns {
        let service = decnet_domain::catalogue::service("dns").unwrap();
        let config = Config::from_map(service, config.as_object().unwrap().clone()).unwrap();
        Dns::new(&Persona::from_env(), &config)
    }

    fn ask(dns: &Dns, qname: &str, qtype: RecordType, class: DNSClass) -> (Exchange, Message) {
        let mut query = Query::query(Name::from_ascii(qname).unwrap(), qtype);
        query.set_query_class(class);
        let mut message = Message::new();
        message.set_id(77).set_recursion_desired(true).add_query(query);
        let exchange = dns.exchange(&message.to_vec().unwrap(), "10.1.2.3".parse().unwrap(), true).unwrap();
        let reply = Message::from_vec(exchange.reply.as_ref().unwrap()).unwrap();
        (exchange, reply)
    }

    #[test]
    fn the_zone_is_answered_with_authority() {
        let dns = dns(
            serde_json::json!({ "domain": "Example.Test", "extra_records": "files A 10.9.9.9\n@ TXT \"hello\"\nbad line" }),
        );
        let (exchange, reply) = ask(&dns, "www.example.test.", RecordType::A, DNSClass::IN);
        assert_eq!((exchange.qtype.as_str(), exchange.rcode.as_str()), ("A", "No Error"));
        assert!(reply.authoritative() && reply.id() == 77 && reply.answers().len() == 1);
        let (_, reply) = ask(&dns, "files.example.test.", RecordType::A, DNSClass::IN);
        assert_eq!(reply.answers()[0].data(), &RData::A(A(Ipv4Addr::new(10, 9, 9, 9))));
        let (_, reply) = ask(&dns, "example.test.", RecordType::MX, DNSClass::IN);
        assert_eq!(reply.answers().len(), 1);
        let (_, reply) = ask(&dns, "nothere.example.test.", RecordType::A, DNSClass::IN);
        assert_eq!(reply.response_code(), ResponseCode::NXDomain);
        assert_eq!(reply.name_servers()[0].record_type(), RecordType::SOA);
        let (_, reply) = ask(&dns, "www.example.test.", RecordType::MX, DNSClass::IN);
        assert_eq!((reply.response_code(), reply.answers().len()), (ResponseCode::NoError, 0));
    }

    #[test]
    fn elsewhere_transfers_and_chaos() {
        let dns = dns(serde_json::json!({ "domain": "example.test", "bind_version": "9.18.1" }));
        let (_, reply) = ask(&dns, "www.google.com.", RecordType::A, DNSClass::IN);
        assert_eq!(reply.response_code(), ResponseCode::Refused);
        let (exchange, reply) = ask(&dns, "example.test.", RecordType::AXFR, DNSClass::IN);
        assert_eq!((exchange.qtype.as_str(), reply.response_code()), ("AXFR", ResponseCode::Refused));
        let (_, reply) = ask(&dns, "version.bind.", RecordType::TXT, DNSClass::CH);
        assert_eq!(reply.answers()[0].data(), &RData::TXT(TXT::new(vec!["9.18.1".into()])));
        let recursive = self::dns(serde_json::json!({ "zone_mode": "open" }));
        let (_, reply) = ask(&recursive, "www.google.com.", RecordType::A, DNSClass::IN);
        assert_eq!(reply.response_code(), ResponseCode::ServFail);
        assert!(reply.recursion_available());
    }

    #[test]
    fn tcp_framing_and_garbage() {
        assert_eq!(parse(b"\x00"), Parse::Incomplete);
        assert!(matches!(parse(b"\x00\x02ab"), Parse::Invalid(_)));
        assert_eq!(parse(b"\x00\x0c012345678901rest"), Parse::Done(b"012345678901".to_vec(), 14));
        assert_eq!(parse(b"\x00\x0c0123"), Parse::Incomplete);
        let dns = dns(serde_json::json!({}));
        let err =
            dns.exchange(b"\x12\x34\x01\x00\x00\x05\x00\x00\x00\x00\x00\x00junk", "10.0.0.1".parse().unwrap(), true);
        assert!(err.unwrap_err().reply.is_some(), "a FORMERR answer goes with the reason");
        assert!(dns.exchange(b"hi", "10.0.0.1".parse().unwrap(), true).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_answer_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let dns = dns(serde_json::json!({}));
            let _ = dns.exchange(&bytes, "10.0.0.1".parse().unwrap(), true);
        }
    }
}
