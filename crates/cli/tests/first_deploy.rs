//! A first deploy as a new user makes it: the plain `decnet` binary of `cargo build`, no
//! decoy binary given, the README's "Using the CLI" steps on the real Docker daemon.
//! A dynamically linked decoy handed over with `--decoy-bin` is refused before anything is
//! created, with an error that names the fix.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::process::{Command, Output};

use serde_json::Value;

/// The CLI over its own database, with the Docker runtime and no decoy binary configured.
struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_decnet"))
            .args(args)
            .env("DECNET_DB", self.dir.path().join("decnet.db"))
            .env("DECNET_RUNTIME", "docker")
            // What the test suite sets for other tests is not what a new user has.
            .env_remove("DECNET_DECOY_BIN")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "decnet {args:?}: {:?}\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }
}

/// Removes every container and network labelled with the topology, and its firewall, even when the test
/// failed half way (the CLI's own teardown is what the test checks; this is the net).
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(id) = self.0.parse() {
            for step in decnet_runtime::firewall::removal(id) {
                let _ = Command::new("iptables").arg("-w").args(&step).output();
            }
        }
        let label = format!("label=decnet.topology.id={}", self.0);
        for (list, remove) in [(["ps", "-aq"], vec!["rm", "-f"]), (["network", "ls"], vec!["network", "rm"])] {
            let mut args: Vec<&str> = list.to_vec();
            if list[0] == "network" {
                args.push("-q");
            }
            args.extend(["--filter", &label]);
            let Ok(out) = Command::new("docker").args(&args).output() else { return };
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();
            if !ids.is_empty() {
                let _ = Command::new("docker").args(&remove).args(&ids).output();
            }
        }
    }
}

/// How many containers and networks Docker has with the topology's label.
fn labelled(id: &str) -> (usize, usize) {
    let label = format!("label=decnet.topology.id={id}");
    let count = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).split_whitespace().count()
    };
    (count(&["ps", "-aq", "--filter", &label]), count(&["network", "ls", "-q", "--filter", &label]))
}

/// A small topology (a DMZ and one LAN, a decky each, ssh, no host ports) in its own
/// subnet base; its id.
fn generate(cli: &Cli, name: &str, base: &str) -> String {
    let args = [
        "topology",
        "generate",
        "--name",
        name,
        "--depth",
        "1",
        "--branching",
        "1",
        "--deckies-per-lan",
        "1-1",
        "--services",
        "ssh",
        "--seed",
        "7",
        "--subnet-base",
        base,
        "--no-gateway",
    ];
    cli.json(&args)["id"].as_str().unwrap().to_owned()
}

#[test]
fn the_plain_build_deploys_a_running_decky_with_the_decoy_it_carries() {
    let cli = Cli { dir: tempfile::tempdir().unwrap() };
    let id = generate(&cli, "first", "10.224.0.0/16");
    let _cleanup = Cleanup(id.clone());
    cli.ok(&["topology", "validate", "first"]);
    cli.ok(&["topology", "deploy", "first"]);
    let shown = cli.json(&["topology", "show", "first"]);
    assert_eq!(shown["topology"]["status"], "active", "{shown}");
    let deckies = shown["deckies"].as_array().unwrap();
    assert!(!deckies.is_empty());
    for decky in deckies {
        assert_eq!(decky["state"], "running", "{decky}");
    }
    let (containers, networks) = labelled(&id);
    assert_eq!((containers, networks), (deckies.len() * 2, 2), "a base and an ssh container per decky, two LANs");
    cli.ok(&["topology", "teardown", "first"]);
    assert_eq!(labelled(&id), (0, 0), "teardown removes everything");
    cli.ok(&["topology", "delete", "first"]);
}

#[test]
fn a_dynamically_linked_decoy_is_refused_before_anything_is_created() {
    let cli = Cli { dir: tempfile::tempdir().unwrap() };
    let id = generate(&cli, "dynamic", "10.225.0.0/16");
    let _cleanup = Cleanup(id.clone());
    // This test's own executable is linked the way a plain `cargo build` links the decoy.
    let dynamic = std::env::current_exe().unwrap();
    let out = cli.run(&["topology", "deploy", "dynamic", "--decoy-bin", dynamic.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {stderr}");
    assert!(stderr.contains("dynamically linked") && stderr.contains("scripts/build-decoy.sh"), "{stderr}");
    assert_eq!(labelled(&id), (0, 0), "nothing was created");
    let shown = cli.json(&["topology", "show", "dynamic"]);
    assert_eq!(shown["topology"]["status"], "pending", "the topology was not touched: {shown}");
}
