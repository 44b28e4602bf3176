//! The mysql and postgres decoys against the real MariaDB `mysql` client, `psql` and nmap:
//! the captured responses, with their salts, verify against the password the client used
//! (so a cracker would find it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, text};
use md5::Md5;
use serde_json::json;
use sha1::{Digest, Sha1};

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn a_mysql_login_is_recorded_with_its_salt_and_denied() {
    let mut decoy = Decoy::start("mysql", &format!("{}:0", loopback()), Some(json!({ "version": "8.0.36" })), &[]);
    let (host, port) = (decoy.addr.ip().to_string(), decoy.addr.port().to_string());
    let out =
        client("mysql", &["-h", &host, "-P", &port, "-u", "root", "-pWinter2024!", "shop", "-e", "select 1"], None);
    let said = text(&out);
    assert!(said.contains("ERROR 1045 (28000): Access denied for user 'root'@'"), "{said}");
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_schema(&attempt, "mysql");
    assert_eq!(attempt["principal"], "root");
    assert_eq!(attempt["details"]["database"], "shop");
    assert_eq!(attempt["details"]["client_attributes"]["program_name"], "mysql");
    let secret = &attempt["secret"];
    assert_eq!(secret["kind"], "mysql_native");
    // response = SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))): check it with the password.
    let (salt, response) = (unhex(secret["salt"].as_str().unwrap()), unhex(secret["value"].as_str().unwrap()));
    assert_eq!(salt.len(), 20);
    let stage1 = Sha1::digest(b"Winter2024!");
    let stage2 = Sha1::digest(stage1);
    let mix = Sha1::new().chain_update(&salt).chain_update(stage2).finalize();
    let expected: Vec<u8> = stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect();
    assert_eq!(response, expected, "the captured response cracks to the password with the recorded salt");
}

#[test]
fn nmap_names_the_mysql_and_mariadb_versions() {
    let mysql = Decoy::start(
        "mysql",
        &format!("{}:3306", loopback()),
        Some(json!({ "version": "8.0.36-0ubuntu0.22.04.1" })),
        &[],
    );
    let line = common::nmap_version(mysql.addr);
    assert!(line.contains("MySQL 8.0.36-0ubuntu0.22.04.1"), "{line}");
    let mariadb = Decoy::start("mysql", &format!("{}:3306", loopback()), None, &[("DECNET_DISTRO", "debian")]);
    let line = common::nmap_version(mariadb.addr);
    assert!(line.contains("MariaDB"), "{line}");
}

#[test]
fn a_psql_login_is_recorded_with_its_md5_salt_and_refused() {
    let mut decoy = Decoy::start("postgres", &format!("{}:0", loopback()), None, &[]);
    let (host, port) = (decoy.addr.ip().to_string(), decoy.addr.port().to_string());
    let out = std::process::Command::new("timeout")
        .args(["30", "psql", "-h", &host, "-p", &port, "-U", "alice", "-d", "shop", "-c", "select 1"])
        .env("PGPASSWORD", "Tr0ub4dor&3")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    let said = text(&out);
    assert!(said.contains("FATAL:  password authentication failed for user \"alice\""), "{said}");
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_schema(&attempt, "postgres");
    assert_eq!((attempt["principal"].as_str(), attempt["details"]["database"].as_str()), (Some("alice"), Some("shop")));
    let secret = &attempt["secret"];
    assert_eq!(secret["kind"], "postgres_md5");
    // "md5" + md5(hex(md5(password + user)) + salt)
    let inner = format!("{:x}", Md5::digest(b"Tr0ub4dor&3alice"));
    let outer =
        Md5::new().chain_update(inner.as_bytes()).chain_update(unhex(secret["salt"].as_str().unwrap())).finalize();
    assert_eq!(secret["value"], format!("md5{outer:x}"), "the captured hash cracks with the recorded salt");
}

#[test]
fn postgres_can_ask_for_the_clear_text_password() {
    let config = json!({ "auth_method": "password" });
    let mut decoy = Decoy::start("postgres", &format!("{}:0", loopback()), Some(config), &[]);
    let (host, port) = (decoy.addr.ip().to_string(), decoy.addr.port().to_string());
    std::process::Command::new("timeout")
        .args(["30", "psql", "-h", &host, "-p", &port, "-U", "bob", "-d", "postgres", "-c", "select 1"])
        .env("PGPASSWORD", "letmein")
        .output()
        .unwrap();
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!(attempt["secret"], json!({ "kind": "password", "value": "letmein" }));
}

#[test]
fn nmap_identifies_postgresql() {
    let decoy = Decoy::start("postgres", &format!("{}:5432", loopback()), None, &[]);
    let line = common::nmap_version(decoy.addr);
    assert!(line.contains("PostgreSQL DB"), "{line}");
}
