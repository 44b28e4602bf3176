//! The passive LLMNR/mDNS listener: `dig` queries on 5355 and 5353 are recorded and never
//! answered; a poisoner's response is recorded too; garbage is a protocol error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::time::Duration;

use common::{Decoy, assert_schema, client, loopback, text};

#[test]
fn queries_on_both_ports_are_recorded_and_never_answered() {
    // An address alone: both catalogue ports (UDP 5355 and 5353).
    let mut decoy = Decoy::start("llmnr", &loopback().to_string(), None, &[]);
    let ip = format!("@{}", decoy.addr.ip());

    let out = text(&client("dig", &[&ip, "-p", "5355", "+time=1", "+tries=1", "+norecurse", "wpad", "A"], None));
    assert!(out.contains("timed out") || out.contains("no servers could be reached"), "no answer: {out}");
    let query = decoy.wait_kind("command", |e| e["details"]["name"] == "wpad.");
    assert_schema(&query, "llmnr");
    assert_eq!(query["details"]["protocol"], "llmnr");
    assert_eq!(query["details"]["qtype"], "A");
    assert_eq!(query["details"]["message"], "query");
    assert_eq!(query["dst_port"], 5355);

    let out = text(&client("dig", &[&ip, "-p", "5353", "+time=1", "+tries=1", "fileserver.local", "AAAA"], None));
    assert!(!out.contains("ANSWER SECTION"), "{out}");
    let mdns = decoy.wait_kind("command", |e| e["details"]["name"] == "fileserver.local.");
    assert_eq!((mdns["details"]["protocol"].as_str(), mdns["details"]["qtype"].as_str()), (Some("mdns"), Some("AAAA")));
    assert_eq!(mdns["dst_port"], 5353);

    // A poisoner's answer, and garbage.
    let socket = std::net::UdpSocket::bind((loopback(), 0)).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let claim = b"\x8a\x1f\x80\x00\x00\x00\x00\x01\x00\x00\x00\x00\x08fileserv\x00\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04\x0a\x00\x00\x42";
    socket.send_to(claim, (decoy.addr.ip(), 5355)).unwrap();
    let response = decoy.wait_kind("command", |e| e["details"]["name"] == "fileserv.");
    assert_eq!(response["details"]["message"], "response");
    socket.send_to(b"\x01\x02garbage", (decoy.addr.ip(), 5355)).unwrap();
    decoy.wait_kind("protocol_error", |e| e["details"]["bytes"] == 9);
    let mut nothing = [0u8; 512];
    assert!(socket.recv(&mut nothing).is_err(), "the listener never answers");
}
