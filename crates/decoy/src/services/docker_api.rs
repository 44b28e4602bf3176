//! `docker_api`: an unauthenticated Docker Engine API on 2375, the door cryptominer
//! campaigns and container escapes knock on.
//!
//! A Docker CE release picked per decky (engine, API version, Go, containerd and runc
//! commits), the host's kernel, OS and name from the persona, a UUID engine id, a few
//! running bait containers and local images. The real `docker` CLI works against it:
//! `/_ping`, `/version`, `/info`, `/containers/json`, `/images/json` (with or without a
//! `/v1.NN` prefix), `run` (create, a pull when the image is missing, attach, start, wait)
//! and `exec`. Nothing runs: commands are answered by the fake shell (as the image's
//! distribution would answer them), pulls by a made-up progress stream, and no container
//! or image is ever created. Created containers, execs and pulled image names live in
//! bounded memory so a client's follow-up calls find them.
//!
//! Recorded, besides each `request` event (from the http decoy's reader): `command` events
//! for `create` (image, command, binds, privileged, network and pid modes, capabilities:
//! the classic host-mount escape), `start`, `exec` (the command line), `pull`, `kill`,
//! `delete`.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::Config;
use crate::event::{Fields, Kind};
use crate::persona::Persona;
use crate::server::{Conn, Decoy, End};
use crate::services::http::{self, Head, Incoming, Request};
use crate::services::shell::Shell;

/// Containers, execs and pulled images remembered (oldest forgotten first).
const MAX_REMEMBERED: usize = 64;
/// How long an attach or wait waits for its container to be started.
const START_WAIT: Duration = Duration::from_secs(30);

/// A Docker CE release.
#[derive(Debug, Clone, Copy)]
struct Release {
    version: &'static str,
    api: &'static str,
    go: &'static str,
    commit: &'static str,
    built: &'static str,
    containerd: (&'static str, &'static str),
    runc: (&'static str, &'static str),
}

const RELEASES: &[Release] = &[
    Release {
        version: "24.0.7",
        api: "1.43",
        go: "go1.20.10",
        commit: "311b9ff",
        built: "2023-10-26T09:08:02.000000000+00:00",
        containerd: ("1.6.25", "d8f198a4ed8892c764191ef7b3b06d8a2eeb5c7f"),
        runc: ("1.1.10", "v1.1.10-0-g18a0cb0"),
    },
    Release {
        version: "26.1.4",
        api: "1.45",
        go: "go1.21.11",
        commit: "de5c9cf",
        built: "2024-06-05T11:29:27.000000000+00:00",
        containerd: ("1.6.33", "d2d58213f83a351ca8f528a95fbd145f5654e957"),
        runc: ("1.1.12", "v1.1.12-0-g51d5e94"),
    },
];

/// A bait container: name, image, command, published port (host, container), days up.
type Bait = (&'static str, &'static str, &'static str, Option<(u16, u16)>, u64);

const BAIT_CONTAINERS: &[Bait] = &[
    ("web", "nginx:1.25", "/docker-entrypoint.sh nginx -g 'daemon off;'", Some((80, 80)), 23),
    ("db", "postgres:15", "docker-entrypoint.sh postgres", None, 23),
    ("cache", "redis:7-alpine", "docker-entrypoint.sh redis-server", None, 23),
    ("api", "registry.internal:5000/shop/api:2.3.1", "node server.js", Some((8080, 3000)), 6),
];

/// A container an attacker created.
#[derive(Debug)]
struct Created {
    id: String,
    name: String,
    image: String,
    command: String,
    created: i64,
    /// `--rm`: gone once it has run (never listed).
    auto_remove: bool,
    /// The output and exit status once started.
    done: watch::Sender<Option<(String, u32)>>,
}

/// An exec instance: its container's image, the command line, its exit status once run.
#[derive(Debug)]
struct Exec {
    id: String,
    container: String,
    image: String,
    command: String,
    status: Option<u32>,
}

#[derive(Debug, Default)]
struct State {
    containers: VecDeque<Created>,
    execs: VecDeque<Exec>,
    pulled: VecDeque<String>,
}

/// The docker_api decoy.
#[derive(Debug)]
pub struct DockerApi {
    release: Release,
    persona: Persona,
    engine_id: String,
    state: Mutex<State>,
}

/// `alpine` → `alpine:latest`; a registry prefix of Docker Hub's library is dropped.
pub fn normalize_image(image: &str) -> String {
    let image = image.trim().trim_start_matches("docker.io/").trim_start_matches("library/");
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || last.contains('@') { image.to_owned() } else { format!("{image}:latest") }
}

/// The path without its `/v1.NN` prefix and query.
pub fn route_path(target: &str) -> &str {
    let path = target.split('?').next().unwrap_or(target);
    if let Some(rest) = path.strip_prefix("/v")
        && let Some((version, tail)) = rest.split_once('/')
        && !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return path.get(path.len() - tail.len() - 1..).unwrap_or(path);
    }
    path
}

/// A query parameter's value (percent-decoding the few escapes image names carry).
fn query_param(target: &str, name: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.replace("%2F", "/").replace("%2f", "/").replace("%3A", ":").replace("%3a", ":"))
    })
}

/// The shell line a container command stands for (`sh -c "..."` is the line itself).
fn command_line(words: &[String]) -> String {
    match words {
        [shell, flag, line, ..] if flag == "-c" && shell.ends_with("sh") => line.clone(),
        _ => words.join(" "),
    }
}

fn words(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().take(64).filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(text)) => vec![text.clone()],
        _ => Vec::new(),
    }
}

/// The distribution a container of `image` shows.
fn image_distro(image: &str) -> &'static str {
    let name = image.rsplit('/').next().unwrap_or(image);
    if name.starts_with("alpine") || name.contains("-alpine") || name.contains(":alpine") {
        "alpine"
    } else if name.starts_with("ubuntu") {
        "ubuntu22"
    } else if name.starts_with("centos") || name.starts_with("rocky") || name.starts_with("fedora") {
        "rocky9"
    } else {
        "debian"
    }
}

fn hex_id(bytes: &[u8]) -> String {
    crate::event::hex(bytes)
}

fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng(), &mut bytes);
    hex_id(&bytes)
}

/// Names Docker gives containers left unnamed: adjective_scientist.
fn random_name(id: &str) -> String {
    const LEFT: &[&str] = &["admiring", "brave", "eager", "focused", "jolly", "nifty", "quirky", "zealous"];
    const RIGHT: &[&str] = &["turing", "hopper", "lovelace", "curie", "tesla", "darwin", "noether", "ritchie"];
    let n = id.bytes().fold(0usize, |acc, b| acc.wrapping_mul(31).wrapping_add(usize::from(b)));
    format!("{}_{}", LEFT.get(n % LEFT.len()).unwrap_or(&"brave"), RIGHT.get((n / 8) % RIGHT.len()).unwrap_or(&"curie"))
}

/// What a request gets.
enum Reply {
    Json(u16, Value),
    Empty(u16),
    Text(u16, &'static str, String),
    /// The response to OPTIONS: the version headers and nothing else.
    Options,
    /// A hijacked stream of the container's output once it has run.
    Attach(watch::Receiver<Option<(String, u32)>>),
    /// A hijacked stream of an exec's output.
    ExecOutput(String),
    /// The wait for a container: the head at once (the CLI starts the container only
    /// once it has it), the exit status when it has run.
    Wait(watch::Receiver<Option<(String, u32)>>),
}

impl DockerApi {
    /// The decoy for `persona` with `config` (no keys).
    pub fn new(persona: &Persona, _config: &Config) -> Self {
        let release =
            RELEASES.get(persona.derive("docker release") as usize % RELEASES.len()).copied().unwrap_or(Release {
                version: "24.0.7",
                api: "1.43",
                go: "go1.20.10",
                commit: "311b9ff",
                built: "2023-10-26T09:08:02.000000000+00:00",
                containerd: ("1.6.25", "d8f198a4ed8892c764191ef7b3b06d8a2eeb5c7f"),
                runc: ("1.1.10", "v1.1.10-0-g18a0cb0"),
            });
        let key = persona.derive_key("docker engine id");
        let h = hex_id(&key[..16]);
        let engine_id = format!("{}-{}-4{}-a{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32]);
        Self { release, persona: persona.clone(), engine_id, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bait_id(&self, name: &str) -> String {
        hex_id(&self.persona.derive_key(&format!("docker container {name}")))
    }

    fn image_id(&self, image: &str) -> String {
        format!("sha256:{}", hex_id(&self.persona.derive_key(&format!("docker image {image}"))))
    }

    fn version(&self) -> Value {
        let r = self.release;
        json!({
            "Platform": {"Name": "Docker Engine - Community"},
            "Components": [
                {"Name": "Engine", "Version": r.version, "Details": {"ApiVersion": r.api, "Arch": "amd64",
                    "BuildTime": r.built, "Experimental": "false", "GitCommit": r.commit, "GoVersion": r.go,
                    "KernelVersion": self.persona.kernel_release, "MinAPIVersion": "1.12", "Os": "linux"}},
                {"Name": "containerd", "Version": r.containerd.0, "Details": {"GitCommit": r.containerd.1}},
                {"Name": "runc", "Version": r.runc.0, "Details": {"GitCommit": r.runc.1}},
                {"Name": "docker-init", "Version": "0.19.0", "Details": {"GitCommit": "de40ad0"}},
            ],
            "Version": r.version, "ApiVersion": r.api, "MinAPIVersion": "1.12", "GitCommit": r.commit,
            "GoVersion": r.go, "Os": "linux", "Arch": "amd64", "KernelVersion": self.persona.kernel_release,
            "BuildTime": r.built,
        })
    }

    fn info(&self, local: IpAddr) -> Value {
        let created = self.state().containers.len();
        let total = BAIT_CONTAINERS.len() + created;
        let mem = 8_331_038_720u64 + (self.persona.derive("docker mem") % 4) * 4_294_967_296;
        let d = self.persona.distro;
        let mut info = json!({
            "ID": self.engine_id, "Containers": total, "ContainersRunning": BAIT_CONTAINERS.len(),
            "ContainersPaused": 0, "ContainersStopped": created, "Images": BAIT_CONTAINERS.len() + self.state().pulled.len(),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"], ["Using metacopy", "false"],
                ["Native Overlay Diff", "true"], ["userxattr", "false"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "ipvlan", "macvlan", "null", "overlay"],
                "Authorization": null, "Log": ["awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file", "local",
                "logentries", "splunk", "syslog"]},
        });
        // In parts: one `json!` of every field passes the macro's recursion limit.
        let rest = json!({
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true,
            "CPUSet": true, "PidsLimit": true, "IPv4Forwarding": true, "BridgeNfIptables": true,
            "BridgeNfIp6tables": true, "Debug": false, "NFd": 41, "OomKillDisable": false, "NGoroutines": 57,
            "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "LoggingDriver": "json-file", "CgroupDriver": "systemd", "CgroupVersion": "2", "NEventsListener": 0,
        });
        let system = json!({
            "KernelVersion": self.persona.kernel_release, "OperatingSystem": d.pretty_name, "OSVersion": d.version_id,
            "OSType": "linux", "Architecture": "x86_64", "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": null, "AllowNondistributableArtifactsHostnames": null,
                "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {"docker.io": {"Name": "docker.io",
                "Mirrors": [], "Secure": true, "Official": true}}, "Mirrors": null},
        });
        let engine = json!({
            "NCPU": 4, "MemTotal": mem, "GenericResources": null, "DockerRootDir": "/var/lib/docker",
            "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": self.persona.hostname, "Labels": [],
            "ExperimentalBuild": false, "ServerVersion": self.release.version,
            "Runtimes": {"io.containerd.runc.v2": {"path": "runc"}, "runc": {"path": "runc"}},
            "DefaultRuntime": "runc",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
                "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": false, "Isolation": "", "InitBinary": "docker-init",
            "ContainerdCommit": {"ID": self.release.containerd.1, "Expected": self.release.containerd.1},
            "RuncCommit": {"ID": self.release.runc.1, "Expected": self.release.runc.1},
            "InitCommit": {"ID": "de40ad0", "Expected": "de40ad0"},
            "SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"],
            "Warnings": [format!("WARNING: API is accessible on http://{local}:2375 without encryption.\n         \
                Access to the remote API is equivalent to root access on the host. Refer\n         \
                to the 'Docker daemon attack surface' section in the documentation for\n         \
                more information: https://docs.docker.com/go/attack-surface/")],
        });
        for part in [rest, system, engine] {
            if let (Some(info), Value::Object(part)) = (info.as_object_mut(), part) {
                info.extend(part);
            }
        }
        info
    }

    fn containers(&self, all: bool) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut list: Vec<Value> = Vec::new();
        if all {
            for c in self.state().containers.iter().rev().filter(|c| !c.auto_remove) {
                list.push(json!({
                    "Id": c.id, "Names": [format!("/{}", c.name)], "Image": c.image, "ImageID": self.image_id(&c.image),
                    "Command": c.command, "Created": c.created, "Ports": [], "Labels": {}, "State": "exited",
                    "Status": "Exited (0) Less than a second ago", "HostConfig": {"NetworkMode": "default"},
                    "NetworkSettings": {"Networks": {}}, "Mounts": [],
                }));
            }
        }
        for (i, (name, image, command, port, days)) in BAIT_CONTAINERS.iter().enumerate() {
            let ports: Vec<Value> = port
                .iter()
                .flat_map(|(public, private)| {
                    [
                        json!({"IP": "0.0.0.0", "PrivatePort": private, "PublicPort": public, "Type": "tcp"}),
                        json!({"IP": "::", "PrivatePort": private, "PublicPort": public, "Type": "tcp"}),
                    ]
                })
                .collect();
            let ip = format!("172.17.0.{}", i + 2);
            list.push(json!({
                "Id": self.bait_id(name), "Names": [format!("/{name}")], "Image": image, "ImageID": self.image_id(image),
                "Command": command, "Created": now - i64::try_from(days * 86_400 + 3_600).unwrap_or(0), "Ports": ports,
                "Labels": {"com.docker.compose.project": "shop", "com.docker.compose.service": name},
                "State": "running", "Status": format!("Up {} weeks", (days / 7).max(1)),
                "HostConfig": {"NetworkMode": "shop_default"},
                "NetworkSettings": {"Networks": {"shop_default": {"IPAddress": ip, "Gateway": "172.17.0.1",
                    "IPPrefixLen": 16, "MacAddress": format!("02:42:ac:11:00:{:02x}", i + 2)}}},
                "Mounts": [],
            }));
        }
        Value::Array(list)
    }

    fn images(&self) -> Value {
        let pulled: Vec<String> = self.state().pulled.iter().cloned().collect();
        let names = BAIT_CONTAINERS.iter().map(|(_, image, ..)| (*image).to_owned()).chain(pulled);
        let list: Vec<Value> = names
            .map(|image| {
                let n = self.persona.derive(&format!("docker image size {image}"));
                json!({
                    "Containers": -1, "Created": 1_700_000_000 + (n % 20_000_000) as i64, "Id": self.image_id(&image),
                    "Labels": null, "ParentId": "", "RepoDigests": [format!("{}@{}", image.split(':').next().unwrap_or(""),
                    self.image_id(&format!("digest {image}")))], "RepoTags": [image], "SharedSize": -1,
                    "Size": 7_000_000 + n % 400_000_000,
                })
            })
            .collect();
        Value::Array(list)
    }

    fn has_image(&self, image: &str) -> bool {
        BAIT_CONTAINERS.iter().any(|(_, i, ..)| *i == image) || self.state().pulled.iter().any(|i| i == image)
    }

    /// The image of a container named or id-prefixed `key`, bait or created.
    fn find_container(&self, key: &str) -> Option<(String, String)> {
        if key.is_empty() {
            return None;
        }
        let key = key.trim_start_matches('/');
        if let Some(c) = self.state().containers.iter().find(|c| c.id.starts_with(key) || c.name == key) {
            return Some((c.id.clone(), c.image.clone()));
        }
        BAIT_CONTAINERS.iter().find_map(|(name, image, ..)| {
            let id = self.bait_id(name);
            (id.starts_with(key) || *name == key).then(|| (id, (*image).to_owned()))
        })
    }

    /// Runs `line` in the fake shell of a container of `image`: its output and status.
    async fn run_in(&self, container: &str, image: &str, line: &str, local: IpAddr, peer: IpAddr) -> (String, u32) {
        if line.trim().is_empty() {
            return (String::new(), 0);
        }
        let short = container.get(..12).unwrap_or(container);
        let persona = Persona::new("", container, Some(short), None, Some(image_distro(image)));
        let mut shell = Shell::new(&persona, "root", local, peer);
        let outcome = shell.run(line).await;
        (outcome.output, outcome.status)
    }

    async fn route(&self, conn: &Conn, head: &Head, body: &[u8]) -> (Reply, Option<Fields>) {
        let path = route_path(&head.path);
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let method = head.method.as_str();
        let command = |action: &str| Fields::default().detail("action", action);
        let no_such = |key: &str| Reply::Json(404, json!({"message": format!("No such container: {key}")}));
        let (local, peer) = (conn.log.local().ip(), conn.log.peer().ip());
        match (method, parts.as_slice()) {
            ("OPTIONS", _) => (Reply::Options, None),
            ("GET" | "HEAD", ["_ping"]) => (Reply::Text(200, "text/plain; charset=utf-8", "OK".into()), None),
            ("GET", ["version"]) => (Reply::Json(200, self.version()), None),
            ("GET", ["info"]) => (Reply::Json(200, self.info(local)), None),
            ("GET", ["containers", "json"]) => {
                let all = query_param(&head.path, "all").is_some_and(|v| v == "1" || v == "true");
                (Reply::Json(200, self.containers(all)), None)
            }
            ("GET", ["images", "json"]) => (Reply::Json(200, self.images()), None),
            ("POST", ["images", "create"]) => {
                let from = query_param(&head.path, "fromImage").unwrap_or_default();
                let tag = query_param(&head.path, "tag").filter(|t| !t.is_empty());
                let image = normalize_image(&match tag {
                    Some(tag) if !from.contains(':') => format!("{from}:{tag}"),
                    _ => from,
                });
                let fields = command("pull").command(format!("docker pull {image}")).detail("image", image.as_str());
                {
                    let mut state = self.state();
                    if !state.pulled.contains(&image) {
                        if state.pulled.len() >= MAX_REMEMBERED {
                            state.pulled.pop_front();
                        }
                        state.pulled.push_back(image.clone());
                    }
                }
                (Reply::Text(200, "application/json", self.pull_progress(&image)), Some(fields))
            }
            ("POST", ["containers", "create"]) => {
                let Ok(spec) = serde_json::from_slice::<Value>(body) else {
                    return (Reply::Json(400, json!({"message": "invalid JSON in request body"})), None);
                };
                let image = normalize_image(spec.get("Image").and_then(Value::as_str).unwrap_or_default());
                let entrypoint = words(spec.get("Entrypoint"));
                let cmd = words(spec.get("Cmd"));
                let all: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
                let line = command_line(&all);
                let host = spec.get("HostConfig").cloned().unwrap_or(Value::Null);
                let mut fields = command("create")
                    .command(&line)
                    .detail("image", image.as_str())
                    .detail("binds", host.get("Binds").cloned().unwrap_or(json!([])))
                    .detail("privileged", host.get("Privileged").and_then(Value::as_bool).unwrap_or(false))
                    .detail("network_mode", host.get("NetworkMode").cloned().unwrap_or(Value::Null))
                    .detail("pid_mode", host.get("PidMode").cloned().unwrap_or(Value::Null))
                    .detail("cap_add", host.get("CapAdd").cloned().unwrap_or(Value::Null));
                if let Some(mounts) = host.get("Mounts").filter(|m| !m.is_null()) {
                    fields = fields.detail("mounts", mounts.clone());
                }
                if !self.has_image(&image) {
                    let answer = json!({"message": format!("No such image: {image}")});
                    return (Reply::Json(404, answer), Some(fields.detail("outcome", "no such image")));
                }
                let id = random_id();
                let name =
                    query_param(&head.path, "name").filter(|n| !n.is_empty()).unwrap_or_else(|| random_name(&id));
                let fields = fields.detail("container", id.as_str()).detail("name", name.as_str());
                let mut state = self.state();
                if state.containers.len() >= MAX_REMEMBERED {
                    state.containers.pop_front();
                }
                state.containers.push_back(Created {
                    id: id.clone(),
                    name,
                    image,
                    command: line,
                    created: chrono::Utc::now().timestamp(),
                    auto_remove: host.get("AutoRemove").and_then(Value::as_bool).unwrap_or(false),
                    done: watch::Sender::new(None),
                });
                (Reply::Json(201, json!({"Id": id, "Warnings": []})), Some(fields))
            }
            ("POST", ["containers", key, "start"]) => {
                let found = {
                    let state = self.state();
                    state
                        .containers
                        .iter()
                        .find(|c| c.id.starts_with(key) || c.name == *key)
                        .map(|c| (c.id.clone(), c.image.clone(), c.command.clone()))
                };
                match found {
                    Some((id, image, line)) => {
                        let result = self.run_in(&id, &image, &line, local, peer).await;
                        if let Some(c) = self.state().containers.iter().find(|c| c.id == id) {
                            c.done.send_replace(Some(result));
                        }
                        let fields = command("start").command(&line).detail("container", id).detail("image", image);
                        (Reply::Empty(204), Some(fields))
                    }
                    // The bait containers are running already.
                    None if self.find_container(key).is_some() => (Reply::Empty(304), None),
                    None => (no_such(key), None),
                }
            }
            ("POST", ["containers", key, "attach"]) => {
                let receiver = self
                    .state()
                    .containers
                    .iter()
                    .find(|c| c.id.starts_with(key) || c.name == *key)
                    .map(|c| c.done.subscribe());
                match receiver {
                    Some(receiver) => (Reply::Attach(receiver), None),
                    None => (no_such(key), None),
                }
            }
            ("POST", ["containers", key, "wait"]) => {
                let receiver = self
                    .state()
                    .containers
                    .iter()
                    .find(|c| c.id.starts_with(key) || c.name == *key)
                    .map(|c| c.done.subscribe());
                match receiver {
                    Some(receiver) => (Reply::Wait(receiver), None),
                    None => (no_such(key), None),
                }
            }
            ("POST", ["containers", key, "exec"]) => {
                let Some((container, image)) = self.find_container(key) else { return (no_such(key), None) };
                let Ok(spec) = serde_json::from_slice::<Value>(body) else {
                    return (Reply::Json(400, json!({"message": "invalid JSON in request body"})), None);
                };
                let line = command_line(&words(spec.get("Cmd")));
                let id = random_id();
                let fields = Fields::default()
                    .command(&line)
                    .detail("action", "exec")
                    .detail("container", container.as_str())
                    .detail("image", image.as_str())
                    .detail("user", spec.get("User").cloned().unwrap_or(Value::Null))
                    .detail("privileged", spec.get("Privileged").and_then(Value::as_bool).unwrap_or(false));
                let mut state = self.state();
                if state.execs.len() >= MAX_REMEMBERED {
                    state.execs.pop_front();
                }
                state.execs.push_back(Exec { id: id.clone(), container, image, command: line, status: None });
                (Reply::Json(201, json!({"Id": id})), Some(fields))
            }
            ("POST", ["exec", key, "start"]) => {
                let found = self
                    .state()
                    .execs
                    .iter()
                    .find(|e| e.id == *key)
                    .map(|e| (e.container.clone(), e.image.clone(), e.command.clone()));
                let Some((container, image, line)) = found else {
                    return (Reply::Json(404, json!({"message": format!("No such exec instance: {key}")})), None);
                };
                let (output, status) = self.run_in(&container, &image, &line, local, peer).await;
                if let Some(exec) = self.state().execs.iter_mut().find(|e| e.id == *key) {
                    exec.status = Some(status);
                }
                let detached = serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|v| v.get("Detach").and_then(Value::as_bool))
                    .unwrap_or(false);
                if detached { (Reply::Empty(200), None) } else { (Reply::ExecOutput(output), None) }
            }
            ("GET", ["exec", key, "json"]) => {
                let state = self.state();
                match state.execs.iter().find(|e| e.id == *key) {
                    Some(e) => (
                        Reply::Json(
                            200,
                            json!({"ID": e.id, "Running": false, "ExitCode": e.status.unwrap_or(0),
                                "ProcessConfig": {"tty": false, "entrypoint": e.command, "arguments": [], "privileged": false},
                                "OpenStdin": false, "OpenStderr": true, "OpenStdout": true, "CanRemove": false,
                                "ContainerID": e.container, "DetachKeys": "", "Pid": 0}),
                        ),
                        None,
                    ),
                    None => (Reply::Json(404, json!({"message": format!("No such exec instance: {key}")})), None),
                }
            }
            ("GET", ["containers", key, "json"]) => match self.find_container(key) {
                Some((id, image)) => (
                    Reply::Json(
                        200,
                        json!({"Id": id, "Image": self.image_id(&image), "Config": {"Image": image, "Hostname": id.get(..12)},
                            "State": {"Status": "running", "Running": true, "ExitCode": 0}, "HostConfig": {"Privileged": false}}),
                    ),
                    None,
                ),
                None => (no_such(key), None),
            },
            ("POST", ["containers", key, action @ ("kill" | "stop" | "restart" | "pause")]) => {
                let fields = command(action).detail("container", *key);
                match self.find_container(key) {
                    Some(_) => (Reply::Empty(204), Some(fields)),
                    None => (no_such(key), Some(fields)),
                }
            }
            ("DELETE", ["containers", key]) => {
                let fields = command("delete").detail("container", *key);
                match self.find_container(key) {
                    Some(_) => (Reply::Empty(204), Some(fields)),
                    None => (no_such(key), Some(fields)),
                }
            }
            _ => (Reply::Json(404, json!({"message": "page not found"})), None),
        }
    }

    /// A pull's progress stream: layers made up from the image name.
    fn pull_progress(&self, image: &str) -> String {
        let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let repo = if name.contains('/') { name.to_owned() } else { format!("library/{name}") };
        let layer = hex_id(&self.persona.derive_key(&format!("docker layer {image}")));
        let short = layer.get(..12).unwrap_or("");
        let size = 3_400_000 + self.persona.derive(&format!("docker layer size {image}")) % 30_000_000;
        let lines = [
            json!({"status": format!("Pulling from {repo}"), "id": tag}),
            json!({"status": "Pulling fs layer", "progressDetail": {}, "id": short}),
            json!({"status": "Downloading", "progressDetail": {"current": size / 3, "total": size}, "id": short}),
            json!({"status": "Downloading", "progressDetail": {"current": size, "total": size}, "id": short}),
            json!({"status": "Verifying Checksum", "progressDetail": {}, "id": short}),
            json!({"status": "Download complete", "progressDetail": {}, "id": short}),
            json!({"status": "Extracting", "progressDetail": {"current": size, "total": size}, "id": short}),
            json!({"status": "Pull complete", "progressDetail": {}, "id": short}),
            json!({"status": format!("Digest: {}", self.image_id(&format!("digest {image}")))}),
            json!({"status": format!("Status: Downloaded newer image for {image}")}),
        ];
        lines.iter().map(|l| format!("{l}\r\n")).collect()
    }

    /// The headers every answer of dockerd carries, in Go's (sorted) order around
    /// `content_type`, then `Date`.
    fn head_lines(&self, minor: u8, status: u16, content_type: Option<&str>) -> String {
        let mut out =
            format!("HTTP/1.{} {status} {}\r\nApi-Version: {}\r\n", minor.min(1), reason(status), self.release.api);
        if let Some(content_type) = content_type {
            out.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        out.push_str(&format!(
            "Docker-Experimental: false\r\nOstype: linux\r\nServer: Docker/{} (linux)\r\nDate: {}\r\n",
            self.release.version,
            chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT")
        ));
        out
    }

    fn answer(&self, head: &Head, status: u16, content_type: Option<&str>, body: &str) -> Vec<u8> {
        let mut out = self.head_lines(head.minor, status, content_type);
        if status != 204 && status != 304 {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if head.method != "HEAD" {
            bytes.extend_from_slice(body.as_bytes());
        }
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "UPGRADED",
        304 => "Not Modified",
        other => http::reason(other),
    }
}

/// Output as a multiplexed stream (stdout frames of at most 32 KiB).
pub fn multiplexed(output: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(output.len() + 16);
    for chunk in output.as_bytes().chunks(32 * 1024) {
        out.extend_from_slice(&[1, 0, 0, 0]);
        out.extend_from_slice(&u32::try_from(chunk.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// The status line and headers of a hijacked stream.
fn upgraded(head: &Head) -> Vec<u8> {
    if head.header("upgrade").is_some() {
        b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            .to_vec()
    } else {
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n\r\n".to_vec()
    }
}

impl Decoy for DockerApi {
    fn name(&self) -> &'static str {
        "docker_api"
    }

    async fn serve(&self, conn: &mut Conn) -> End {
        loop {
            let (head, body, close) = match http::next_request(conn).await {
                Ok(Incoming::Request(Request { head, body, close })) => (head, body, close),
                Ok(Incoming::Refused(head, status)) => {
                    let answer = format!("{}\n", json!({"message": http::reason(status)}));
                    let _ = conn.write(&self.answer(&head, status, Some("application/json"), &answer)).await;
                    return End::Done;
                }
                Ok(Incoming::Malformed) => {
                    let _ = conn.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request").await;
                    return End::Violation;
                }
                Err(end) => return end,
            };
            let (reply, fields) = self.route(conn, &head, &body).await;
            if let Some(fields) = fields {
                let fields = if fields.command.is_none() {
                    fields.command(format!("{} {}", head.method, head.path))
                } else {
                    fields
                };
                conn.log.record(Kind::Command, fields).await;
            }
            let bytes = match reply {
                Reply::Json(status, value) => {
                    self.answer(&head, status, Some("application/json"), &format!("{value}\n"))
                }
                Reply::Text(status, content_type, text) => self.answer(&head, status, Some(content_type), &text),
                Reply::Empty(status) => self.answer(&head, status, None, ""),
                Reply::Options => self.answer(&head, 200, None, ""),
                Reply::ExecOutput(output) => {
                    let mut bytes = upgraded(&head);
                    bytes.extend_from_slice(&multiplexed(&output));
                    let _ = conn.write(&bytes).await;
                    return End::Done;
                }
                Reply::Wait(mut receiver) => {
                    let mut early = self.head_lines(head.minor, 200, Some("application/json"));
                    early.push_str("Transfer-Encoding: chunked\r\n\r\n");
                    if conn.write(early.as_bytes()).await.is_err() {
                        return End::Io;
                    }
                    let status = match tokio::time::timeout(START_WAIT, receiver.wait_for(Option::is_some)).await {
                        Ok(Ok(done)) => done.as_ref().map_or(0, |(_, status)| *status),
                        _ => 0,
                    };
                    let chunk = format!("{}\n", json!({"Error": null, "StatusCode": status}));
                    format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len()).into_bytes()
                }
                Reply::Attach(mut receiver) => {
                    if conn.write(&upgraded(&head)).await.is_err() {
                        return End::Io;
                    }
                    let output = match tokio::time::timeout(START_WAIT, receiver.wait_for(Option::is_some)).await {
                        Ok(Ok(done)) => done.as_ref().map(|(output, _)| output.clone()).unwrap_or_default(),
                        _ => String::new(),
                    };
                    let _ = conn.write(&multiplexed(&output)).await;
                    return End::Done;
                }
            };
            if conn.write(&bytes).await.is_err() {
                return End::Io;
            }
            if close {
                return End::Done;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes_and_image_names_are_normalized() {
        assert_eq!(route_path("/v1.43/containers/json?all=1"), "/containers/json");
        assert_eq!(route_path("/_ping"), "/_ping");
        assert_eq!(route_path("/vx/containers"), "/vx/containers");
        assert_eq!(route_path("/v1.41/"), "/");
        assert_eq!(normalize_image("alpine"), "alpine:latest");
        assert_eq!(normalize_image("docker.io/library/ubuntu:22.04"), "ubuntu:22.04");
        assert_eq!(normalize_image("registry:5000/app"), "registry:5000/app:latest");
        assert_eq!(query_param("/images/create?fromImage=alpine&tag=latest", "tag").as_deref(), Some("latest"));
        assert_eq!(command_line(&["sh".into(), "-c".into(), "curl x | sh".into()]), "curl x | sh");
        assert_eq!(command_line(&["id".into(), "-u".into()]), "id -u");
    }

    #[test]
    fn output_is_framed_as_a_multiplexed_stdout_stream() {
        assert_eq!(multiplexed("uid=0\n"), b"\x01\0\0\0\0\0\0\x06uid=0\n".to_vec());
        assert!(multiplexed("").is_empty());
        let big = "x".repeat(70_000);
        assert_eq!(multiplexed(&big).len(), 70_000 + 3 * 8);
    }

    #[test]
    fn the_engine_id_is_a_uuid_and_stable_per_decky() {
        let persona = Persona::new("t", "d", Some("build-01"), None, Some("ubuntu22"));
        let a = DockerApi::new(&persona, &Config::default());
        let b = DockerApi::new(&persona, &Config::default());
        assert_eq!(a.engine_id, b.engine_id);
        assert_eq!(a.engine_id.len(), 36);
        assert!(!a.engine_id.contains("FAKE"));
        assert_eq!(a.info("10.0.0.5".parse().unwrap())["Name"], "build-01");
    }
}
