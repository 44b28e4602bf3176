//! The mssql decoy against impacket's TDS client (SQL and Windows logins over TLS inside
//! TDS) and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, netntlmv2_verifies, nmap_version, text};

/// A SQL Server on a Windows server of the CORP domain.
const WINDOWS: [(&str, &str); 2] = [("DECNET_HOSTNAME", "sql-prod-01"), ("DECNET_ARCHETYPE", "windows-server")];
/// impacket's example client, run by Debian's Python (where python3-impacket lives).
const MSSQLCLIENT: &str = "/usr/share/doc/python3-impacket/examples/mssqlclient.py";

fn mssqlclient(decoy: &Decoy, args: &[&str]) -> String {
    let port = decoy.addr.port().to_string();
    let mut all = vec![MSSQLCLIENT, "-port", port.as_str()];
    all.extend_from_slice(args);
    text(&client("/usr/bin/python3", &all, None))
}

#[test]
fn a_sql_login_reaches_login7_through_tls_and_is_recorded_in_clear() {
    let mut decoy = Decoy::start("mssql", &format!("{}:0", loopback()), None, &WINDOWS);
    let out = mssqlclient(&decoy, &[&format!("sa:P@ssw0rd!@{}", decoy.addr.ip())]);
    assert!(out.contains("switching to TLS"), "{out}");
    assert!(out.contains("Login failed for user 'sa'."), "{out}");
    assert!(out.contains("SQL-PROD-01"), "the error names the server: {out}");
    let handshake = decoy.wait_kind("handshake", |_| true);
    assert_schema(&handshake, "mssql");
    assert_eq!(handshake["details"]["encryption"], 0, "encryption off: TLS for the login only");
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!(attempt["principal"], "sa");
    assert_eq!(attempt["secret"]["value"], "P@ssw0rd!");
    assert_eq!(attempt["details"]["method"], "sql");
}

#[test]
fn a_windows_login_is_a_netntlmv2_line_that_names_the_same_host() {
    let mut decoy = Decoy::start("mssql", &format!("{}:0", loopback()), None, &WINDOWS);
    let out = mssqlclient(&decoy, &["-windows-auth", &format!("CORP/alice:Winter2024!@{}", decoy.addr.ip())]);
    assert!(out.contains("Login failed for user 'CORP\\alice'."), "{out}");
    let attempt = decoy.wait_kind("auth_attempt", |_| true);
    assert_eq!(attempt["principal"], "CORP\\alice");
    let line = attempt["secret"]["value"].as_str().unwrap();
    assert!(netntlmv2_verifies(line, "Winter2024!"), "{line}");
    // The client's blob echoes the server's NTLM target information: the same identity.
    let blob = line.rsplit(':').next().unwrap();
    let bytes: Vec<u8> = (0..blob.len()).step_by(2).map(|i| u8::from_str_radix(&blob[i..i + 2], 16).unwrap()).collect();
    let names =
        String::from_utf16_lossy(&bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect::<Vec<_>>());
    assert!(names.contains("SQL-PROD-01") && names.contains("sql-prod-01.corp.local"), "{names}");
}

#[test]
fn nmap_names_sql_server() {
    let decoy = Decoy::start("mssql", &format!("{}:1433", loopback()), None, &WINDOWS);
    let line = nmap_version(decoy.addr);
    assert!(line.contains("Microsoft SQL Server 201"), "{line}");
}
