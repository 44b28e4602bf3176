//! The VNC decoy against nmap's `vnc-info` and `vnc-brute`, nmap's version probe, and
//! hand-written RFB 3.3 and 3.7 clients.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Decoy, assert_schema, client, loopback, nmap_version, text};
use des::cipher::{BlockCipherEncrypt, KeyInit};

/// VNC Authentication's answer: the challenge encrypted (DES, two ECB blocks) under the
/// password's first 8 bytes, each byte's bits reversed.
fn vnc_des(password: &str, challenge: &[u8]) -> Vec<u8> {
    let mut key = [0u8; 8];
    for (k, b) in key.iter_mut().zip(password.bytes()) {
        *k = b.reverse_bits();
    }
    let cipher = des::Des::new_from_slice(&key).unwrap();
    let mut out = Vec::new();
    for block in challenge.chunks(8) {
        let mut block = des::cipher::Array::try_from(block).unwrap();
        cipher.encrypt_block(&mut block);
        out.extend_from_slice(&block);
    }
    out
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn nmap_vnc_info_and_vnc_brute_leave_a_crackable_response() {
    let mut decoy = Decoy::start("vnc", &format!("{}:5900", loopback()), None, &[]);
    let passwords = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(passwords.path(), "letmein\n").unwrap();
    let args = format!("passdb={},brute.retries=1", passwords.path().display());
    let scan = text(&client(
        "nmap",
        &[
            "-Pn",
            "-n",
            "-p",
            "5900",
            "--script",
            "vnc-info,vnc-brute",
            "--script-args",
            &args,
            &decoy.addr.ip().to_string(),
        ],
        None,
    ));
    assert!(scan.contains("Protocol version: 3.8"), "{scan}");
    assert!(scan.contains("VNC Authentication (2)"), "{scan}");
    assert!(scan.contains("No valid accounts found"), "{scan}");

    // vnc-brute's guess: its response is the DES of the recorded challenge under it.
    let attempt = decoy.wait_kind("auth_attempt", |e| {
        let challenge = unhex(e["details"]["challenge"].as_str().unwrap());
        e["secret"]["value"].as_str().unwrap() == common_hex(&vnc_des("letmein", &challenge))
    });
    assert_schema(&attempt, "vnc");
    assert_eq!(attempt["secret"]["kind"], "vnc_des");
    assert_eq!(attempt["secret"]["salt"], attempt["details"]["challenge"]);
    assert_eq!(attempt["details"]["client_version"], "RFB 003.008");
    assert_eq!(attempt["details"]["outcome"], "failure");
    let version = decoy.wait_kind("command", |e| e["details"]["verb"] == "ProtocolVersion");
    assert_eq!(version["command"], "RFB 003.008");
}

fn common_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn nmap_names_vnc_protocol_3_8() {
    let decoy = Decoy::start("vnc", &format!("{}:5900", loopback()), None, &[]);
    let line = nmap_version(decoy.addr);
    assert!(line.contains("open  vnc") && line.contains("VNC (protocol 3.8)"), "{line}");
}

fn connect(decoy: &Decoy) -> TcpStream {
    let stream = TcpStream::connect_timeout(&decoy.addr, Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

fn read(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn rfb_3_3_and_3_7_clients_get_their_own_dialect() {
    let mut decoy = Decoy::start("vnc", &format!("{}:0", loopback()), None, &[]);

    // 3.3: the server names the security type; the failure has no reason.
    let mut old = connect(&decoy);
    assert_eq!(read(&mut old, 12), b"RFB 003.008\n");
    old.write_all(b"RFB 003.003\n").unwrap();
    assert_eq!(read(&mut old, 4), [0, 0, 0, 2]);
    let challenge = read(&mut old, 16);
    old.write_all(&vnc_des("secret", &challenge)).unwrap();
    assert_eq!(read(&mut old, 4), [0, 0, 0, 1]);
    let mut rest = Vec::new();
    old.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["details"]["client_version"] == "RFB 003.003");
    assert_eq!(attempt["secret"]["value"], common_hex(&vnc_des("secret", &challenge)));
    assert_eq!(attempt["secret"]["salt"], common_hex(&challenge));

    // 3.7: a list to choose from.
    let mut mid = connect(&decoy);
    read(&mut mid, 12);
    mid.write_all(b"RFB 003.007\n").unwrap();
    assert_eq!(read(&mut mid, 2), [1, 2]);
    mid.write_all(&[2]).unwrap();
    read(&mut mid, 16);
    mid.write_all(&[7; 16]).unwrap();
    assert_eq!(read(&mut mid, 4), [0, 0, 0, 1]);
    decoy.wait_kind("auth_attempt", |e| e["details"]["client_version"] == "RFB 003.007");

    // A type not offered (None) is refused with a reason, and recorded.
    let mut none = connect(&decoy);
    read(&mut none, 12);
    none.write_all(b"RFB 003.008\n").unwrap();
    read(&mut none, 2);
    none.write_all(&[1]).unwrap();
    assert_eq!(read(&mut none, 4), [0, 0, 0, 1]);
    let len = u32::from_be_bytes(read(&mut none, 4).try_into().unwrap()) as usize;
    assert!(!String::from_utf8(read(&mut none, len)).unwrap().is_empty());
    decoy.wait_kind("protocol_error", |e| e["details"]["security_type"] == 1);

    // Not RFB at all.
    let mut http = connect(&decoy);
    read(&mut http, 12);
    http.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    decoy.wait_kind("protocol_error", |e| e["details"]["input"].as_str().unwrap_or("").starts_with("GET"));
}
