//! The imap decoy against curl's IMAP client and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, nmap_version};

fn curl(decoy: &Decoy, path: &str, login: &str) -> std::process::Output {
    let url = format!("imap://{}:{}/{path}", decoy.addr.ip(), decoy.addr.port());
    client("curl", &["-s", "-m", "10", "-u", login, url.as_str()], None)
}

#[test]
fn a_mail_client_lists_searches_and_fetches_the_bait_and_wrong_logins_are_refused() {
    let mut decoy = Decoy::start("imap", &format!("{}:0", loopback()), None, &[("DECNET_DISTRO", "debian")]);
    let login = "j.smith:Winter2024!";
    let folders = String::from_utf8_lossy(&curl(&decoy, "", login).stdout).into_owned();
    assert!(folders.contains("\".\" INBOX"), "{folders}");
    let search = String::from_utf8_lossy(&curl(&decoy, "INBOX?ALL", login).stdout).into_owned();
    assert_eq!(search.trim(), "* SEARCH 1 2");
    let mail = String::from_utf8_lossy(&curl(&decoy, "INBOX;UID=2", login).stdout).into_owned();
    assert!(
        mail.contains("Subject: [cron] nightly backup report") && mail.contains("/etc/backup/credentials"),
        "{mail}"
    );
    let download = decoy.wait_kind("file_download", |e| e["details"]["path"] == "INBOX/2");
    assert_schema(&download, "imap");
    decoy.wait_kind("command", |e| e["command"] == "UID FETCH 2 BODY[]");

    let refused = curl(&decoy, "", "admin:s3cret pass");
    assert_eq!(refused.status.code(), Some(67), "curl: login denied");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["principal"] == "admin");
    assert_eq!(
        (attempt["secret"]["value"].as_str(), attempt["details"]["outcome"].as_str()),
        (Some("s3cret pass"), Some("failure"))
    );
    assert!(
        decoy
            .drain()
            .iter()
            .all(|e| e["event"] != "command" || !e["command"].as_str().unwrap_or("").contains("s3cret")),
        "a password never lands in a command event"
    );
}

#[test]
fn nmap_names_dovecot() {
    // The real port: nmap picks its probes by port. (nmap names Ubuntu's Dovecot greeting;
    // a real Debian one, "Dovecot (Debian) ready.", it leaves unnamed, and so does ours.)
    let decoy = Decoy::start("imap", &format!("{}:143", loopback()), None, &[("DECNET_DISTRO", "ubuntu22")]);
    let line = nmap_version(decoy.addr);
    assert!(line.contains("Dovecot imapd") && line.contains("Ubuntu"), "{line}");
}
