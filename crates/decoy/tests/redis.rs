//! The redis decoy against the real `redis-cli` and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, text};
use serde_json::json;

fn cli(decoy: &Decoy, args: &[&str]) -> String {
    let (host, port) = (decoy.addr.ip().to_string(), decoy.addr.port().to_string());
    let mut all = vec!["-h", host.as_str(), "-p", port.as_str()];
    all.extend_from_slice(args);
    text(&client("redis-cli", &all, None))
}

#[test]
fn a_redis_cli_session_gets_believable_answers_and_every_command_is_recorded() {
    let mut decoy = Decoy::start("redis", &format!("{}:0", loopback()), None, &[("DECNET_DISTRO", "debian")]);
    assert_eq!(cli(&decoy, &["ping"]).trim(), "PONG");
    let info = cli(&decoy, &["info", "server"]);
    assert!(info.contains("redis_version:7.0.15"), "the persona's version: {info}");
    assert!(info.contains("os:Linux 6.1.0-"), "the persona's kernel: {info}");
    assert_eq!(cli(&decoy, &["set", "planted", "value 1"]).trim(), "OK");
    assert_eq!(cli(&decoy, &["get", "planted"]).trim(), "value 1", "a write is there for the next read");
    let keys = cli(&decoy, &["keys", "*"]);
    assert!(keys.contains("session:") && keys.contains("planted"), "{keys}");
    assert!(cli(&decoy, &["config", "get", "dir"]).contains("/var/lib/redis"));
    assert!(cli(&decoy, &["get"]).contains("wrong number of arguments for 'get' command"));
    assert!(cli(&decoy, &["flibble"]).contains("unknown command 'flibble'"));

    let set = decoy.wait_kind("command", |e| e["command"] == "set planted value 1");
    assert_schema(&set, "redis");
    assert_eq!(set["details"]["cmd"], "set");
    let session = set["session"].clone();
    decoy.wait_kind("connect", |e| e["session"] == session);
    let end = decoy.wait_kind("disconnect", |e| e["session"] == session);
    assert!(end["details"]["bytes_in"].as_u64().unwrap() > 0, "{end}");
    decoy.wait_kind("command", |e| e["command"] == "config get dir");
}

#[test]
fn auth_attempts_are_captured_and_only_the_configured_password_opens() {
    let config = json!({ "password": "s3cret-pass" });
    let mut decoy = Decoy::start("redis", &format!("{}:0", loopback()), Some(config), &[]);
    let denied = cli(&decoy, &["--no-auth-warning", "-a", "guess1", "ping"]);
    assert!(denied.contains("WRONGPASS") || denied.contains("NOAUTH"), "{denied}");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["secret"]["value"] == "guess1");
    assert_eq!(attempt["principal"], "default");
    assert_eq!(attempt["secret"]["kind"], "password");
    assert_eq!(attempt["details"]["outcome"], "failure");
    assert!(cli(&decoy, &["dbsize"]).contains("NOAUTH"), "no access without the password");
    assert_eq!(cli(&decoy, &["--no-auth-warning", "-a", "s3cret-pass", "ping"]).trim(), "PONG");
    decoy.wait_kind("auth_attempt", |e| e["details"]["outcome"] == "success");
}

#[test]
fn nmap_names_the_configured_redis_version() {
    let listen = format!("{}:6379", loopback());
    let decoy = Decoy::start("redis", &listen, Some(json!({ "version": "7.2.4" })), &[]);
    let line = common::nmap_version(decoy.addr);
    assert!(line.contains("Redis key-value store 7.2.4"), "{line}");
}
