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

const LURE_ACCOUNT: &str = r#"[{"user":"wordpress","password":"Falcon2291$"}]"#;

#[test]
fn the_lure_account_opens_a_mysql_session_whose_statements_are_recorded_and_answered() {
    let env = [("DECNET_ACCOUNTS", LURE_ACCOUNT), ("DECNET_HOSTNAME", "db01")];
    let mut decoy = Decoy::start("mysql", &format!("{}:0", loopback()), Some(json!({ "version": "8.0.36" })), &env);
    let (host, port) = (decoy.addr.ip().to_string(), decoy.addr.port().to_string());
    let login = ["-h", &host, "-P", &port, "-u", "wordpress", "-pFalcon2291$", "wordpress"];
    let queries = "select user(); select @@hostname; show tables; select user_pass from wp_users;";
    let out = client("mysql", &[&login[..], &["--batch", "-e", queries]].concat(), None);
    let said = text(&out);
    assert!(said.contains("user()\nwordpress@127."), "{said}");
    assert!(said.contains("@@hostname\ndb01\n"), "{said}");
    assert!(said.contains("Tables_in_wordpress\nwp_commentmeta\n"), "{said}");
    assert!(
        said.contains("ERROR 1142 (42000) at line 1: SELECT command denied to user 'wordpress'@'"),
        "data stays out of reach: {said}"
    );
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!(
        (attempt["principal"].as_str(), attempt["details"]["outcome"].as_str()),
        (Some("wordpress"), Some("success"))
    );
    let denied = decoy.wait_kind("command", |e| e["command"] == "select user_pass from wp_users");
    assert_schema(&denied, "mysql");
    // The same user with another password is denied as before.
    let wrong = client("mysql", &["-h", &host, "-P", &port, "-u", "wordpress", "-pFalcon2291", "-e", "select 1"], None);
    assert!(text(&wrong).contains("ERROR 1045 (28000)"), "{}", text(&wrong));
    let failed = decoy.wait_kind("auth_attempt", |e| e["details"]["outcome"] == "failure");
    assert_eq!(failed["principal"], "wordpress");
}

#[test]
fn the_lure_account_opens_a_psql_session_whose_queries_are_recorded_and_answered() {
    let env = [("DECNET_ACCOUNTS", LURE_ACCOUNT)];
    let mut decoy = Decoy::start("postgres", &format!("{}:0", loopback()), None, &env);
    let (host, port) = (decoy.addr.ip().to_string(), decoy.addr.port().to_string());
    let psql = |password: &str, queries: &[&str]| {
        let mut args = vec!["30", "psql", "-h", &host, "-p", &port, "-U", "wordpress", "-d", "wordpress", "-At"];
        for query in queries {
            args.extend(["-c", query]);
        }
        std::process::Command::new("timeout")
            .args(&args)
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .unwrap()
    };
    let out = psql("Falcon2291$", &["select current_user", "select tablename from pg_tables", "drop table wp_users"]);
    let said = text(&out);
    assert!(said.contains("wordpress\nwp_commentmeta\n"), "{said}");
    assert!(said.contains("ERROR:  permission denied for table wp_users"), "{said}");
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!(attempt["details"]["outcome"], "success");
    decoy.wait_kind("command", |e| e["command"] == "drop table wp_users");
    let wrong = psql("Falcon2291", &["select 1"]);
    assert!(text(&wrong).contains("password authentication failed for user \"wordpress\""), "{}", text(&wrong));
}
