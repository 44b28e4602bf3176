//! Shared by the decoy test binaries: the real `decnet-decoy` serving one service on a
//! loopback address, its event lines, real clients run as processes, and nmap.

#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)] // Each binary uses a part.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A loopback address of its own for each test (127.64.x.y), so tests that need a
/// service's real port (nmap picks its probes by port) never meet.
pub fn loopback() -> std::net::Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) + (std::process::id() % 200) * 256;
    std::net::Ipv4Addr::new(127, 64, (n >> 8) as u8, (n & 0xff) as u8)
}

/// A running decoy.
pub struct Decoy {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    events: mpsc::Receiver<Value>,
    /// Every event read so far.
    pub seen: Vec<Value>,
    _config: Option<tempfile::NamedTempFile>,
}

impl Decoy {
    /// Starts `service` on `listen` (IP:PORT) with `config` and extra environment.
    pub fn start(service: &str, listen: &str, config: Option<Value>, env: &[(&str, &str)]) -> Self {
        Self::start_with_args(service, listen, config, env, &[])
    }

    /// Like [`Decoy::start`], with extra command-line arguments.
    pub fn start_with_args(
        service: &str,
        listen: &str,
        config: Option<Value>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let config_file = config.map(|c| {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            file.write_all(c.to_string().as_bytes()).unwrap();
            file
        });
        let mut command = Command::new(env!("CARGO_BIN_EXE_decnet-decoy"));
        command.args(["serve", service, "--listen", listen]).args(args);
        if !args.contains(&"--reach") {
            // Tunnels and hops may lead to loopback only, wherever the test runs.
            command.args(["--reach", "127.0.0.0/8"]);
        }
        if let Some(file) = &config_file {
            command.arg("--config").arg(file.path());
        }
        command.env("DECNET_TOPOLOGY", "t-test").env("DECNET_DECKY", "decky-007").env_remove("DECNET_SERVICE_CONFIG");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (addr_tx, addr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = addr_tx.send(rest.trim_end_matches("/tcp").trim_end_matches("/udp").trim().to_owned());
                } else {
                    eprintln!("decoy stderr: {line}");
                }
            }
        });
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(20)).expect("the decoy listens").parse().unwrap();
        Self { child, addr, events, seen: Vec::new(), _config: config_file }
    }

    /// Waits (bounded) for an event matching `matches`; returns it.
    pub fn wait(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.seen.iter().find(|e| matches(e)) {
            return found.clone();
        }
        loop {
            match self.events.recv_timeout(Duration::from_secs(20)) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if matches(&event) {
                        return event;
                    }
                }
                Err(e) => panic!("no {what} event ({e}); seen: {:#?}", self.seen),
            }
        }
    }

    /// Waits for an event of kind `kind` whose fields match `matches`.
    pub fn wait_kind(&mut self, kind: &str, matches: impl Fn(&Value) -> bool) -> Value {
        self.wait(kind, |e| e["event"] == kind && matches(e))
    }

    /// Every event read so far plus those already queued.
    pub fn drain(&mut self) -> &[Value] {
        while let Ok(event) = self.events.try_recv() {
            self.seen.push(event);
        }
        &self.seen
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Resident memory in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every event of one session must carry the schema's fixed fields.
pub fn assert_schema(event: &Value, service: &str) {
    assert_eq!(event["v"], 2, "{event}");
    assert_eq!(event["service"], service, "{event}");
    assert_eq!(event["topology"], "t-test", "{event}");
    assert_eq!(event["decky"], "decky-007", "{event}");
    for field in ["ts", "session", "event", "src_ip", "dst_ip"] {
        assert!(event[field].is_string(), "{field} in {event}");
    }
    assert!(event["src_port"].is_u64() && event["dst_port"].is_u64(), "{event}");
}

/// Runs a client with a bound on its run time; its output.
pub fn client(program: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("timeout")
        .arg("30")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (installed by scripts/test-deps.sh): {e}"));
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Text of a client's standard output and error.
pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `nmap -sV` of one port; the port's line.
pub fn nmap_version(addr: SocketAddr) -> String {
    let out = client("nmap", &["-sV", "-Pn", "-n", "-p", &addr.port().to_string(), &addr.ip().to_string()], None);
    let all = text(&out);
    all.lines().find(|l| l.starts_with(&format!("{}/tcp", addr.port()))).map(str::to_owned).unwrap_or(all)
}

/// Runs `program` through a pty, answering each expected text with a typed one (see
/// `tests/pty_drive.py`); its exit code and everything it printed.
pub fn drive(steps: Value, program: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(steps.to_string().as_bytes()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pty_drive.py");
    let mut all = vec![script, file.path().to_str().unwrap(), program];
    all.extend_from_slice(args);
    let out = client("python3", &all, None);
    (out.status.code(), text(&out))
}

/// OpenSSH client options for a throwaway host: no host key checks, quiet, bounded.
pub const QUIET: &[&str] = &[
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=10",
];

/// `sshpass -p <password> ssh <options> -p <port> <user>@<ip> <command...>`.
pub fn ssh(
    decoy: &Decoy,
    user: &str,
    password: &str,
    options: &[&str],
    command: &[&str],
    stdin: Option<&str>,
) -> (Option<i32>, String) {
    let port = decoy.addr.port().to_string();
    let target = format!("{user}@{}", decoy.addr.ip());
    let mut args = vec!["-p", password, "ssh"];
    args.extend_from_slice(QUIET);
    args.extend_from_slice(&["-o", "PreferredAuthentications=password", "-p", &port]);
    args.extend_from_slice(options);
    args.push(&target);
    args.extend_from_slice(command);
    let out = client("sshpass", &args, stdin);
    (out.status.code(), text(&out))
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Whether a hashcat NetNTLMv2 line (user::domain:challenge:proof:blob) was made with
/// `password` (MS-NLMP 3.3.2, computed here independently of the decoy).
pub fn netntlmv2_verifies(line: &str, password: &str) -> bool {
    use hmac::{Hmac, Mac};
    use md4::{Digest, Md4};
    let parts: Vec<&str> = line.split(':').collect();
    let [user, "", domain, challenge, proof, blob] = parts[..] else { panic!("not a NetNTLMv2 line: {line}") };
    let key = Md4::digest(utf16(password));
    let mut owf = Hmac::<md5::Md5>::new_from_slice(&key).unwrap();
    owf.update(&utf16(&format!("{}{domain}", user.to_uppercase())));
    let mut mac = Hmac::<md5::Md5>::new_from_slice(&owf.finalize().into_bytes()).unwrap();
    mac.update(&unhex(challenge));
    mac.update(&unhex(blob));
    mac.finalize().into_bytes()[..] == unhex(proof)[..]
}
