//! The docker_api decoy against the real docker CLI and nmap.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::process::{Command, Stdio};

use common::{Decoy, assert_schema, loopback, nmap_version};

/// `docker <args>` against the decoy, with a throwaway client configuration; its exit
/// code, standard output and standard error.
fn docker(decoy: &Decoy, config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg("docker")
        .args(args)
        .env("DOCKER_HOST", format!("tcp://{}", decoy.addr))
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .stdin(Stdio::null())
        .output()
        .expect("the docker CLI (installed by scripts/test-deps.sh)");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_docker_cli_sees_an_engine_and_runs_and_execs_are_recorded() {
    let mut decoy = Decoy::start(
        "docker_api",
        &format!("{}:0", loopback()),
        None,
        &[("DECNET_HOSTNAME", "build-01"), ("DECNET_DISTRO", "ubuntu22")],
    );
    let config = tempfile::tempdir().unwrap();

    let (code, out, err) = docker(&decoy, config.path(), &["version"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Server: Docker Engine - Community") && out.contains("API version:"), "{out}");
    assert!(!out.contains("FAKE"));
    let request = decoy.wait_kind("request", |e| e["details"]["path"].as_str().unwrap().ends_with("/version"));
    assert_schema(&request, "docker_api");

    let (code, out, err) = docker(&decoy, config.path(), &["info"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("Name: build-01") && out.contains("Operating System: Ubuntu 22.04"), "{out}");
    assert!(out.contains("Storage Driver: overlay2"), "{out}");

    let (code, out, err) = docker(&decoy, config.path(), &["ps"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("nginx:1.25") && out.contains("web"), "{out}");

    let (code, out, err) = docker(&decoy, config.path(), &["run", "--rm", "alpine", "id"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("uid=0(root)"), "{out}{err}");
    assert!(err.contains("Pulling from library/alpine"), "{err}");
    decoy.wait_kind("command", |e| e["details"]["action"] == "pull" && e["details"]["image"] == "alpine:latest");
    let start = decoy.wait_kind("command", |e| e["details"]["action"] == "start");
    assert_eq!(start["command"], "id");

    let (code, out, err) = docker(
        &decoy,
        config.path(),
        &["run", "--rm", "--privileged", "-v", "/:/mnt", "alpine", "sh", "-c", "id; uname -m"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let create =
        decoy.wait_kind("command", |e| e["details"]["action"] == "create" && e["details"]["privileged"] == true);
    assert_eq!(create["details"]["binds"][0], "/:/mnt");
    assert_eq!(create["command"], "id; uname -m");

    let (code, out, err) = docker(&decoy, config.path(), &["exec", "web", "sh", "-c", "id; hostname"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("uid=0(root)"), "{out}{err}");
    let exec = decoy.wait_kind("command", |e| e["details"]["action"] == "exec");
    assert_eq!(exec["command"], "id; hostname");
    assert!(decoy.alive());
}

#[test]
fn nmap_names_the_docker_engine_and_its_version() {
    let decoy = Decoy::start("docker_api", &format!("{}:2375", loopback()), None, &[]);
    let line = nmap_version(decoy.addr);
    assert!(line.contains("Docker") && (line.contains("24.0.7") || line.contains("26.1.4")), "{line}");
}
