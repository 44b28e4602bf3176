//! The mongodb decoy against pymongo (PyPI, installed by scripts/decoy-venv.sh) and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, nmap_version, text};

/// The python of the venv holding pymongo and pymodbus (installed on first use).
fn venv_python() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/decoy-venv.sh");
    let out = client("bash", &[script], None);
    assert!(out.status.success(), "scripts/decoy-venv.sh: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

const SESSION: &str = r#"
import json, sys
import pymongo
from pymongo.errors import OperationFailure
host, port = sys.argv[1], int(sys.argv[2])
out = {}
c = pymongo.MongoClient(host, port, directConnection=True, serverSelectionTimeoutMS=5000)
out["version"] = c.server_info()["version"]
out["dbs"] = c.list_database_names()
out["collections"] = sorted(c.shop.list_collection_names())
out["users"] = [d["username"] for d in c.shop.users.find({"role": {"$ne": "x"}})]
out["hashes"] = [d["password"][:7] for d in c.shop.users.find()]
c.close()
a = pymongo.MongoClient(host, port, directConnection=True, serverSelectionTimeoutMS=5000,
                        username="admin", password="Passw0rd!", authSource="admin", authMechanism="SCRAM-SHA-256")
try:
    a.admin.command("ping")
    out["login"] = "accepted"
except OperationFailure as e:
    out["login"] = e.code
a.close()
print(json.dumps(out))
"#;

#[test]
fn pymongo_lists_finds_and_a_failed_login_is_recorded() {
    let python = venv_python();
    let mut decoy = Decoy::start("mongodb", &format!("{}:0", loopback()), None, &[("DECNET_HOSTNAME", "db-01")]);
    let out = client(&python, &["-c", SESSION, &decoy.addr.ip().to_string(), &decoy.addr.port().to_string()], None);
    assert!(out.status.success(), "{}", text(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["version"], "7.0.2");
    assert!(result["dbs"].as_array().unwrap().iter().any(|d| d == "shop"), "{result}");
    assert_eq!(result["collections"], serde_json::json!(["customers", "users"]));
    assert!(result["users"].as_array().unwrap().iter().any(|u| u == "admin"), "{result}");
    assert!(result["hashes"].as_array().unwrap().iter().all(|h| h == "$2b$12$"), "{result}");
    assert_eq!(result["login"], 18, "AuthenticationFailed");

    let find = decoy.wait_kind("command", |e| e["command"] == "find");
    assert_schema(&find, "mongodb");
    assert_eq!((find["details"]["db"].as_str(), find["details"]["collection"].as_str()), (Some("shop"), Some("users")));
    assert_eq!(find["details"]["filter"], serde_json::json!({"role": {"$ne": "x"}}));
    decoy.wait_kind("command", |e| e["command"] == "listDatabases");
    let login = decoy.wait_kind("auth_attempt", |e| e["principal"] == "admin");
    assert_eq!(login["details"]["mechanism"], "SCRAM-SHA-256");
    assert_eq!(login["details"]["db"], "admin");
    assert!(login["details"]["client_nonce"].as_str().is_some_and(|n| n.len() >= 24), "{login}");
}

#[test]
fn nmap_names_mongodb_and_its_version() {
    let decoy = Decoy::start("mongodb", &format!("{}:27017", loopback()), None, &[]);
    let line = nmap_version(decoy.addr);
    assert!(line.contains("MongoDB 7.0.2"), "{line}");
}
