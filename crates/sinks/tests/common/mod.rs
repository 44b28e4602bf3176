//! Test receivers on loopback: a minimal HTTP/1.1 server that records each request and
//! answers with the statuses it is given, sockets that only read, and events to send.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test binary uses part of it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use decnet_sinks::SinkEvent;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A recording HTTP receiver: answers each request with the next scripted (status, body),
/// then with `default` once the script is used up.
pub struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub script: Arc<Mutex<VecDeque<(u16, String)>>>,
    pub default: Arc<Mutex<(u16, String)>>,
    pub arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start(default: (u16, &str)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let default = Arc::new(Mutex::new((default.0, default.1.to_owned())));
        let arrived = Arc::new(Notify::new());
        let (r, s, d, a) = (received.clone(), script.clone(), default.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (r, s, d, a) = (r.clone(), s.clone(), d.clone(), a.clone());
                tokio::spawn(async move { serve(stream, r, s, d, a).await });
            }
        });
        Self { addr, received, script, default, arrived, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to `deadline`) until `check` holds of what was received.
    pub async fn until(&self, what: &str, deadline: std::time::Duration, check: impl Fn(&[Received]) -> bool) {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.arrived.notified();
            if check(&self.requests()) {
                return;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                panic!("{what}: not within {deadline:?}; received {} requests", self.requests().len());
            }
        }
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
    default: Arc<Mutex<(u16, String)>>,
    arrived: Arc<Notify>,
) {
    let mut buffer = Vec::new();
    loop {
        // Read until a whole request (head and Content-Length body) is in.
        let (head_len, request) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = parsed.parse(&buffer) {
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                    .collect();
                let request = Received {
                    method: parsed.method.unwrap_or_default().to_owned(),
                    path: parsed.path.unwrap_or_default().to_owned(),
                    headers,
                    body: Vec::new(),
                };
                break (len, request);
            }
            let mut chunk = [0u8; 65536];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let length: usize = request.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        while buffer.len() < head_len + length {
            let mut chunk = [0u8; 65536];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let mut request = request;
        request.body = buffer[head_len..head_len + length].to_vec();
        buffer.drain(..head_len + length);
        let (status, body) = script.lock().unwrap().pop_front().unwrap_or_else(|| default.lock().unwrap().clone());
        received.lock().unwrap().push(request);
        arrived.notify_waiters();
        let answer = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Event `id`: a failed ssh login from 203.0.113.7, as the decoys write it (schema 2).
pub fn event(id: i64) -> SinkEvent {
    SinkEvent {
        id,
        timestamp: Utc::now(),
        kind: "auth_attempt".into(),
        topology_id: Some("4f1c6a2e-0000-0000-0000-000000000001".into()),
        decky: Some("web01".into()),
        service: Some("ssh".into()),
        source_ip: Some("203.0.113.7".into()),
        payload: json!({
            "v": 2, "event": "auth_attempt", "service": "ssh", "src_ip": "203.0.113.7", "src_port": 40000 + id,
            "principal": format!("user{id}"), "secret": { "kind": "password", "value": "hunter2" },
            "details": { "outcome": "failure" },
        }),
    }
}

/// A TCP listener that reads everything and answers nothing: a syslog receiver, or a
/// stalled HTTP one.
pub async fn silent_tcp() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 1 << 16];
                while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// A UDP socket that reads everything.
pub async fn draining_udp() -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 1 << 16];
        while socket.recv(&mut buffer).await.is_ok() {}
    });
    addr
}
