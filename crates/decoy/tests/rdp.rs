//! The rdp decoy against FreeRDP's `xfreerdp` and nmap's RDP scripts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Decoy, assert_schema, client, loopback, netntlmv2_verifies, text};

/// A Windows server of the CORP domain.
const WINDOWS: [(&str, &str); 2] = [("DECNET_HOSTNAME", "fs-finance-01"), ("DECNET_ARCHETYPE", "windows-server")];

#[test]
fn xfreerdp_reaches_the_credential_exchange_and_its_netntlmv2_line_cracks() {
    let mut decoy = Decoy::start("rdp", &format!("{}:0", loopback()), None, &WINDOWS);
    let target = format!("/v:{}", decoy.addr);
    // FreeRDP opens a display even to authenticate only: a virtual one.
    let out = client(
        "xvfb-run",
        &["-a", "xfreerdp", &target, "/u:alice", "/p:Winter2024!", "/d:CORP", "/cert:ignore", "+auth-only"],
        None,
    );
    assert!(!out.status.success(), "the login is refused: {}", text(&out));
    let handshake = decoy.wait_kind("handshake", |e| e["details"]["selected"].is_string());
    assert_schema(&handshake, "rdp");
    assert_eq!(handshake["details"]["selected"], "HYBRID");
    assert_eq!(handshake["details"]["cookie"], "alice");
    assert!(handshake["details"]["requested_protocols"].as_array().unwrap().contains(&"HYBRID".into()));
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!(attempt["principal"], "CORP\\alice");
    assert_eq!(attempt["secret"]["kind"], "net_ntlmv2");
    assert!(netntlmv2_verifies(attempt["secret"]["value"].as_str().unwrap(), "Winter2024!"), "{attempt}");
}

#[test]
fn nmap_reads_the_same_windows_identity_from_the_ntlm_challenge() {
    let decoy = Decoy::start("rdp", &format!("{}:3389", loopback()), None, &WINDOWS);
    let ip = decoy.addr.ip().to_string();
    let out = text(&client("nmap", &["-Pn", "-n", "-sV", "-p", "3389", "--script", "rdp-ntlm-info", &ip], None));
    assert!(out.contains("Microsoft Terminal Services"), "{out}");
    for line in [
        "NetBIOS_Domain_Name: CORP",
        "NetBIOS_Computer_Name: FS-FINANCE-01",
        "DNS_Domain_Name: corp.local",
        "DNS_Computer_Name: fs-finance-01.corp.local",
        "Product_Version: 10.0.",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
}

#[test]
fn a_client_offering_plain_rdp_only_is_refused_as_a_current_host_refuses_it() {
    let mut decoy = Decoy::start("rdp", &format!("{}:0", loopback()), None, &WINDOWS);
    let mut stream = TcpStream::connect(decoy.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // X.224 Connection Request with a cookie and an RDP_NEG_REQ for standard RDP security.
    let cookie = b"Cookie: mstshash=scanner\r\n";
    let mut x224 = vec![0u8, 0xe0, 0, 0, 0, 0, 0];
    x224.extend_from_slice(cookie);
    x224.extend_from_slice(&[0x01, 0x00, 0x08, 0x00, 0, 0, 0, 0]);
    x224[0] = (x224.len() - 1) as u8;
    let mut packet = vec![3, 0, 0, (x224.len() + 4) as u8];
    packet.extend_from_slice(&x224);
    stream.write_all(&packet).unwrap();
    let mut answer = [0u8; 19];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(answer[5], 0xd0, "a Connection Confirm");
    assert_eq!(answer[11], 0x03, "RDP_NEG_FAILURE");
    assert_eq!(u32::from_le_bytes(answer[15..19].try_into().unwrap()), 1, "SSL_REQUIRED_BY_SERVER");
    let handshake = decoy.wait_kind("handshake", |_| true);
    assert_eq!(handshake["details"]["selected"], "refused");
    assert_eq!(handshake["details"]["cookie"], "scanner");
}
