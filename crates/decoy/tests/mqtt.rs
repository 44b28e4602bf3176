//! The MQTT broker against Mosquitto's own clients (`mosquitto_sub`, `mosquitto_pub`) in
//! MQTT 3.1, 3.1.1 and 5, and nmap's version probe and `mqtt-subscribe` script.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::{Decoy, assert_schema, client, loopback, nmap_version, text};
use serde_json::json;

fn target(decoy: &Decoy) -> [String; 4] {
    ["-h".into(), decoy.addr.ip().to_string(), "-p".into(), decoy.addr.port().to_string()]
}

fn run(program: &str, decoy: &Decoy, args: &[&str]) -> (Option<i32>, String) {
    let target = target(decoy);
    let mut all: Vec<&str> = target.iter().map(String::as_str).collect();
    all.extend_from_slice(args);
    let out = client(program, &all, None);
    (out.status.code(), text(&out))
}

#[test]
fn an_open_broker_serves_retained_topics_and_records_what_clients_do() {
    let mut decoy = Decoy::start("mqtt", &format!("{}:0", loopback()), None, &[("DECNET_DISTRO", "debian")]);

    // Anonymous, 3.1.1: $SYS tells the broker's version; the subscription is recorded.
    let (code, out) =
        run("mosquitto_sub", &decoy, &["-i", "probe-1", "-t", "$SYS/broker/version", "-C", "1", "-v", "-W", "10"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.trim(), "$SYS/broker/version mosquitto version 2.0.11");
    let login = decoy.wait_kind("auth_attempt", |e| e["details"]["client_id"] == "probe-1");
    assert_schema(&login, "mqtt");
    assert_eq!(login["details"]["method"], "anonymous");
    assert_eq!(login["details"]["protocol_level"], 4);
    assert_eq!(login["details"]["outcome"], "success");
    let sub = decoy.wait_kind("command", |e| e["details"]["verb"] == "SUBSCRIBE");
    assert_eq!(sub["details"]["topics"], json!(["$SYS/broker/version"]));

    // MQTT 5 and `#`: the sensor topics, not $SYS.
    let (code, out) = run("mosquitto_sub", &decoy, &["-V", "mqttv5", "-t", "#", "-C", "3", "-v", "-W", "10"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.lines().count() == 3 && !out.contains("$SYS") && out.contains("/status online"), "{out}");
    decoy.wait_kind("auth_attempt", |e| e["details"]["protocol_level"] == 5);

    // A publish at QoS 1 with a login (any login gets in when none is configured), 3.1.
    let (code, out) = run(
        "mosquitto_pub",
        &decoy,
        &["-V", "mqttv31", "-u", "admin", "-P", "hunter2", "-q", "1", "-t", "cmd/relay1", "-m", "{\"on\":true}"],
    );
    assert_eq!(code, Some(0), "{out}");
    let publish = decoy.wait_kind("command", |e| e["details"]["verb"] == "PUBLISH");
    assert_eq!(publish["command"], "PUBLISH cmd/relay1");
    assert_eq!(publish["details"]["payload"], "{\"on\":true}");
    assert_eq!(publish["details"]["qos"], 1);
    let login = decoy.wait_kind("auth_attempt", |e| e["principal"] == "admin");
    assert_eq!(login["secret"]["value"], "hunter2");
    assert_eq!(login["details"]["protocol"], "MQIsdp");
    assert_eq!(login["details"]["protocol_level"], 3);
    decoy.wait_kind("disconnect", |e| e["details"]["reason"] == "quit");
}

#[test]
fn a_locked_broker_refuses_wrong_logins_and_anonymous_clients() {
    let config = json!({ "anonymous": false, "user": "sensor-gw", "user_password": "Gr33nhouse!" });
    let mut decoy = Decoy::start("mqtt", &format!("{}:0", loopback()), Some(config), &[]);

    let (code, out) = run("mosquitto_pub", &decoy, &["-u", "admin", "-P", "admin", "-t", "a", "-m", "x"]);
    assert_ne!(code, Some(0));
    assert!(out.contains("bad user name or password"), "{out}");
    let refused = decoy.wait_kind("auth_attempt", |e| e["principal"] == "admin");
    assert_eq!(refused["details"]["outcome"], "failure");

    let (code, out) = run("mosquitto_pub", &decoy, &["-t", "a", "-m", "x"]);
    assert_ne!(code, Some(0));
    assert!(out.contains("not authorised"), "{out}");

    let (code, out) = run("mosquitto_pub", &decoy, &["-V", "mqttv5", "-u", "admin", "-P", "x", "-t", "a", "-m", "x"]);
    assert_ne!(code, Some(0));
    assert!(out.to_lowercase().contains("bad user name or password"), "{out}");

    let (code, out) =
        run("mosquitto_pub", &decoy, &["-u", "sensor-gw", "-P", "Gr33nhouse!", "-t", "plant/valve", "-m", "open"]);
    assert_eq!(code, Some(0), "{out}");
    let accepted = decoy.wait_kind("auth_attempt", |e| e["principal"] == "sensor-gw");
    assert_eq!(accepted["details"]["outcome"], "success");
    decoy.wait_kind("command", |e| e["command"] == "PUBLISH plant/valve" && e["details"]["payload"] == "open");
}

#[test]
fn nmap_names_mqtt_and_mqtt_subscribe_reads_the_brokers_topics() {
    let mut decoy = Decoy::start("mqtt", &format!("{}:1883", loopback()), None, &[("DECNET_DISTRO", "ubuntu20")]);
    let line = nmap_version(decoy.addr);
    // -sV runs mqtt-subscribe (a version script), which names the broker from $SYS.
    assert!(line.starts_with("1883/tcp open  mosquitto version 1.6.9"), "{line}");

    let scan = text(&client(
        "nmap",
        &[
            "-Pn",
            "-n",
            "-p",
            "1883",
            "--script",
            "mqtt-subscribe",
            "--script-args",
            "mqtt-subscribe.listen-time=3s",
            &decoy.addr.ip().to_string(),
        ],
        None,
    ));
    assert!(scan.contains("$SYS/broker/version: mosquitto version 1.6.9"), "{scan}");
    assert!(scan.contains("$SYS/broker/uptime: "), "{scan}");
    decoy.wait_kind("command", |e| e["details"]["verb"] == "SUBSCRIBE");
}
