//! `conpot`: an industrial controller, a Schneider Electric Modicon PLC picked per decky,
//! on the three ports such a device answers.
//!
//! * Modbus/TCP (502): MBAP framing; read coils, discrete inputs, holding and input
//!   registers from a memory map that is the same for the same decky every time; write
//!   single/multiple coils and registers answered as a PLC does and never applied; Report
//!   Server ID (17) and Read Device Identification (43/14) with the vendor, product code,
//!   revision, URL, product and model names; exceptions for illegal functions, addresses
//!   and values. A header with a wrong protocol id or length is answered with an exception
//!   echoing it, as the field devices nmap's probes know do, then the connection closes.
//! * HTTP (80): the controller's web server login page (the http decoy's request reader);
//!   form logins are recorded and refused.
//! * SNMP (161/udp): the snmp decoy's agent with the PLC's sysDescr and sysObjectID.
//!
//! Recorded: every Modbus request as a `command` (function, unit, address, quantity;
//! writes flagged with their values: the ICS attack signal), malformed frames as
//! `protocol_error`, web requests and logins, SNMP exchanges.

use crate::config::Config;
use crate::event::{Fields, Kind};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End, Parse};
use crate::services::http::{self, Incoming, Request};

/// Addresses of each table (coils, discrete inputs, holding and input registers).
const TABLE_SIZE: u32 = 10_000;
/// Values of a write kept in its event.
const MAX_LOGGED_VALUES: usize = 32;

/// A controller model.
#[derive(Debug, Clone, Copy)]
struct Plc {
    vendor: &'static str,
    product_code: &'static str,
    revision: &'static str,
    url: &'static str,
    product: &'static str,
    model: &'static str,
    /// sysObjectID under Schneider Electric's enterprise (3833).
    object_id: &'static [u32],
}

const PLCS: &[Plc] = &[
    Plc {
        vendor: "Schneider Electric",
        product_code: "BMX P34 2020",
        revision: "v2.80",
        url: "http://www.schneider-electric.com",
        product: "Modicon M340",
        model: "BMX P34 2020",
        object_id: &[1, 3, 6, 1, 4, 1, 3833, 1, 7, 255, 19],
    },
    Plc {
        vendor: "Schneider Electric",
        product_code: "BME P58 2040",
        revision: "v3.20",
        url: "http://www.schneider-electric.com",
        product: "Modicon M580",
        model: "BME P58 2040",
        object_id: &[1, 3, 6, 1, 4, 1, 3833, 1, 7, 255, 44],
    },
    Plc {
        vendor: "Schneider Electric",
        product_code: "TM221CE16R",
        revision: "v1.10",
        url: "http://www.schneider-electric.com",
        product: "Modicon M221",
        model: "TM221CE16R",
        object_id: &[1, 3, 6, 1, 4, 1, 3833, 1, 7, 255, 60],
    },
];

/// One Modbus/TCP frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A well-framed ADU: transaction id, unit id, PDU (function code and data).
    Adu {
        /// Transaction id (echoed).
        transaction: u16,
        /// Unit id (echoed).
        unit: u8,
        /// Function code and data.
        pdu: Vec<u8>,
    },
    /// A header that breaks MBAP (protocol id not 0, length out of 2..=254): its fields,
    /// for an exception that echoes them.
    Broken {
        /// Transaction id.
        transaction: u16,
        /// Protocol id as sent.
        protocol: u16,
        /// Length as sent.
        length: u16,
        /// Unit id.
        unit: u8,
        /// Function code.
        function: u8,
    },
}

fn be16(buf: &[u8], at: usize) -> u16 {
    match buf.get(at..at + 2) {
        Some([hi, lo]) => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    }
}

/// Frames one MBAP request: 7 header bytes (transaction, protocol, length, unit), then
/// `length - 1` bytes of PDU.
pub fn parse(buf: &[u8]) -> Parse<Frame> {
    let (Some(&unit), Some(&function)) = (buf.get(6), buf.get(7)) else { return Parse::Incomplete };
    let (transaction, protocol, length) = (be16(buf, 0), be16(buf, 2), be16(buf, 4));
    if protocol != 0 || !(2..=254).contains(&length) {
        return Parse::Done(Frame::Broken { transaction, protocol, length, unit, function }, 8);
    }
    let end = 6 + usize::from(length);
    match buf.get(7..end) {
        Some(pdu) => Parse::Done(Frame::Adu { transaction, unit, pdu: pdu.to_vec() }, end),
        None => Parse::Incomplete,
    }
}

/// What one request was, for its event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Op {
    /// The function's name.
    pub name: &'static str,
    /// Function code.
    pub function: u8,
    /// Whether it writes.
    pub write: bool,
    /// Start address.
    pub address: Option<u16>,
    /// Quantity.
    pub quantity: Option<u16>,
    /// Values written.
    pub values: Vec<u16>,
    /// The exception answered.
    pub exception: Option<u8>,
}

const ILLEGAL_FUNCTION: u8 = 1;
const ILLEGAL_ADDRESS: u8 = 2;
const ILLEGAL_VALUE: u8 = 3;

fn exception(function: u8, code: u8) -> Vec<u8> {
    vec![function | 0x80, code]
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The conpot decoy.
#[derive(Debug)]
pub struct Conpot {
    plc: Plc,
    memory_key: u64,
    hostname: String,
}

impl Conpot {
    /// The decoy for `persona` with `config` (no keys).
    pub fn new(persona: &Persona, _config: &Config) -> Self {
        let plc = PLCS.get(persona.derive("conpot plc") as usize % PLCS.len()).copied().unwrap_or(Plc {
            vendor: "Schneider Electric",
            product_code: "BMX P34 2020",
            revision: "v2.80",
            url: "http://www.schneider-electric.com",
            product: "Modicon M340",
            model: "BMX P34 2020",
            object_id: &[1, 3, 6, 1, 4, 1, 3833, 1, 7, 255, 19],
        });
        Self { plc, memory_key: persona.derive("conpot memory"), hostname: persona.hostname.clone() }
    }

    /// The SNMP agent of the PLC.
    pub fn snmp(&self, agent: super::snmp::Snmp) -> super::snmp::Snmp {
        let descr =
            format!("{} {} {} Firmware {}", self.plc.vendor, self.plc.product, self.plc.model, self.plc.revision);
        agent.with_system(&descr, self.plc.object_id, "", "Plant floor", 78)
    }

    /// Word `address` of `table` (1 coils, 2 discrete inputs, 3 holding, 4 input
    /// registers): stable per decky; bits for the bit tables, process-like values else.
    fn word(&self, table: u8, address: u32) -> u16 {
        let x = splitmix(self.memory_key ^ (u64::from(table) << 40) ^ u64::from(address));
        match table {
            1 | 2 => (x & 1) as u16,
            3 => (x % 1000) as u16,
            _ => (x % 4096) as u16,
        }
    }

    fn objects(&self) -> [(u8, &'static str); 6] {
        [
            (0, self.plc.vendor),
            (1, self.plc.product_code),
            (2, self.plc.revision),
            (3, self.plc.url),
            (4, self.plc.product),
            (5, self.plc.model),
        ]
    }

    /// The response PDU to `pdu` and what the request was.
    pub fn answer(&self, pdu: &[u8]) -> (Vec<u8>, Op) {
        let function = pdu.first().copied().unwrap_or(0);
        let data = pdu.get(1..).unwrap_or_default();
        let mut op = Op { function, ..Op::default() };
        let fail = |mut op: Op, code: u8| {
            op.exception = Some(code);
            (exception(function, code), op)
        };
        match function {
            1..=4 => {
                op.name = ["", "read_coils", "read_discrete_inputs", "read_holding_registers", "read_input_registers"]
                    .get(usize::from(function))
                    .copied()
                    .unwrap_or("read");
                if data.len() != 4 {
                    return fail(op, ILLEGAL_VALUE);
                }
                let (address, quantity) = (be16(data, 0), be16(data, 2));
                op.address = Some(address);
                op.quantity = Some(quantity);
                let max = if function <= 2 { 2000 } else { 125 };
                if quantity == 0 || quantity > max {
                    return fail(op, ILLEGAL_VALUE);
                }
                if u32::from(address) + u32::from(quantity) > TABLE_SIZE {
                    return fail(op, ILLEGAL_ADDRESS);
                }
                let addresses = u32::from(address)..u32::from(address) + u32::from(quantity);
                let mut out = vec![function];
                if function <= 2 {
                    let mut bytes = vec![0u8; usize::from(quantity).div_ceil(8)];
                    for (i, a) in addresses.enumerate() {
                        if self.word(function, a) == 1
                            && let Some(byte) = bytes.get_mut(i / 8)
                        {
                            *byte |= 1 << (i % 8);
                        }
                    }
                    out.push(u8::try_from(bytes.len()).unwrap_or(0));
                    out.extend_from_slice(&bytes);
                } else {
                    out.push(u8::try_from(usize::from(quantity) * 2).unwrap_or(0));
                    for a in addresses {
                        out.extend_from_slice(&self.word(function, a).to_be_bytes());
                    }
                }
                (out, op)
            }
            5 | 6 => {
                op.name = if function == 5 { "write_single_coil" } else { "write_single_register" };
                op.write = true;
                if data.len() != 4 {
                    return fail(op, ILLEGAL_VALUE);
                }
                let (address, value) = (be16(data, 0), be16(data, 2));
                op.address = Some(address);
                op.values = vec![value];
                if function == 5 && value != 0xFF00 && value != 0 {
                    return fail(op, ILLEGAL_VALUE);
                }
                if u32::from(address) >= TABLE_SIZE {
                    return fail(op, ILLEGAL_ADDRESS);
                }
                (pdu.to_vec(), op)
            }
            15 | 16 => {
                op.name = if function == 15 { "write_multiple_coils" } else { "write_multiple_registers" };
                op.write = true;
                let (address, quantity, count) = (be16(data, 0), be16(data, 2), data.get(4).copied().unwrap_or(0));
                op.address = Some(address);
                op.quantity = Some(quantity);
                let values = data.get(5..).unwrap_or_default();
                let (max, expected) = if function == 15 {
                    (1968, usize::from(quantity).div_ceil(8))
                } else {
                    (123, usize::from(quantity) * 2)
                };
                if data.len() < 5
                    || quantity == 0
                    || quantity > max
                    || usize::from(count) != expected
                    || values.len() != expected
                {
                    return fail(op, ILLEGAL_VALUE);
                }
                op.values = if function == 15 {
                    (0..usize::from(quantity))
                        .take(MAX_LOGGED_VALUES)
                        .map(|i| u16::from(values.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)))
                        .collect()
                } else {
                    values.chunks(2).take(MAX_LOGGED_VALUES).map(|w| be16(w, 0)).collect()
                };
                if u32::from(address) + u32::from(quantity) > TABLE_SIZE {
                    return fail(op, ILLEGAL_ADDRESS);
                }
                (pdu.get(..5).unwrap_or(pdu).to_vec(), op)
            }
            17 => {
                op.name = "report_server_id";
                let id = format!("{} {} {}", self.plc.vendor, self.plc.model, self.plc.revision);
                let mut out = vec![function, u8::try_from(id.len() + 1).unwrap_or(0)];
                out.extend_from_slice(id.as_bytes());
                // Run indicator: ON.
                out.push(0xFF);
                (out, op)
            }
            43 if data.first() == Some(&0x0E) => {
                op.name = "read_device_identification";
                let (code, start) = (data.get(1).copied().unwrap_or(0), data.get(2).copied().unwrap_or(0));
                op.address = Some(u16::from(start));
                let objects = self.objects();
                let chosen: Vec<(u8, &str)> = match code {
                    // Basic (0-2) and regular (0-5) streams from `start`; an unknown start
                    // restarts at 0, as the specification says.
                    1..=3 => {
                        let last = if code == 1 { 2 } else { 5 };
                        let from = if start > last { 0 } else { start };
                        objects.iter().copied().filter(|(id, _)| (from..=last).contains(id)).collect()
                    }
                    4 => match objects.iter().find(|(id, _)| *id == start) {
                        Some(object) => vec![*object],
                        None => return fail(op, ILLEGAL_ADDRESS),
                    },
                    _ => return fail(op, ILLEGAL_VALUE),
                };
                let mut out = vec![43, 0x0E, code, 0x82, 0x00, 0x00, u8::try_from(chosen.len()).unwrap_or(0)];
                for (id, value) in chosen {
                    out.push(id);
                    out.push(u8::try_from(value.len()).unwrap_or(0));
                    out.extend_from_slice(value.as_bytes());
                }
                (out, op)
            }
            _ => {
                op.name = "unsupported";
                fail(op, ILLEGAL_FUNCTION)
            }
        }
    }

    async fn modbus(&self, conn: &mut Conn) -> End {
        loop {
            let frame = match conn.frame(parse).await {
                Ok(frame) => frame,
                Err(end) => return end,
            };
            match frame {
                Frame::Broken { transaction, protocol, length, unit, function } => {
                    let mut header = Vec::with_capacity(8);
                    header.extend_from_slice(&transaction.to_be_bytes());
                    header.extend_from_slice(&protocol.to_be_bytes());
                    header.extend_from_slice(&length.to_be_bytes());
                    header.push(unit);
                    header.push(function);
                    conn.violation_in(&format!("MBAP protocol id {protocol}, length {length}"), &header).await;
                    let code =
                        if matches!(function, 1..=6 | 15 | 16 | 17 | 43) { ILLEGAL_VALUE } else { ILLEGAL_FUNCTION };
                    let mut out = header;
                    out.truncate(4);
                    out.extend_from_slice(&3u16.to_be_bytes());
                    out.push(unit);
                    out.extend_from_slice(&exception(function, code));
                    let _ = conn.write(&out).await;
                    return End::Violation;
                }
                Frame::Adu { transaction, unit, pdu } => {
                    let (answer, op) = self.answer(&pdu);
                    let mut fields = Fields::default()
                        .command(op.name)
                        .detail("function", op.function)
                        .detail("unit", unit)
                        .detail("protocol", "modbus");
                    if let Some(address) = op.address {
                        fields = fields.detail("address", address);
                    }
                    if let Some(quantity) = op.quantity {
                        fields = fields.detail("quantity", quantity);
                    }
                    if op.write {
                        fields = fields.detail("write", true).detail("values", op.values.clone());
                    }
                    if let Some(code) = op.exception {
                        fields = fields.detail("exception", code);
                    }
                    conn.log.record(Kind::Command, fields).await;
                    let mut out = Vec::with_capacity(answer.len() + 7);
                    out.extend_from_slice(&transaction.to_be_bytes());
                    out.extend_from_slice(&[0, 0]);
                    out.extend_from_slice(&u16::try_from(answer.len() + 1).unwrap_or(0).to_be_bytes());
                    out.push(unit);
                    out.extend_from_slice(&answer);
                    if conn.write(&out).await.is_err() {
                        return End::Io;
                    }
                }
            }
        }
    }

    fn login_page(&self, failed: bool) -> String {
        let error = if failed { "<p class=\"error\">Invalid user name or password.</p>\n" } else { "" };
        format!(
            "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{product} - {host}</title>\n\
             <link rel=\"stylesheet\" href=\"/css/plc.css\">\n</head>\n<body>\n<div id=\"header\"><img src=\"/images/logo.gif\" alt=\"{vendor}\">\
             <span>{product} {model}</span></div>\n<div id=\"login\">\n<h2>Web Server - Log In</h2>\n{error}\
             <form method=\"post\" action=\"/login\">\n<label>User name</label><input type=\"text\" name=\"username\">\n\
             <label>Password</label><input type=\"password\" name=\"password\">\n<input type=\"submit\" value=\"Log In\">\n</form>\n</div>\n\
             <div id=\"footer\">Firmware {revision} &copy; {vendor}</div>\n</body>\n</html>\n",
            product = self.plc.product,
            model = self.plc.model,
            vendor = self.plc.vendor,
            revision = self.plc.revision,
            host = self.hostname,
        )
    }

    async fn web(&self, conn: &mut Conn) -> End {
        loop {
            let (head, body, close) = match http::next_request(conn).await {
                Ok(Incoming::Request(Request { head, body, close })) => (head, body, close),
                Ok(Incoming::Refused(..)) => {
                    let _ =
                        conn.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                    return End::Done;
                }
                Ok(Incoming::Malformed) => {
                    let _ =
                        conn.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                    return End::Violation;
                }
                Err(end) => return end,
            };
            let failed = http::record_credentials(conn, &head, &body).await.is_some();
            let path = head.path.split('?').next().unwrap_or("/");
            let (status, page) = match path {
                "/" | "/index.htm" | "/index.html" | "/login" | "/html/english/index.htm" => {
                    (200, self.login_page(failed || (path == "/login" && head.method == "POST")))
                }
                _ => (404, "<html><body><h1>404 Not Found</h1></body></html>\n".to_owned()),
            };
            let mut out = format!(
                "HTTP/1.{} {status} {}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
                head.minor.min(1),
                http::reason(status),
                page.len(),
                if close { "close" } else { "keep-alive" }
            )
            .into_bytes();
            if head.method != "HEAD" {
                out.extend_from_slice(page.as_bytes());
            }
            if conn.write(&out).await.is_err() {
                return End::Io;
            }
            if close {
                return End::Done;
            }
        }
    }
}

impl Decoy for Conpot {
    fn name(&self) -> &'static str {
        "conpot"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        // One decoy, two TCP ports: the web server on 80 (and 8080), Modbus elsewhere.
        if matches!(conn.log.local().port(), 80 | 8080) { self.web(conn).await } else { self.modbus(conn).await }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plc() -> Conpot {
        Conpot::new(&Persona::new("t", "d", Some("plc-01"), Some("industrial-control"), None), &Config::default())
    }

    #[test]
    fn mbap_frames_and_truncation_asks_for_more() {
        let request = [0x00, 0x07, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10];
        assert_eq!(
            parse(&request),
            Parse::Done(Frame::Adu { transaction: 7, unit: 1, pdu: request[7..].to_vec() }, 12)
        );
        for cut in 0..request.len() {
            assert_eq!(parse(&request[..cut]), Parse::Incomplete, "cut at {cut}");
        }
        // nmap's HTTP probe read as MBAP: protocol "T ", function 'T'.
        let Parse::Done(Frame::Broken { protocol, function, .. }, 8) = parse(b"GET / HTTP/1.0\r\n\r\n") else {
            panic!("a broken header")
        };
        assert_eq!((protocol, function), (0x5420, b'T'));
    }

    #[test]
    fn reads_are_stable_writes_echo_and_bad_requests_raise_exceptions() {
        let plc = plc();
        let (first, op) = plc.answer(&[3, 0, 0, 0, 10]);
        assert_eq!((first.len(), first[1], op.name), (22, 20, "read_holding_registers"));
        assert_eq!(plc.answer(&[3, 0, 0, 0, 10]).0, first, "the same memory every time");
        assert_eq!(plc.answer(&[1, 0, 0, 0, 9]).0[1], 2, "9 coils in 2 bytes");
        let (echo, op) = plc.answer(&[6, 0, 5, 0x01, 0xF4]);
        assert_eq!((echo, op.write, op.values), (vec![6, 0, 5, 0x01, 0xF4], true, vec![500]));
        assert_eq!(plc.answer(&[16, 0, 1, 0, 2, 4, 0, 1, 0, 2]).0, vec![16, 0, 1, 0, 2]);
        assert_eq!(plc.answer(&[3, 0x27, 0x10, 0, 1]).0, vec![0x83, ILLEGAL_ADDRESS]);
        assert_eq!(plc.answer(&[3, 0, 0, 0, 200]).0, vec![0x83, ILLEGAL_VALUE]);
        assert_eq!(plc.answer(&[0x5A]).0, vec![0xDA, ILLEGAL_FUNCTION]);
        assert_eq!(plc.answer(&[5, 0, 1, 0x12, 0x34]).0, vec![0x85, ILLEGAL_VALUE]);
    }

    #[test]
    fn the_device_identification_names_the_vendor_and_model() {
        let plc = plc();
        let (out, _) = plc.answer(&[43, 0x0E, 1, 0]);
        assert_eq!(&out[..7], &[43, 0x0E, 1, 0x82, 0, 0, 3]);
        assert_eq!(&out[7..9], &[0, 18]);
        assert_eq!(&out[9..27], b"Schneider Electric");
        let (one, _) = plc.answer(&[43, 0x0E, 4, 4]);
        assert_eq!(one[6], 1);
        assert!(String::from_utf8_lossy(&one).contains("Modicon"));
        assert_eq!(plc.answer(&[43, 0x0E, 9, 0]).0, vec![0xAB, ILLEGAL_VALUE]);
    }

    proptest! {
        #[test]
        fn any_bytes_frame_and_any_pdu_is_answered(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Parse::Done(Frame::Adu { pdu, .. }, used) = parse(&bytes) {
                prop_assert!(used <= bytes.len());
                let (answer, _) = plc().answer(&pdu);
                prop_assert!(!answer.is_empty() && answer.len() < 256);
            }
            let _ = plc().answer(&bytes);
        }
    }
}
