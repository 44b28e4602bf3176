//! Deckies across hosts on Docker Swarm.
//!
//! Swarm services cannot be deckies (no fixed addresses on overlays, no shared network
//! namespace), so a LAN becomes a swarm-scoped, attachable overlay network created on the
//! manager (internal unless it is the DMZ), and every decky stays a set of standalone
//! containers created through the Engine API of the node it is placed on, joined to the
//! overlays at its fixed addresses. The nodes come from the manager; each node's Engine
//! API is the endpoint in its `decnet.engine` label, else `tcp://<node address>:2376`
//! over TLS. A decky's services run on its base's node (they share its namespace).
//!
//! Placement is the engine's to decide and the store's to keep: before each convergence
//! the engine hands over a topology's [`PlacementPlan`] (policy, pinned deckies); this
//! runtime only applies it when it creates a base.
//!
//! A node that is down leaves its containers unreachable: they are reported lost, so the
//! engine marks their deckies failed and its convergence re-creates them. With the spread
//! policy they go on a ready node: the swarm keeps a down node's overlay addresses
//! allocated until the node leaves it, so before placing anything this runtime removes
//! down nodes from the swarm (they can join again); otherwise Docker would refuse the
//! addresses after a 20 s timeout. Packed and pinned deckies wait for their node.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{ContainerSummary, Ipam, IpamConfig, NetworkCreateRequest, NodeSpecAvailabilityEnum, NodeState};
use bollard::query_parameters::{DeleteNodeOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder};
use decnet_domain::TopologyId;
use decnet_domain::placement::Policy;
use decnet_domain::routing::Route;
use ipnet::Ipv4Net;
use tokio::sync::RwLock;

use crate::docker::{failed, label_filter, message, status};
use crate::spec::{ContainerSpec, NetworkSpec, Observed, Role};
use crate::{DecoyBinary, DockerRuntime, LogLine, Runtime, RuntimeError, labels};

/// The node label naming a node's Engine API endpoint (`unix://…` or `tcp://host:port`).
pub const ENGINE_LABEL: &str = "decnet.engine";

/// Seconds a request to a node's Engine API may take.
const TIMEOUT_SECS: u64 = 120;

/// How long connecting to a node (and building the decoy image there) may take.
const CONNECT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Where the deckies of one topology go: resolved by the engine from the topology's
/// stored placement (its policy, its decky and LAN pins, agent mode's target host).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlacementPlan {
    /// The topology's policy; `None` is the runtime's default.
    pub policy: Option<Policy>,
    /// Decky name → the node (id or host name) it is pinned to, whatever the policy; a
    /// pinned decky waits for its node rather than move.
    pub nodes: BTreeMap<String, String>,
}

/// How to reach a swarm.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// The manager's Engine API endpoint.
    pub manager: String,
    /// A directory with `ca.pem`, `cert.pem` and `key.pem` for `tcp://` endpoints (as
    /// `DOCKER_CERT_PATH`); a `tcp://` endpoint without it is refused.
    pub tls: Option<PathBuf>,
    /// The policy of topologies that set none: spread (the ready node with the fewest
    /// deckies, ties to the first by id) or pack (the first ready node by id).
    pub placement: Policy,
}

/// A swarm node as this runtime sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SwarmNode {
    /// The swarm's node id.
    pub id: String,
    /// The node's host name.
    pub hostname: String,
    /// Its address in the swarm.
    pub addr: String,
    /// Its Engine API endpoint.
    pub endpoint: String,
    /// The manager's view: ready, down, ...
    pub state: String,
    /// Whether deckies can run there now (ready, active, its Engine API answered).
    pub usable: bool,
    /// Why it is not usable, when it is not.
    pub reason: Option<String>,
}

struct Member {
    node: SwarmNode,
    runtime: Option<Arc<DockerRuntime>>,
}

/// The Docker Swarm runtime.
pub struct SwarmRuntime {
    manager: Docker,
    config: SwarmConfig,
    decoy: DecoyBinary,
    image: String,
    members: RwLock<BTreeMap<String, Member>>,
    /// Container name → (node id, is a base), as created or last observed.
    placed: Mutex<HashMap<String, (String, bool)>>,
    /// Held from choosing a node to recording the choice, so that concurrent creations
    /// spread instead of all counting the same nodes.
    placing: tokio::sync::Mutex<()>,
    /// Each topology's placement, as the engine last gave it.
    plans: Mutex<HashMap<TopologyId, PlacementPlan>>,
}

/// A client for `endpoint`: `unix://` sockets as they are, `tcp://` only over TLS.
pub fn client(endpoint: &str, tls: Option<&Path>) -> Result<Docker, RuntimeError> {
    let unavailable = |e: bollard::errors::Error| RuntimeError::Unavailable(format!("Docker at {endpoint}: {e}"));
    if endpoint.starts_with("unix://") {
        return Docker::connect_with_unix(endpoint, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION).map_err(unavailable);
    }
    let Some(rest) = endpoint.strip_prefix("tcp://") else {
        return Err(RuntimeError::Unavailable(format!("{endpoint}: an endpoint is unix://PATH or tcp://HOST:PORT")));
    };
    let Some(dir) = tls else {
        return Err(RuntimeError::Unavailable(format!(
            "{endpoint}: a tcp:// Engine API is used only over TLS; give the directory of ca.pem, cert.pem and key.pem"
        )));
    };
    Docker::connect_with_ssl(
        &format!("https://{rest}"),
        &dir.join("key.pem"),
        &dir.join("cert.pem"),
        &dir.join("ca.pem"),
        TIMEOUT_SECS,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(unavailable)
}

/// The addresses Docker may hand out itself on an overlay (its load-balancer endpoint on
/// every node): the top sixteenth of the subnet, away from the decky addresses the store
/// allocates from the bottom.
fn docker_range(subnet: Ipv4Net) -> Option<Ipv4Net> {
    let prefix = subnet.prefix_len().checked_add(4).filter(|p| *p <= 30)?;
    subnet.subnets(prefix).ok()?.last()
}

/// The decky bases (of any topology) on a node.
async fn bases_on(node: &DockerRuntime) -> Result<Vec<ContainerSummary>, RuntimeError> {
    let bases = HashMap::from([("label".to_owned(), vec![format!("{}=base", labels::ROLE)])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&bases).build();
    node.client().list_containers(Some(options)).await.map_err(|e| RuntimeError::Unavailable(message(&e)))
}

/// Whether Docker refused to remove a network only because an endpoint (a removed
/// container's attachment, which the nodes release asynchronously) is still on it.
fn still_attached(message: &str) -> bool {
    message.contains("active endpoints") || message.contains("in use by task")
}

impl SwarmRuntime {
    /// Connects to the manager (it must be a swarm manager), reads the nodes and builds the
    /// decoy image on every node that answers.
    pub async fn connect(config: SwarmConfig, decoy: &DecoyBinary) -> Result<Self, RuntimeError> {
        decoy.check_static()?;
        let manager = client(&config.manager, config.tls.as_deref())?;
        let where_ = config.manager.clone();
        let unavailable = |e: bollard::errors::Error| RuntimeError::Unavailable(format!("Docker at {where_}: {e}"));
        let manager = manager.negotiate_version().await.map_err(unavailable)?;
        manager.inspect_swarm().await.map_err(|e| {
            RuntimeError::Unavailable(format!("{}: not a swarm manager ({})", config.manager, message(&e)))
        })?;
        let runtime = Self {
            manager,
            decoy: decoy.clone(),
            image: crate::image_tag(decoy.bytes()),
            members: RwLock::new(BTreeMap::new()),
            placed: Mutex::new(HashMap::new()),
            placing: tokio::sync::Mutex::new(()),
            plans: Mutex::new(HashMap::new()),
            config,
        };
        runtime.refresh().await?;
        Ok(runtime)
    }

    /// The nodes as last read from the manager.
    pub async fn nodes(&self) -> Result<Vec<SwarmNode>, RuntimeError> {
        self.refresh().await?;
        Ok(self.members.read().await.values().map(|m| m.node.clone()).collect())
    }

    /// The deckies (their bases) running or stopped on each usable node: node id →
    /// (topology, decky) pairs, sorted.
    pub async fn deckies(&self) -> Result<BTreeMap<String, Vec<(TopologyId, String)>>, RuntimeError> {
        self.refresh().await?;
        let mut by_node = BTreeMap::new();
        for (node, runtime) in self.usable().await {
            let mut deckies: Vec<(TopologyId, String)> = bases_on(&runtime)
                .await?
                .into_iter()
                .filter_map(|c| {
                    let labels = c.labels?;
                    Some((labels.get(labels::TOPOLOGY)?.parse().ok()?, labels.get(labels::DECKY)?.clone()))
                })
                .collect();
            deckies.sort();
            by_node.insert(node, deckies);
        }
        Ok(by_node)
    }

    /// Which node each of our containers is on (as created or last observed).
    pub fn placements(&self) -> BTreeMap<String, String> {
        self.placed.lock().map(|p| p.iter().map(|(c, (n, _))| (c.clone(), n.clone())).collect()).unwrap_or_default()
    }

    /// Re-reads the nodes from the manager and connects to those that became ready.
    async fn refresh(&self) -> Result<(), RuntimeError> {
        let listed = self.manager.list_nodes(None).await.map_err(|e| {
            RuntimeError::Unavailable(format!("swarm manager {}: {}", self.config.manager, message(&e)))
        })?;
        let mut members = self.members.write().await;
        let mut seen = BTreeSet::new();
        for node in listed {
            let Some(id) = node.id.clone() else { continue };
            seen.insert(id.clone());
            let spec = node.spec.unwrap_or_default();
            let status = node.status.unwrap_or_default();
            let addr = status.addr.unwrap_or_default();
            let endpoint = spec
                .labels
                .as_ref()
                .and_then(|l| l.get(ENGINE_LABEL).cloned())
                .unwrap_or_else(|| format!("tcp://{addr}:2376"));
            let ready = status.state == Some(NodeState::READY);
            let active = spec.availability.is_none_or(|a| a == NodeSpecAvailabilityEnum::ACTIVE);
            let hostname = node.description.and_then(|d| d.hostname).unwrap_or_default();
            let state = status.state.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
            let previous = members.remove(&id);
            let mut runtime = previous.filter(|m| m.node.endpoint == endpoint && ready).and_then(|m| m.runtime);
            let mut reason = match (ready, active) {
                (false, _) => Some(format!("node is {state}: {}", status.message.unwrap_or_default())),
                (true, false) => Some("node is not active (paused or drained)".to_owned()),
                (true, true) => None,
            };
            if ready && runtime.is_none() {
                match self.connect_node(&endpoint).await {
                    Ok(connected) => {
                        // What already runs there counts for spreading (other topologies,
                        // other processes).
                        for base in bases_on(&connected).await.unwrap_or_default() {
                            if let Some(name) = base.names.and_then(|n| n.into_iter().next()) {
                                self.remember(name.trim_start_matches('/'), &id, true);
                            }
                        }
                        runtime = Some(Arc::new(connected));
                    }
                    Err(err) => reason = Some(err.to_string()),
                }
            }
            let usable = reason.is_none();
            let node = SwarmNode { id: id.clone(), hostname, addr, endpoint, state, usable, reason };
            members.insert(id, Member { node, runtime: if ready { runtime } else { None } });
        }
        members.retain(|id, _| seen.contains(id));
        Ok(())
    }

    async fn connect_node(&self, endpoint: &str) -> Result<DockerRuntime, RuntimeError> {
        let connecting = DockerRuntime::on(client(endpoint, self.config.tls.as_deref())?, endpoint, &self.decoy);
        // A host that is gone must not hold every observation up for a TCP timeout; the
        // first connection may build the decoy image, which takes a few seconds.
        tokio::time::timeout(CONNECT_DEADLINE, connecting)
            .await
            .unwrap_or_else(|_| Err(RuntimeError::Unavailable(format!("Docker at {endpoint}: no answer"))))
    }

    /// Marks `node` unusable until the next refresh finds its Engine API answering again.
    async fn unreachable(&self, node: &str, err: &RuntimeError) {
        if let Some(member) = self.members.write().await.get_mut(node) {
            member.node.usable = false;
            member.node.reason = Some(format!("its Engine API does not answer: {err}"));
            member.runtime = None;
        }
    }

    /// The usable nodes, by id.
    async fn usable(&self) -> Vec<(String, Arc<DockerRuntime>)> {
        let members = self.members.read().await;
        members
            .iter()
            .filter(|(_, m)| m.node.usable)
            .filter_map(|(id, m)| Some((id.clone(), m.runtime.clone()?)))
            .collect()
    }

    async fn runtime_of(&self, node: &str) -> Option<Arc<DockerRuntime>> {
        self.members.read().await.get(node).filter(|m| m.node.usable).and_then(|m| m.runtime.clone())
    }

    fn remember(&self, container: &str, node: &str, base: bool) {
        if let Ok(mut placed) = self.placed.lock() {
            placed.insert(container.to_owned(), (node.to_owned(), base));
        }
    }

    fn forget(&self, container: &str) {
        if let Ok(mut placed) = self.placed.lock() {
            placed.remove(container);
        }
    }

    /// The usable node `container` is on, if it is on one.
    async fn locate(&self, container: &str) -> Option<(String, Arc<DockerRuntime>)> {
        let known = self.placed.lock().ok().and_then(|p| p.get(container).map(|(n, _)| n.clone()));
        if let Some(node) = known
            && let Some(runtime) = self.runtime_of(&node).await
        {
            return Some((node, runtime));
        }
        for (node, runtime) in self.usable().await {
            if let Ok(found) = runtime.client().inspect_container(container, None).await {
                let role = found.config.and_then(|c| c.labels).and_then(|mut l| l.remove(labels::ROLE));
                self.remember(container, &node, role.as_deref() == Some("base"));
                return Some((node, runtime));
            }
        }
        None
    }

    /// Removes the swarm's down nodes, which would otherwise keep their containers'
    /// overlay addresses.
    async fn evict_down_nodes(&self) -> Result<(), RuntimeError> {
        let down: Vec<String> = {
            let members = self.members.read().await;
            members.values().filter(|m| m.node.state == "down").map(|m| m.node.id.clone()).collect()
        };
        for id in down {
            let options = DeleteNodeOptionsBuilder::default().force(true).build();
            match self.manager.delete_node(&id, Some(options)).await {
                Ok(()) => {
                    tracing::warn!(node = %id, "removed a down swarm node so that its deckies' addresses can be re-used");
                    self.members.write().await.remove(&id);
                    if let Ok(mut placed) = self.placed.lock() {
                        placed.retain(|_, (node, _)| *node != id);
                    }
                }
                Err(e) if status(&e) == Some(404) => {}
                Err(e) => return Err(failed("remove down node", &id, &e)),
            }
        }
        Ok(())
    }

    /// The node a new container goes on.
    async fn place(&self, spec: &ContainerSpec) -> Result<(String, Arc<DockerRuntime>), RuntimeError> {
        if let Role::Service { base, .. } = &spec.role {
            return self
                .locate(base)
                .await
                .ok_or_else(|| RuntimeError::Missing { kind: "base container", name: base.clone() });
        }
        let lost_on = self.placed.lock().ok().and_then(|p| p.get(&spec.name).map(|(n, _)| n.clone()));
        let decky = spec.labels.get(labels::DECKY).cloned().unwrap_or_default();
        let topology: Option<TopologyId> = spec.labels.get(labels::TOPOLOGY).and_then(|t| t.parse().ok());
        let plan = topology.and_then(|t| self.plans.lock().ok()?.get(&t).cloned()).unwrap_or_default();
        let policy = plan.policy.unwrap_or(self.config.placement);
        let pin = plan.nodes.get(&decky).cloned();
        if let Some(pin) = pin {
            let usable = self.usable().await;
            let members = self.members.read().await;
            let pinned = usable
                .into_iter()
                .find(|(id, _)| *id == pin || members.get(id).is_some_and(|m| m.node.hostname == pin));
            drop(members);
            let pinned = pinned.ok_or_else(|| {
                RuntimeError::Unavailable(format!("decky {decky} is pinned to swarm node {pin}, which is not ready"))
            })?;
            // Pinned away from the node it was lost on: that node's addresses must be freed.
            if lost_on.is_some_and(|lost| lost != pinned.0) {
                self.evict_down_nodes().await?;
            }
            return Ok(pinned);
        }
        if policy == Policy::Spread {
            self.evict_down_nodes().await?;
        } else if let Some(node) = lost_on {
            return Err(RuntimeError::Unavailable(format!(
                "swarm node {node} is lost; with pack placement its deckies wait for it to come back"
            )));
        }
        let usable = self.usable().await;
        let chosen = match policy {
            Policy::Pack => usable.into_iter().next(),
            Policy::Spread => {
                let bases: HashMap<String, usize> = self
                    .placed
                    .lock()
                    .map(|p| {
                        p.values().filter(|(_, base)| *base).fold(HashMap::new(), |mut count, (node, _)| {
                            *count.entry(node.clone()).or_insert(0) += 1;
                            count
                        })
                    })
                    .unwrap_or_default();
                usable.into_iter().min_by_key(|(id, _)| (bases.get(id).copied().unwrap_or(0), id.clone()))
            }
        };
        chosen.ok_or_else(|| RuntimeError::Unavailable("no swarm node is ready for deckies".into()))
    }
}

#[async_trait]
impl Runtime for SwarmRuntime {
    fn kind(&self) -> &'static str {
        "swarm"
    }

    fn image(&self) -> &str {
        &self.image
    }

    fn place_topology(&self, topology: TopologyId, plan: PlacementPlan) {
        if let Ok(mut plans) = self.plans.lock() {
            plans.insert(topology, plan);
        }
    }

    fn follow_logs(&self, container: &str, since: Option<&str>) -> Option<tokio::sync::mpsc::Receiver<LogLine>> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let placed = self.placed.lock().ok().and_then(|p| p.get(container).map(|(n, _)| n.clone()))?;
        let members = self.members.try_read().ok()?;
        let runtime = members.get(&placed).and_then(|m| m.runtime.clone())?;
        drop(members);
        let mut from = runtime.follow_logs(container, since)?;
        tokio::spawn(async move {
            while let Some(line) = from.recv().await {
                if tx.send(line).await.is_err() {
                    return;
                }
            }
        });
        Some(rx)
    }

    fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<TopologyId>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let members = self.members.try_read().ok()?;
        for runtime in members.values().filter_map(|m| m.runtime.clone()) {
            if let Some(mut changes) = runtime.watch() {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(topology) = changes.recv().await {
                        if tx.send(topology).is_err() {
                            return;
                        }
                    }
                });
            }
        }
        Some(rx)
    }

    async fn observe(&self, topology: TopologyId) -> Result<Observed, RuntimeError> {
        self.refresh().await?;
        let unavailable = |e: bollard::errors::Error| RuntimeError::Unavailable(message(&e));
        let mut observed = Observed::default();
        let networks = self
            .manager
            .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&label_filter(topology)).build()))
            .await
            .map_err(unavailable)?;
        for network in networks {
            if let Some(name) = network.name {
                observed.networks.insert(name, network.labels.unwrap_or_default().into_iter().collect());
            }
        }
        for (node, runtime) in self.usable().await {
            let on_node = match runtime.observe(topology).await {
                Ok(on_node) => on_node,
                // Before the manager notices, a stopped node is only a dead Engine API:
                // its containers are lost, the rest of the swarm is still observed.
                Err(err) => {
                    self.unreachable(&node, &err).await;
                    continue;
                }
            };
            for (name, container) in on_node.containers {
                let base = container.labels.get(labels::ROLE).is_some_and(|r| r == "base");
                self.remember(&name, &node, base);
                observed.containers.insert(name, container);
            }
        }
        let prefix = format!("decnet-{}-", topology.simple());
        let lost: Vec<(String, String)> = {
            let members = self.members.read().await;
            let placed = self.placed.lock().map(|p| p.clone()).unwrap_or_default();
            placed
                .into_iter()
                .filter(|(name, _)| name.starts_with(&prefix))
                .filter_map(|(name, (node, _))| {
                    let member = members.get(&node);
                    if member.is_some_and(|m| m.node.usable) {
                        return None;
                    }
                    let why = member.and_then(|m| m.node.reason.clone()).unwrap_or_else(|| "left the swarm".into());
                    Some((name, format!("swarm node {node} is lost: {why}")))
                })
                .collect()
        };
        observed.lost.extend(lost);
        Ok(observed)
    }

    async fn owners(&self) -> Result<BTreeSet<TopologyId>, RuntimeError> {
        let unavailable = |e: bollard::errors::Error| RuntimeError::Unavailable(message(&e));
        let ours = HashMap::from([("label".to_owned(), vec![labels::TOPOLOGY.to_owned()])]);
        let networks = self
            .manager
            .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&ours).build()))
            .await
            .map_err(unavailable)?;
        let mut owners: BTreeSet<TopologyId> =
            networks.into_iter().filter_map(|n| n.labels?.get(labels::TOPOLOGY)?.parse().ok()).collect();
        for (_, runtime) in self.usable().await {
            let options = ListContainersOptionsBuilder::default().all(true).filters(&ours).build();
            let containers = runtime.client().list_containers(Some(options)).await.map_err(unavailable)?;
            owners.extend(
                containers.into_iter().filter_map(|c| c.labels?.get(labels::TOPOLOGY)?.parse::<TopologyId>().ok()),
            );
        }
        Ok(owners)
    }

    async fn ensure_network(&self, spec: &NetworkSpec) -> Result<(), RuntimeError> {
        // Swarm does not refuse a second network of the same name by itself.
        if self.manager.inspect_network(&spec.name, None).await.is_ok() {
            return Ok(());
        }
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("overlay".into()),
            scope: Some("swarm".into()),
            attachable: Some(true),
            internal: Some(spec.internal),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(spec.subnet.to_string()),
                    gateway: Some(spec.gateway.to_string()),
                    ip_range: docker_range(spec.subnet).map(|r| r.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        match self.manager.create_network(request).await {
            Ok(_) => Ok(()),
            Err(e) if status(&e) == Some(409) => Ok(()),
            Err(e) => Err(failed("create network", &spec.name, &e)),
        }
    }

    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError> {
        // Retry for a while rather than fail a teardown on an endpoint that is about to go.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match self.manager.remove_network(name).await {
                Ok(()) => return Ok(()),
                Err(e) if status(&e) == Some(404) => return Ok(()),
                Err(e) if still_attached(&message(&e)) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(e) => return Err(failed("remove network", name, &e)),
            }
        }
    }

    async fn ensure_container(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        let base = matches!(spec.role, Role::Base { .. });
        let (node, runtime) = match self.locate(&spec.name).await {
            Some(found) => found,
            None => {
                let _placing = self.placing.lock().await;
                let chosen = self.place(spec).await?;
                // Recorded before it exists, so the next placement counts it; a failed
                // creation is retried on the same node.
                self.remember(&spec.name, &chosen.0, base);
                chosen
            }
        };
        runtime.ensure_container(spec).await?;
        self.remember(&spec.name, &node, base);
        Ok(())
    }

    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        if let Some((_, runtime)) = self.locate(name).await {
            runtime.remove_container(name).await?;
        }
        self.forget(name);
        Ok(())
    }

    async fn connect(&self, network: &str, container: &str, ip: Ipv4Addr) -> Result<(), RuntimeError> {
        let (_, runtime) = self
            .locate(container)
            .await
            .ok_or_else(|| RuntimeError::Missing { kind: "container", name: container.to_owned() })?;
        runtime.connect(network, container, ip).await
    }

    async fn disconnect(&self, network: &str, container: &str) -> Result<(), RuntimeError> {
        match self.locate(container).await {
            Some((_, runtime)) => runtime.disconnect(network, container).await,
            None => Ok(()),
        }
    }

    /// Internal overlays have no route out at all; the host firewall of the bridge runtime
    /// has no bridges to name here.
    async fn ensure_firewall(&self, _spec: &crate::firewall::FirewallSpec) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn remove_firewall(&self, _topology: TopologyId) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn set_routes(&self, container: &str, routes: &[Route]) -> Result<(), RuntimeError> {
        let (_, runtime) = self
            .locate(container)
            .await
            .ok_or_else(|| RuntimeError::Missing { kind: "running container", name: container.to_owned() })?;
        runtime.set_routes(container, routes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_takes_the_top_sixteenth_of_a_lan() {
        let range = |s: &str| docker_range(s.parse().unwrap()).map(|r| r.to_string());
        assert_eq!(range("10.1.2.0/24").as_deref(), Some("10.1.2.240/28"));
        assert_eq!(range("10.1.0.0/16").as_deref(), Some("10.1.240.0/20"));
        assert_eq!(range("10.1.2.0/28"), None);
    }

    #[test]
    fn a_tcp_endpoint_needs_tls_and_other_schemes_are_refused() {
        assert!(matches!(client("tcp://10.0.0.1:2376", None), Err(RuntimeError::Unavailable(m)) if m.contains("TLS")));
        assert!(matches!(client("http://10.0.0.1:2375", None), Err(RuntimeError::Unavailable(_))));
    }
}
