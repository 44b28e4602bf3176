//! The smtp and ftp decoys against `swaks`, `curl` and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, text};
use serde_json::json;

#[test]
fn smtp_auth_is_captured_and_relaying_refused() {
    let mut decoy = Decoy::start("smtp", &format!("{}:0", loopback()), None, &[("DECNET_DISTRO", "ubuntu22")]);
    let server = decoy.addr.to_string();
    let out = client(
        "swaks",
        &[
            "--to",
            "ceo@example.org",
            "--from",
            "it@example.org",
            "--server",
            &server,
            "--auth",
            "LOGIN",
            "--auth-user",
            "admin",
            "--auth-password",
            "Passw0rd!",
        ],
        None,
    );
    let said = text(&out);
    assert!(said.contains("220 decky-007 ESMTP Postfix (Ubuntu)"), "the persona's banner: {said}");
    assert!(said.contains("250-AUTH PLAIN LOGIN") && said.contains("535 5.7.8"), "{said}");
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_schema(&attempt, "smtp");
    assert_eq!(
        (attempt["principal"].as_str(), attempt["secret"]["value"].as_str()),
        (Some("admin"), Some("Passw0rd!"))
    );
    assert_eq!(attempt["details"]["mechanism"], "LOGIN");

    let out = client("swaks", &["--to", "ceo@example.org", "--from", "it@example.org", "--server", &server], None);
    assert!(text(&out).contains("554 5.7.1 <ceo@example.org>: Relay access denied"), "{}", text(&out));
    decoy
        .wait_kind("request", |e| e["details"]["refused"] == "relay" && e["details"]["recipient"] == "ceo@example.org");
    decoy.wait_kind("command", |e| e["command"] == "MAIL FROM:<it@example.org>");

    // Mail for the decky itself is taken in and recorded, never delivered.
    let out = client(
        "swaks",
        &[
            "--to",
            "root@decky-007",
            "--from",
            "x@example.org",
            "--server",
            &server,
            "--header",
            "Subject: invoice 4711",
            "--body",
            "see attached",
        ],
        None,
    );
    assert!(text(&out).contains("250 2.0.0 Ok: queued as"), "{}", text(&out));
    let mail = decoy.wait_kind("file_upload", |_| true);
    assert_eq!(mail["details"]["subject"], "invoice 4711");
    assert_eq!(mail["details"]["to"], json!(["root@decky-007"]));
}

#[test]
fn ftp_logins_downloads_and_refused_uploads_are_recorded() {
    let mut decoy = Decoy::start("ftp", &format!("{}:0", loopback()), None, &[]);
    let base = format!("ftp://{}", decoy.addr);
    let listing = text(&client("curl", &["-s", &format!("{base}/")], None));
    assert!(listing.contains("README.txt") && listing.contains("backups"), "{listing}");
    let notes = text(&client("curl", &["-s", &format!("{base}/notes.txt")], None));
    assert!(notes.contains("rotate the backup account password"), "{notes}");
    let download = decoy.wait_kind("file_download", |_| true);
    assert_schema(&download, "ftp");
    assert_eq!(download["details"]["path"], "/notes.txt");
    let anonymous = decoy.wait_kind("auth_attempt", |e| e["principal"] == "anonymous");
    assert_eq!(anonymous["details"]["outcome"], "success");

    let denied = client("curl", &["-s", "-u", "backup:guess", &format!("{base}/")], None);
    assert_eq!(denied.status.code(), Some(67), "login denied");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["principal"] == "backup");
    assert_eq!(
        (attempt["secret"]["value"].as_str(), attempt["details"]["outcome"].as_str()),
        (Some("guess"), Some("failure"))
    );
    let account = client("curl", &["-s", "-u", "backup:backup123", &format!("{base}/backups/")], None);
    assert!(text(&account).contains("app-db-20261118.sql.gz"), "the configured account gets in");

    let upload = client("curl", &["-s", "-T", "/etc/hostname", &format!("{base}/dropper.sh")], None);
    assert_ne!(upload.status.code(), Some(0), "uploads are refused");
    let stored = decoy.wait_kind("file_upload", |_| true);
    assert_eq!(stored["details"]["path"], "/dropper.sh");
}

#[test]
fn nmap_names_vsftpd_and_postfix() {
    let ftp = Decoy::start("ftp", &format!("{}:21", loopback()), None, &[("DECNET_DISTRO", "ubuntu22")]);
    let line = common::nmap_version(ftp.addr);
    assert!(line.contains("vsftpd 3.0.5"), "{line}");
    let smtp = Decoy::start("smtp", &format!("{}:25", loopback()), None, &[]);
    let line = common::nmap_version(smtp.addr);
    assert!(line.contains("Postfix smtpd"), "{line}");
}
