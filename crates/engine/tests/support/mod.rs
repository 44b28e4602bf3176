//! What the Docker-backed engine tests share: the decoy binary, a lab (store, Docker
//! runtime, engine), generated topologies in a test's own subnet base, a cleanup guard
//! and probes from inside a decky's namespace.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test file uses part of it.

use std::process::Command;
use std::sync::Arc;

use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{Name, Topology, TopologyId};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::{DecoyBinary, DockerRuntime, spec};
use decnet_store::SqliteStore;

pub fn decoy_bin() -> DecoyBinary {
    let path = std::env::var("DECNET_DECOY_BIN")
        .expect("DECNET_DECOY_BIN is not set: run ./scripts/test.sh, which builds the static decoy binary and sets it");
    DecoyBinary::read(path.as_ref()).unwrap()
}

/// Removes every container and network labelled with the topology, and its firewall, however the test ends.
pub struct Cleanup(pub TopologyId);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for step in decnet_runtime::firewall::removal(self.0) {
            let _ = Command::new("iptables").arg("-w").args(&step).output();
        }
        let filter = format!("label=decnet.topology.id={}", self.0);
        for (kind, list) in [("rm", vec!["ps", "-aq"]), ("network", vec!["network", "ls", "-q"])] {
            let out = Command::new("docker").args(&list).args(["--filter", &filter]).output();
            let ids: Vec<String> = out
                .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
            if ids.is_empty() {
                continue;
            }
            let mut cmd = Command::new("docker");
            if kind == "rm" {
                cmd.args(["rm", "-f"]);
            } else {
                cmd.args(["network", "rm"]);
            }
            let _ = cmd.args(&ids).output();
        }
    }
}

pub struct Lab {
    pub _dir: tempfile::TempDir,
    pub engine: Engine,
    pub docker: Arc<DockerRuntime>,
    pub store: Arc<SqliteStore>,
}

pub async fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("docker.db")).await.unwrap());
    let docker = Arc::new(DockerRuntime::connect(&decoy_bin()).await.expect("the Docker daemon must answer"));
    let engine = Engine::new(store.clone(), docker.clone(), Bus::default(), EngineConfig::default());
    Lab { _dir: dir, engine, docker, store }
}

pub fn config(base: &str, gateway: bool, services: &[&str]) -> GeneratorConfig {
    GeneratorConfig {
        depth: 2,
        branching: 1,
        deckies_per_lan_min: 3,
        deckies_per_lan_max: 3,
        services: Some(services.iter().map(|s| (*s).to_owned()).collect()),
        subnet_base: base.parse().unwrap(),
        gateway,
        seed: 11,
        ..GeneratorConfig::default()
    }
}

/// Generates a topology in `base` with `services` on every decky, registers its cleanup,
/// and deploys it (asserting the deploy went through, not that it is active).
pub async fn deployed(lab: &Lab, name: &str, base: &str, services: &[&str]) -> (Arc<Topology>, Cleanup) {
    let topology = lab.engine.generate(Name::parse(name).unwrap(), config(base, false, services)).await.unwrap();
    let cleanup = Cleanup(topology.header.id);
    lab.engine.deploy(topology.header.id).await.unwrap();
    (topology, cleanup)
}

pub async fn lab_on(store: Arc<SqliteStore>, lease: std::time::Duration) -> Lab {
    let docker = Arc::new(DockerRuntime::connect(&decoy_bin()).await.unwrap());
    let engine =
        Engine::new(store.clone(), docker.clone(), Bus::default(), EngineConfig { lease, ..EngineConfig::default() });
    Lab { _dir: tempfile::tempdir().unwrap(), engine, docker, store }
}

/// Runs the decoy binary's probe inside `base`'s network namespace; true if it connected.
pub fn probe_from(image: &str, base: &str, target: &str) -> bool {
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", &format!("container:{base}"), "--read-only", "--cap-drop", "ALL"])
        .args(["--user", spec::SERVICE_USER, image, "probe", target, "--timeout-ms", "1500"])
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => true,
        Some(3) => false,
        other => panic!("probe failed to run ({other:?}): {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// A command's stdout and stderr, for assertion messages.
pub fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `program` run in network namespace `ns` (an attacker host), bounded to `secs` seconds.
pub fn in_namespace(ns: &str, secs: u32, program: &str) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns, "timeout", &secs.to_string(), program]);
    command
}

/// Every event a container wrote so far.
pub fn events(container: &str) -> Vec<serde_json::Value> {
    let out = Command::new("docker").args(["logs", container]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Waits (bounded) until an event of `container` matches.
pub fn wait_event(container: &str, what: &str, matches: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(found) = events(container).into_iter().find(|e| matches(e)) {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "no {what} event in {container}: {:#?}", events(container));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// An ssh client configuration for throwaway hosts, and an askpass that types `password`
/// (ssh -J asks twice; ssh hands `-F` and the environment on to the jump's own ssh).
pub fn client_files(dir: &std::path::Path, password: &str) -> (String, String) {
    let askpass = dir.join("askpass");
    std::fs::write(&askpass, format!("#!/bin/sh\necho '{password}'\n")).unwrap();
    std::fs::set_permissions(&askpass, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = dir.join("config");
    let text = "Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  \
                ConnectTimeout 10\n  PreferredAuthentications password\n";
    std::fs::write(&config, text).unwrap();
    (config.to_str().unwrap().to_owned(), askpass.to_str().unwrap().to_owned())
}
