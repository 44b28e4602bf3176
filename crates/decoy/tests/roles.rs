//! The decoy binary's roles, run as real processes on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

/// A decoy process, killed if the test fails before it exits.
struct Decoy(Child);

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Decoy, BufReader<ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_decnet-decoy"))
        .args(args)
        .env("DECNET_DECKY", "decky-007")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    (Decoy(child), stderr)
}

fn wait_line(stderr: &mut BufReader<ChildStderr>, containing: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "stderr closed before {containing:?}");
        if line.contains(containing) {
            return line;
        }
    }
}

fn terminate_and_wait(decoy: &mut Decoy) -> (std::process::ExitStatus, Duration) {
    let start = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &decoy.0.id().to_string()]).status().unwrap().success());
    let status = decoy.0.wait().unwrap();
    (status, start.elapsed())
}

#[test]
fn base_exits_cleanly_within_a_second_of_sigterm() {
    let (mut base, mut stderr) = spawn(&["base"]);
    wait_line(&mut stderr, "base ready");
    let (status, took) = terminate_and_wait(&mut base);
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[test]
fn each_connection_is_one_session_and_events_are_flushed_on_sigterm() {
    let (mut decoy, mut stderr) = spawn(&["serve", "smb", "--listen", "127.0.0.1:0"]);
    let line = wait_line(&mut stderr, "listening on");
    let addr = line.split("listening on ").nth(1).unwrap().trim().trim_end_matches("/tcp").to_owned();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&addr).unwrap();
        // Not a NetBIOS frame: the decoy records the violation and closes at once.
        stream.write_all(b"\x42\0\0\0").unwrap();
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).unwrap();
    }
    let (status, _) = terminate_and_wait(&mut decoy);
    assert_eq!(status.code(), Some(0));
    let mut out = String::new();
    decoy.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<_> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["connect", "protocol_error", "disconnect", "connect", "protocol_error", "disconnect"], "{out}");
    assert_ne!(events[0]["session"], events[3]["session"], "one session per connection");
    for event in &events {
        assert_eq!(event["v"], 2);
        assert_eq!(event["service"], "smb");
        assert_eq!(event["decky"], "decky-007");
        assert_eq!(event["src_ip"], "127.0.0.1");
        assert_eq!(format!("127.0.0.1:{}", event["dst_port"]), addr);
    }
}

#[test]
fn unknown_services_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_decnet-decoy")).args(["serve", "gopher"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown service"));
}

#[test]
fn a_connection_cap_of_zero_is_refused() {
    for cap in ["--max-connections", "--max-per-source"] {
        let out = Command::new(env!("CARGO_BIN_EXE_decnet-decoy"))
            .args(["serve", "ftp", "--listen", "127.0.0.1:0", cap, "0"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cap}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("must be at least 1"), "{cap}");
    }
}

#[test]
fn every_catalogue_service_with_ports_has_a_decoy_that_serves() {
    for service in decnet_domain::catalogue::SERVICES.iter().filter(|s| !s.singleton) {
        let (mut decoy, mut stderr) = spawn(&["serve", service.name, "--listen", "127.0.0.1:0"]);
        wait_line(&mut stderr, "listening on");
        // A decoy that cannot serve (none for the service, or its setup failed) has exited
        // with an error by now; one that serves stops cleanly on SIGTERM.
        let _ = Command::new("kill").args(["-TERM", &decoy.0.id().to_string()]).status();
        let status = decoy.0.wait().unwrap();
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        assert!(status.success(), "{}: {status:?} {rest}", service.name);
        assert!(!rest.contains("no decoy"), "{}: {rest}", service.name);
    }
}
