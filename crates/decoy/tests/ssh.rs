//! The ssh decoy against the real OpenSSH client (with sshpass), ssh-keyscan and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, QUIET, assert_schema, client, loopback, ssh, text};
use serde_json::json;

#[test]
fn a_password_login_reaches_the_fake_shell_and_every_command_is_recorded() {
    let env = [("DECNET_DISTRO", "ubuntu22")];
    let mut decoy = Decoy::start("ssh", &format!("{}:0", loopback()), Some(json!({ "password": "toor" })), &env);
    let (_, said) = ssh(&decoy, "root", "toor", &["-tt"], &[], Some("uname -a\ncat /etc/os-release\nid\nexit\n"));
    assert!(said.contains("Welcome to Ubuntu 22.04.4 LTS"), "{said}");
    assert!(said.contains("root@decky-007:~# "), "{said}");
    assert!(said.contains("Linux decky-007 5.15.0-"), "{said}");
    assert!(said.contains("uid=0(root) gid=0(root)"), "{said}");
    let login = decoy.wait_kind("auth_attempt", |e| e["details"]["outcome"] == "success");
    assert_schema(&login, "ssh");
    assert_eq!((login["principal"].as_str(), login["secret"]["value"].as_str()), (Some("root"), Some("toor")));
    let command = decoy.wait_kind("command", |e| e["command"] == "cat /etc/os-release");
    assert_eq!(command["details"]["user"], "root");
    assert_eq!(command["session"], login["session"], "one session id per connection");
    decoy.wait_kind("command", |e| e["command"] == "exit");
}

#[test]
fn failed_passwords_keep_password_auth_on_offer_and_are_all_recorded() {
    let mut decoy = Decoy::start("ssh", &format!("{}:0", loopback()), None, &[]);
    let port = decoy.addr.port().to_string();
    let target = format!("admin@{}", decoy.addr.ip());
    let mut args: Vec<&str> = QUIET.to_vec();
    args.extend_from_slice(&[
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "NumberOfPasswordPrompts=3",
        "-p",
        &port,
        &target,
    ]);
    // The client asks again after each failure only because the server still offers
    // password authentication.
    let steps = json!([["password: ", "123456\r"], ["password: ", "qwerty\r"], ["password: ", "letmein\r"]]);
    let (_, said) = common::drive(steps, "ssh", &args);
    assert!(said.contains("Permission denied"), "{said}");
    let first = decoy.wait_kind("auth_attempt", |e| e["secret"]["value"] == "123456");
    for guess in ["qwerty", "letmein"] {
        let next = decoy.wait_kind("auth_attempt", |e| e["secret"]["value"] == guess);
        assert_eq!(next["session"], first["session"], "the same connection");
        assert_eq!((next["principal"].as_str(), next["details"]["outcome"].as_str()), (Some("admin"), Some("failure")));
    }
}

#[test]
fn offered_public_keys_are_recorded_by_fingerprint() {
    let mut decoy = Decoy::start("ssh", &format!("{}:0", loopback()), None, &[]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    let made = client("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()], None);
    assert!(made.status.success(), "{}", text(&made));
    let fingerprint =
        text(&client("ssh-keygen", &["-l", "-E", "sha256", "-f", &format!("{}.pub", key.display())], None));
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_owned();
    let port = decoy.addr.port().to_string();
    let target = format!("deploy@{}", decoy.addr.ip());
    let mut args: Vec<&str> = QUIET.to_vec();
    args.extend_from_slice(&[
        "-o",
        "BatchMode=yes",
        "-o",
        "PreferredAuthentications=publickey",
        "-i",
        key.to_str().unwrap(),
        "-p",
        &port,
        &target,
        "true",
    ]);
    let out = client("ssh", &args, None);
    assert!(!out.status.success());
    let attempt = decoy.wait_kind("auth_attempt", |e| e["details"]["method"] == "publickey");
    assert_eq!(attempt["principal"], "deploy");
    assert_eq!(attempt["secret"], json!({ "kind": "public_key", "value": fingerprint }));
    assert_eq!(attempt["details"]["algorithm"], "ssh-ed25519");
}

#[test]
fn a_legacy_client_completes_key_exchange() {
    let mut decoy = Decoy::start("ssh", &format!("{}:0", loopback()), None, &[]);
    let legacy = [
        "-tt",
        "-o",
        "KexAlgorithms=diffie-hellman-group14-sha1",
        "-o",
        "HostKeyAlgorithms=ssh-rsa",
        "-o",
        "Ciphers=aes128-cbc",
        "-o",
        "MACs=hmac-sha1",
    ];
    let (_, said) = ssh(&decoy, "ubuntu", "admin", &legacy, &[], Some("whoami\nexit\n"));
    assert!(said.contains("ubuntu@decky-007:~$ "), "{said}");
    decoy.wait_kind("command", |e| e["command"] == "whoami");
}

#[test]
fn exec_runs_through_the_fake_shell_and_a_tunnel_out_of_the_maze_is_refused_and_recorded() {
    let mut decoy = Decoy::start("ssh", &format!("{}:0", loopback()), None, &[]);
    // Bots run commands without a shell: the output and exit status come back as from sshd.
    let (code, said) = ssh(&decoy, "root", "admin", &[], &["uname -a"], None);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("Linux decky-007 "), "{said}");
    let exec = decoy.wait_kind("command", |e| e["details"]["exec"] == true);
    assert_eq!((exec["command"].as_str(), exec["details"]["status"].as_u64()), (Some("uname -a"), Some(0)));
    let (code, said) = ssh(&decoy, "root", "admin", &[], &["frobnicate --now"], None);
    assert_eq!(code, Some(127), "as bash exits for an unknown command: {said}");
    assert!(said.contains("frobnicate: command not found"), "{said}");
    decoy.wait_kind("command", |e| e["command"] == "frobnicate --now" && e["details"]["status"] == 127);
    let (code, said) = ssh(&decoy, "root", "admin", &["-W", "10.20.30.40:3389"], &[], None);
    assert_ne!(code, Some(0), "{said}");
    // Outside the maze (`--reach` is loopback here): refused before any packet is sent.
    let forward = decoy.wait_kind("tunnel", |e| e["details"]["outcome"] == "refused");
    assert_eq!(
        (forward["details"]["host"].as_str(), forward["details"]["port"].as_u64()),
        (Some("10.20.30.40"), Some(3389))
    );
}

#[test]
fn each_decky_keeps_its_own_host_key_across_restarts() {
    let scan = |decky: &str| {
        let decoy = Decoy::start("ssh", &format!("{}:0", loopback()), None, &[("DECNET_DECKY", decky)]);
        let out = client(
            "ssh-keyscan",
            &["-t", "ed25519", "-p", &decoy.addr.port().to_string(), &decoy.addr.ip().to_string()],
            None,
        );
        let line = String::from_utf8_lossy(&out.stdout).lines().find(|l| l.contains("ssh-ed25519")).unwrap().to_owned();
        line.split_whitespace().last().unwrap().to_owned()
    };
    let first = scan("web-01");
    assert_eq!(scan("web-01"), first, "the same key after a restart");
    assert_ne!(scan("web-02"), first, "another decky, another key");
}

#[test]
fn nmap_names_the_configured_openssh() {
    let config = json!({ "version": "OpenSSH_8.9p1 Ubuntu-3ubuntu0.6" });
    let decoy = Decoy::start("ssh", &format!("{}:22", loopback()), Some(config), &[]);
    let line = common::nmap_version(decoy.addr);
    assert!(line.contains("OpenSSH 8.9p1 Ubuntu"), "{line}");
}

#[test]
fn accept_any_lets_every_password_in_and_still_records_it() {
    let mut decoy = Decoy::start("ssh", &format!("{}:0", loopback()), Some(json!({ "accept_any": true })), &[]);
    let (_, said) = ssh(&decoy, "oracle", "anything-goes", &["-tt"], &[], Some("whoami\nexit\n"));
    assert!(said.contains("oracle@decky-007:~$ "), "{said}");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["details"]["outcome"] == "success");
    assert_eq!(
        (attempt["principal"].as_str(), attempt["secret"]["value"].as_str()),
        (Some("oracle"), Some("anything-goes"))
    );
}
