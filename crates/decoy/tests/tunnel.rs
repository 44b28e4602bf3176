//! Tunnels through the ssh decoy with the real OpenSSH client: `-W` and `-D` (with curl's
//! SOCKS client) reach a decoy inside the maze and carry its answer back; `-J` logs into
//! the next decky's ssh through this one; a destination outside the maze is refused and
//! never sees a packet. Every tunnel is recorded (open with its destination, close with
//! its byte counts). The maze is loopback here (`--reach`), so nothing leaves the host.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Decoy, QUIET, client, loopback, ssh, text};

/// An http decoy inside the maze and an ssh decoy whose tunnels may reach only it.
fn maze() -> (Decoy, Decoy) {
    let web = Decoy::start("http", &format!("{}:0", loopback()), None, &[]);
    let reach = format!("{}/32", web.addr.ip());
    let gate = Decoy::start_with_args("ssh", &format!("{}:0", loopback()), None, &[], &["--reach", &reach]);
    (web, gate)
}

#[test]
fn ssh_w_carries_a_request_to_a_decky_inside_the_maze_and_records_the_tunnel() {
    let (mut web, mut gate) = maze();
    let destination = web.addr.to_string();
    let request = format!("GET / HTTP/1.0\r\nHost: {destination}\r\n\r\n");
    let (code, said) = ssh(&gate, "root", "admin", &["-W", &destination], &[], Some(&request));
    assert_eq!(code, Some(0), "{said}");
    assert!(said.starts_with("HTTP/1.1 200") || said.starts_with("HTTP/1.0 200"), "{said}");
    let opened = gate.wait_kind("tunnel", |e| e["details"]["outcome"] == "open");
    assert_eq!(opened["command"], format!("direct-tcpip {destination}"));
    assert_eq!(opened["details"]["user"], "root");
    let closed = gate.wait_kind("tunnel", |e| e["details"]["tunnel"] == "close");
    assert_eq!(closed["details"]["bytes_up"].as_u64(), Some(request.len() as u64));
    assert!(closed["details"]["bytes_down"].as_u64().unwrap() > 100, "{closed}");
    assert_eq!(closed["session"], opened["session"]);
    // The tunnel's record names the address and port the next decky saw it come from
    // (what links the two sessions into one attacker's path).
    let seen = web.wait_kind("request", |_| true);
    let from = format!("{}:{}", seen["src_ip"].as_str().unwrap(), seen["src_port"]);
    assert_eq!(closed["details"]["from"].as_str(), Some(from.as_str()));
}

#[test]
fn a_tunnel_out_of_the_maze_is_refused_recorded_and_sends_nothing() {
    let (_web, mut gate) = maze();
    // A listener on loopback that is not in this maze.
    let outside = std::net::TcpListener::bind(format!("{}:0", loopback())).unwrap();
    outside.set_nonblocking(true).unwrap();
    let target = outside.local_addr().unwrap().to_string();
    let (code, said) = ssh(&gate, "root", "admin", &["-W", &target], &[], Some(""));
    assert_ne!(code, Some(0), "{said}");
    let refused = gate.wait_kind("tunnel", |e| e["details"]["outcome"] == "refused");
    assert!(refused["details"]["reason"].as_str().unwrap().contains("outside the maze"), "{refused}");
    assert!(outside.accept().is_err(), "the refused destination saw a connection");
}

#[test]
fn ssh_d_serves_socks_into_the_maze_for_curl() {
    let (web, mut gate) = maze();
    let (_proxy, forward) = socks_proxy(&gate);
    let url = format!("http://{}/", web.addr);
    let out = client("curl", &["-sS", "-i", "--max-time", "10", "--socks5-hostname", &forward, &url], None);
    let page = text(&out);
    assert!(out.status.success(), "{page}");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    gate.wait_kind("tunnel", |e| {
        e["details"]["outcome"] == "open" && e["details"]["host"] == web.addr.ip().to_string()
    });
}

#[test]
fn ssh_j_logs_into_the_next_decky_through_this_one() {
    let inner = Decoy::start("ssh", &format!("{}:0", loopback()), None, &[("DECNET_HOSTNAME", "db02")]);
    let reach = format!("{}/32", inner.addr.ip());
    let mut gate = Decoy::start_with_args("ssh", &format!("{}:0", loopback()), None, &[], &["--reach", &reach]);
    // Two logins, two password prompts: answered by an askpass program (sshpass answers
    // one), and the options in a file, which ssh hands on to the jump's own ssh.
    let dir = tempfile::tempdir().unwrap();
    let askpass = dir.path().join("askpass");
    std::fs::write(&askpass, "#!/bin/sh\necho admin\n").unwrap();
    std::fs::set_permissions(&askpass, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = dir.path().join("config");
    let options: Vec<String> = QUIET.chunks(2).map(|pair| pair[1].replacen('=', " ", 1)).collect();
    std::fs::write(&config, format!("Host *\n  PreferredAuthentications password\n  {}\n", options.join("\n  ")))
        .unwrap();
    let jump = format!("root@{}:{}", gate.addr.ip(), gate.addr.port());
    let out = Command::new("timeout")
        .args(["30", "ssh", "-F", config.to_str().unwrap(), "-J", &jump, "-p", &inner.addr.port().to_string()])
        .arg(format!("root@{}", inner.addr.ip()))
        .arg("hostname")
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(said.trim(), "db02");
    gate.wait_kind("tunnel", |e| e["details"]["outcome"] == "open" && e["details"]["port"] == inner.addr.port());
}

/// `ssh -N -D` to `gate`, once its SOCKS listener answers a SOCKS greeting (bounded
/// wait); the client and the listener's address. A bare connect is not proof: the port is
/// in the ephemeral range, so a probe can connect to itself before ssh listens.
fn socks_proxy(gate: &Decoy) -> (KillOnDrop, String) {
    let socks = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let forward = format!("127.0.0.1:{socks}");
    let mut args: Vec<String> = ["-p", "admin", "ssh"].map(String::from).to_vec();
    args.extend(QUIET.iter().map(|s| (*s).to_owned()));
    args.extend(
        ["-o", "ExitOnForwardFailure=yes", "-N", "-D", &forward, "-p", &gate.addr.port().to_string()].map(String::from),
    );
    args.push(format!("root@{}", gate.addr.ip()));
    let mut proxy = KillOnDrop(Command::new("sshpass").args(&args).stdin(Stdio::null()).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socks_answers(&forward) {
        assert!(proxy.0.try_wait().unwrap().is_none(), "ssh -D exited");
        assert!(Instant::now() < deadline, "ssh -D never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (proxy, forward)
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a SOCKS5 proxy at `proxy` accepts a greeting without authentication.
fn socks_answers(proxy: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(proxy) else { return false };
    let mut method = [0u8; 2];
    stream.set_read_timeout(Some(Duration::from_secs(2))).is_ok()
        && stream.write_all(&[5, 1, 0]).is_ok()
        && stream.read_exact(&mut method).is_ok()
        && method == [5, 0]
}

/// Asks the SOCKS5 proxy at `proxy` (ssh -D) to connect to `target`; the open stream
/// once the proxy answered, or why not.
fn socks_connect(proxy: &str, target: std::net::SocketAddrV4) -> std::io::Result<std::net::TcpStream> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(proxy)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(&[5, 1, 0])?;
    let mut method = [0u8; 2];
    stream.read_exact(&mut method)?;
    let mut request = vec![5, 1, 0, 1];
    request.extend_from_slice(&target.ip().octets());
    request.extend_from_slice(&target.port().to_be_bytes());
    stream.write_all(&request)?;
    let mut reply = [0u8; 10];
    stream.read_exact(&mut reply)?;
    if reply[1] == 0 { Ok(stream) } else { Err(std::io::Error::other(format!("SOCKS reply {}", reply[1]))) }
}

#[test]
fn a_session_opening_more_tunnels_than_its_limit_is_cut_and_recorded() {
    // A destination in the maze that accepts and holds every connection.
    let holder = std::net::TcpListener::bind(format!("{}:0", loopback())).unwrap();
    let std::net::SocketAddr::V4(target) = holder.local_addr().unwrap() else { unreachable!() };
    let reach = format!("{}/32", target.ip());
    let mut gate = Decoy::start_with_args("ssh", &format!("{}:0", loopback()), None, &[], &["--reach", &reach]);
    let (mut proxy, forward) = socks_proxy(&gate);
    // Up to the limit, every tunnel opens and stays open.
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(socks_connect(&forward, target).expect("a tunnel within the limit opens"));
        held.push(holder.accept().unwrap().0);
    }
    // Sixteen open tunnels cost the decoy little: far under its container's memory cap.
    assert!(gate.rss_kib() < 32 * 1024, "rss {} KiB", gate.rss_kib());
    // One more: refused, and the session is cut (the client exits).
    assert!(socks_connect(&forward, target).is_err(), "a tunnel past the limit opened");
    let cut = gate.wait_kind("tunnel", |e| e["details"]["cut"] == true);
    assert!(cut["details"]["reason"].as_str().unwrap().contains("at once"), "{cut}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while proxy.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the session was not cut");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every tunnel of the cut session is closed and recorded as ended with it.
    gate.wait_kind("tunnel", |e| e["details"]["tunnel"] == "close");
}
