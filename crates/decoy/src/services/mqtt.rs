//! `mqtt` (1883): a Mosquitto broker of the persona's distribution, speaking MQTT 3.1,
//! 3.1.1 and 5. Every CONNECT is an `auth_attempt` (client id, protocol level, user name and
//! password when given). By default the broker is open as exposed brokers usually are
//! (Mosquitto before 2.0 allowed anonymous clients out of the box, and exposed 2.x brokers
//! are configured with `allow_anonymous true`): anonymous clients get in, and so does any
//! login while no `user` is configured (Mosquitto without a password file does not check
//! credentials). With `user` set, only that login (and the logins lures name) gets in and
//! other credentials are refused "bad user name or password"; with `anonymous` off, a client
//! without credentials is refused "not authorised". Once in, SUBSCRIBE is recorded (its
//! topic filters) and answered with the broker's retained messages (`$SYS/broker/...` and a
//! few sensor topics) that match; PUBLISH is recorded (topic and a bounded excerpt of the
//! payload) and acknowledged, never delivered; PINGREQ, UNSUBSCRIBE and DISCONNECT are
//! answered as a broker does.

use std::time::Instant;

use crate::config::Config;
use crate::event::{Fields, Kind, Secret, hex, printable};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};
use crate::services::lure_accounts;

/// Most topic filters kept from one SUBSCRIBE.
const MAX_FILTERS: usize = 64;
/// Bytes of a published payload kept in its event.
const PAYLOAD_EXCERPT: usize = 256;

/// Control packet types.
const CONNECT: u8 = 1;
const PUBLISH: u8 = 3;
const PUBREL: u8 = 6;
const SUBSCRIBE: u8 = 8;
const UNSUBSCRIBE: u8 = 10;
const PINGREQ: u8 = 12;
const DISCONNECT: u8 = 14;

/// One MQTT control packet: its type, the low nibble of its first byte, and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The packet type (1 CONNECT ... 15 AUTH).
    pub kind: u8,
    /// The flags nibble.
    pub flags: u8,
    /// The variable header and payload.
    pub body: Vec<u8>,
}

/// Reads an MQTT variable byte integer at the start of `buf`: its value and length, `None`
/// when more bytes are needed, `Err` when it runs past the four bytes MQTT allows.
fn varint(buf: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(i) else { return Ok(None) };
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Err("remaining length longer than four bytes".into())
}

/// The next control packet in `buf` (fixed header, remaining length, body). The body is
/// buffered whole; [`Conn::frame`] bounds it by the frame limit.
pub fn parse(buf: &[u8]) -> Parse<Packet> {
    let Some(&first) = buf.first() else { return Parse::Incomplete };
    let kind = first >> 4;
    if kind == 0 {
        return Parse::Invalid("packet type 0 is reserved".into());
    }
    let (length, used) = match varint(buf.get(1..).unwrap_or_default()) {
        Err(reason) => return Parse::Invalid(reason),
        Ok(None) => return Parse::Incomplete,
        Ok(Some(found)) => found,
    };
    let Some(end) = (1 + used).checked_add(length) else { return Parse::Invalid("length overflows".into()) };
    match buf.get(1 + used..end) {
        Some(body) => Parse::Done(Packet { kind, flags: first & 0x0f, body: body.to_vec() }, end),
        None => Parse::Incomplete,
    }
}

/// A cursor over a packet body, every read checked.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).ok_or("length overflows")?;
        let bytes = self.buf.get(self.at..end).ok_or("packet shorter than its fields")?;
        self.at = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self) -> Result<u16, String> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes.first().copied().unwrap_or_default(), bytes.get(1).copied().unwrap_or_default()]))
    }

    /// A length-prefixed string or binary field.
    fn field(&mut self) -> Result<&'a [u8], String> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// MQTT 5 properties: skipped (none changes what the decoy answers).
    fn skip_properties(&mut self) -> Result<(), String> {
        let (len, used) = varint(self.rest())?.ok_or("properties cut short")?;
        self.take(used)?;
        self.take(len)?;
        Ok(())
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.at..).unwrap_or_default()
    }
}

/// A CONNECT packet's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// `MQTT` (3.1.1, 5) or `MQIsdp` (3.1).
    pub protocol: String,
    /// 3 (3.1), 4 (3.1.1) or 5.
    pub level: u8,
    /// The client identifier.
    pub client_id: Vec<u8>,
    /// The will topic, when a will is set.
    pub will_topic: Option<Vec<u8>>,
    /// The user name, when given.
    pub username: Option<Vec<u8>>,
    /// The password, when given.
    pub password: Option<Vec<u8>>,
}

/// Decodes a CONNECT body.
pub fn connect(body: &[u8]) -> Result<Connect, String> {
    let mut r = Reader::new(body);
    let protocol = r.field()?;
    let level = r.byte()?;
    match (protocol, level) {
        (b"MQIsdp", 3) | (b"MQTT", 4 | 5) => {}
        _ => return Err(format!("unknown protocol {} level {level}", printable(protocol))),
    }
    let flags = r.byte()?;
    if flags & 1 != 0 {
        return Err("reserved connect flag set".into());
    }
    r.u16()?;
    if level == 5 {
        r.skip_properties()?;
    }
    let client_id = r.field()?.to_vec();
    let mut will_topic = None;
    if flags & 0x04 != 0 {
        if level == 5 {
            r.skip_properties()?;
        }
        will_topic = Some(r.field()?.to_vec());
        r.field()?;
    }
    let username = if flags & 0x80 != 0 { Some(r.field()?.to_vec()) } else { None };
    let password = if flags & 0x40 != 0 { Some(r.field()?.to_vec()) } else { None };
    Ok(Connect { protocol: printable(protocol), level, client_id, will_topic, username, password })
}

/// A SUBSCRIBE body: the packet id and the filters with their requested QoS.
pub fn subscribe(body: &[u8], level: u8) -> Result<(u16, Vec<(String, u8)>), String> {
    let mut r = Reader::new(body);
    let id = r.u16()?;
    if level == 5 {
        r.skip_properties()?;
    }
    let mut filters = Vec::new();
    while !r.rest().is_empty() {
        let filter = printable(r.field()?);
        let options = r.byte()?;
        if filters.len() < MAX_FILTERS {
            filters.push((filter, options & 0x03));
        }
    }
    if filters.is_empty() {
        return Err("SUBSCRIBE without a topic filter".into());
    }
    Ok((id, filters))
}

/// A PUBLISH's topic, packet id (QoS 1 and 2) and payload.
pub type Publish = (Vec<u8>, Option<u16>, Vec<u8>);

/// Decodes a PUBLISH body.
pub fn publish(body: &[u8], flags: u8, level: u8) -> Result<Publish, String> {
    let mut r = Reader::new(body);
    let topic = r.field()?.to_vec();
    let qos = (flags >> 1) & 0x03;
    if qos == 3 {
        return Err("PUBLISH with QoS 3".into());
    }
    let id = if qos > 0 { Some(r.u16()?) } else { None };
    if level == 5 {
        r.skip_properties()?;
    }
    Ok((topic, id, r.rest().to_vec()))
}

/// Whether `topic` matches the subscription `filter` (`+` one level, `#` the rest; a
/// wildcard first level never matches `$SYS`-style topics).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut levels = topic.split('/');
    for part in filter.split('/') {
        if part == "#" {
            return true;
        }
        match levels.next() {
            Some(level) if part == "+" || part == level => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

/// A packet with its fixed header.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// The length-prefixed form of `bytes` (cut at 65,535).
fn field(bytes: &[u8]) -> Vec<u8> {
    let bytes = bytes.get(..bytes.len().min(usize::from(u16::MAX))).unwrap_or_default();
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// How a CONNECT was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accepted,
    /// 3.1.1 code 4, 5's 0x86.
    BadCredentials,
    /// 3.1.1 code 5, 5's 0x87.
    NotAuthorized,
}

/// The mqtt decoy.
#[derive(Debug)]
pub struct Mqtt {
    anonymous: bool,
    logins: Vec<(String, String)>,
    uptime_at_start: u64,
    started: Instant,
    /// Retained messages other than `$SYS/broker/uptime` (computed when sent).
    retained: Vec<(String, String)>,
}

impl Mqtt {
    /// The broker of `persona` with `config`'s `anonymous`, `user` and `user_password`.
    pub fn new(persona: &Persona, config: &Config) -> Self {
        let mut logins = lure_accounts();
        if let Some(user) = config.string("user") {
            logins.push((user.to_owned(), config.string("user_password").unwrap_or_default().to_owned()));
        }
        // The Mosquitto each distribution ships (Rocky's from EPEL).
        let version = match persona.distro.slug {
            "ubuntu20" => "1.6.9",
            "alpine" => "2.0.18",
            "rocky9" | "fedora" => "2.0.20",
            _ => "2.0.11",
        };
        let n = |purpose: &str, modulo: u64| persona.derive(purpose) % modulo;
        let host = persona.hostname.as_str();
        let clients = n("mqtt clients", 9) + 3;
        let retained = vec![
            ("$SYS/broker/version".to_owned(), format!("mosquitto version {version}")),
            ("$SYS/broker/clients/connected".to_owned(), clients.to_string()),
            ("$SYS/broker/clients/total".to_owned(), (clients + n("mqtt idle", 5)).to_string()),
            ("$SYS/broker/subscriptions/count".to_owned(), (clients * 3).to_string()),
            ("$SYS/broker/retained messages/count".to_owned(), "38".to_owned()),
            ("$SYS/broker/messages/received".to_owned(), (n("mqtt received", 4_000_000) + 90_000).to_string()),
            ("$SYS/broker/messages/sent".to_owned(), (n("mqtt sent", 9_000_000) + 200_000).to_string()),
            (format!("{host}/status"), "online".to_owned()),
            (
                format!("sensors/{host}/boiler/temperature"),
                format!("{}.{}", 55 + n("mqtt boiler", 20), n("mqtt boiler frac", 10)),
            ),
            (format!("sensors/{host}/pump1/state"), "ON".to_owned()),
            ("zigbee2mqtt/bridge/state".to_owned(), "{\"state\":\"online\"}".to_owned()),
            (
                format!("devices/{host}/config"),
                format!(
                    "{{\"mqtt_user\":\"iot-gw\",\"mqtt_pass\":\"{:08x}\",\"ota\":\"http://10.0.4.2/fw\"}}",
                    n("mqtt ota", u64::from(u32::MAX))
                ),
            ),
        ];
        Self {
            anonymous: config.bool("anonymous").unwrap_or(true),
            logins,
            uptime_at_start: persona.uptime_at_start,
            started: Instant::now(),
            retained,
        }
    }

    fn verdict(&self, connect: &Connect) -> Verdict {
        match (&connect.username, self.logins.is_empty()) {
            (None, _) if self.anonymous => Verdict::Accepted,
            (None, _) => Verdict::NotAuthorized,
            // Without a password file, Mosquitto takes any login when anonymous is allowed.
            (Some(_), true) if self.anonymous => Verdict::Accepted,
            (Some(user), _) => {
                let password = connect.password.as_deref().unwrap_or_default();
                if self.logins.iter().any(|(u, p)| u.as_bytes() == user.as_slice() && p.as_bytes() == password) {
                    Verdict::Accepted
                } else {
                    Verdict::BadCredentials
                }
            }
        }
    }

    /// Every retained message, `$SYS/broker/uptime` as of now.
    fn messages(&self) -> Vec<(String, String)> {
        let mut all = self.retained.clone();
        let uptime = self.uptime_at_start + self.started.elapsed().as_secs();
        all.insert(1, ("$SYS/broker/uptime".to_owned(), format!("{uptime} seconds")));
        all
    }
}

fn connack(verdict: Verdict, level: u8) -> Vec<u8> {
    let code = match (verdict, level) {
        (Verdict::Accepted, _) => 0,
        (Verdict::BadCredentials, 5) => 0x86,
        (Verdict::NotAuthorized, 5) => 0x87,
        (Verdict::BadCredentials, _) => 4,
        (Verdict::NotAuthorized, _) => 5,
    };
    if level == 5 { packet(0x20, &[0, code, 0]) } else { packet(0x20, &[0, code]) }
}

impl Decoy for Mqtt {
    fn name(&self) -> &'static str {
        "mqtt"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        let first = match conn.frame(parse).await {
            Ok(packet) => packet,
            Err(end) => return end,
        };
        if first.kind != CONNECT {
            conn.violation_in("first packet is not CONNECT", &[first.kind << 4 | first.flags]).await;
            return End::Violation;
        }
        let hello = match connect(&first.body) {
            Ok(hello) => hello,
            Err(reason) => {
                conn.violation_in(&reason, &first.body).await;
                return End::Violation;
            }
        };
        let level = hello.level;
        let verdict = self.verdict(&hello);
        let mut fields = Fields::default()
            .detail("method", if hello.username.is_some() { "password" } else { "anonymous" })
            .detail("client_id", printable(&hello.client_id))
            .detail("protocol", hello.protocol.as_str())
            .detail("protocol_level", level)
            .detail("outcome", if verdict == Verdict::Accepted { "success" } else { "failure" });
        if let Some(user) = &hello.username {
            fields = fields.principal(user);
        }
        if let Some(password) = &hello.password {
            fields = fields.secret(Secret::password(password));
        }
        if let Some(topic) = &hello.will_topic {
            fields = fields.detail("will_topic", printable(topic));
        }
        conn.log.record(Kind::AuthAttempt, fields).await;
        if let Err(end) = conn.write(&connack(verdict, level)).await {
            return end;
        }
        if verdict != Verdict::Accepted {
            return End::Done;
        }
        loop {
            let Packet { kind, flags, body } = match conn.frame(parse).await {
                Ok(packet) => packet,
                Err(end) => return end,
            };
            let reply = match kind {
                PUBLISH => match publish(&body, flags, level) {
                    Err(reason) => {
                        conn.violation_in(&reason, &body).await;
                        return End::Violation;
                    }
                    Ok((topic, id, payload)) => {
                        let qos = (flags >> 1) & 0x03;
                        let excerpt = payload.get(..payload.len().min(PAYLOAD_EXCERPT)).unwrap_or_default();
                        let fields = Fields::default()
                            .command(format!("PUBLISH {}", printable(&topic)))
                            .detail("verb", "PUBLISH")
                            .detail("topic", printable(&topic))
                            .detail("qos", qos)
                            .detail("retain", flags & 1 == 1)
                            .detail("payload", printable(excerpt))
                            .detail("payload_hex", hex(excerpt))
                            .detail("payload_bytes", payload.len());
                        conn.log.record(Kind::Command, fields).await;
                        match (qos, id) {
                            (1, Some(id)) => packet(0x40, &id.to_be_bytes()),
                            (2, Some(id)) => packet(0x50, &id.to_be_bytes()),
                            _ => Vec::new(),
                        }
                    }
                },
                // QoS 2's second half: the message was "released".
                PUBREL if body.len() >= 2 => packet(0x70, body.get(..2).unwrap_or_default()),
                SUBSCRIBE if flags == 2 => match subscribe(&body, level) {
                    Err(reason) => {
                        conn.violation_in(&reason, &body).await;
                        return End::Violation;
                    }
                    Ok((id, filters)) => {
                        let names: Vec<&str> = filters.iter().map(|(f, _)| f.as_str()).collect();
                        let fields = Fields::default()
                            .command(format!("SUBSCRIBE {}", names.join(" ")))
                            .detail("verb", "SUBSCRIBE")
                            .detail("topics", names.clone());
                        conn.log.record(Kind::Command, fields).await;
                        let mut ack = id.to_be_bytes().to_vec();
                        if level == 5 {
                            ack.push(0);
                        }
                        ack.extend(filters.iter().map(|(_, qos)| *qos));
                        let mut out = packet(0x90, &ack);
                        // Retained messages go out at QoS 0 with the retain flag.
                        for (topic, payload) in self.messages() {
                            if names.iter().any(|f| matches(f, &topic)) {
                                let mut body = field(topic.as_bytes());
                                if level == 5 {
                                    body.push(0);
                                }
                                body.extend_from_slice(payload.as_bytes());
                                out.extend(packet(0x31, &body));
                            }
                        }
                        out
                    }
                },
                UNSUBSCRIBE if flags == 2 && body.len() >= 2 => {
                    let mut ack = body.get(..2).unwrap_or_default().to_vec();
                    if level == 5 {
                        // Properties, then a "no subscription existed" per filter: close enough
                        // as one code, clients only check the packet id.
                        ack.extend_from_slice(&[0, 0x11]);
                    }
                    packet(0xb0, &ack)
                }
                PINGREQ => packet(0xd0, &[]),
                DISCONNECT => return End::Quit,
                _ => {
                    conn.violation_in(&format!("unexpected packet type {kind}"), &body).await;
                    return End::Violation;
                }
            };
            if !reply.is_empty()
                && let Err(end) = conn.write(&reply).await
            {
                return end;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_headers_and_remaining_lengths() {
        assert_eq!(parse(b""), Parse::Incomplete);
        assert_eq!(parse(b"\xc0"), Parse::Incomplete);
        assert_eq!(parse(b"\xc0\x00rest"), Parse::Done(Packet { kind: 12, flags: 0, body: vec![] }, 2));
        assert_eq!(parse(b"\x30\x03\x00\x01"), Parse::Incomplete);
        let mut big = vec![0x30, 0x80, 0x01];
        big.extend(std::iter::repeat_n(b'x', 128));
        assert!(matches!(parse(&big), Parse::Done(Packet { kind: 3, .. }, 131)));
        assert!(matches!(parse(b"\x30\xff\xff\xff\xff\x01"), Parse::Invalid(_)));
        assert!(matches!(parse(b"\x00\x00"), Parse::Invalid(_)));
        assert_eq!(parse(b"\x30\xff\xff\xff\x7f"), Parse::Incomplete);
        assert_eq!(packet(0x30, &[b'x'; 200])[..3], [0x30, 0xc8, 0x01]);
    }

    #[test]
    fn connect_packets_of_each_version() {
        // nmap's probe: 3.1.1, clean session, client id "nmap".
        let nmap = connect(b"\x00\x04MQTT\x04\x02\x00\x1e\x00\x04nmap").unwrap();
        assert_eq!((nmap.level, nmap.client_id.as_slice(), nmap.username), (4, &b"nmap"[..], None));
        let v31 = connect(b"\x00\x06MQIsdp\x03\xc2\x00\x3c\x00\x01c\x00\x05alice\x00\x06s3cret").unwrap();
        assert_eq!(v31.username.as_deref(), Some(&b"alice"[..]));
        assert_eq!(v31.password.as_deref(), Some(&b"s3cret"[..]));
        // 5: connect properties, a will with its properties, user name.
        let v5 = connect(b"\x00\x04MQTT\x05\x86\x00\x3c\x03\x21\x00\x0a\x00\x01c\x00\x00\x03w/t\x00\x02hi\x00\x01u")
            .unwrap();
        assert_eq!(v5.will_topic.as_deref(), Some(&b"w/t"[..]));
        assert_eq!(v5.username.as_deref(), Some(&b"u"[..]));
        assert!(connect(b"\x00\x04HTTP\x04\x02\x00\x1e\x00\x00").is_err());
        assert!(connect(b"\x00\x04MQTT\x04\xc2\x00\x1e\x00\x01c\x00\x09short").is_err());
    }

    #[test]
    fn subscribe_and_publish_bodies() {
        let (id, filters) = subscribe(b"\x00\x07\x00\x01#\x00\x00\x06$SYS/#\x01", 4).unwrap();
        assert_eq!((id, filters), (7, vec![("#".into(), 0), ("$SYS/#".into(), 1)]));
        assert!(subscribe(b"\x00\x07", 4).is_err());
        let (topic, id, payload) = publish(b"\x00\x03a/b\x00\x09hello", 0x02, 4).unwrap();
        assert_eq!((topic.as_slice(), id, payload.as_slice()), (&b"a/b"[..], Some(9), &b"hello"[..]));
        let (_, id, payload) = publish(b"\x00\x01t\x00hi", 0, 5).unwrap();
        assert_eq!((id, payload.as_slice()), (None, &b"hi"[..]));
        assert!(publish(b"\x00\x01t", 0x06, 4).is_err());
    }

    #[test]
    fn topic_filters() {
        assert!(matches("#", "sensors/a/temp"));
        assert!(!matches("#", "$SYS/broker/version"));
        assert!(matches("$SYS/#", "$SYS/broker/version"));
        assert!(matches("sensors/+/temp", "sensors/a/temp"));
        assert!(!matches("sensors/+", "sensors/a/temp"));
        assert!(matches("sensors/#", "sensors"));
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
    }

    proptest! {
        #[test]
        fn any_bytes_frame_and_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Parse::Done(packet, used) = parse(&bytes) {
                prop_assert!(used <= bytes.len());
                let _ = connect(&packet.body);
                let _ = subscribe(&packet.body, 5);
                let _ = publish(&packet.body, packet.flags, 5);
            }
        }
    }
}
