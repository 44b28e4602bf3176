//! The pop3 decoy against curl's POP3 client and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, nmap_version};

fn curl(decoy: &Decoy, path: &str, login: &str, extra: &[&str]) -> std::process::Output {
    let url = format!("pop3://{}:{}/{path}", decoy.addr.ip(), decoy.addr.port());
    let mut args = vec!["-s", "-m", "10", "-u", login];
    args.extend_from_slice(extra);
    args.push(url.as_str());
    client("curl", &args, None)
}

#[test]
fn a_mail_client_logs_in_lists_and_reads_the_bait_and_wrong_logins_are_refused() {
    let mut decoy = Decoy::start("pop3", &format!("{}:0", loopback()), None, &[("DECNET_DISTRO", "debian")]);
    let list = curl(&decoy, "", "j.smith:Winter2024!", &[]);
    assert!(list.status.success(), "{list:?}");
    let listing = String::from_utf8_lossy(&list.stdout).into_owned();
    assert_eq!(listing.lines().count(), 2, "two messages: {listing}");

    let read = curl(&decoy, "1", "j.smith:Winter2024!", &["--login-options", "AUTH=PLAIN"]);
    let mail = String::from_utf8_lossy(&read.stdout).into_owned();
    assert!(mail.contains("Subject: VPN access for the new starters") && mail.contains("Temporary password"), "{mail}");
    let download = decoy.wait_kind("file_download", |e| e["details"]["path"] == "INBOX/1");
    assert_schema(&download, "pop3");
    decoy.wait_kind("auth_attempt", |e| e["details"]["method"] == "plain" && e["details"]["outcome"] == "success");
    assert!(
        decoy
            .drain()
            .iter()
            .all(|e| e["event"] != "command" || !e["command"].as_str().unwrap_or("").starts_with("AUTH")),
        "the AUTH line, which carries the password, is an attempt, not a command"
    );

    let refused = curl(&decoy, "", "admin:hunter2", &[]);
    assert_eq!(refused.status.code(), Some(67), "curl: login denied");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["principal"] == "admin");
    assert_eq!(
        (attempt["secret"]["value"].as_str(), attempt["details"]["outcome"].as_str()),
        (Some("hunter2"), Some("failure"))
    );
}

#[test]
fn nmap_names_dovecot() {
    // The real port: nmap picks its probes by port.
    let decoy = Decoy::start("pop3", &format!("{}:110", loopback()), None, &[("DECNET_DISTRO", "debian")]);
    let line = nmap_version(decoy.addr);
    assert!(line.contains("Dovecot pop3d"), "{line}");
}
