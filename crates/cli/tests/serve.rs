//! `decnet serve`: the real binary serving the API on a loopback port, the first admin's
//! password printed once, and a graceful stop on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// A running `decnet serve` and the lines of its standard error.
struct Served {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Served {
    fn start(db: &std::path::Path, admin_password: Option<&str>) -> Self {
        Self::start_with(db, admin_password, &[])
    }

    fn start_with(db: &std::path::Path, admin_password: Option<&str>, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_decnet"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("DECNET_DB", db)
            .env("DECNET_RUNTIME", "memory")
            .env_remove("DECNET_ADMIN_PASSWORD")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(password) = admin_password {
            command.env("DECNET_ADMIN_PASSWORD", password);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Self { child, base: String::new(), lines, seen: Vec::new() };
        let line = served.wait_for("decnet serving http://");
        let address = line.split("http://").nth(1).unwrap().split_whitespace().next().unwrap();
        served.base = format!("http://{address}");
        served
    }

    /// Waits (bounded) for a line containing `text`; returns it.
    fn wait_for(&mut self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(e) => panic!("no line with {text:?} ({e}); seen: {:#?}", self.seen),
            }
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.wait_for("stopped");
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "exit status {exit}; stderr: {:#?}", self.seen);
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client (the workspace's reqwest takes its TLS provider from the process).
fn http() -> reqwest::Client {
    decnet_sinks::use_ring_for_tls();
    reqwest::Client::new()
}

async fn login(base: &str, password: &str) -> reqwest::Response {
    http()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "username": "admin", "password": password }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn first_start_prints_a_generated_password_once_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let served = Served::start(&db, None);
    let password = {
        // The password is the only line that is nothing but the password, after the notice.
        let notice = served.seen.iter().position(|l| l.contains("First start")).expect("first-start notice");
        served.seen[notice + 1..].iter().map(|l| l.trim()).find(|l| !l.is_empty()).unwrap().to_owned()
    };
    assert!(password.len() >= 16, "{password:?}");
    let client = http();
    let anonymous = client.get(format!("{}/api/v1/topologies", served.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let health = client.get(format!("{}/healthz", served.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: Value = login(&served.base, &password).await.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let list = client.get(format!("{}/api/v1/topologies", served.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(list.status(), 200);
    served.stop();

    // A second start keeps the admin (no new password) and accepts the earlier token.
    let served = Served::start(&db, Some("ignored-after-first-start"));
    assert!(!served.seen.iter().any(|l| l.contains("First start") || l.contains("created the user")));
    assert_eq!(login(&served.base, &password).await.status(), 200);
    let list = client.get(format!("{}/api/v1/topologies", served.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(list.status(), 200, "tokens outlive a restart");
    served.stop();
}

#[tokio::test]
async fn the_admin_password_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir.path().join("env.db"), Some("from-the-environment"));
    assert!(served.seen.iter().any(|l| l.contains("DECNET_ADMIN_PASSWORD")));
    assert!(!served.seen.iter().any(|l| l.contains("First start")));
    assert_eq!(login(&served.base, "from-the-environment").await.status(), 200);
    served.stop();
}

/// A file sink configured with `--config`: what the store records reaches the file, and
/// `GET /api/v1/sinks` reports it; a configuration with a bad key does not start.
#[tokio::test]
async fn a_configured_sink_delivers_the_log_and_reports_its_health() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out/events.jsonl");
    let config = dir.path().join("decnet.yaml");
    std::fs::write(
        &config,
        format!("sinks:\n  - name: archive\n    file: {{ path: {:?} }}\n", out.display().to_string()),
    )
    .unwrap();
    let served = Served::start_with(
        &dir.path().join("sinks.db"),
        Some("sink-password"),
        &["--config", config.to_str().unwrap()],
    );
    let token = login(&served.base, "sink-password").await.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = http();
    let created = client
        .post(format!("{}/api/v1/topologies/blank", served.base))
        .bearer_auth(&token)
        .json(&json!({ "name": "sunk" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let line = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("topology.created")) {
            break line.to_owned();
        }
        assert!(std::time::Instant::now() < until, "the event never reached the file: {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["payload"]["name"], "sunk");
    let sinks: Value = client
        .get(format!("{}/api/v1/sinks", served.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sink = &sinks["sinks"][0];
    assert_eq!(
        (sink["name"].as_str(), sink["kind"].as_str(), sink["healthy"].as_bool()),
        (Some("archive"), Some("file"), Some(true))
    );
    assert!(sink["delivered"].as_u64().unwrap() >= 1 && sink["active"] == true, "{sink}");
    let incidents = client.get(format!("{}/api/v1/incidents", served.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(incidents.status(), 200);
    assert_eq!(
        incidents.json::<Value>().await.unwrap(),
        json!({ "incidents": [] }),
        "creating a topology is no incident"
    );
    let bad =
        client.get(format!("{}/api/v1/incidents?severity=loud", served.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    served.stop();

    std::fs::write(&config, "sinks:\n  - name: archive\n    file: { path: /tmp/x, max_byts: 10 }\n").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_decnet"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config", config.to_str().unwrap()])
        .env("DECNET_DB", dir.path().join("sinks.db"))
        .env("DECNET_RUNTIME", "memory")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("decnet.yaml") && stderr.contains("max_byts"), "the bad key is named: {stderr}");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_decnet"))
        .args(["serve", "--listen", &address])
        .env("DECNET_DB", dir.path().join("port.db"))
        .env("DECNET_RUNTIME", "memory")
        .env("DECNET_ADMIN_PASSWORD", "long-enough-password")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen on {address}")), "{stderr}");
}

/// Runs the CLI against a server with its own config directory; (exit code, stdout, stderr).
fn remote(config: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_decnet"))
        .args(args)
        .env("XDG_CONFIG_HOME", config)
        .env_remove("DECNET_TOKEN")
        .env_remove("DECNET_SERVER")
        .env_remove("DECNET_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_cli_talks_to_a_server_after_login() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir.path().join("remote.db"), Some("remote-password"));
    let config = dir.path().join("config");
    let base = served.base.clone();
    let with = |args: &[&str]| {
        let mut all = vec!["--server", base.as_str()];
        all.extend_from_slice(args);
        remote(&config, &all, None)
    };

    let (code, _, stderr) = with(&["topology", "list"]);
    assert_eq!(code, 6, "no token yet: {stderr}");
    assert!(stderr.contains("decnet login"), "{stderr}");
    let (code, _, stderr) =
        remote(&config, &["login", "--server", &base, "--password-stdin"], Some("wrong-password\n"));
    assert_eq!(code, 6, "{stderr}");
    let (code, stdout, stderr) =
        remote(&config, &["login", "--server", &base, "--password-stdin"], Some("remote-password\n"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("logged in"), "{stdout}");

    let (code, stdout, stderr) =
        with(&["--json", "topology", "generate", "--name", "far", "--depth", "1", "--seed", "3"]);
    assert_eq!(code, 0, "{stderr}");
    let created: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(created["status"], "pending");
    let (code, stdout, _) = with(&["topology", "list"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("far") && stdout.contains("pending"), "{stdout}");
    let (code, _, _) = with(&["topology", "mutate", "far", "add_lan", "--payload", r#"{"name":"lab"}"#]);
    assert_eq!(code, 4, "a pending topology takes no mutations (409)");
    let (code, _, _) = with(&["topology", "show", "nowhere"]);
    assert_eq!(code, 5);
    let (code, stdout, _) = with(&["--json", "topology", "mutate", "far", "explode"]);
    assert_eq!(code, 3, "unknown op (422)");
    let body: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(body["issues"][0]["code"], "UNKNOWN_OP", "the server's error body is passed through");
    let (code, _, _) = with(&["--token", "forged", "topology", "list"]);
    assert_eq!(code, 6);
    let (code, report, _) = with(&["--json", "topology", "validate", "far"]);
    assert_eq!(code, 0, "{report}");
    let (code, exported, stderr) = with(&["topology", "export", "far", "--format", "yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(exported.contains("name: far"), "{exported}");
    let (code, placed, stderr) =
        with(&["--json", "topology", "place", "far", "--policy", "pack", "--pin-lan", "lan-00=n1"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&placed).unwrap()["lans"],
        json!({"lan-00": "n1"}),
        "stored through the API"
    );
    let (code, _, _) = with(&["topology", "place", "far", "--pin", "nobody=n1"]);
    assert_eq!(code, 3, "an unknown decky is refused (422)");
    let (code, compose, stderr) = with(&["topology", "export", "far", "--format", "compose"]);
    assert_eq!(code, 0, "the decoy image is the one this decnet carries: {stderr}");
    assert!(compose.contains("services:"), "{compose}");

    // Deploy follows the live stream until the topology settles, then a mutation applies.
    let (code, stdout, stderr) = with(&["topology", "deploy", "far"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("far status active"), "{stdout}");
    assert!(stderr.contains("running"), "per-decky progress: {stderr}");
    let (code, _, stderr) = with(&["topology", "mutate", "far", "add_lan", "--payload", r#"{"name":"lab"}"#]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = with(&["--json", "topology", "teardown", "far"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["status"], "torn_down");
    let (code, events, _) = with(&["--json", "events", "--topology", "far", "--type", "mutation.applied"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(events.lines().next().unwrap()).unwrap()["payload"]["op"], "add_lan");
    let (code, _, _) = with(&["topology", "delete", "far"]);
    assert_eq!(code, 0);

    // A document travels back in through create.
    let document = dir.path().join("far.yaml");
    std::fs::write(&document, &exported).unwrap();
    let (code, stdout, stderr) = with(&["--json", "topology", "create", "--from", document.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["name"], "far");
    served.stop();
}

#[test]
fn every_read_command_prints_the_same_over_the_server_as_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("both.db");
    let config = dir.path().join("config");
    let local = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_decnet"))
            .args(args)
            .env("DECNET_DB", &db)
            .env("DECNET_RUNTIME", "memory")
            .env_remove("DECNET_SERVER")
            .env_remove("DECNET_TOKEN")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    };
    // Data the server will not touch while it runs: a torn-down topology with mutations,
    // history and events, and a pending one with a validation issue.
    for args in [
        &["topology", "generate", "--name", "done", "--depth", "1", "--seed", "5"][..],
        &["topology", "deploy", "done"],
        &["topology", "mutate", "done", "add_lan", "--payload", r#"{"name":"lab"}"#],
        &["topology", "mutate", "done", "remove_lan", "--payload", r#"{"name":"nowhere"}"#],
        &["engine", "run", "--once"],
        &["topology", "teardown", "done"],
        &["topology", "generate", "--name", "draft", "--depth", "2", "--seed", "6", "--services", "ssh"],
    ] {
        let (code, _, stderr) = local(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    let served = Served::start(&db, Some("both-ways-password"));
    let (code, _, stderr) =
        remote(&config, &["login", "--server", &served.base, "--password-stdin"], Some("both-ways-password\n"));
    assert_eq!(code, 0, "{stderr}");

    let reads: &[&[&str]] = &[
        &["services"],
        &["archetypes"],
        &["topology", "list"],
        &["topology", "list", "--status", "torn_down"],
        &["topology", "show", "done"],
        &["topology", "show", "draft"],
        &["topology", "validate", "draft"],
        &["topology", "export", "done"],
        &["topology", "export", "draft", "--format", "yaml"],
        &["topology", "export", "draft", "--format", "compose"],
        &["topology", "mutations", "done"],
        &["topology", "mutations", "done", "--state", "failed"],
        &["topology", "history", "done"],
        &["events", "--topology", "done"],
        &["topology", "lures", "draft"],
        &["topology", "lures", "nowhere"],
        &["attackers"],
        &["attackers", "--topology", "done"],
        &["attackers", "show", "203.0.113.9"],
        &["topology", "show", "nowhere"],
    ];
    for read in reads {
        for json in [false, true] {
            let mut args: Vec<&str> = read.to_vec();
            if json {
                args.push("--json");
            }
            let (local_code, local_out, local_err) = local(&args);
            let mut over = vec!["--server", served.base.as_str()];
            over.extend_from_slice(&args);
            let (remote_code, remote_out, remote_err) = remote(&config, &over, None);
            assert_eq!(local_code, remote_code, "{args:?}: exit codes\nlocal: {local_err}\nremote: {remote_err}");
            assert_eq!(local_out, remote_out, "{args:?}: output");
            assert!(!local_out.is_empty() || local_code != 0, "{args:?} printed nothing");
        }
    }
    served.stop();
}
