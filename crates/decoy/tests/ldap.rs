//! The LDAP decoy as a domain controller, against OpenLDAP's `ldapsearch` and nmap's
//! `ldap-rootdse` script.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, text};
use serde_json::json;

fn ldapsearch(decoy: &Decoy, args: &[&str]) -> String {
    let url = format!("ldap://{}:{}", decoy.addr.ip(), decoy.addr.port());
    let mut all = vec!["-x", "-o", "nettimeout=5", "-o", "ldif-wrap=no", "-H", url.as_str()];
    all.extend_from_slice(args);
    text(&client("ldapsearch", &all, None))
}

#[test]
fn the_root_dse_names_the_domain_and_binds_are_recorded_and_refused() {
    let config = json!({ "domain": "corp.example" });
    let mut decoy = Decoy::start("ldap", &format!("{}:0", loopback()), Some(config), &[]);

    let root = ldapsearch(&decoy, &["-b", "", "-s", "base", "(objectClass=*)", "*"]);
    for line in [
        "defaultNamingContext: DC=corp,DC=example",
        "namingContexts: CN=Configuration,DC=corp,DC=example",
        "supportedLDAPVersion: 3",
        "supportedSASLMechanisms: GSS-SPNEGO",
        "domainFunctionality: 7",
        "isGlobalCatalogReady: TRUE",
    ] {
        assert!(root.contains(line), "{line} in {root}");
    }
    let host = root.lines().find_map(|l| l.strip_prefix("dnsHostName: ")).unwrap();
    assert!(host.ends_with(".corp.example"), "{host}");
    let only = ldapsearch(&decoy, &["-b", "", "-s", "base", "(objectClass=*)", "dnsHostName"]);
    assert!(only.contains("dnsHostName: ") && !only.contains("namingContexts"), "only what was asked: {only}");

    let dn = "CN=svc_backup,CN=Users,DC=corp,DC=example";
    let bound = ldapsearch(&decoy, &["-D", dn, "-w", "Summer2024!", "-b", "DC=corp,DC=example"]);
    assert!(bound.contains("Invalid credentials (49)") && bound.contains("data 52e"), "{bound}");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["principal"] == dn);
    assert_schema(&attempt, "ldap");
    assert_eq!(
        (attempt["secret"]["value"].as_str(), attempt["details"]["method"].as_str()),
        (Some("Summer2024!"), Some("simple"))
    );
    assert_eq!(attempt["details"]["outcome"], "failure");

    let anonymous = ldapsearch(&decoy, &["-b", "DC=corp,DC=example", "(sAMAccountName=*)"]);
    assert!(
        anonymous.contains("result: 1 Operations error") && anonymous.contains("successful bind must be completed"),
        "{anonymous}"
    );
    decoy.wait_kind("command", |e| e["details"]["base"] == "DC=corp,DC=example");
}

#[test]
fn nmap_ldap_rootdse_reads_the_domain_controller() {
    // The real port: nmap's scripts pick their targets by port.
    let decoy = Decoy::start("ldap", &format!("{}:389", loopback()), None, &[]);
    let ip = decoy.addr.ip().to_string();
    let scan = text(&client("nmap", &["-Pn", "-n", "-p", "389", "--script", "ldap-rootdse", &ip], None));
    assert!(scan.contains("389/tcp open  ldap"), "{scan}");
    assert!(scan.contains("defaultNamingContext: DC=corp,DC=local"), "{scan}");
    assert!(scan.contains("dnsHostName: "), "{scan}");
}

#[test]
fn garbage_is_a_protocol_error_and_the_connection_closes() {
    let mut decoy = Decoy::start("ldap", &format!("{}:0", loopback()), None, &[]);
    for input in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"\x30\x84\x7f\xff\xff\xff", b"\x30\x03\x02\x01\x01"] {
        let mut stream = std::net::TcpStream::connect(decoy.addr).unwrap();
        std::io::Write::write_all(&mut stream, input).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut rest);
    }
    decoy.wait_kind("protocol_error", |e| {
        e["details"]["reason"].as_str().is_some_and(|r| r.contains("not an LDAP message"))
    });
    decoy.wait_kind("protocol_error", |e| e["details"]["reason"].as_str().is_some_and(|r| r.contains("undecodable")));
}

#[test]
fn an_ntlm_bind_by_impacket_is_captured_as_a_netntlmv2_line() {
    let env = [("DECNET_HOSTNAME", "dc01"), ("DECNET_ARCHETYPE", "domain-controller")];
    // GetADUsers binds to port 389 only: the real port on this test's own address.
    let mut decoy = Decoy::start("ldap", &format!("{}:389", loopback()), None, &env);
    let ip = decoy.addr.ip().to_string();
    let script = "/usr/share/doc/python3-impacket/examples/GetADUsers.py";
    let out = text(&client("/usr/bin/python3", &[script, "-all", "-dc-ip", &ip, "CORP/alice:Winter2024!"], None));
    assert!(out.contains("invalidCredentials") && out.contains("data 52e"), "{out}");
    let attempt = decoy.wait_kind("auth_attempt", |e| e["details"]["method"] == "sicily-ntlm");
    assert_eq!(attempt["principal"], "CORP\\alice");
    assert!(common::netntlmv2_verifies(attempt["secret"]["value"].as_str().unwrap(), "Winter2024!"), "{attempt}");
}
