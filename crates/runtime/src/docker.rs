//! The Docker Engine runtime, over the Engine API (bollard).
//!
//! Translates [`ContainerSpec`]s and [`NetworkSpec`]s into hardened containers and bridge
//! networks, observes what exists by the topology label, and treats "already exists",
//! "already connected", "not found" and "not connected" as success where that is the
//! intent. The decoy image is built here, in memory, from the static `decnet-decoy`
//! binary (`FROM scratch`), and tagged with the binary's content hash.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use async_trait::async_trait;
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::StartExecResults;
use bollard::models::{
    ContainerCreateBody, ContainerSummaryStateEnum, EndpointIpamConfig, EndpointSettings, EventMessage,
    EventMessageTypeEnum, ExecConfig, HostConfig, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};
use decnet_domain::TopologyId;
use decnet_domain::routing::Route;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::spec::{ContainerSpec, MEMORY_LIMIT, NetworkSpec, Observed, ObservedContainer, PIDS_LIMIT, Role};
use crate::{DecoyBinary, Runtime, RuntimeError, labels};

/// Docker's RFC 3339 timestamps drop trailing zeros of the fraction; with all nine digits
/// they compare as text in time order.
fn normalise_timestamp(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(|_| text.to_owned())
}

/// The Docker runtime.
pub struct DockerRuntime {
    docker: Docker,
    image: String,
}

pub(crate) fn failed(operation: &'static str, name: &str, err: &DockerError) -> RuntimeError {
    RuntimeError::Failed { operation, name: name.to_owned(), message: message(err) }
}

pub(crate) fn message(err: &DockerError) -> String {
    match err {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn status(err: &DockerError) -> Option<u16> {
    match err {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

impl DockerRuntime {
    /// Connects to the daemon named by `DOCKER_HOST` (else the local socket) and makes
    /// sure the decoy image built from `decoy` exists. A decoy the image cannot run is
    /// refused first, before the daemon is asked anything.
    pub async fn connect(decoy: &DecoyBinary) -> Result<Self, RuntimeError> {
        decoy.check_static()?;
        let where_ = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let unavailable = |err: DockerError| RuntimeError::Unavailable(format!("Docker at {where_}: {err}"));
        let docker = Docker::connect_with_defaults().map_err(unavailable)?;
        Self::on(docker, &where_, decoy).await
    }

    /// The runtime on an engine already addressed by `docker` (named `where_` in errors):
    /// the version is negotiated, the engine must answer, and the decoy image is built
    /// there unless it exists.
    pub async fn on(docker: Docker, where_: &str, decoy: &DecoyBinary) -> Result<Self, RuntimeError> {
        decoy.check_static()?;
        let unavailable = |err: DockerError| RuntimeError::Unavailable(format!("Docker at {where_}: {err}"));
        let docker = docker.negotiate_version().await.map_err(unavailable)?;
        docker.ping().await.map_err(unavailable)?;
        let image = ensure_image(&docker, decoy.bytes()).await?;
        Ok(Self { docker, image })
    }

    /// The underlying client, for callers that inspect what was created.
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

/// The image name for a decoy binary: `decnet-decoy:<first 16 hex digits of its SHA-256>`,
/// so a new binary is a new image and an unchanged one is reused.
pub fn image_tag(binary: &[u8]) -> String {
    let digest = Sha256::digest(binary);
    let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("decnet-decoy:{tag}")
}

/// Builds the image of `binary` unless it exists.
async fn ensure_image(docker: &Docker, binary: &[u8]) -> Result<String, RuntimeError> {
    let image = image_tag(binary);
    if docker.inspect_image(&image).await.is_ok() {
        return Ok(image);
    }
    let context = build_context(binary).map_err(|e| RuntimeError::Failed {
        operation: "build image",
        name: image.clone(),
        message: e.to_string(),
    })?;
    let options = BuildImageOptionsBuilder::default().dockerfile("Dockerfile").t(&image).rm(true).forcerm(true).build();
    let mut progress = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(step) = progress.next().await {
        let step = step.map_err(|e| failed("build image", &image, &e))?;
        if let Some(error) = step.error_detail.and_then(|d| d.message) {
            return Err(RuntimeError::Failed { operation: "build image", name: image, message: error });
        }
    }
    Ok(image)
}

/// Runs `iptables ARGS` (waiting for the xtables lock rather than failing on it).
async fn iptables(args: &[&str]) -> Result<(), RuntimeError> {
    let out =
        tokio::process::Command::new("iptables").arg("-w").args(args).output().await.map_err(|e| {
            RuntimeError::Failed { operation: "firewall", name: "iptables".into(), message: e.to_string() }
        })?;
    if out.status.success() {
        Ok(())
    } else {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(RuntimeError::Failed { operation: "firewall", name: args.join(" "), message })
    }
}

/// Loads `rules` with `iptables-restore --noflush` (one atomic change of the table).
async fn iptables_restore(rules: &str) -> Result<(), RuntimeError> {
    use tokio::io::AsyncWriteExt;
    let failed =
        |message: String| RuntimeError::Failed { operation: "firewall", name: "iptables-restore".into(), message };
    let mut child = tokio::process::Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(rules.as_bytes()).await.map_err(|e| failed(e.to_string()))?;
    }
    let out = child.wait_with_output().await.map_err(|e| failed(e.to_string()))?;
    if out.status.success() { Ok(()) } else { Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_owned())) }
}

/// The topology a Docker event is about, when it is a change healing must look at: one of
/// our containers dying or going away, or one of our networks going away or losing a
/// member. Containers carry the topology label; networks are recognised by their name,
/// `decnet-<32 hex digits of the id>-<lan>`.
pub(crate) fn changed_topology(event: &EventMessage) -> Option<TopologyId> {
    let action = event.action.as_deref()?;
    let attributes = event.actor.as_ref()?.attributes.as_ref()?;
    match event.typ? {
        EventMessageTypeEnum::CONTAINER if matches!(action, "die" | "destroy" | "oom") => {
            attributes.get(labels::TOPOLOGY)?.parse().ok()
        }
        EventMessageTypeEnum::NETWORK if matches!(action, "destroy" | "disconnect") => {
            let hex = attributes.get("name")?.strip_prefix("decnet-")?.get(..32)?;
            hex.parse().ok()
        }
        _ => None,
    }
}

/// A tar with a `FROM scratch` Dockerfile and the binary.
fn build_context(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let dockerfile = b"FROM scratch\nCOPY decnet-decoy /decnet-decoy\nENTRYPOINT [\"/decnet-decoy\"]\n";
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data, mode) in [("Dockerfile", &dockerfile[..], 0o644), ("decnet-decoy", binary, 0o755)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, name, data)?;
    }
    tar.into_inner()
}

fn endpoint(ip: Ipv4Addr) -> EndpointSettings {
    EndpointSettings {
        ipam_config: Some(EndpointIpamConfig { ipv4_address: Some(ip.to_string()), ..Default::default() }),
        ..Default::default()
    }
}

/// The memory a container's cgroup charges now, from the host's cgroup files: cgroup v2
/// under systemd or cgroupfs, or cgroup v1 (cgroupfs). `None` when none is readable (the
/// engine is not on the container's host, or in a container without the host's cgroups).
fn cgroup_memory(id: &str) -> Option<u64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    [
        format!("/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.current"),
        format!("/sys/fs/cgroup/docker/{id}/memory.current"),
        format!("/sys/fs/cgroup/memory/docker/{id}/memory.usage_in_bytes"),
    ]
    .iter()
    .find_map(|path| std::fs::read_to_string(path).ok()?.trim().parse().ok())
}

pub(crate) fn label_filter(topology: TopologyId) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{}={topology}", labels::TOPOLOGY)])])
}

impl DockerRuntime {
    /// Runs the decoy binary with `args` inside the running `container` (a base: the
    /// namespace's routes and links are its own), failing with what it said.
    async fn decoy_exec(&self, container: &str, operation: &'static str, args: &[&str]) -> Result<(), RuntimeError> {
        let command: Vec<String> =
            std::iter::once("/decnet-decoy").chain(args.iter().copied()).map(str::to_owned).collect();
        let config = ExecConfig {
            cmd: Some(command),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self.docker.create_exec(container, config).await.map_err(|e| match status(&e) {
            Some(404) | Some(409) => RuntimeError::Missing { kind: "running container", name: container.to_owned() },
            _ => failed(operation, container, &e),
        })?;
        let mut said = String::new();
        if let StartExecResults::Attached { mut output, .. } =
            self.docker.start_exec(&created.id, None).await.map_err(|e| failed(operation, container, &e))?
        {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(LogOutput::StdErr { message }) => said.push_str(&String::from_utf8_lossy(&message)),
                    Ok(_) => {}
                    Err(e) => return Err(failed(operation, container, &e)),
                }
            }
        }
        let done = self.docker.inspect_exec(&created.id).await.map_err(|e| failed(operation, container, &e))?;
        match done.exit_code {
            Some(0) => Ok(()),
            code => Err(RuntimeError::Failed {
                operation,
                name: container.to_owned(),
                message: format!("exit {}: {}", code.unwrap_or(-1), said.trim()),
            }),
        }
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        let mut host = HostConfig {
            readonly_rootfs: Some(true),
            security_opt: Some(vec!["no-new-privileges".into()]),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(spec.cap_add.clone()),
            memory: Some(MEMORY_LIMIT),
            pids_limit: Some(PIDS_LIMIT),
            init: Some(false),
            ..Default::default()
        };
        if matches!(spec.role, Role::Base { .. }) {
            // Where `routes set` keeps the desired routes (the root is read-only).
            host.tmpfs = Some(HashMap::from([("/run".to_owned(), "rw,size=64k,mode=0700".to_owned())]));
        }
        let mut networking = None;
        let mut later: Vec<(&String, Ipv4Addr)> = Vec::new();
        match &spec.role {
            Role::Base { networks, published, .. } => {
                host.sysctls = Some(spec.sysctls.clone().into_iter().collect());
                let mut nets = networks.iter();
                if let Some((first, ip)) = nets.next() {
                    host.network_mode = Some(first.clone());
                    networking = Some(NetworkingConfig {
                        endpoints_config: Some(HashMap::from([(first.clone(), endpoint(*ip))])),
                    });
                }
                later.extend(nets.map(|(net, ip)| (net, *ip)));
                if !published.is_empty() {
                    host.port_bindings = Some(
                        published
                            .iter()
                            .map(|(port, proto)| {
                                let binding = PortBinding { host_ip: None, host_port: Some(port.to_string()) };
                                (format!("{port}/{}", proto.as_str()), Some(vec![binding]))
                            })
                            .collect(),
                    );
                }
            }
            Role::Service { base, .. } => host.network_mode = Some(format!("container:{base}")),
        }
        let exposed: Option<Vec<String>> = match &spec.role {
            Role::Base { published, .. } if !published.is_empty() => {
                Some(published.iter().map(|(p, proto)| format!("{p}/{}", proto.as_str())).collect())
            }
            _ => None,
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            hostname: matches!(spec.role, Role::Base { .. }).then(|| spec.hostname.clone()),
            cmd: Some(spec.command.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            user: spec.user.clone(),
            labels: Some(spec.labels.clone().into_iter().collect()),
            exposed_ports: exposed,
            host_config: Some(host),
            networking_config: networking,
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| failed("create container", &spec.name, &e))?;
        for (net, ip) in later {
            self.connect(net, &spec.name, ip).await?;
        }
        match self.docker.start_container(&spec.name, None::<StartContainerOptions>).await {
            Ok(()) => Ok(()),
            // 304: already started (by another converger).
            Err(e) if status(&e) == Some(304) => Ok(()),
            Err(e) => Err(failed("start container", &spec.name, &e)),
        }
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> &'static str {
        "docker"
    }

    fn image(&self) -> &str {
        &self.image
    }

    fn follow_logs(&self, container: &str, since: Option<&str>) -> Option<tokio::sync::mpsc::Receiver<crate::LogLine>> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let docker = self.docker.clone();
        let container = container.to_owned();
        let since = since.map(normalise_timestamp);
        // Docker filters by whole seconds; lines of that second up to `since` are skipped here.
        let since_secs = since
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map_or(0, |t| i32::try_from(t.timestamp()).unwrap_or(0));
        tokio::spawn(async move {
            let options =
                LogsOptionsBuilder::default().follow(true).stdout(true).timestamps(true).since(since_secs).build();
            let mut logs = docker.logs(&container, Some(options));
            while let Some(Ok(output)) = logs.next().await {
                let bollard::container::LogOutput::StdOut { message } = output else { continue };
                for raw in String::from_utf8_lossy(&message).lines() {
                    let (at, line) = raw.split_once(' ').unwrap_or(("", raw));
                    let at = normalise_timestamp(at);
                    if since.as_deref().is_some_and(|s| at.as_str() <= s) {
                        continue;
                    }
                    if tx.send(crate::LogLine { at, line: line.to_owned() }).await.is_err() {
                        return;
                    }
                }
            }
        });
        Some(rx)
    }

    fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<TopologyId>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let docker = self.docker.clone();
        tokio::spawn(async move {
            let filters = HashMap::from([("type".to_owned(), vec!["container".to_owned(), "network".to_owned()])]);
            let mut events = docker.events(Some(EventsOptionsBuilder::default().filters(&filters).build()));
            while let Some(event) = events.next().await {
                let Ok(event) = event else { continue };
                if let Some(topology) = changed_topology(&event)
                    && tx.send(topology).is_err()
                {
                    return;
                }
            }
        });
        Some(rx)
    }

    async fn observe(&self, topology: TopologyId) -> Result<Observed, RuntimeError> {
        let unavailable = |e: DockerError| RuntimeError::Unavailable(message(&e));
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&label_filter(topology)).build()))
            .await
            .map_err(unavailable)?;
        let containers = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default().all(true).filters(&label_filter(topology)).build(),
            ))
            .await
            .map_err(unavailable)?;
        let mut observed = Observed::default();
        for network in networks {
            if let Some(name) = network.name {
                observed.networks.insert(name, network.labels.unwrap_or_default().into_iter().collect());
            }
        }
        for container in containers {
            let Some(name) = container.names.and_then(|n| n.into_iter().next()) else { continue };
            let name = name.trim_start_matches('/').to_owned();
            let networks: BTreeMap<String, Ipv4Addr> = container
                .network_settings
                .and_then(|s| s.networks)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(net, settings)| {
                    let ip = settings.ipam_config.and_then(|c| c.ipv4_address).or(settings.ip_address)?;
                    Some((net, ip.parse().ok()?))
                })
                .collect();
            observed.containers.insert(
                name.clone(),
                ObservedContainer {
                    name,
                    running: container.state == Some(ContainerSummaryStateEnum::RUNNING),
                    labels: container.labels.unwrap_or_default().into_iter().collect(),
                    networks,
                },
            );
        }
        Ok(observed)
    }

    async fn decoy_memory(&self) -> Vec<(String, u64)> {
        let services = HashMap::from([("label".to_owned(), vec![format!("{}=service", labels::ROLE)])]);
        let options = ListContainersOptionsBuilder::default().filters(&services).build();
        let Ok(containers) = self.docker.list_containers(Some(options)).await else { return Vec::new() };
        containers
            .into_iter()
            .filter_map(|c| {
                let service = c.labels?.get(labels::SERVICE)?.clone();
                Some((service, cgroup_memory(&c.id?)?))
            })
            .collect()
    }

    async fn owners(&self) -> Result<std::collections::BTreeSet<TopologyId>, RuntimeError> {
        let unavailable = |e: DockerError| RuntimeError::Unavailable(message(&e));
        // A label filter without a value matches every resource carrying the key.
        let ours = HashMap::from([("label".to_owned(), vec![labels::TOPOLOGY.to_owned()])]);
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&ours).build()))
            .await
            .map_err(unavailable)?;
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&ours).build()))
            .await
            .map_err(unavailable)?;
        let labels =
            networks.into_iter().filter_map(|n| n.labels).chain(containers.into_iter().filter_map(|c| c.labels));
        Ok(labels.filter_map(|l| l.get(labels::TOPOLOGY)?.parse().ok()).collect())
    }

    async fn ensure_network(&self, spec: &NetworkSpec) -> Result<(), RuntimeError> {
        let (driver, options) = match &spec.link {
            // Named so the topology's firewall can name it (`firewall::bridge_name`).
            None => (
                "bridge",
                HashMap::from([("com.docker.network.bridge.name", crate::firewall::bridge_name(&spec.name))]),
            ),
            Some(link) if link.driver == "ipvlan" => {
                ("ipvlan", HashMap::from([("parent", link.parent.clone()), ("ipvlan_mode", "l2".to_owned())]))
            }
            Some(link) => {
                ("macvlan", HashMap::from([("parent", link.parent.clone()), ("macvlan_mode", "bridge".to_owned())]))
            }
        };
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some(driver.into()),
            internal: Some(spec.internal),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(spec.subnet.to_string()),
                    gateway: Some(spec.gateway.to_string()),
                    ip_range: spec.link.as_ref().map(|l| l.ip_range.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(spec.labels.clone().into_iter().collect()),
            options: Some(options.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
            ..Default::default()
        };
        // A host-linked network is ensured on every pass (for its shim), and Docker checks
        // its address pool before its name: look first.
        let exists = spec.link.is_some() && self.docker.inspect_network(&spec.name, None).await.is_ok();
        let created = if exists { Ok(Default::default()) } else { self.docker.create_network(request).await };
        match created {
            Ok(_) => {}
            // Same name exists: ours by construction (names carry the topology id). Never
            // removed or reshaped here, unlike the original.
            Err(e) if status(&e) == Some(409) => {}
            Err(e) => return Err(failed("create network", &spec.name, &e)),
        }
        // After the network, so a failure leaves a labelled network whose removal takes
        // the shim with it.
        match &spec.link {
            Some(link) => crate::hostlink::ensure_shim(link).await,
            None => Ok(()),
        }
    }

    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError> {
        match self.docker.remove_network(name).await {
            Ok(()) => {}
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(failed("remove network", name, &e)),
        }
        // A host-linked network's shim goes with it (a bridge has none: nothing to do).
        crate::hostlink::remove_shim(&crate::spec::shim_name(name)).await
    }

    async fn probe_link(&self, probe: &crate::LinkProbe) -> Result<(), RuntimeError> {
        crate::hostlink::check(probe).await
    }

    async fn ensure_container(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        let existing = self.docker.inspect_container(spec.name.as_str(), None).await;
        match existing {
            Ok(found) => {
                let same = found.config.as_ref().and_then(|c| c.labels.as_ref()).and_then(|l| l.get(labels::SPEC_HASH))
                    == Some(&spec.spec_hash().to_owned());
                let running = found.state.as_ref().and_then(|s| s.running) == Some(true);
                if same && running {
                    return Ok(());
                }
                self.remove_container(&spec.name).await?;
                self.create(spec).await
            }
            Err(e) if status(&e) == Some(404) => self.create(spec).await,
            Err(e) => Err(failed("inspect container", &spec.name, &e)),
        }
    }

    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(failed("remove container", name, &e)),
        }
    }

    async fn connect(&self, network: &str, container: &str, ip: Ipv4Addr) -> Result<(), RuntimeError> {
        let request = NetworkConnectRequest { container: container.to_owned(), endpoint_config: Some(endpoint(ip)) };
        match self.docker.connect_network(network, request).await {
            Ok(()) => Ok(()),
            Err(e) if message(&e).contains("already exists") || message(&e).contains("already attached") => Ok(()),
            Err(e) if status(&e) == Some(404) => {
                Err(RuntimeError::Missing { kind: "network or container", name: format!("{network}/{container}") })
            }
            Err(e) => Err(failed("connect", container, &e)),
        }
    }

    async fn ensure_firewall(&self, spec: &crate::firewall::FirewallSpec) -> Result<(), RuntimeError> {
        iptables_restore(&crate::firewall::rules(spec)).await?;
        for (builtin, chain) in crate::firewall::jumps(spec.topology) {
            if iptables(&["-C", builtin, "-j", &chain]).await.is_err() {
                iptables(&["-I", builtin, "-j", &chain]).await?;
            }
        }
        Ok(())
    }

    async fn remove_firewall(&self, topology: TopologyId) -> Result<(), RuntimeError> {
        for step in crate::firewall::removal(topology) {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            // Already gone is fine; what is left is checked below.
            let _ = iptables(&args).await;
        }
        for chain in crate::firewall::chains(topology) {
            if iptables(&["-S", &chain]).await.is_ok() {
                return Err(RuntimeError::Failed {
                    operation: "firewall",
                    name: chain,
                    message: "the chain is still there after removal".into(),
                });
            }
        }
        Ok(())
    }

    async fn set_routes(&self, container: &str, routes: &[Route]) -> Result<(), RuntimeError> {
        self.decoy_exec(container, "set routes", &["routes", "set", &crate::spec::routes_json(routes)]).await
    }

    async fn set_link_mac(&self, container: &str, link: &str) -> Result<(), RuntimeError> {
        self.decoy_exec(container, "set link MAC", &["routes", "link-mac", link]).await
    }

    async fn disconnect(&self, network: &str, container: &str) -> Result<(), RuntimeError> {
        let request = NetworkDisconnectRequest { container: container.to_owned(), force: Some(true) };
        match self.docker.disconnect_network(network, request).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) || message(&e).contains("is not connected") => Ok(()),
            Err(e) => Err(failed("disconnect", container, &e)),
        }
    }
}
