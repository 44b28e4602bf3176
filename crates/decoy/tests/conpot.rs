//! The conpot decoy against pymodbus (PyPI, installed by scripts/decoy-venv.sh), nmap's
//! modbus-discover, curl and snmpget, on its real ports.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, text};

/// The python of the venv holding pymongo and pymodbus (installed on first use).
fn venv_python() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/decoy-venv.sh");
    let out = client("bash", &[script], None);
    assert!(out.status.success(), "scripts/decoy-venv.sh: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

const SESSION: &str = r#"
import json, sys
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient(sys.argv[1], port=int(sys.argv[2]), timeout=5)
assert c.connect()
out = {}
out["registers"] = c.read_holding_registers(0, count=10, slave=1).registers
out["again"] = c.read_holding_registers(0, count=10, slave=1).registers
out["coils"] = c.read_coils(0, count=8, slave=1).bits[:8]
w = c.write_register(40, 1234, slave=1)
out["write"] = [w.address, w.registers[0]] if not w.isError() else "error"
bad = c.read_holding_registers(9999, count=5, slave=1)
out["bad"] = bad.exception_code if bad.isError() else "accepted"
info = c.read_device_information(slave=1)
out["identity"] = {str(k): v.decode() for k, v in info.information.items()}
c.close()
print(json.dumps(out))
"#;

#[test]
fn a_modbus_client_reads_registers_and_its_write_is_recorded() {
    let python = venv_python();
    let mut decoy = Decoy::start("conpot", &format!("{}:0", loopback()), None, &[]);
    let out = client(&python, &["-c", SESSION, &decoy.addr.ip().to_string(), &decoy.addr.port().to_string()], None);
    assert!(out.status.success(), "{}", text(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["registers"].as_array().unwrap().len(), 10);
    assert_eq!(result["registers"], result["again"], "the memory map is stable");
    assert_eq!(result["write"], serde_json::json!([40, 1234]));
    assert_eq!(result["bad"], 2, "ILLEGAL DATA ADDRESS");
    assert_eq!(result["identity"]["0"], "Schneider Electric");
    assert!(result["identity"]["2"].as_str().unwrap().starts_with('v'), "{result}");

    let write = decoy.wait_kind("command", |e| e["command"] == "write_single_register");
    assert_schema(&write, "conpot");
    assert_eq!(write["details"]["write"], true);
    assert_eq!((write["details"]["address"].as_u64(), write["details"]["values"][0].as_u64()), (Some(40), Some(1234)));
    decoy.wait_kind("command", |e| e["command"] == "read_holding_registers" && e["details"]["exception"] == 2);
    decoy.wait_kind("command", |e| e["command"] == "read_device_identification");
}

#[test]
fn nmap_modbus_discover_the_web_login_and_snmp_tell_one_plc() {
    // The catalogue ports on one address: Modbus 502 and HTTP 80 over TCP, SNMP 161 over UDP.
    let ip = loopback().to_string();
    let mut decoy = Decoy::start("conpot", &ip, None, &[("DECNET_HOSTNAME", "plc-07")]);
    let out = client("nmap", &["-sV", "-Pn", "-n", "-p", "502", "--script", "modbus-discover", &ip], None);
    let scan = text(&out);
    assert!(scan.contains("502/tcp open  modbus") && scan.contains("Modbus TCP"), "{scan}");
    assert!(scan.contains("Device identification: Schneider Electric"), "{scan}");
    assert!(scan.contains("Slave ID data: Schneider Electric"), "{scan}");

    let page = client("curl", &["-s", "-m", "10", &format!("http://{ip}/")], None);
    let page = String::from_utf8_lossy(&page.stdout).into_owned();
    assert!(page.contains("Modicon") && page.contains("plc-07"), "{page}");
    let login = client(
        "curl",
        &["-s", "-m", "10", "-d", "username=USER&password=USERUSER", &format!("http://{ip}/login")],
        None,
    );
    assert!(String::from_utf8_lossy(&login.stdout).contains("Invalid user name or password"));
    let attempt = decoy.wait_kind("auth_attempt", |e| e["principal"] == "USER");
    assert_eq!((attempt["secret"]["value"].as_str(), attempt["dst_port"].as_u64()), (Some("USERUSER"), Some(80)));

    let snmp = client(
        "snmpget",
        &["-v2c", "-c", "public", "-t", "2", "-r", "1", &ip, "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0"],
        None,
    );
    let answer = text(&snmp);
    assert!(answer.contains("Schneider Electric Modicon") && answer.contains("plc-07"), "{answer}");
}
