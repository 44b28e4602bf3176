//! The DNS decoy against `dig` (UDP and TCP, the zone, CHAOS, a refused transfer, recursion
//! elsewhere) and nmap (`-sV` over UDP and TCP, `dns-nsid`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, text};
use serde_json::json;

fn dig(decoy: &Decoy, args: &[&str]) -> String {
    let server = format!("@{}", decoy.addr.ip());
    let mut all = vec![server.as_str(), "-p", "53", "+time=3", "+tries=1"];
    all.extend_from_slice(args);
    text(&client("dig", &all, None))
}

/// The decoy on both transports of the real port (an address without a port binds the
/// catalogue's TCP and UDP 53).
fn start(config: serde_json::Value) -> Decoy {
    Decoy::start("dns", &loopback().to_string(), Some(config), &[("DECNET_DISTRO", "debian")])
}

#[test]
fn dig_reads_the_zone_and_is_refused_a_transfer_and_recursion() {
    let mut decoy = start(json!({ "domain": "acme.internal", "extra_records": "erp A 10.20.30.40" }));

    let a = dig(&decoy, &["+short", "www.acme.internal", "A"]);
    assert!(a.trim().starts_with("10."), "{a}");
    let erp = dig(&decoy, &["+short", "ERP.Acme.Internal"]);
    assert_eq!(erp.trim(), "10.20.30.40");
    let mx = dig(&decoy, &["+short", "acme.internal", "MX"]);
    assert_eq!(mx.trim(), "10 mail.acme.internal.");
    let soa = dig(&decoy, &["acme.internal", "SOA"]);
    assert!(
        soa.contains("status: NOERROR")
            && soa.contains(" aa")
            && soa.contains("ns1.acme.internal. hostmaster.acme.internal."),
        "{soa}"
    );
    let txt = dig(&decoy, &["+tcp", "+short", "acme.internal", "TXT"]);
    assert!(txt.contains("v=spf1 mx"), "over TCP: {txt}");
    let aaaa = dig(&decoy, &["+short", "mail.acme.internal", "AAAA"]);
    assert!(aaaa.trim().starts_with("fd"), "{aaaa}");
    let missing = dig(&decoy, &["nope.acme.internal"]);
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");

    let elsewhere = dig(&decoy, &["www.example.com"]);
    assert!(elsewhere.contains("status: REFUSED"), "{elsewhere}");
    let version = dig(&decoy, &["+short", "version.bind", "CH", "TXT"]);
    assert_eq!(version.trim(), "\"9.18.28-1~deb12u2-Debian\"");
    let axfr = dig(&decoy, &["acme.internal", "AXFR"]);
    assert!(axfr.contains("Transfer failed"), "{axfr}");

    let query = decoy.wait_kind("command", |e| e["details"]["qname"] == "ERP.Acme.Internal.");
    assert_schema(&query, "dns");
    assert_eq!(query["details"]["qtype"], "A");
    assert_eq!(query["details"]["transport"], "udp");
    decoy.wait_kind("command", |e| e["details"]["qtype"] == "TXT" && e["details"]["transport"] == "tcp");
    let transfer = decoy.wait_kind("command", |e| e["details"]["qtype"] == "AXFR");
    assert_eq!(
        (transfer["details"]["zone_transfer"].as_bool(), transfer["details"]["rcode"].as_str()),
        (Some(true), Some("Query Refused"))
    );
    assert_eq!(transfer["details"]["transport"], "tcp");
}

#[test]
fn nmap_names_isc_bind_over_udp_and_tcp_and_reads_the_nsid() {
    let decoy = start(json!({ "nsid": "ns1-fra" }));
    let ip = decoy.addr.ip().to_string();
    let scan = text(&client(
        "nmap",
        &["-sU", "-sT", "-sV", "-Pn", "-n", "-p", "U:53,T:53", "--script", "dns-nsid", &ip],
        None,
    ));
    assert!(scan.contains("53/udp open  domain  ISC BIND 9.18.28-1~deb12u2 (Debian Linux)"), "{scan}");
    assert!(scan.contains("53/tcp open  domain  ISC BIND 9.18.28-1~deb12u2 (Debian Linux)"), "{scan}");
    assert!(scan.contains("NSID: ns1-fra"), "{scan}");
    assert!(scan.contains("bind.version: 9.18.28-1~deb12u2-Debian"), "{scan}");
}
