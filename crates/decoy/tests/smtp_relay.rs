//! The smtp_relay decoy against `swaks` and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, nmap_version, text};

#[test]
fn swaks_relays_through_it_and_each_message_is_recorded_never_delivered() {
    let mut decoy = Decoy::start("smtp_relay", &format!("{}:0", loopback()), None, &[("DECNET_HOSTNAME", "mx-02")]);
    let server = decoy.addr.to_string();
    let body = "Dear customer,\n.Your account needs verification: http://phish.example/login\n";
    let out = client(
        "swaks",
        &[
            "--to",
            "victim1@example.org,victim2@example.net",
            "--from",
            "billing@bank.example",
            "--server",
            &server,
            "--header",
            "Subject: Urgent: verify your account",
            "--body",
            body,
        ],
        None,
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("220 mx-02 ESMTP Postfix") && said.contains("250 2.0.0 Ok: queued as"), "{said}");
    let mail = decoy.wait_kind("file_upload", |e| e["details"]["kind"] == "mail");
    assert_schema(&mail, "smtp_relay");
    assert_eq!(mail["details"]["from"], "billing@bank.example");
    assert_eq!(mail["details"]["to"], serde_json::json!(["victim1@example.org", "victim2@example.net"]));
    assert_eq!(mail["details"]["subject"], "Urgent: verify your account");
    assert_eq!(mail["details"]["relay"], true);
    let excerpt = mail["details"]["excerpt"].as_str().unwrap();
    assert!(excerpt.contains(".Your account needs verification") && !excerpt.contains("..Your"), "{excerpt}");
    assert!(mail["details"]["size"].as_u64().unwrap() > 100);

    // Two messages on one connection: each is its own event.
    let out = client(
        "swaks",
        &["--to", "a@example.com", "--from", "b@example.com", "--server", &server, "--pipeline", "--body", "one"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    decoy.wait_kind("file_upload", |e| e["details"]["to"][0] == "a@example.com");
}

#[test]
fn nmap_names_the_mta_persona() {
    let decoy = Decoy::start("smtp_relay", &format!("{}:25", loopback()), None, &[]);
    let line = nmap_version(decoy.addr);
    assert!(line.contains("Postfix smtpd"), "{line}");
    let exim = Decoy::start("smtp_relay", &format!("{}:25", loopback()), Some(serde_json::json!({"mta": "exim"})), &[]);
    let line = nmap_version(exim.addr);
    assert!(line.contains("Exim smtpd 4.96"), "{line}");
}
