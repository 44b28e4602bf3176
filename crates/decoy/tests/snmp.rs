//! The SNMP agent against net-snmp's real clients (`snmpwalk`, `snmpbulkwalk`, `snmpget`,
//! `snmpset`) on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, text};
use serde_json::json;

fn snmp(program: &str, decoy: &Decoy, args: &[&str]) -> String {
    let target = format!("udp:{}:{}", decoy.addr.ip(), decoy.addr.port());
    let mut all: Vec<&str> = vec!["-On", "-t", "2", "-r", "1"];
    all.extend_from_slice(args);
    // The target goes before the OIDs (and a set's type and value).
    let split = all.iter().position(|a| a.starts_with('.')).unwrap_or(all.len());
    all.insert(split, target.as_str());
    text(&client(program, &all, None))
}

#[test]
fn snmpwalk_walks_mib_2_with_the_personas_system_and_the_real_interfaces() {
    let config = json!({ "community": "n0c-ops", "location": "DC2 rack 14" });
    let mut decoy = Decoy::start("snmp", &format!("{}:0", loopback()), Some(config), &[("DECNET_DISTRO", "debian")]);
    let target = format!("udp:{}:{}", decoy.addr.ip(), decoy.addr.port());

    let walk = text(&client(
        "snmpwalk",
        &["-On", "-v2c", "-c", "n0c-ops", "-t", "2", "-r", "1", &target, ".1.3.6.1.2.1"],
        None,
    ));
    assert!(walk.contains(".1.3.6.1.2.1.1.1.0 = STRING: \"Linux "), "sysDescr: {walk}");
    assert!(walk.contains(".1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.8072.3.2.10"), "sysObjectID: {walk}");
    assert!(walk.contains(".1.3.6.1.2.1.1.3.0 = Timeticks: "), "sysUpTime: {walk}");
    assert!(walk.contains(".1.3.6.1.2.1.1.6.0 = STRING: \"DC2 rack 14\""), "sysLocation: {walk}");
    assert!(walk.contains(".1.3.6.1.2.1.2.2.1.2.1 = STRING: \"lo\""), "ifDescr of lo: {walk}");
    assert!(walk.contains(".1.3.6.1.2.1.2.2.1.10.1 = Counter32: "), "ifInOctets: {walk}");
    let listening = decoy.addr.ip().to_string();
    assert!(
        walk.contains(&format!(".1.3.6.1.2.1.4.20.1.1.{listening} = IpAddress: {listening}"))
            || walk.contains(".1.3.6.1.2.1.4.20.1.1.127.0.0.1 = IpAddress: 127.0.0.1"),
        "the namespace's own addresses in ipAddrTable: {walk}"
    );
    assert!(!walk.contains("Timeout"), "{walk}");
    let name_line = walk.lines().find(|l| l.starts_with(".1.3.6.1.2.1.1.5.0")).unwrap();

    // GetBulk walks the same tree.
    let bulk = text(&client(
        "snmpbulkwalk",
        &["-On", "-v2c", "-c", "n0c-ops", "-t", "2", "-r", "1", &target, ".1.3.6.1.2.1.1"],
        None,
    ));
    assert!(bulk.contains(name_line), "{bulk}");
    assert_eq!(bulk.lines().filter(|l| l.starts_with(".1.3.6.1.2.1.1.")).count(), 7, "the system group: {bulk}");

    // v1: a missing name is noSuchName; a set is refused.
    let missing = snmp("snmpget", &decoy, &["-v1", "-c", "n0c-ops", ".1.3.6.1.2.1.1.99.0"]);
    assert!(missing.contains("noSuchName"), "{missing}");
    let set = snmp("snmpset", &decoy, &["-v2c", "-c", "n0c-ops", ".1.3.6.1.2.1.1.5.0", "s", "owned"]);
    assert!(set.contains("noAccess"), "{set}");
    let get = snmp("snmpget", &decoy, &["-v2c", "-c", "n0c-ops", ".1.3.6.1.2.1.1.5.0"]);
    assert!(get.contains(name_line), "nothing was written: {get}");

    // A wrong community gets silence, and is recorded.
    let wrong = snmp("snmpget", &decoy, &["-v2c", "-c", "public", ".1.3.6.1.2.1.1.5.0"]);
    assert!(wrong.contains("Timeout"), "{wrong}");
    let refused = decoy.wait_kind("auth_attempt", |e| e["secret"]["value"] == "public");
    assert_schema(&refused, "snmp");
    assert_eq!(refused["details"]["outcome"], "failure");
    let accepted = decoy.wait_kind("auth_attempt", |e| e["secret"]["value"] == "n0c-ops");
    assert_eq!(
        (accepted["details"]["outcome"].as_str(), accepted["details"]["version"].as_str()),
        (Some("success"), Some("2c"))
    );
    decoy.wait_kind("command", |e| e["command"] == "set 1.3.6.1.2.1.1.5.0");
    decoy.wait_kind("command", |e| e["details"]["operation"] == "getbulk");
}

#[test]
fn nmap_sees_an_snmp_agent_and_its_scripts_read_the_persona() {
    // The real port: nmap picks its UDP probes by port.
    let decoy = Decoy::start("snmp", &format!("{}:161", loopback()), None, &[("DECNET_DISTRO", "debian")]);
    let port = decoy.addr.port().to_string();
    let ip = decoy.addr.ip().to_string();
    let scan = text(&client(
        "nmap",
        &["-sU", "-sV", "-Pn", "-n", "-p", &port, "--script", "snmp-sysdescr,snmp-interfaces", &ip],
        None,
    ));
    assert!(scan.contains(&format!("{port}/udp open  snmp")), "{scan}");
    assert!(scan.contains("SNMPv1 server (public)"), "{scan}");
    assert!(scan.contains("snmp-sysdescr: Linux ") && scan.contains("x86_64"), "{scan}");
    assert!(scan.contains("System uptime:"), "{scan}");
    assert!(scan.contains("IP address: 127.0.0.1"), "snmp-interfaces lists the real addresses: {scan}");
}

#[test]
fn garbage_datagrams_are_recorded_as_protocol_errors_and_the_agent_goes_on() {
    let mut decoy = Decoy::start("snmp", &format!("{}:0", loopback()), None, &[]);
    let socket = std::net::UdpSocket::bind((loopback(), 0)).unwrap();
    for datagram in [&b"\x30\x82\xff\xff"[..], b"hello", &[0u8; 1500][..], b"\x30\x03\x02\x01\x07"] {
        socket.send_to(datagram, decoy.addr).unwrap();
    }
    decoy.wait_kind("protocol_error", |e| e["details"]["bytes"] == 5);
    let get = snmp("snmpget", &decoy, &["-v2c", "-c", "public", ".1.3.6.1.2.1.1.7.0"]);
    assert!(get.contains(".1.3.6.1.2.1.1.7.0 = INTEGER: 72"), "{get}");
}
