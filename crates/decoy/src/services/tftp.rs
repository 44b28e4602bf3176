//! `tftp` (UDP 69): tftpd-hpa as a network team leaves it, with a switch's configuration
//! backups and a PXE boot menu. Each read or write request is recorded (`command`, with
//! the file name and mode as sent) and served, as TFTP does, from a fresh ephemeral port:
//! a bait file goes out in 512-byte DATA blocks, each waiting for its ACK (the transfer is
//! a `file_download`); an unknown file gets ERROR 1. A write is acknowledged block by block
//! and recorded as a `file_upload` with its size, SHA-256 and a bounded excerpt; nothing is
//! stored, on disk or in memory, beyond that excerpt. Options (RFC 2347) are recorded and
//! ignored, which RFC 2347 allows. Other packets on port 69 are recorded as protocol errors
//! and answered with silence, as tftpd-hpa does.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::event::{Fields, Kind, Recorder, SessionLog, hex, printable};
use crate::persona::Persona;

/// Largest datagram read (a DATA packet is 516 bytes; requests are shorter).
const MAX_DATAGRAM: usize = 1500;
/// The block size of RFC 1350.
const BLOCK: usize = 512;
/// Transfers served at once; requests beyond are recorded and dropped.
const MAX_TRANSFERS: usize = 32;
/// Transfers served at once to one address. A read request's source can be forged, and
/// each transfer resends its block to that address: the cap bounds what a forged request
/// can reflect at a victim.
const MAX_PER_SOURCE: usize = 4;
/// How long a transfer waits for the client's next packet before sending again.
const RETRANSMIT: Duration = Duration::from_secs(1);
/// Sends of one packet before a transfer is abandoned.
const TRIES: u32 = 5;
/// Largest upload accepted; beyond it the client reads "Disk full".
const MAX_UPLOAD: u64 = 16 * 1024 * 1024;
/// Bytes of an upload kept (as text and hex) in its event.
const EXCERPT: usize = 256;
/// How long a transfer takes to answer first. tftpd-hpa forks a child per request, which
/// answers a millisecond or more later; a loopback-fast answer would overtake a client that
/// binds its listening socket only after sending (nmap's `tftp-enum` does).
const FIRST_REPLY_DELAY: Duration = Duration::from_millis(25);
/// Most options recorded from one request.
const MAX_OPTIONS: usize = 8;

/// Opcodes.
const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// True for WRQ.
    pub write: bool,
    /// The file name, as sent (hostile).
    pub filename: Vec<u8>,
    /// The transfer mode, lower-cased.
    pub mode: String,
    /// RFC 2347 options as `name=value`.
    pub options: Vec<String>,
}

/// A TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// RRQ or WRQ.
    Request(Request),
    /// A DATA block.
    Data(u16, Vec<u8>),
    /// An ACK of a block.
    Ack(u16),
    /// An ERROR with its code and message.
    Error(u16, String),
}

/// Decodes one datagram.
pub fn parse(datagram: &[u8]) -> Result<Packet, String> {
    let opcode = u16::from_be_bytes([
        *datagram.first().ok_or("empty datagram")?,
        *datagram.get(1).ok_or("datagram shorter than an opcode")?,
    ]);
    let rest = datagram.get(2..).unwrap_or_default();
    let number = || -> Result<u16, String> {
        Ok(u16::from_be_bytes([
            *rest.first().ok_or("packet without a block number")?,
            *rest.get(1).ok_or("packet without a block number")?,
        ]))
    };
    match opcode {
        RRQ | WRQ => {
            // NUL-terminated strings: file name, mode, then option name/value pairs.
            let mut fields = rest.split(|&b| b == 0);
            if rest.last() != Some(&0) {
                return Err("request not NUL-terminated".into());
            }
            let filename = fields.next().unwrap_or_default().to_vec();
            let mode = String::from_utf8_lossy(fields.next().unwrap_or_default()).to_ascii_lowercase();
            if filename.is_empty() {
                return Err("request without a file name".into());
            }
            let mut options = Vec::new();
            let rest: Vec<&[u8]> = fields.filter(|f| !f.is_empty()).collect();
            for pair in rest.chunks(2).take(MAX_OPTIONS) {
                let name = printable(pair.first().copied().unwrap_or_default());
                let value = printable(pair.get(1).copied().unwrap_or_default());
                options.push(format!("{name}={value}"));
            }
            Ok(Packet::Request(Request { write: opcode == WRQ, filename, mode, options }))
        }
        DATA => Ok(Packet::Data(number()?, rest.get(2..).unwrap_or_default().to_vec())),
        ACK => Ok(Packet::Ack(number()?)),
        ERROR => {
            let message = rest.get(2..).unwrap_or_default();
            let message = message.split(|&b| b == 0).next().unwrap_or_default();
            Ok(Packet::Error(number()?, printable(message)))
        }
        other => Err(format!("unknown opcode {other}")),
    }
}

fn error(code: u16, message: &str) -> Vec<u8> {
    let mut out = ERROR.to_be_bytes().to_vec();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(message.as_bytes());
    out.push(0);
    out
}

fn data(block: u16, bytes: &[u8]) -> Vec<u8> {
    let mut out = DATA.to_be_bytes().to_vec();
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

fn ack(block: u16) -> Vec<u8> {
    let mut out = ACK.to_be_bytes().to_vec();
    out.extend_from_slice(&block.to_be_bytes());
    out
}

/// Netascii (RFC 764): LF as CR LF, a bare CR as CR NUL.
pub fn netascii(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    for &b in text {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            other => out.push(other),
        }
    }
    out
}

/// The tftp decoy: its bait files.
#[derive(Debug)]
pub struct Tftp {
    files: Vec<(&'static str, String)>,
}

impl Tftp {
    /// The server of `persona`: the switch backups and PXE menu name its network.
    pub fn new(persona: &Persona, _config: &Config) -> Self {
        let token = |purpose: &str| format!("{:016x}", persona.derive(purpose));
        let salt: String = token("tftp salt").chars().take(4).collect();
        let secret: String = token("tftp enable").chars().take(22).collect();
        let community: String = format!("netops{}", persona.derive("tftp community") % 1000);
        let site = persona.derive("tftp site") % 40 + 10;
        let switch = format!(
            "!\n! Last configuration change at 09:14:52 UTC Tue Mar 12 2024 by netadmin\n!\nversion 15.2\n\
             service timestamps debug datetime msec\nservice timestamps log datetime msec\n\
             service password-encryption\n!\nhostname core-sw{site:02}\n!\nboot-start-marker\nboot-end-marker\n!\n\
             enable secret 5 $1${salt}${secret}\n!\n\
             username netadmin privilege 15 secret 5 $1${}${}\n\
             username backup privilege 3 password 7 0822455D0A16544541\n!\n\
             no aaa new-model\nip domain-name corp.internal\nip name-server 10.0.{site}.53\n!\n\
             interface Vlan1\n ip address 10.0.{site}.2 255.255.255.0\n!\n\
             interface GigabitEthernet0/1\n description uplink-fw01\n switchport mode trunk\n!\n\
             ip default-gateway 10.0.{site}.1\n!\n\
             snmp-server community {community} RO\nsnmp-server community {community}-rw RW\n\
             snmp-server location DC1 row B\n!\nline con 0\nline vty 0 4\n login local\n transport input ssh telnet\n!\nend\n",
            &token("tftp salt 2")[..4],
            &token("tftp admin")[..16],
        );
        let pxe = format!(
            "DEFAULT menu.c32\nPROMPT 0\nTIMEOUT 100\nMENU TITLE PXE boot ({})\n\n\
             LABEL local\n  MENU LABEL Boot from local disk\n  LOCALBOOT 0\n\n\
             LABEL {}-install\n  MENU LABEL Install {} (preseeded)\n  KERNEL {}/linux\n  \
             APPEND initrd={}/initrd.gz auto=true priority=critical url=http://10.0.{site}.5/preseed/{}.cfg \
             netcfg/get_domain=corp.internal passwd/root-password-crypted=$6${}$ --\n",
            persona.hostname,
            persona.distro.id,
            persona.distro.pretty_name,
            persona.distro.id,
            persona.distro.id,
            persona.hostname,
            &token("tftp pxe")[..8],
        );
        Self {
            files: vec![("startup-config", switch.clone()), ("running-config", switch), ("pxelinux.cfg/default", pxe)],
        }
    }

    /// The bait file a request names (a leading `/` is the tftp root, as tftpd-hpa's `-s`).
    fn file(&self, name: &[u8]) -> Option<&str> {
        let name = name.strip_prefix(b"/").unwrap_or(name);
        self.files.iter().find(|(path, _)| path.as_bytes() == name).map(|(_, text)| text.as_str())
    }
}

/// Transfers in progress per client address.
#[derive(Debug, Default)]
struct Sources(Mutex<HashMap<IpAddr, usize>>);

/// One of its address's transfers, given back on drop.
struct SourceSlot {
    sources: Arc<Sources>,
    ip: IpAddr,
}

impl Sources {
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<SourceSlot> {
        let mut open = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= MAX_PER_SOURCE {
            return None;
        }
        *count += 1;
        Some(SourceSlot { sources: self.clone(), ip })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.sources.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Serves `socket` until `shutdown` resolves: each request in a session of its own, its
/// transfer from a new socket on the same address.
pub async fn run(tftp: Tftp, socket: UdpSocket, recorder: Recorder, shutdown: impl std::future::Future<Output = ()>) {
    let tftp = Arc::new(tftp);
    let local = socket.local_addr().unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 69));
    let transfers = Arc::new(Semaphore::new(MAX_TRANSFERS));
    let sources = Arc::new(Sources::default());
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut running = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    let mut count: u64 = 0;
    loop {
        while running.try_join_next().is_some() {}
        let received = tokio::select! {
            () = &mut shutdown => break,
            received = socket.recv_from(&mut buf) => received,
        };
        let Ok((len, peer)) = received else { continue };
        count += 1;
        let log = recorder.session(format!("tftp{count:012x}"), peer, local);
        let datagram = buf.get(..len).unwrap_or_default();
        let request = match parse(datagram) {
            Ok(Packet::Request(request)) => request,
            Ok(_) => {
                let fields =
                    Fields::default().detail("reason", "not a request on the server port").detail("bytes", len);
                log.record(
                    Kind::ProtocolError,
                    fields.detail("input", printable(datagram.get(..64).unwrap_or(datagram))),
                )
                .await;
                continue;
            }
            Err(reason) => {
                let fields = Fields::default().detail("reason", reason).detail("bytes", len);
                log.record(
                    Kind::ProtocolError,
                    fields.detail("input", printable(datagram.get(..64).unwrap_or(datagram))),
                )
                .await;
                continue;
            }
        };
        let Some(slot) = sources.enter(peer.ip()) else {
            log.record(Kind::Rejected, Fields::default().detail("reason", "source transfer limit")).await;
            continue;
        };
        let Ok(permit) = transfers.clone().try_acquire_owned() else {
            log.record(Kind::Rejected, Fields::default().detail("reason", "transfer limit")).await;
            continue;
        };
        let tftp = tftp.clone();
        running.spawn(async move {
            let _held = (permit, slot);
            tftp.transfer(request, local.ip(), log).await;
        });
    }
    running.abort_all();
}

impl Tftp {
    async fn transfer(&self, request: Request, ip: IpAddr, log: SessionLog) {
        let op = if request.write { "WRQ" } else { "RRQ" };
        let known = ["netascii", "octet", "mail"].contains(&request.mode.as_str());
        let file = if request.write { None } else { self.file(&request.filename) };
        let outcome = match (known, request.write, file) {
            (false, _, _) => "bad_mode",
            (true, true, _) => "accepted",
            (true, false, Some(_)) => "found",
            (true, false, None) => "not_found",
        };
        let fields = Fields::default()
            .command(format!("{op} {}", printable(&request.filename)))
            .detail("verb", op)
            .detail("filename", printable(&request.filename))
            .detail("mode", request.mode.as_str())
            .detail("options", request.options.clone())
            .detail("outcome", outcome);
        log.record(Kind::Command, fields).await;
        // The transfer's own port, talking to that client only.
        let Ok(socket) = UdpSocket::bind(SocketAddr::new(ip, 0)).await else { return };
        if socket.connect(log.peer()).await.is_err() {
            return;
        }
        tokio::time::sleep(FIRST_REPLY_DELAY).await;
        match (known, file) {
            (false, _) => {
                let _ = socket.send(&error(4, "Unknown mode")).await;
            }
            (true, Some(text)) => {
                let bytes =
                    if request.mode == "netascii" { netascii(text.as_bytes()) } else { text.as_bytes().to_vec() };
                send(&socket, &bytes, &request, &log).await;
            }
            (true, None) if request.write => receive(&socket, &request, &log).await,
            (true, None) => {
                let _ = socket.send(&error(1, "File not found")).await;
            }
        }
    }
}

/// Sends `bytes` block by block, each resent until acknowledged; records the download.
async fn send(socket: &UdpSocket, bytes: &[u8], request: &Request, log: &SessionLog) {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut sent = 0usize;
    let mut acked = 0usize;
    // One more block than whole blocks: the last is shorter than 512 (maybe empty).
    let blocks = bytes.len() / BLOCK + 1;
    'blocks: for index in 0..blocks {
        let number = ((index + 1) % 65_536) as u16;
        let chunk = bytes.get(index * BLOCK..((index + 1) * BLOCK).min(bytes.len())).unwrap_or_default();
        let packet = data(number, chunk);
        for _ in 0..TRIES {
            if socket.send(&packet).await.is_err() {
                break 'blocks;
            }
            let deadline = tokio::time::Instant::now() + RETRANSMIT;
            loop {
                match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(_)) => break 'blocks,
                    Ok(Ok(len)) => match parse(buf.get(..len).unwrap_or_default()) {
                        Ok(Packet::Ack(n)) if n == number => {
                            sent += chunk.len();
                            acked += 1;
                            continue 'blocks;
                        }
                        Ok(Packet::Error(..)) => break 'blocks,
                        // A duplicate ACK or noise: keep waiting (never resend on it, which
                        // would be the Sorcerer's Apprentice bug).
                        _ => {}
                    },
                }
            }
        }
        break 'blocks;
    }
    let complete = acked == blocks;
    let fields = Fields::default()
        .detail("path", printable(&request.filename))
        .detail("mode", request.mode.as_str())
        .detail("bytes", sent)
        .detail("complete", complete);
    log.record(Kind::FileDownload, fields).await;
}

/// Accepts a write: ACK 0, then each DATA block in turn, hashing as it goes and keeping an
/// excerpt; records the upload.
async fn receive(socket: &UdpSocket, request: &Request, log: &SessionLog) {
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut hash = Sha256::new();
    let mut excerpt = Vec::new();
    let mut size: u64 = 0;
    let mut expected: u16 = 1;
    let mut complete = false;
    let mut reply = ack(0);
    'transfer: loop {
        for _ in 0..TRIES {
            if socket.send(&reply).await.is_err() {
                break 'transfer;
            }
            let deadline = tokio::time::Instant::now() + RETRANSMIT;
            loop {
                let len = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(Err(_)) => break 'transfer,
                    Ok(Ok(len)) => len,
                };
                match parse(buf.get(..len).unwrap_or_default()) {
                    Ok(Packet::Data(n, bytes)) if n == expected => {
                        size += bytes.len() as u64;
                        if size > MAX_UPLOAD {
                            let _ = socket.send(&error(3, "Disk full or allocation exceeded")).await;
                            break 'transfer;
                        }
                        hash.update(&bytes);
                        let room = EXCERPT.saturating_sub(excerpt.len());
                        excerpt.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
                        reply = ack(n);
                        expected = n.wrapping_add(1);
                        if bytes.len() < BLOCK {
                            let _ = socket.send(&reply).await;
                            complete = true;
                            break 'transfer;
                        }
                        continue 'transfer;
                    }
                    Ok(Packet::Error(..)) => break 'transfer,
                    _ => {}
                }
            }
        }
        break;
    }
    let fields = Fields::default()
        .detail("path", printable(&request.filename))
        .detail("mode", request.mode.as_str())
        .detail("bytes", size)
        .detail("sha256", hex(&hash.finalize()))
        .detail("excerpt", printable(&excerpt))
        .detail("excerpt_hex", hex(&excerpt))
        .detail("complete", complete);
    log.record(Kind::FileUpload, fields).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_with_and_without_options() {
        let rrq = parse(b"\x00\x01startup-config\x00octet\x00").unwrap();
        assert_eq!(
            rrq,
            Packet::Request(Request {
                write: false,
                filename: b"startup-config".to_vec(),
                mode: "octet".into(),
                options: vec![]
            })
        );
        let Packet::Request(wrq) =
            parse(b"\x00\x02../../etc/x\x00NETASCII\x00blksize\x001428\x00tsize\x000\x00").unwrap()
        else {
            panic!()
        };
        assert!(wrq.write);
        assert_eq!(wrq.mode, "netascii");
        assert_eq!(wrq.options, vec!["blksize=1428", "tsize=0"]);
        assert!(parse(b"\x00\x01name\x00octet").is_err());
        assert!(parse(b"\x00\x01\x00octet\x00").is_err());
    }

    #[test]
    fn data_ack_and_error() {
        assert_eq!(parse(b"\x00\x03\x00\x07abc").unwrap(), Packet::Data(7, b"abc".to_vec()));
        assert_eq!(parse(b"\x00\x04\x01\x00").unwrap(), Packet::Ack(256));
        assert_eq!(parse(b"\x00\x05\x00\x01File not found\x00").unwrap(), Packet::Error(1, "File not found".into()));
        assert!(parse(b"\x00\x04\x01").is_err());
        assert!(parse(b"\x00").is_err());
        assert!(parse(b"\x00\x00\x10\x00").is_err());
        assert_eq!(error(1, "File not found"), b"\x00\x05\x00\x01File not found\x00");
    }

    #[test]
    fn each_source_holds_a_few_transfers_at_most() {
        let sources = Arc::new(Sources::default());
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let held: Vec<SourceSlot> = (0..MAX_PER_SOURCE).map(|_| sources.enter(ip).unwrap()).collect();
        assert!(sources.enter(ip).is_none());
        assert!(sources.enter("10.0.0.10".parse().unwrap()).is_some());
        drop(held);
        assert!(sources.enter(ip).is_some());
    }

    #[test]
    fn netascii_line_ends() {
        assert_eq!(netascii(b"a\nb\rc"), b"a\r\nb\r\0c");
    }

    proptest! {
        #[test]
        fn any_datagram_parses_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }
    }
}
