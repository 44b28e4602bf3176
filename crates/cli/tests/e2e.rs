//! End-to-end: the real `decnet` binary, one process per command, one database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

struct Cli {
    db: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self { db: tempfile::tempdir().unwrap() }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_decnet"))
            .args(args)
            .env("DECNET_DB", self.db.path().join("decnet.db"))
            .env("DECNET_RUNTIME", "memory")
            .output()
            .unwrap()
    }

    /// Runs and expects exit code `code`; returns stdout.
    fn expect(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "decnet {args:?}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn ok(&self, args: &[&str]) -> String {
        self.expect(0, args)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }
}

const GENERATE: &[&str] =
    &["topology", "generate", "--name", "maze", "--depth", "3", "--branching", "2", "--seed", "7"];

#[test]
fn generate_deploy_mutate_teardown_delete() {
    let cli = Cli::new();
    let created = cli.json(GENERATE);
    assert_eq!(created["status"], "pending");
    let first_export = cli.ok(&["topology", "export", "maze"]);

    assert_eq!(cli.json(&["topology", "validate", "maze"])["valid"], true);
    assert_eq!(cli.json(&["topology", "deploy", "maze"])["status"], "active");

    let ops = [
        ("add_lan", json!({"name": "lan-new"})),
        ("add_decky", json!({"name": "web-1", "lan": "lan-new", "archetype": "web-server"})),
        ("attach_decky", json!({"decky": "decky-003", "lan": "lan-new"})),
        ("detach_decky", json!({"decky": "decky-003", "lan": "lan-new"})),
        ("update_decky", json!({"decky": "web-1", "services": ["http", "ssh"]})),
        ("update_lan", json!({"name": "lan-new", "x": 10.0, "y": 20.0})),
        ("remove_decky", json!({"decky": "web-1"})),
        ("remove_lan", json!({"name": "lan-new"})),
        // Refused by the planner: lan-01 is home to deckies.
        ("remove_lan", json!({"name": "lan-01"})),
    ];
    let dry = cli.json(&["topology", "mutate", "maze", "add_lan", "--payload", r#"{"name":"dry"}"#, "--dry-run"]);
    assert_eq!(dry["actions"], json!([{"action": "create_network", "lan": "dry"}]));
    let refused =
        cli.run(&["topology", "mutate", "maze", "remove_lan", "--payload", r#"{"name":"lan-01"}"#, "--dry-run"]);
    assert_eq!(refused.status.code(), Some(3), "a refused dry run exits 3");
    for (op, payload) in &ops {
        let queued = cli.json(&["topology", "mutate", "maze", op, "--payload", &payload.to_string()]);
        assert_eq!(queued["state"], "pending");
    }
    let report = cli.json(&["engine", "run", "--once"]);
    assert_eq!((report["applied"].as_u64(), report["refused"].as_u64()), (Some(8), Some(1)));

    let mutations = cli.json(&["topology", "mutations", "maze"]);
    let list = mutations.as_array().unwrap();
    assert_eq!(list.len(), 9);
    assert!(list[1..].iter().all(|m| m["state"] == "applied"), "{mutations:#}");
    assert_eq!(list[0]["state"], "failed");
    assert_eq!(list[0]["codes"], json!(["HOME_LAN_REMOVE"]));
    let failed = cli.json(&["topology", "mutations", "maze", "--state", "failed"]);
    assert_eq!(failed.as_array().unwrap().len(), 1);

    let shown = cli.json(&["topology", "show", "maze"]);
    assert_eq!(shown["topology"]["status"], "active");
    assert!(shown["deckies"].as_array().unwrap().iter().all(|d| d["state"] == "running"));

    assert_eq!(cli.json(&["topology", "teardown", "maze"])["status"], "torn_down");
    cli.ok(&["topology", "delete", "maze"]);
    cli.expect(5, &["topology", "show", "maze"]);

    // Same seed and parameters: byte-identical export.
    cli.ok(GENERATE);
    assert_eq!(cli.ok(&["topology", "export", "maze"]), first_export);
}

#[test]
fn defect_22_cli_mutate_respects_the_gates_and_exit_codes_are_the_documented_ones() {
    let cli = Cli::new();
    cli.expect(2, &["topology", "generate", "--name", "x", "--depth", "17"]);
    cli.expect(2, &["topology", "generate", "--name", "Bad.Name"]);
    cli.expect(5, &["topology", "show", "nope"]);
    cli.ok(GENERATE);
    // Enqueue on a pending topology: its status forbids it.
    cli.expect(4, &["topology", "mutate", "maze", "add_lan", "--payload", r#"{"name":"x"}"#]);
    cli.ok(&["topology", "deploy", "maze"]);
    cli.expect(3, &["topology", "mutate", "maze", "explode", "--payload", "{}"]);
    cli.expect(3, &["topology", "mutate", "maze", "add_lan", "--payload", r#"{"nom":"x"}"#]);
    cli.expect(2, &["topology", "mutate", "maze", "add_lan", "--payload", "{not json"]);
    cli.expect(
        4,
        &["topology", "mutate", "maze", "add_lan", "--payload", r#"{"name":"x"}"#, "--expected-version", "0"],
    );
    cli.expect(4, &["topology", "delete", "maze"]);
    cli.expect(4, &["topology", "generate", "--name", "maze"]);
    let refused = cli.run(&["topology", "mutate", "maze", "explode", "--json"]);
    let body: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(body["issues"][0]["code"], "UNKNOWN_OP");
}

#[test]
fn create_from_yaml_allocates_what_the_file_leaves_out() {
    let cli = Cli::new();
    let file = cli.db.path().join("lab.yaml");
    std::fs::write(
        &file,
        "name: lab\nlans:\n  - name: dmz\n    is_dmz: true\n  - name: office\n\
         deckies:\n  - name: gw\n    home_lan: dmz\n    networks: [{lan: dmz}]\n    services: [ssh]\n    forwards_l3: true\n\
         \x20 - name: pc\n    home_lan: office\n    networks: [{lan: office}, {lan: dmz}]\n    forwards_l3: true\n    archetype: windows-workstation\n    services: [smb, rdp]\n",
    )
    .unwrap();
    cli.ok(&["topology", "create", "--from", file.to_str().unwrap()]);
    let shown = cli.json(&["topology", "show", "lab"]);
    let lans = shown["lans"].as_array().unwrap();
    assert!(lans.iter().all(|l| l["subnet"].as_str().unwrap().starts_with("172.")), "{lans:?}");
    assert_eq!(cli.json(&["topology", "validate", "lab"])["valid"], true);

    let broken = cli.db.path().join("broken.json");
    std::fs::write(&broken, r#"{"name": "broken", "lans": [{"name": "a", "subnet": "nope"}, {"name": "a"}]}"#).unwrap();
    let out = cli.run(&["topology", "create", "--from", broken.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<_> = body["issues"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["SUBNET_MALFORMED", "LAN_NAME_DUP"]);
    cli.expect(2, &["topology", "create", "--from", Path::new("/nonexistent/file").to_str().unwrap()]);
}

/// Placement is stored: what one process sets, the next reads; refusals change nothing.
#[test]
fn topology_place_stores_pins_that_topology_placement_shows() {
    let cli = Cli::new();
    cli.ok(GENERATE);
    let shown = cli.json(&["topology", "show", "maze"]);
    let decky = shown["deckies"][0]["name"].as_str().unwrap().to_owned();
    let pin = format!("{decky}=node-1");
    let placed =
        cli.json(&["topology", "place", "maze", "--policy", "pack", "--pin", &pin, "--pin-lan", "lan-00=node-2"]);
    assert_eq!(placed["policy"], "pack");
    assert_eq!(placed["deckies"], json!({ decky.clone(): "node-1" }));
    assert_eq!(placed["lans"], json!({ "lan-00": "node-2" }));
    assert_eq!(cli.json(&["topology", "placement", "maze"]), placed, "read back by another process");
    let table = cli.ok(&["topology", "placement", "maze"]);
    assert!(table.contains("policy pack, 2 pins") && table.contains("node-1") && table.contains("lan-00"), "{table}");

    cli.expect(3, &["topology", "place", "maze", "--pin", "nobody=node-1"]);
    cli.expect(3, &["topology", "place", "maze", "--pin", &format!("{decky}=bad node")]);
    cli.expect(2, &["topology", "place", "maze", "--pin", "no-equals-sign"]);
    cli.expect(5, &["topology", "place", "nowhere"]);
    assert_eq!(cli.json(&["topology", "placement", "maze"]), placed, "refusals changed nothing");
    assert_eq!(cli.json(&["incidents"]), json!({ "incidents": [] }), "placing is no incident");
    cli.expect(2, &["incidents", "--severity", "loud"]);
    let config = cli.db.path().join("decnet.yaml");
    std::fs::write(
        &config,
        "sinks:\n  - name: hook\n    spool_max_events: 500\n    webhook: { url: \"http://127.0.0.1:9/\" }\n",
    )
    .unwrap();
    let status = cli.json(&["status", "--config", config.to_str().unwrap(), "--events-max-rows", "2000"]);
    assert!(status["events"]["rows"].as_i64().unwrap() >= 1, "the topology's events: {status}");
    assert_eq!(status["events"]["max_rows"], 2000);
    assert_eq!(
        status["sinks"][0],
        json!({ "name": "hook", "kind": "webhook", "spooled": 0, "spool_max_events": 500, "file_bytes": null, "file_max_bytes": null })
    );
    assert!(cli.ok(&["status"]).contains("event log: events"));
    let cleared = cli.json(&["topology", "place", "maze"]);
    assert_eq!((&cleared["policy"], &cleared["deckies"]), (&json!(null), &json!({})), "replaced whole");
}

#[test]
fn catalogue_commands_list_services_and_archetypes() {
    let cli = Cli::new();
    assert_eq!(cli.json(&["services"])["details"].as_array().unwrap().len(), 29);
    assert_eq!(cli.json(&["archetypes"])["archetypes"].as_array().unwrap().len(), 15);
    let help = cli.ok(&["--help"]);
    assert!(help.contains("Exit codes:"), "{help}");
}

/// A child process that is killed if the test fails before it exits.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) until `check` holds, re-reading the observable state each time.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn a_running_engine_applies_mutations_queued_by_another_process_and_stops_on_sigterm() {
    let cli = Cli::new();
    cli.ok(GENERATE);
    cli.ok(&["topology", "deploy", "maze"]);
    let mut engine = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_decnet"))
            .args(["engine", "run", "--poll-ms", "20"])
            .env("DECNET_DB", cli.db.path().join("decnet.db"))
            .env("DECNET_RUNTIME", "memory")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    cli.ok(&["topology", "mutate", "maze", "add_lan", "--payload", r#"{"name":"late"}"#]);
    eventually("the mutation to be applied", || cli.json(&["topology", "mutations", "maze"])[0]["state"] == "applied");
    let killed = Command::new("kill").args(["-TERM", &engine.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = engine.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "graceful shutdown on SIGTERM");
}

#[test]
fn an_unreachable_docker_daemon_is_named_in_the_error() {
    let cli = Cli::new();
    cli.ok(GENERATE);
    let out = Command::new(env!("CARGO_BIN_EXE_decnet"))
        .args(["--runtime", "docker", "topology", "deploy", "maze"])
        .env("DECNET_DB", cli.db.path().join("decnet.db"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unix:///nonexistent/docker.sock"), "{stderr}");
    // Designing needs no daemon: the topology is still pending and listed.
    assert_eq!(cli.json(&["topology", "show", "maze"])["topology"]["status"], "pending");
}

#[test]
fn the_compose_export_is_a_valid_compose_file_of_the_same_containers() {
    let cli = Cli::new();
    cli.ok(GENERATE);
    let compose = cli.ok(&["topology", "export", "maze", "--format", "compose"]);
    let file = cli.db.path().join("maze-compose.yml");
    std::fs::write(&file, &compose).unwrap();
    // Docker's own Compose tool accepts it.
    let checked = Command::new("docker-compose").args(["-f", file.to_str().unwrap(), "config", "-q"]).output().unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    let doc: Value = serde_saphyr::from_str(&compose).unwrap();
    let shown = cli.json(&["topology", "show", "maze"]);
    let deckies = shown["deckies"].as_array().unwrap();
    let containers: usize = deckies.iter().map(|d| 1 + d["services"].as_array().unwrap().len()).sum();
    assert_eq!(doc["services"].as_object().unwrap().len(), containers);
    assert_eq!(doc["networks"].as_object().unwrap().len(), shown["lans"].as_array().unwrap().len());
    for decky in deckies {
        let name = decky["name"].as_str().unwrap();
        assert_eq!(doc["services"][name]["read_only"], true);
        for service in decky["services"].as_array().unwrap() {
            let key = format!("{name}_{}", service.as_str().unwrap());
            assert_eq!(doc["services"][&key]["network_mode"], format!("service:{name}"));
        }
    }
}

#[test]
fn events_lists_the_recorded_log_with_filters() {
    let cli = Cli::new();
    cli.ok(GENERATE);
    cli.ok(&["topology", "deploy", "maze"]);
    let lines = cli.ok(&["events", "--topology", "maze", "--json"]);
    let events: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events[0]["kind"], "topology.created");
    assert!(events.windows(2).all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()), "oldest first");
    let statuses = cli.ok(&["events", "--topology", "maze", "--type", "topology.status", "--json"]);
    let to: Vec<Value> =
        statuses.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["payload"]["to"].clone()).collect();
    assert_eq!(to, [json!("deploying"), json!("active")]);
    let last_two = cli.ok(&["events", "--topology", "maze", "--limit", "2", "--json"]);
    assert_eq!(last_two.lines().count(), 2);
    let table = cli.ok(&["events", "--topology", "maze", "--type", "topology.status"]);
    assert!(table.contains("topology.status") && table.contains("to=active"), "{table}");
    cli.expect(5, &["events", "--topology", "nowhere"]);
}

#[test]
fn a_dmz_on_a_host_interface_is_generated_shown_exported_and_refused_when_incomplete() {
    let cli = Cli::new();
    let link = [
        "--dmz-interface",
        "eth7",
        "--dmz-subnet",
        "192.168.60.0/24",
        "--dmz-gateway",
        "192.168.60.1",
        "--dmz-range",
        "192.168.60.128/28",
    ];
    let mut args = vec!["topology", "generate", "--name", "edge", "--depth", "1", "--seed", "4", "--dmz", "macvlan"];
    args.extend(link);
    cli.ok(&args);
    let table = cli.ok(&["topology", "show", "edge"]);
    assert!(table.contains("(DMZ, macvlan on eth7)") && table.contains("192.168.60.128"), "{table}");
    let exported: Value = serde_json::from_str(&cli.ok(&["topology", "export", "edge"])).unwrap();
    let dmz = exported["lans"].as_array().unwrap().iter().find(|l| l["is_dmz"] == true).unwrap().clone();
    assert_eq!(
        dmz["attachment"],
        json!({ "mode": "macvlan", "interface": "eth7", "gateway": "192.168.60.1", "ip_range": "192.168.60.128/28" })
    );
    let compose = cli.ok(&["topology", "export", "edge", "--format", "compose"]);
    let file = cli.db.path().join("edge-compose.yml");
    std::fs::write(&file, &compose).unwrap();
    let checked = Command::new("docker-compose").args(["-f", file.to_str().unwrap(), "config", "-q"]).output().unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    let doc: Value = serde_saphyr::from_str(&compose).unwrap();
    let network = doc["networks"].as_object().unwrap().values().find(|n| n["driver"] == "macvlan").unwrap().clone();
    assert_eq!(network["driver_opts"], json!({ "parent": "eth7", "macvlan_mode": "bridge" }), "{network}");
    assert_eq!(network["ipam"]["config"][0]["ip_range"], "192.168.60.128/28", "{network}");
    assert_eq!(cli.json(&["topology", "deploy", "edge"])["status"], "active");

    // Incomplete or contradictory flags are usage errors; a range off the subnet and a
    // hostile interface name are refused by field; nothing is created.
    cli.expect(2, &["topology", "generate", "--name", "half", "--dmz", "ipvlan", "--dmz-interface", "eth7"]);
    cli.expect(2, &["topology", "generate", "--name", "half", "--dmz-interface", "eth7"]);
    let mut off = vec!["topology", "generate", "--name", "off", "--dmz", "macvlan"];
    off.extend(link);
    let last = off.len() - 1;
    off[last] = "10.9.9.0/28";
    let out = cli.run(&off);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dmz_attachment"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut hostile = vec!["topology", "generate", "--name", "bad", "--dmz", "macvlan"];
    hostile.extend(link);
    hostile[7] = "eth0;reboot";
    let out = cli.run(&hostile);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Linux interface name"), "{out:?}");
    let listed = cli.json(&["topology", "list"]);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
}
