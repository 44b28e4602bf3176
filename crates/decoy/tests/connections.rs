//! How the decoy opens and ends connections, seen from a client's socket: a client that
//! hangs up is answered with a reset (so its port is not held in TIME_WAIT), a session
//! the decoy ends itself closes normally, a half-closed client still reads every answer,
//! and a client that closes and reconnects at once is never counted over its cap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use common::{Decoy, loopback};

/// Connects and reads the first line (the banner).
fn connect_and_read_banner(addr: SocketAddr) -> (TcpStream, String) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut banner = String::new();
    reader.read_line(&mut banner).unwrap();
    (stream, banner)
}

/// Reads until the decoy ends the connection: what arrived, and how it ended.
fn read_to_the_end(stream: &mut TcpStream) -> (Vec<u8>, ErrorKind) {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (received, ErrorKind::UnexpectedEof),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(err) => return (received, err.kind()),
        }
    }
}

#[test]
fn a_client_that_hangs_up_after_the_banner_is_answered_with_a_reset() {
    for service in ["ftp", "ssh"] {
        let mut decoy = Decoy::start(service, &format!("{}:0", loopback()), None, &[]);
        let (mut stream, banner) = connect_and_read_banner(decoy.addr);
        assert!(!banner.is_empty());
        stream.shutdown(Shutdown::Write).unwrap();
        // (ssh may still deliver its key exchange offer after the banner line.)
        let (_, end) = read_to_the_end(&mut stream);
        assert_eq!(end, ErrorKind::ConnectionReset, "{service}");
        // The session is still recorded as the client closing it.
        decoy.wait_kind("disconnect", |e| e["details"]["reason"] == "closed");
    }
}

#[test]
fn a_session_the_decoy_ends_closes_normally() {
    let mut decoy = Decoy::start("ftp", &format!("{}:0", loopback()), None, &[]);
    let (mut stream, _) = connect_and_read_banner(decoy.addr);
    stream.write_all(b"QUIT\r\n").unwrap();
    let (goodbye, end) = read_to_the_end(&mut stream);
    assert!(String::from_utf8_lossy(&goodbye).starts_with("221 "), "{goodbye:?}");
    assert_eq!(end, ErrorKind::UnexpectedEof, "a FIN, not a reset");
    decoy.wait_kind("disconnect", |e| e["details"]["reason"] == "quit");
}

#[test]
fn a_half_closed_client_reads_every_answer_before_the_reset() {
    let mut decoy = Decoy::start("redis", &format!("{}:0", loopback()), None, &[]);
    let mut stream = TcpStream::connect(decoy.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"PING\r\nINFO\r\nPING\r\n").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let (answers, end) = read_to_the_end(&mut stream);
    let answers = String::from_utf8_lossy(&answers);
    assert!(answers.starts_with("+PONG\r\n$"), "{answers}");
    assert!(answers.contains("redis_version:"), "{answers}");
    assert!(answers.ends_with("\r\n+PONG\r\n"), "{answers}");
    assert_eq!(end, ErrorKind::ConnectionReset);
    decoy.wait_kind("disconnect", |e| e["details"]["reason"] == "closed");
}

#[test]
fn a_client_reconnecting_at_once_at_its_cap_is_never_refused() {
    const CAP: usize = 4;
    const GRABS: usize = 500;
    let mut decoy = Decoy::start_with_args("ftp", &format!("{}:0", loopback()), None, &[], &["--max-per-source", "4"]);
    // CAP clients from one address, each closing and reconnecting at once: never more than
    // CAP connections open, though the decoy may not yet have read the last one's close.
    let addr = decoy.addr;
    std::thread::scope(|scope| {
        for _ in 0..CAP {
            scope.spawn(move || {
                for _ in 0..GRABS {
                    let (stream, banner) = connect_and_read_banner(addr);
                    assert!(banner.starts_with("220"), "refused: {banner:?}");
                    drop(stream);
                }
            });
        }
    });
    // Over the cap, a connection is still refused.
    let held: Vec<_> = (0..CAP).map(|_| connect_and_read_banner(decoy.addr)).collect();
    let over = TcpStream::connect(decoy.addr).unwrap();
    decoy.wait_kind("rejected", |e| e["src_port"] == over.local_addr().unwrap().port());
    drop(held);
    let connects = decoy.drain().iter().filter(|e| e["event"] == "connect").count();
    assert_eq!(connects, CAP * GRABS + CAP);
}
