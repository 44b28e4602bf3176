//! Every decoy under hostile input: at least 10,000 random, mutated, truncated and
//! oversized inputs per service; a flood of 10,000 connections; 100 MiB on one
//! connection. Each decoy must stay up, stay under the containers' memory cap, record
//! protocol errors, and keep answering a well-formed client afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{Decoy, loopback};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRng, TestRunner};

/// The memory cap of a decoy container (`decnet_runtime::spec::MEMORY_LIMIT`).
const MEMORY_CAP_KIB: u64 = 64 * 1024;

/// Inputs per service.
const INPUTS: usize = 10_000;
/// Inputs sent on one connection before it is dropped.
const PER_CONNECTION: usize = 5;

/// An SNMP v2c GetNext of mib-2 with the community `public`.
const SNMP_GETNEXT: &[u8] = b"\x30\x26\x02\x01\x01\x04\x06public\xa1\x19\x02\x04\x12\x34\x56\x78\x02\x01\x00\x02\x01\x00\x30\x0b\x30\x09\x06\x05\x2b\x06\x01\x02\x01\x05\x00";

/// An LDAP anonymous simple bind (message 1).
const LDAP_BIND: &[u8] = b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00";

/// A TLS 1.2 ClientHello (TLS_AES_128_GCM_SHA256 and ECDHE-ECDSA-AES128-GCM-SHA256, no
/// extensions): a handshake opening for the generator to mutate.
const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03\
    ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\x00\x00\x04\x13\x01\xc0\x2b\x01\x00";

/// An SMB2 NEGOTIATE (dialects 2.0.2 and 2.1) in its NetBIOS frame.
fn smb2_negotiate() -> Vec<u8> {
    let mut smb = b"\xfeSMB\x40\0\0\0\0\0\0\0\0\0\x01\0".to_vec();
    smb.resize(64, 0);
    smb.extend_from_slice(b"\x24\0\x02\0\x01\0\0\0\0\0\0\0");
    smb.extend_from_slice(&[0x11; 16]);
    smb.extend_from_slice(&[0; 8]);
    smb.extend_from_slice(b"\x02\x02\x10\x02");
    let mut frame = vec![0, 0, 0, smb.len() as u8];
    frame.extend_from_slice(&smb);
    frame
}

/// nmap's TDS PRELOGIN (version, encryption off, instance MSSQLServer, thread id).
const MSSQL_PRELOGIN: &[u8] = b"\x12\x01\x00\x34\x00\x00\x00\x00\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c\x00\x0c\x03\x00\x28\x00\x04\xff\x08\x00\x01\x55\x00\x00\x00MSSQLServer\x00\x48\x0f\x00\x00";

/// mstsc's X.224 Connection Request (cookie, SSL | HYBRID requested).
const RDP_REQUEST: &[u8] =
    b"\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=admin\r\n\x01\x00\x08\x00\x03\x00\x00\x00";
/// nmap's MongoDB probe: an OP_QUERY of serverStatus on test.$cmd.
const MONGO_QUERY: &[u8] = b"\x41\0\0\0\x3a\x30\0\0\xff\xff\xff\xff\xd4\x07\0\0\0\0\0\0test.$cmd\0\0\0\0\0\xff\xff\xff\xff\x1b\0\0\0\x01serverStatus\0\0\0\0\0\0\0\xf0\x3f\0";

/// An OP_MSG `find` on shop.users with a filter.
const MONGO_FIND: &[u8] = b"V\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00A\x00\x00\x00\x02find\x00\x06\x00\x00\x00users\x00\x03filter\x00\x16\x00\x00\x00\x03a\x00\x0e\x00\x00\x00\x10$gt\x00\x01\x00\x00\x00\x00\x00\x02$db\x00\x05\x00\x00\x00shop\x00\x00";
/// A DNS query for `www.corp.local` A (over UDP; the TCP seed adds the length).
const DNS_QUERY: &[u8] =
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x04corp\x05local\x00\x00\x01\x00\x01";

/// A SIP OPTIONS request, as nmap sends it.
const SIP_OPTIONS: &[u8] = b"OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/UDP nm;branch=foo;rport\r\nFrom: <sip:nm@nm>;tag=root\r\nTo: <sip:nm2@nm2>\r\nCall-ID: 50000\r\nCSeq: 42 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

/// Well-formed openings of each protocol, which the generator mutates.
fn seeds(service: &str) -> Vec<Vec<u8>> {
    let mut startup = 0u32.to_be_bytes().to_vec();
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    startup.extend_from_slice(b"user\0alice\0database\0shop\0\0");
    let len = startup.len() as u32;
    startup[..4].copy_from_slice(&len.to_be_bytes());
    let mut mysql_login = vec![0x85, 0xa6, 0x3f, 0x20, 0, 0, 0, 1, 0xff];
    mysql_login.extend_from_slice(&[0; 23]);
    mysql_login.extend_from_slice(b"root\0\x14aaaaaaaaaaaaaaaaaaaa");
    let mut mysql = vec![mysql_login.len() as u8, 0, 0, 1];
    mysql.extend_from_slice(&mysql_login);
    let negotiate = smb2_negotiate();
    let list: Vec<&[u8]> = match service {
        "mssql" => vec![MSSQL_PRELOGIN, b"\x10\x01\x00\x20\x00\x00\x01\x00\x18\x00\x00\x00\x04\x00\x00\x74\x00\x10\x00\x00\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00", b"\x12\x01\x00\x0d\x00\x00\x01\x00\x16\x03\x01\x00\x05"],
        "rdp" => vec![RDP_REQUEST, b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x01\x00\x00\x00", b"\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00"],
        "smb" => vec![&negotiate, b"\x81\0\0\x44 CKFDENECFDEFFCFGEFFCCACACACACACA\0 EJEDECACACACACACACACACACACACACAA\0", b"\0\0\0\x2f\xffSMB\x72\0\0\0\0\x18\x53\xc8\0\0\0\0\0\0\0\0\0\0\0\0\xff\xfe\0\0\0\0\0\x0c\0\x02NT LM 0.12\0"],
        "ssh" => vec![b"SSH-2.0-OpenSSH_9.2p1\r\n", b"SSH-2.0-libssh_0.9.6\r\n\0\0\x01\x0c\x0a\x14", b"SSH-1.5-x\r\n"],
        "telnet" => vec![b"\xff\xfb\x18\xff\xfb\x1f", b"root\r\nadmin\r\n", b"\xff\xfa\x18\x00xterm\xff\xf0ubuntu\r\n"],
        "https" | "k8s" => vec![CLIENT_HELLO, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"GET / HTTP/1.1\r\n\r\n"],
        "http" => vec![b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"POST /wp-login.php HTTP/1.1\r\nContent-Length: 13\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nlog=a&pwd=b&x"],
        "ftp" => vec![b"USER anonymous\r\nPASS x\r\nPASV\r\nLIST\r\n", b"USER a\r\nPASS b\r\nCWD ../../..\r\n"],
        "smtp" | "smtp_relay" => vec![b"EHLO x\r\nAUTH PLAIN AGEAYg==\r\n", b"HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"],
        "redis" => vec![b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"PING\r\n", b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$1\r\n*\r\n"],
        "mysql" => vec![&mysql],
        "postgres" => vec![&startup, b"\0\0\0\x08\x04\xd2\x16\x2f"],
        "imap" => vec![b"a1 LOGIN j.smith \"Winter2024!\"\r\na2 SELECT INBOX\r\na3 UID FETCH 1:* BODY[]\r\n", b"a AUTHENTICATE PLAIN AGEAYg==\r\nb LIST \"\" *\r\n"],
        "pop3" => vec![b"USER j.smith\r\nPASS Winter2024!\r\nSTAT\r\nRETR 1\r\n", b"AUTH PLAIN AGEAYg==\r\nCAPA\r\nTOP 2 3\r\n"],
        "ldap" => vec![LDAP_BIND, b"\x30\x25\x02\x01\x02\x63\x20\x04\x00\x0a\x01\x00\x0a\x01\x00\x02\x01\x00\x02\x01\x00\x01\x01\x00\x87\x0bobjectClass\x30\x00"],
        "snmp" => vec![SNMP_GETNEXT, b"\x30\x26\x02\x01\x00\x04\x06public\xa5\x19\x02\x04\x12\x34\x56\x78\x02\x01\x00\x02\x01\x0a\x30\x0b\x30\x09\x06\x05\x2b\x06\x01\x02\x01\x05\x00"],
        "elasticsearch" => vec![b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"POST /_search HTTP/1.1\r\nContent-Length: 38\r\n\r\n{\"script_fields\":{\"a\":{\"script\":1}}}", b"DELETE /customers HTTP/1.1\r\n\r\n"],
        "docker_api" => vec![b"GET /v1.43/info HTTP/1.1\r\nHost: a\r\n\r\n", b"POST /containers/create HTTP/1.1\r\nContent-Length: 62\r\n\r\n{\"Image\":\"redis:7-alpine\",\"Cmd\":[\"id\"],\"HostConfig\":{\"Binds\":[]}}", b"POST /containers/web/exec HTTP/1.1\r\nContent-Length: 14\r\n\r\n{\"Cmd\":[\"id\"]}"],
        "mongodb" => vec![MONGO_QUERY, MONGO_FIND],
        "conpot" => vec![b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x0a", b"\x00\x02\x00\x00\x00\x0b\x01\x10\x00\x01\x00\x02\x04\x00\x01\x00\x02", b"\x00\x03\x00\x00\x00\x05\x01\x2b\x0e\x01\x00"],
        "mqtt" => vec![b"\x10\x10\x00\x04MQTT\x04\x02\x00\x1e\x00\x04nmap\x82\x0b\x00\x01\x00\x06$SYS/#\x00\xc0\x00", b"\x10\x1a\x00\x04MQTT\x04\xc2\x00\x3c\x00\x01c\x00\x05alice\x00\x04pass\x32\x08\x00\x01t\x00\x01hi\xe0\x00"],
        "dns" => vec![DNS_QUERY, b"\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x04corp\x05local\x00\x00\x01\x00\x01", b"\x00\x06\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07version\x04bind\x00\x00\x10\x00\x03"],
        "sip" => vec![SIP_OPTIONS, b"REGISTER sip:10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1\r\nFrom: <sip:100@10.0.0.1>;tag=1\r\nTo: <sip:100@10.0.0.1>\r\nCall-ID: 1@x\r\nCSeq: 2 REGISTER\r\nAuthorization: Digest username=\"100\", realm=\"asterisk\", nonce=\"ab12\", uri=\"sip:10.0.0.1\", response=\"00ff\"\r\nUser-Agent: friendly-scanner\r\nContent-Length: 4\r\n\r\nv=0\n"],
        "llmnr" => vec![b"\x8a\x1f\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04wpad\x00\x00\x01\x00\x01", b"\x8a\x1f\x80\x00\x00\x00\x00\x01\x00\x00\x00\x00\x08fileserv\x00\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04\x0a\x00\x00\x42"],
        "tftp" => vec![b"\x00\x01startup-config\x00octet\x00", b"\x00\x02up.bin\x00netascii\x00blksize\x001428\x00", b"\x00\x01nothere\x00octet\x00"],
        "vnc" => vec![b"RFB 003.008\n\x02AAAAAAAAAAAAAAAA", b"RFB 003.003\n0123456789abcdef", b"RFB 003.007\n\x01"],
        _ => vec![b"x"],
    };
    list.into_iter().map(<[u8]>::to_vec).collect()
}

/// A hostile input derived from `seeds`: random bytes, a seed cut short, a seed with
/// bytes flipped or inserted, or a seed blown up to 1 MiB.
fn hostile(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let pick = proptest::sample::select(seeds);
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..512),
        3 => (pick.clone(), any::<prop::sample::Index>()).prop_map(|(s, cut)| s[..cut.index(s.len() + 1)].to_vec()),
        3 => (pick.clone(), proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)).prop_map(|(mut s, flips)| {
            for (at, byte) in flips {
                if !s.is_empty() {
                    let i = at.index(s.len());
                    s[i] ^= byte | 1;
                }
            }
            s
        }),
        2 => (pick.clone(), any::<prop::sample::Index>(), proptest::collection::vec(any::<u8>(), 1..64)).prop_map(|(mut s, at, junk)| {
            let i = at.index(s.len() + 1);
            s.splice(i..i, junk);
            s
        }),
        1 => pick.prop_map(|s| s.iter().copied().cycle().take(1 << 20).collect()),
    ]
}

/// Sends `inputs` over as few connections as the per-connection count allows, dropping
/// each connection without waiting for answers.
fn pound(addr: SocketAddr, inputs: &[Vec<u8>]) {
    for batch in inputs.chunks(PER_CONNECTION) {
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else { continue };
        stream.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
        for input in batch {
            // A decoy may close on a violation; later writes then fail, which is fine.
            if stream.write_all(input).is_err() {
                break;
            }
        }
    }
}

/// A well-formed exchange from another source still works: the service's greeting or
/// answer arrives. (The attacker's own source may be at its connection cap.)
fn still_serving(service: &str, addr: SocketAddr) {
    if service == "https" || service == "k8s" {
        let url = format!("https://{addr}/");
        let out = common::client(
            "curl",
            &["-s", "-k", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", &url],
            None,
        );
        let code = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(code == "200" || code == "403", "{service} answers a real client after the storm: {out:?}");
        return;
    }
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into()).unwrap();
    socket.connect_timeout(&addr.into(), Duration::from_secs(5)).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let probe: &[u8] = match service {
        "http" | "elasticsearch" | "docker_api" => b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "redis" => b"PING\r\n",
        "postgres" => b"\0\0\0\x08\x04\xd2\x16\x2f",
        "ldap" => LDAP_BIND,
        "rdp" => RDP_REQUEST,
        "mssql" => MSSQL_PRELOGIN,
        "mongodb" => MONGO_QUERY,
        "conpot" => b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x0a",
        "dns" => {
            b"\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x04corp\x05local\x00\x00\x01\x00\x01"
        }
        "sip" => SIP_OPTIONS,
        "mqtt" => b"\x10\x10\x00\x04MQTT\x04\x02\x00\x1e\x00\x04nmap",
        _ => b"",
    };
    let negotiate = smb2_negotiate();
    let probe = if service == "smb" { &negotiate[..] } else { probe };
    stream.write_all(probe).unwrap();
    let mut first = [0u8; 16];
    let n = stream.read(&mut first).unwrap();
    assert!(n > 0, "{service} answers a well-formed client after the storm");
}

fn storm(service: &str) {
    let mut decoy = Decoy::start(service, &format!("{}:0", loopback()), None, &[]);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = hostile(seeds(service));
    let inputs: Vec<Vec<u8>> = (0..INPUTS).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect();
    let mut peak = 0;
    for chunk in inputs.chunks(INPUTS / 10) {
        pound(decoy.addr, chunk);
        assert!(decoy.alive(), "{service} crashed");
        peak = peak.max(decoy.rss_kib());
    }
    assert!(peak < MEMORY_CAP_KIB, "{service} peaked at {peak} KiB");
    still_serving(service, decoy.addr);
    decoy.wait_kind("protocol_error", |_| true);
    eprintln!("{service}: {INPUTS} hostile inputs, peak RSS {peak} KiB");
}

/// The storm over UDP: every input one datagram (cut to the largest a datagram carries).
/// The decoy, still running, under the memory cap.
fn datagram_storm(service: &str) -> Decoy {
    datagram_storm_on(service, &format!("{}:0", loopback()))
}

/// [`datagram_storm`] on `listen` (an address alone: the catalogue's ports, for a service
/// that also listens on TCP); the datagrams go to the same port number over UDP.
fn datagram_storm_on(service: &str, listen: &str) -> Decoy {
    let mut decoy = Decoy::start(service, listen, None, &[]);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = hostile(seeds(service));
    let socket = std::net::UdpSocket::bind((loopback(), 0)).unwrap();
    let mut peak = 0;
    for round in 0..10 {
        for _ in 0..INPUTS / 10 {
            let mut input = strategy.new_tree(&mut runner).unwrap().current();
            input.truncate(65_000);
            let _ = socket.send_to(&input, decoy.addr);
        }
        assert!(decoy.alive(), "{service} crashed in round {round}");
        peak = peak.max(decoy.rss_kib());
    }
    assert!(peak < MEMORY_CAP_KIB, "{service} peaked at {peak} KiB");
    eprintln!("{service}: {INPUTS} hostile datagrams, peak RSS {peak} KiB");
    decoy
}

/// Whether `request` from a fresh source gets an answer passing `good` (from any port:
/// TFTP answers from a new one), within a few tries.
fn datagram_answered(addr: SocketAddr, request: &[u8], good: impl Fn(&[u8]) -> bool) -> bool {
    let client = std::net::UdpSocket::bind(("127.0.0.2", 0)).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut answer = [0u8; 1500];
    (0..5).any(|_| {
        client.send_to(request, addr).unwrap();
        client.recv(&mut answer).is_ok_and(|n| good(&answer[..n]))
    })
}

#[test]
fn snmp_survives_hostile_datagrams() {
    let mut decoy = datagram_storm("snmp");
    let answered = datagram_answered(decoy.addr, SNMP_GETNEXT, |a| a.first() == Some(&0x30));
    assert!(answered, "snmp answers a well-formed request after the storm");
    decoy.wait_kind("protocol_error", |_| true);
}

#[test]
fn dns_survives_hostile_input_over_tcp() {
    storm("dns");
}

#[test]
fn dns_survives_hostile_datagrams() {
    let mut decoy = datagram_storm_on("dns", &loopback().to_string());
    let udp = SocketAddr::new(decoy.addr.ip(), 53);
    let answered = datagram_answered(udp, DNS_QUERY, |a| a.starts_with(b"\x12\x34\x85"));
    assert!(answered, "dns answers a query after the storm");
    decoy.wait_kind("protocol_error", |_| true);
}

#[test]
fn sip_survives_hostile_input_over_tcp() {
    storm("sip");
}

#[test]
fn sip_survives_hostile_datagrams() {
    let mut decoy = datagram_storm_on("sip", &loopback().to_string());
    let udp = SocketAddr::new(decoy.addr.ip(), 5060);
    let answered = datagram_answered(udp, SIP_OPTIONS, |a| a.starts_with(b"SIP/2.0 200 OK"));
    assert!(answered, "sip answers OPTIONS after the storm");
    decoy.wait_kind("protocol_error", |_| true);
}

/// The passive listener answers nothing: after the storm, a query from a fresh source is
/// still recorded.
#[test]
fn llmnr_survives_hostile_datagrams() {
    let mut decoy = datagram_storm_on("llmnr", &loopback().to_string());
    decoy.wait_kind("protocol_error", |_| true);
    let client = std::net::UdpSocket::bind(("127.0.0.3", 0)).unwrap();
    client
        .send_to(b"\x00\x07\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05after\x00\x00\x01\x00\x01", decoy.addr)
        .unwrap();
    decoy.wait_kind("command", |e| e["details"]["name"] == "after." && e["src_ip"] == "127.0.0.3");
}

#[test]
fn tftp_survives_hostile_datagrams() {
    let mut decoy = datagram_storm("tftp");
    let answered =
        datagram_answered(decoy.addr, b"\x00\x01startup-config\x00octet\x00", |a| a.starts_with(b"\x00\x03\x00\x01"));
    assert!(answered, "tftp serves a read after the storm");
    decoy.wait_kind("protocol_error", |_| true);
}

#[test]
fn mongodb_survives_hostile_input() {
    storm("mongodb");
}

#[test]
fn imap_survives_hostile_input() {
    storm("imap");
}

#[test]
fn pop3_survives_hostile_input() {
    storm("pop3");
}

#[test]
fn mqtt_survives_hostile_input() {
    storm("mqtt");
}

#[test]
fn vnc_survives_hostile_input() {
    storm("vnc");
}

#[test]
fn ldap_survives_hostile_input() {
    storm("ldap");
}

#[test]
fn ssh_survives_hostile_input() {
    storm("ssh");
}

#[test]
fn telnet_survives_hostile_input() {
    storm("telnet");
}

#[test]
fn mssql_survives_hostile_input() {
    storm("mssql");
}

#[test]
fn rdp_survives_hostile_input() {
    storm("rdp");
}

#[test]
fn smb_survives_hostile_input() {
    storm("smb");
}

#[test]
fn k8s_survives_hostile_input() {
    storm("k8s");
}

#[test]
fn https_survives_hostile_input() {
    storm("https");
}

#[test]
fn http_survives_hostile_input() {
    storm("http");
}

#[test]
fn conpot_survives_hostile_input() {
    storm("conpot");
}

#[test]
fn docker_api_survives_hostile_input() {
    storm("docker_api");
}

#[test]
fn elasticsearch_survives_hostile_input() {
    storm("elasticsearch");
}

#[test]
fn ftp_survives_hostile_input() {
    storm("ftp");
}

#[test]
fn smtp_survives_hostile_input() {
    storm("smtp");
}

#[test]
fn smtp_relay_survives_hostile_input() {
    storm("smtp_relay");
}

#[test]
fn redis_survives_hostile_input() {
    storm("redis");
}

#[test]
fn mysql_survives_hostile_input() {
    storm("mysql");
}

#[test]
fn postgres_survives_hostile_input() {
    storm("postgres");
}

#[test]
fn a_connection_flood_and_100_mib_stay_under_the_memory_cap() {
    let mut decoy = Decoy::start("http", &format!("{}:0", loopback()), None, &[]);
    // 10,000 connections, up to 900 held open at once (over both caps of the decoy).
    let mut open = std::collections::VecDeque::new();
    for _ in 0..10_000 {
        if let Ok(stream) = TcpStream::connect_timeout(&decoy.addr, Duration::from_secs(5)) {
            open.push_back(stream);
        }
        if open.len() > 900 {
            open.pop_front();
        }
    }
    let flooded = decoy.rss_kib();
    decoy.wait_kind("rejected", |_| true);
    drop(open);
    // 100 MiB on one connection: the decoy closes it once a request head outgrows its
    // frame limit, so the writer meets a closed socket long before the end.
    let mut stream = TcpStream::connect(decoy.addr).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let chunk = vec![b'A'; 1 << 20];
    let mut sent = 0usize;
    while sent < 100 << 20 {
        match stream.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let after = decoy.rss_kib();
    assert!(flooded < MEMORY_CAP_KIB && after < MEMORY_CAP_KIB, "flood {flooded} KiB, 100 MiB {after} KiB");
    assert!(decoy.alive());
    still_serving("http", decoy.addr);
    eprintln!("flood: {flooded} KiB; after {sent} bytes on one connection: {after} KiB");
}
