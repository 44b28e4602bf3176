//! The SIP decoy against `sipsak` (OPTIONS over UDP and TCP, a REGISTER with a password),
//! SIPVicious' `svmap` and nmap's UDP version probe.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, text};
use md5::{Digest, Md5};

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The decoy on UDP and TCP 5060 (an address alone binds the catalogue's ports).
fn start() -> Decoy {
    Decoy::start("sip", &loopback().to_string(), None, &[("DECNET_DISTRO", "ubuntu22")])
}

#[test]
fn sipsak_options_over_udp_and_tcp_and_a_register_leaves_a_crackable_digest() {
    let mut decoy = start();
    let target = format!("sip:100@{}", decoy.addr.ip());

    let out = text(&client("sipsak", &["-vv", "-s", &target], None));
    assert!(out.contains("SIP/2.0 200 OK"), "{out}");
    assert!(out.contains("Server: Asterisk PBX 18.10.0~dfsg+~cs6.10.40431411-1"), "{out}");
    let options = decoy.wait_kind("command", |e| e["details"]["method"] == "OPTIONS");
    assert_schema(&options, "sip");
    assert_eq!(options["details"]["transport"], "udp");

    let out = text(&client("sipsak", &["-vv", "-E", "tcp", "-s", &target], None));
    assert!(out.contains("SIP/2.0 200 OK"), "over TCP: {out}");
    decoy.wait_kind("command", |e| e["details"]["method"] == "OPTIONS" && e["details"]["transport"] == "tcp");

    // REGISTER: challenged, then the Digest answer is recorded and refused.
    let out = text(&client("sipsak", &["-vv", "-i", "-U", "-s", &target, "-a", "Tr0ub4dor"], None));
    assert!(out.contains("authorizing") && out.contains("SIP/2.0 403 Forbidden"), "answered the 401, refused: {out}");
    let challenge = decoy.wait_kind("command", |e| e["command"] == "challenge");
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!(attempt["secret"]["kind"], "sip_digest");
    let d = &attempt["details"];
    let nonce = d["nonce"].as_str().unwrap();
    assert_eq!(nonce, challenge["details"]["nonce"].as_str().unwrap());
    assert_eq!(attempt["secret"]["salt"], nonce);
    assert_eq!(d["realm"], "asterisk");
    // The response is RFC 2617's MD5 digest of the password: crackable from the event.
    let user = attempt["principal"].as_str().unwrap();
    let ha1 = md5_hex(&format!("{user}:asterisk:Tr0ub4dor"));
    let ha2 = md5_hex(&format!("REGISTER:{}", d["uri"].as_str().unwrap()));
    assert_eq!(attempt["secret"]["value"].as_str().unwrap(), md5_hex(&format!("{ha1}:{nonce}:{ha2}")));
}

#[test]
fn nmap_names_the_asterisk_pbx_over_udp() {
    let decoy = start();
    let ip = decoy.addr.ip().to_string();
    let scan = text(&client("nmap", &["-sU", "-sV", "-Pn", "-n", "-p", "5060", &ip], None));
    let line = scan.lines().find(|l| l.starts_with("5060/udp")).unwrap_or(&scan);
    assert!(line.contains("open") && line.contains("Asterisk PBX 18.10.0~dfsg+~cs6.10.40431411-1"), "{scan}");
}

#[test]
fn sipvicious_svmap_finds_the_pbx_and_is_recorded_as_itself() {
    let mut decoy = start();
    // Its own loopback address and port: by default svmap binds *:5060, which would take
    // the port from the other tests' decoys.
    let own = loopback().to_string();
    let out = text(&client("svmap", &["-b", &own, "-P", "15060", &decoy.addr.ip().to_string()], None));
    assert!(out.contains(&format!("{}:5060", decoy.addr.ip())), "{out}");
    assert!(out.contains("Asterisk PBX 18.10.0~dfsg+~cs6.10.40431411-1"), "{out}");
    let scan = decoy.wait_kind("command", |e| e["details"]["user_agent"] == "friendly-scanner");
    assert_eq!(scan["details"]["method"], "OPTIONS");
}
