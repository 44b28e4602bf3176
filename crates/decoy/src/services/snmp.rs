//! SNMP v1/v2c agent (UDP 161): Get, GetNext and GetBulk over a walkable MIB-II (the
//! system group, the interfaces table and the IP address table of the decky's own
//! interfaces), BER through `rasn-snmp`. Every community offered is recorded; a wrong one
//! is answered with silence, as agents do. Sets are refused (`noAccess` / v1 `readOnly`),
//! nothing is ever written.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rasn::types::{ObjectIdentifier, OctetString};
use rasn::{AsnType, Decode, Encode};
use rasn_smi::v1::{Counter, Gauge, IpAddress, TimeTicks};
use rasn_smi::v2::{ApplicationSyntax, ObjectSyntax, SimpleSyntax};
use rasn_snmp::v2::{BulkPdu, Pdu, Pdus, Response, VarBind, VarBindValue};
use tokio::net::UdpSocket;

use crate::config::Config;
use crate::event::{Fields, Kind, Recorder, Secret, SessionLog};
use crate::netview::NetView;
use crate::persona::Persona;

/// Largest datagram read; longer ones are cut and fail to decode.
const MAX_DATAGRAM: usize = 4096;
/// Most variable bindings answered in one response (GetBulk is capped to this).
const MAX_BINDINGS: usize = 64;
/// Most OIDs named in one `command` event.
const MAX_LOGGED_OIDS: usize = 8;

/// An SNMP message of version 1 (`version` 0) or 2c (1): the PDU layouts of the requests
/// are the same in both.
#[derive(AsnType, Debug, Clone, Decode, Encode, PartialEq)]
struct Message {
    version: i32,
    community: OctetString,
    data: Pdus,
}

const V1: i32 = 0;
const V2C: i32 = 1;

/// A value of the MIB, `sysUpTime` computed when asked.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Fixed(ObjectSyntax),
    UpTime,
}

/// The agent: its community and MIB.
#[derive(Debug)]
pub struct Snmp {
    community: Vec<u8>,
    mib: BTreeMap<Vec<u32>, Value>,
    uptime_at_start: u64,
    started: Instant,
}

/// What one datagram was and what to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// 1 or 2 (`2c`).
    pub version: &'static str,
    /// The community offered.
    pub community: Vec<u8>,
    /// Whether it was the agent's.
    pub accepted: bool,
    /// `get`, `getnext`, `getbulk`, `set`, or another PDU's name.
    pub operation: &'static str,
    /// The OIDs asked for, dotted.
    pub oids: Vec<String>,
    /// The encoded response, when one is sent.
    pub reply: Option<Vec<u8>>,
}

fn oid_text(arcs: &[u32]) -> String {
    arcs.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

fn text(value: impl Into<Vec<u8>>) -> Value {
    Value::Fixed(ObjectSyntax::Simple(SimpleSyntax::String(OctetString::from(value.into()))))
}

fn int(value: i64) -> Value {
    Value::Fixed(ObjectSyntax::Simple(SimpleSyntax::Integer(value.into())))
}

fn oid(arcs: &[u32]) -> Value {
    match ObjectIdentifier::new(arcs.to_vec()) {
        Some(id) => Value::Fixed(ObjectSyntax::Simple(SimpleSyntax::ObjectId(id))),
        None => int(0),
    }
}

fn counter(value: u32) -> Value {
    Value::Fixed(ObjectSyntax::ApplicationWide(ApplicationSyntax::Counter(Counter(value))))
}

fn gauge(value: u32) -> Value {
    Value::Fixed(ObjectSyntax::ApplicationWide(ApplicationSyntax::Unsigned(Gauge(value))))
}

fn address(ip: Ipv4Addr) -> Value {
    Value::Fixed(ObjectSyntax::ApplicationWide(ApplicationSyntax::Address(IpAddress(ip.octets().into()))))
}

/// `1.3.6.1.2.1` (mib-2).
const MIB2: [u32; 6] = [1, 3, 6, 1, 2, 1];

fn mib2(rest: &[u32]) -> Vec<u32> {
    let mut arcs = MIB2.to_vec();
    arcs.extend_from_slice(rest);
    arcs
}

impl Snmp {
    /// The agent of `persona` on the network `view`, with the community of `config`.
    pub fn new(persona: &Persona, config: &Config, view: &NetView) -> Self {
        let mut mib = BTreeMap::new();
        let descr = format!("Linux {} {} {} x86_64", persona.hostname, persona.kernel_release, persona.kernel_version);
        mib.insert(mib2(&[1, 1, 0]), text(descr));
        // net-snmp's Linux agent.
        mib.insert(mib2(&[1, 2, 0]), oid(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10]));
        mib.insert(mib2(&[1, 3, 0]), Value::UpTime);
        mib.insert(mib2(&[1, 4, 0]), text(config.string("contact").unwrap_or("root@localhost")));
        mib.insert(mib2(&[1, 5, 0]), text(persona.hostname.as_str()));
        mib.insert(mib2(&[1, 6, 0]), text(config.string("location").unwrap_or("server room")));
        mib.insert(mib2(&[1, 7, 0]), int(72));
        mib.insert(mib2(&[2, 1, 0]), int(i64::try_from(view.interfaces.len()).unwrap_or(0)));
        let traffic = |purpose: &str| (persona.derive(purpose) % 3_000_000_000) as u32;
        for iface in &view.interfaces {
            let i = iface.index;
            let loopback = iface.name == "lo";
            let entry = |column: u32| mib2(&[2, 2, 1, column, i]);
            mib.insert(entry(1), int(i64::from(i)));
            mib.insert(entry(2), text(iface.name.as_str()));
            mib.insert(entry(3), int(if loopback { 24 } else { 6 }));
            mib.insert(entry(4), int(if loopback { 65_536 } else { 1500 }));
            mib.insert(entry(5), gauge(if loopback { 10_000_000 } else { 1_000_000_000 }));
            let mac: Vec<u8> = iface.mac.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok()).collect();
            mib.insert(entry(6), text(if loopback { Vec::new() } else { mac }));
            mib.insert(entry(7), int(1));
            mib.insert(entry(8), int(1));
            mib.insert(entry(10), counter(traffic(&format!("{} in", iface.name))));
            mib.insert(entry(16), counter(traffic(&format!("{} out", iface.name))));
        }
        // ipForwarding as the namespace has it (a router decky forwards).
        let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1");
        mib.insert(mib2(&[4, 1, 0]), int(if forwarding { 1 } else { 2 }));
        mib.insert(mib2(&[4, 2, 0]), int(64));
        for iface in &view.interfaces {
            let Some(net) = iface.addr else { continue };
            let ip = net.addr();
            let [a, b, c, d] = ip.octets();
            let entry = |column: u32| mib2(&[4, 20, 1, column, u32::from(a), u32::from(b), u32::from(c), u32::from(d)]);
            mib.insert(entry(1), address(ip));
            mib.insert(entry(2), int(i64::from(iface.index)));
            mib.insert(entry(3), address(net.netmask()));
            mib.insert(entry(4), int(1));
        }
        Self {
            community: config.string("community").unwrap_or("public").as_bytes().to_vec(),
            mib,
            uptime_at_start: persona.uptime_at_start,
            started: Instant::now(),
        }
    }

    /// The same agent telling the system group of another kind of device (conpot's PLC):
    /// sysDescr, sysObjectID, sysContact, sysLocation and sysServices.
    pub fn with_system(mut self, descr: &str, object_id: &[u32], contact: &str, location: &str, services: i64) -> Self {
        self.mib.insert(mib2(&[1, 1, 0]), text(descr));
        self.mib.insert(mib2(&[1, 2, 0]), oid(object_id));
        self.mib.insert(mib2(&[1, 4, 0]), text(contact));
        self.mib.insert(mib2(&[1, 6, 0]), text(location));
        self.mib.insert(mib2(&[1, 7, 0]), int(services));
        self
    }

    fn value(&self, value: &Value) -> ObjectSyntax {
        match value {
            Value::Fixed(v) => v.clone(),
            Value::UpTime => {
                let hundredths = (self.uptime_at_start + self.started.elapsed().as_secs()) * 100;
                ObjectSyntax::ApplicationWide(ApplicationSyntax::Ticks(TimeTicks(hundredths as u32)))
            }
        }
    }

    /// The binding for exactly `name`: its value, `noSuchInstance` when the object (the
    /// name without its last arc) has other instances, else `noSuchObject`.
    fn get(&self, name: &ObjectIdentifier) -> VarBindValue {
        let object = &name[..name.len().saturating_sub(1)];
        match self.mib.get(&name.to_vec()) {
            Some(value) => VarBindValue::Value(self.value(value)),
            None if !object.is_empty() && self.mib.keys().any(|k| k.starts_with(object)) => {
                VarBindValue::NoSuchInstance
            }
            None => VarBindValue::NoSuchObject,
        }
    }

    /// The first binding after `name` in OID order.
    fn next(&self, name: &[u32]) -> Option<VarBind> {
        use std::ops::Bound::{Excluded, Unbounded};
        let (arcs, value) = self.mib.range::<[u32], _>((Excluded(name), Unbounded)).next()?;
        let name = ObjectIdentifier::new(arcs.clone())?;
        Some(VarBind { name, value: VarBindValue::Value(self.value(value)) })
    }

    /// Decodes one datagram and says what to answer (pure but for the clock).
    pub fn exchange(&self, datagram: &[u8]) -> Result<Exchange, String> {
        let message: Message = rasn::ber::decode(datagram).map_err(|e| format!("not an SNMP message: {e}"))?;
        let version = match message.version {
            V1 => "1",
            V2C => "2c",
            other => return Err(format!("SNMP version {other} is not answered")),
        };
        let accepted = message.community.as_ref() == self.community.as_slice();
        let (operation, request) = match &message.data {
            Pdus::GetRequest(r) => ("get", Request::Plain(&r.0)),
            Pdus::GetNextRequest(r) => ("getnext", Request::Plain(&r.0)),
            Pdus::GetBulkRequest(r) => ("getbulk", Request::Bulk(&r.0)),
            Pdus::SetRequest(r) => ("set", Request::Plain(&r.0)),
            Pdus::Response(r) => ("response", Request::Plain(&r.0)),
            Pdus::InformRequest(r) => ("inform", Request::Plain(&r.0)),
            Pdus::Trap(r) => ("trap", Request::Plain(&r.0)),
            Pdus::Report(r) => ("report", Request::Plain(&r.0)),
        };
        let bindings = request.bindings();
        let oids = bindings.iter().take(MAX_LOGGED_OIDS).map(|b| oid_text(&b.name)).collect();
        let mut exchange =
            Exchange { version, community: message.community.to_vec(), accepted, operation, oids, reply: None };
        if !accepted {
            return Ok(exchange);
        }
        let v1 = message.version == V1;
        let answer = match (operation, request) {
            ("get", Request::Plain(pdu)) => Some(self.answer_get(pdu, v1)),
            ("getnext", Request::Plain(pdu)) => Some(self.answer_next(pdu, v1)),
            ("getbulk", Request::Bulk(pdu)) if !v1 => Some(self.answer_bulk(pdu)),
            // Read-only: v1 says readOnly (4), v2c noAccess (6), on the first binding.
            ("set", Request::Plain(pdu)) => Some(Pdu {
                request_id: pdu.request_id,
                error_status: if v1 { Pdu::ERROR_STATUS_READ_ONLY } else { Pdu::ERROR_STATUS_NO_ACCESS },
                error_index: 1,
                variable_bindings: pdu.variable_bindings.clone(),
            }),
            _ => None,
        };
        if let Some(pdu) = answer {
            let reply =
                Message { version: message.version, community: message.community, data: Pdus::Response(Response(pdu)) };
            exchange.reply = rasn::ber::encode(&reply).ok();
        }
        Ok(exchange)
    }

    fn answer_get(&self, pdu: &Pdu, v1: bool) -> Pdu {
        let mut out = Vec::with_capacity(pdu.variable_bindings.len().min(MAX_BINDINGS));
        for (i, binding) in pdu.variable_bindings.iter().take(MAX_BINDINGS).enumerate() {
            let value = self.get(&binding.name);
            if v1 && !matches!(value, VarBindValue::Value(_)) {
                return no_such_name(pdu, i);
            }
            out.push(VarBind { name: binding.name.clone(), value });
        }
        response(pdu.request_id, out)
    }

    fn answer_next(&self, pdu: &Pdu, v1: bool) -> Pdu {
        let mut out = Vec::with_capacity(pdu.variable_bindings.len().min(MAX_BINDINGS));
        for (i, binding) in pdu.variable_bindings.iter().take(MAX_BINDINGS).enumerate() {
            match self.next(&binding.name) {
                Some(found) => out.push(found),
                None if v1 => return no_such_name(pdu, i),
                None => out.push(VarBind { name: binding.name.clone(), value: VarBindValue::EndOfMibView }),
            }
        }
        response(pdu.request_id, out)
    }

    fn answer_bulk(&self, pdu: &BulkPdu) -> Pdu {
        let non_repeaters = (pdu.non_repeaters as usize).min(pdu.variable_bindings.len());
        let mut out = Vec::new();
        for binding in &pdu.variable_bindings[..non_repeaters] {
            out.push(self.next(&binding.name).unwrap_or_else(|| end_of_view(&binding.name)));
        }
        let repeaters = &pdu.variable_bindings[non_repeaters..];
        let mut cursors: Vec<Vec<u32>> = repeaters.iter().map(|b| b.name.to_vec()).collect();
        'rounds: for _ in 0..pdu.max_repetitions {
            for cursor in &mut cursors {
                if out.len() >= MAX_BINDINGS {
                    break 'rounds;
                }
                let found = self.next(cursor);
                match found {
                    Some(binding) => {
                        *cursor = binding.name.to_vec();
                        out.push(binding);
                    }
                    None => match ObjectIdentifier::new(cursor.clone()) {
                        Some(name) => out.push(end_of_view(&name)),
                        None => break 'rounds,
                    },
                }
            }
        }
        out.truncate(MAX_BINDINGS);
        response(pdu.request_id, out)
    }
}

/// The bindings of a request, whichever its PDU.
enum Request<'a> {
    Plain(&'a Pdu),
    Bulk(&'a BulkPdu),
}

impl Request<'_> {
    fn bindings(&self) -> &[VarBind] {
        match self {
            Request::Plain(pdu) => &pdu.variable_bindings,
            Request::Bulk(pdu) => &pdu.variable_bindings,
        }
    }
}

fn response(request_id: i32, bindings: Vec<VarBind>) -> Pdu {
    Pdu { request_id, error_status: Pdu::ERROR_STATUS_NO_ERROR, error_index: 0, variable_bindings: bindings }
}

fn no_such_name(pdu: &Pdu, index: usize) -> Pdu {
    Pdu {
        request_id: pdu.request_id,
        error_status: Pdu::ERROR_STATUS_NO_SUCH_NAME,
        error_index: u32::try_from(index + 1).unwrap_or(u32::MAX),
        variable_bindings: pdu.variable_bindings.clone(),
    }
}

fn end_of_view(name: &ObjectIdentifier) -> VarBind {
    VarBind { name: name.clone(), value: VarBindValue::EndOfMibView }
}

/// How long an agent's view of the namespace's interfaces is answered before it is read
/// again (a decky attached to another LAN gains an interface while running).
const VIEW_REFRESH: Duration = Duration::from_secs(10);

/// The interfaces an agent describes: the namespace's own (a decky's, or the host's when
/// run outside one), or one made up around the socket's address if they cannot be read.
async fn view_of(socket: &UdpSocket) -> NetView {
    match NetView::read().await {
        Ok(view) if !view.interfaces.is_empty() => view,
        _ => {
            let local = match socket.local_addr().map(|a| a.ip()) {
                Ok(std::net::IpAddr::V4(ip)) => ip,
                _ => Ipv4Addr::LOCALHOST,
            };
            NetView::around(local, "02:42:00:00:00:01")
        }
    }
}

/// The agent answering now: made by `make` from the namespace's interfaces at the first
/// request (an idle agent reads nothing) and again once the view is older than
/// [`VIEW_REFRESH`], keeping the first agent's uptime.
async fn agent_now(
    current: &std::sync::Mutex<Option<(Instant, Arc<Snmp>)>>,
    make: &impl Fn(&NetView) -> Snmp,
    socket: &UdpSocket,
) -> Arc<Snmp> {
    let earlier = current.lock().ok().and_then(|held| held.clone());
    if let Some((read, agent)) = &earlier
        && read.elapsed() < VIEW_REFRESH
    {
        return agent.clone();
    }
    let mut agent = make(&view_of(socket).await);
    if let Some((_, first)) = &earlier {
        agent.uptime_at_start = first.uptime_at_start;
        agent.started = first.started;
    }
    let agent = Arc::new(agent);
    if let Ok(mut held) = current.lock() {
        *held = Some((Instant::now(), agent.clone()));
    }
    agent
}

/// Serves `socket` until `shutdown` resolves with the agent `make` builds over the
/// namespace's interfaces: one session per datagram, the community recorded as an
/// `auth_attempt`, the request as a `command`, undecodable input as a `protocol_error`.
pub async fn run(
    make: impl Fn(&NetView) -> Snmp,
    socket: UdpSocket,
    recorder: Recorder,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let current = std::sync::Mutex::new(None);
    let (current, make, socket_ref) = (&current, &make, &socket);
    let exchange = |datagram: Vec<u8>, log: SessionLog| async move {
        let agent = agent_now(current, make, socket_ref).await;
        match agent.exchange(&datagram) {
            Err(reason) => {
                log.record(
                    Kind::ProtocolError,
                    Fields::default().detail("reason", reason).detail("bytes", datagram.len()),
                )
                .await;
                None
            }
            Ok(exchange) => {
                let outcome = if exchange.accepted { "success" } else { "failure" };
                log.record(
                    Kind::AuthAttempt,
                    Fields::default()
                        .secret(Secret::password(&exchange.community))
                        .detail("method", "community")
                        .detail("version", exchange.version)
                        .detail("outcome", outcome),
                )
                .await;
                let command = format!("{} {}", exchange.operation, exchange.oids.join(" "));
                log.record(
                    Kind::Command,
                    Fields::default().command(command.trim_end()).detail("operation", exchange.operation),
                )
                .await;
                exchange.reply
            }
        }
    };
    crate::server::run_udp(&socket, &recorder, MAX_DATAGRAM, shutdown, exchange).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn agent() -> Snmp {
        let service = decnet_domain::catalogue::service("snmp").unwrap();
        let config = Config::from_map(service, serde_json::Map::new()).unwrap();
        Snmp::new(&Persona::from_env(), &config, &NetView::around(Ipv4Addr::new(10, 1, 0, 7), "02:42:0a:01:00:07"))
    }

    fn request(version: i32, community: &[u8], data: Pdus) -> Vec<u8> {
        rasn::ber::encode(&Message { version, community: OctetString::from(community.to_vec()), data }).unwrap()
    }

    fn name(arcs: &[u32]) -> ObjectIdentifier {
        ObjectIdentifier::new(arcs.to_vec()).unwrap()
    }

    fn pdu(names: &[&[u32]]) -> Pdu {
        let bindings = names.iter().map(|n| VarBind { name: name(n), value: VarBindValue::Unspecified }).collect();
        Pdu { request_id: 7, error_status: 0, error_index: 0, variable_bindings: bindings }
    }

    fn reply(exchange: &Exchange) -> Pdu {
        let message: Message = rasn::ber::decode(exchange.reply.as_deref().unwrap()).unwrap();
        match message.data {
            Pdus::Response(Response(pdu)) => pdu,
            other => panic!("not a response: {other:?}"),
        }
    }

    #[test]
    fn getnext_walks_in_oid_order_to_the_end_of_the_mib() {
        let agent = agent();
        let mut cursor = MIB2.to_vec();
        let mut seen = Vec::new();
        loop {
            let asked = request(V2C, b"public", Pdus::GetNextRequest(rasn_snmp::v2::GetNextRequest(pdu(&[&cursor]))));
            let answer = reply(&agent.exchange(&asked).unwrap());
            let binding = &answer.variable_bindings[0];
            if binding.value == VarBindValue::EndOfMibView {
                break;
            }
            assert!(binding.name.to_vec() > cursor, "strictly increasing");
            cursor = binding.name.to_vec();
            seen.push(cursor.clone());
        }
        assert_eq!(seen.len(), agent.mib.len(), "every object once");
        assert!(seen.contains(&mib2(&[4, 20, 1, 1, 10, 1, 0, 7])), "ipAdEntAddr of the decky's address");
    }

    #[test]
    fn get_answers_exceptions_in_v2c_and_no_such_name_in_v1() {
        let agent = agent();
        let asked = pdu(&[&mib2(&[1, 5, 0]), &mib2(&[1, 5, 1]), &mib2(&[9, 9])]);
        let v2 = reply(
            &agent
                .exchange(&request(V2C, b"public", Pdus::GetRequest(rasn_snmp::v2::GetRequest(asked.clone()))))
                .unwrap(),
        );
        assert!(matches!(v2.variable_bindings[0].value, VarBindValue::Value(_)));
        assert_eq!(v2.variable_bindings[1].value, VarBindValue::NoSuchInstance);
        assert_eq!(v2.variable_bindings[2].value, VarBindValue::NoSuchObject);
        let v1 = reply(
            &agent.exchange(&request(V1, b"public", Pdus::GetRequest(rasn_snmp::v2::GetRequest(asked)))).unwrap(),
        );
        assert_eq!((v1.error_status, v1.error_index), (Pdu::ERROR_STATUS_NO_SUCH_NAME, 2));
    }

    #[test]
    fn getbulk_repeats_and_is_capped() {
        let agent = agent();
        let bulk = BulkPdu {
            request_id: 9,
            non_repeaters: 1,
            max_repetitions: 10_000,
            variable_bindings: pdu(&[&mib2(&[1]), &MIB2]).variable_bindings,
        };
        let answer = reply(
            &agent
                .exchange(&request(V2C, b"public", Pdus::GetBulkRequest(rasn_snmp::v2::GetBulkRequest(bulk))))
                .unwrap(),
        );
        assert_eq!(answer.variable_bindings.len(), MAX_BINDINGS);
        assert_eq!(answer.variable_bindings[0].name.to_vec(), mib2(&[1, 1, 0]), "the non-repeater");
        let v1_bulk = BulkPdu { request_id: 9, non_repeaters: 0, max_repetitions: 3, variable_bindings: Vec::new() };
        let v1 = agent
            .exchange(&request(V1, b"public", Pdus::GetBulkRequest(rasn_snmp::v2::GetBulkRequest(v1_bulk))))
            .unwrap();
        assert_eq!(v1.reply, None, "v1 has no GetBulk");
    }

    #[test]
    fn a_wrong_community_is_recorded_but_not_answered_and_sets_are_refused() {
        let agent = agent();
        let get = |community: &[u8]| {
            agent
                .exchange(&request(
                    V2C,
                    community,
                    Pdus::GetRequest(rasn_snmp::v2::GetRequest(pdu(&[&mib2(&[1, 1, 0])]))),
                ))
                .unwrap()
        };
        let wrong = get(b"private");
        assert_eq!((wrong.accepted, wrong.reply.is_none(), wrong.community.as_slice()), (false, true, &b"private"[..]));
        assert!(get(b"public").accepted);
        let set = agent
            .exchange(&request(V2C, b"public", Pdus::SetRequest(rasn_snmp::v2::SetRequest(pdu(&[&mib2(&[1, 5, 0])])))))
            .unwrap();
        assert_eq!(reply(&set).error_status, Pdu::ERROR_STATUS_NO_ACCESS);
        assert_eq!(set.oids, vec!["1.3.6.1.2.1.1.5.0".to_owned()]);
        assert!(
            agent.exchange(&request(3, b"public", Pdus::GetRequest(rasn_snmp::v2::GetRequest(pdu(&[]))))).is_err(),
            "v3 is not answered"
        );
    }

    proptest! {
        #[test]
        fn any_datagram_is_answered_or_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = agent().exchange(&bytes);
        }

        #[test]
        fn every_cut_of_a_request_is_handled(cut in 0usize..64) {
            let full = request(V2C, b"public", Pdus::GetNextRequest(rasn_snmp::v2::GetNextRequest(pdu(&[&MIB2]))));
            let cut = cut.min(full.len());
            let outcome = agent().exchange(&full[..cut]);
            prop_assert!(cut == full.len() || outcome.is_err());
        }
    }
}
