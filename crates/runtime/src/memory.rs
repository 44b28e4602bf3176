//! The recording in-memory runtime.
//!
//! Keeps networks and containers in a map, honours the [`Runtime`] idempotency contract,
//! records every call for assertions, and can be told to fail chosen calls, so tests can
//! drive the engine through runtime failures. Users get it as `--runtime memory`, a
//! simulation mode that exercises the whole engine without Docker.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use async_trait::async_trait;
use decnet_domain::TopologyId;
use decnet_domain::routing::Route;

use crate::spec::{ContainerSpec, NetworkSpec, Observed, ObservedContainer, Role};
use crate::{Runtime, RuntimeError, labels};

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `ensure_network(name)`.
    EnsureNetwork(String),
    /// `remove_network(name)`.
    RemoveNetwork(String),
    /// `ensure_container(name)` that created or replaced a container.
    CreateContainer(String),
    /// `remove_container(name)`.
    RemoveContainer(String),
    /// `connect(network, container, ip)`.
    Connect(String, String, Ipv4Addr),
    /// `disconnect(network, container)`.
    Disconnect(String, String),
    /// `set_routes(container)`.
    SetRoutes(String),
    /// `ensure_firewall(topology)`.
    EnsureFirewall(TopologyId),
    /// `remove_firewall(topology)`.
    RemoveFirewall(TopologyId),
}

impl Call {
    /// The resource name the call is about (container for connect/disconnect).
    pub fn subject(&self) -> &str {
        match self {
            Call::EnsureNetwork(n) | Call::RemoveNetwork(n) | Call::CreateContainer(n) | Call::RemoveContainer(n) => n,
            Call::Connect(_, c, _) | Call::Disconnect(_, c) => c,
            Call::SetRoutes(c) => c,
            Call::EnsureFirewall(_) | Call::RemoveFirewall(_) => "firewall",
        }
    }
}

#[derive(Debug, Default)]
struct World {
    networks: BTreeMap<String, NetworkSpec>,
    containers: BTreeMap<String, (ContainerSpec, BTreeMap<String, Ipv4Addr>, bool)>,
    calls: Vec<Call>,
    /// Substrings of resource names whose next operations fail.
    failing: Vec<String>,
    /// The firewall of each topology.
    firewalls: BTreeMap<TopologyId, crate::firewall::FirewallSpec>,
    /// The routes each base holds.
    routes: BTreeMap<String, Vec<Route>>,
    /// Addresses another host answers for on any host interface (see
    /// [`MemoryRuntime::occupy`]).
    occupied: Vec<Ipv4Addr>,
    /// Lines written by containers, and who follows them.
    logs: BTreeMap<String, (Vec<crate::LogLine>, Vec<tokio::sync::mpsc::Sender<crate::LogLine>>)>,
}

/// The in-memory runtime.
#[derive(Debug, Default)]
pub struct MemoryRuntime {
    world: Mutex<World>,
}

impl MemoryRuntime {
    /// An empty runtime.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> Result<T, RuntimeError> {
        let mut world = self.world.lock().map_err(|_| RuntimeError::Unavailable("memory runtime poisoned".into()))?;
        Ok(f(&mut world))
    }

    /// The firewall of `topology`, if it has one.
    pub fn firewall(&self, topology: TopologyId) -> Option<crate::firewall::FirewallSpec> {
        self.with(|w| w.firewalls.get(&topology).cloned()).ok().flatten()
    }

    /// The routes the base `container` holds (`None` when it does not run).
    pub fn routes(&self, container: &str) -> Option<Vec<Route>> {
        self.with(|w| w.routes.get(container).cloned()).ok().flatten()
    }

    /// Makes `container` write `line` on stdout (what a decoy would), for whoever follows.
    pub fn write_log(&self, container: &str, line: &str) {
        let _ = self.with(|w| {
            let (lines, followers) = w.logs.entry(container.to_owned()).or_default();
            let at = chrono_like_now(lines.len());
            let entry = crate::LogLine { at, line: line.to_owned() };
            followers.retain(|tx| tx.try_send(entry.clone()).is_ok());
            lines.push(entry);
        });
    }

    /// Ends every follower of `container`'s log (as an engine that stopped would).
    pub fn end_log_followers(&self, container: &str) {
        let _ = self.with(|w| {
            if let Some((_, followers)) = w.logs.get_mut(container) {
                followers.clear();
            }
        });
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.with(|w| w.calls.clone()).unwrap_or_default()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        let _ = self.with(|w| w.calls.clear());
    }

    /// Makes every operation on a resource whose name contains `pattern` fail until
    /// [`MemoryRuntime::heal`] is called.
    pub fn fail_on(&self, pattern: &str) {
        let _ = self.with(|w| w.failing.push(pattern.to_owned()));
    }

    /// Makes `address` answer probes, as if another host on the DMZ's network held it.
    pub fn occupy(&self, address: Ipv4Addr) {
        let _ = self.with(|w| w.occupied.push(address));
    }

    /// Stops injecting failures.
    pub fn heal(&self) {
        let _ = self.with(|w| w.failing.clear());
    }

    /// Simulates a container dying (it stays, not running).
    pub fn kill(&self, name: &str) {
        let _ = self.with(|w| {
            if let Some(c) = w.containers.get_mut(name) {
                c.2 = false;
            }
        });
    }

    /// Names of all networks.
    pub fn network_names(&self) -> Vec<String> {
        self.with(|w| w.networks.keys().cloned().collect()).unwrap_or_default()
    }

    /// Names of all containers.
    pub fn container_names(&self) -> Vec<String> {
        self.with(|w| w.containers.keys().cloned().collect()).unwrap_or_default()
    }

    /// A network's spec.
    pub fn network(&self, name: &str) -> Option<NetworkSpec> {
        self.with(|w| w.networks.get(name).cloned()).ok().flatten()
    }

    /// A container's spec and its current network attachments.
    pub fn container(&self, name: &str) -> Option<(ContainerSpec, BTreeMap<String, Ipv4Addr>)> {
        self.with(|w| w.containers.get(name).map(|(s, n, _)| (s.clone(), n.clone()))).ok().flatten()
    }
}

fn check(world: &World, operation: &'static str, name: &str) -> Result<(), RuntimeError> {
    if world.failing.iter().any(|p| name.contains(p.as_str())) {
        return Err(RuntimeError::Failed { operation, name: name.to_owned(), message: "injected failure".into() });
    }
    Ok(())
}

#[async_trait]
impl Runtime for MemoryRuntime {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn image(&self) -> &str {
        "decnet-decoy:memory"
    }

    async fn observe(&self, topology: TopologyId) -> Result<Observed, RuntimeError> {
        let id = topology.to_string();
        self.with(|w| {
            let owned = |labels: &BTreeMap<String, String>| labels.get(labels::TOPOLOGY) == Some(&id);
            Observed {
                networks: w
                    .networks
                    .values()
                    .filter(|n| owned(&n.labels))
                    .map(|n| (n.name.clone(), n.labels.clone()))
                    .collect(),
                containers: w
                    .containers
                    .values()
                    .filter(|(s, _, _)| owned(&s.labels))
                    .map(|(s, nets, running)| {
                        (
                            s.name.clone(),
                            ObservedContainer {
                                name: s.name.clone(),
                                running: *running,
                                labels: s.labels.clone(),
                                networks: nets.clone(),
                            },
                        )
                    })
                    .collect(),
                lost: BTreeMap::new(),
            }
        })
    }

    async fn owners(&self) -> Result<std::collections::BTreeSet<TopologyId>, RuntimeError> {
        self.with(|w| {
            let labels = w.networks.values().map(|n| &n.labels).chain(w.containers.values().map(|(s, _, _)| &s.labels));
            labels.filter_map(|l| l.get(labels::TOPOLOGY)?.parse().ok()).collect()
        })
    }

    async fn probe_link(&self, probe: &crate::LinkProbe) -> Result<(), RuntimeError> {
        self.with(|w| match probe.addresses.iter().find(|a| w.occupied.contains(a)) {
            Some(address) => Err(RuntimeError::AddressInUse {
                address: *address,
                interface: probe.interface.clone(),
                by: "another host".into(),
            }),
            None => Ok(()),
        })?
    }

    async fn ensure_network(&self, spec: &NetworkSpec) -> Result<(), RuntimeError> {
        self.with(|w| {
            check(w, "create network", &spec.name)?;
            w.calls.push(Call::EnsureNetwork(spec.name.clone()));
            w.networks.entry(spec.name.clone()).or_insert_with(|| spec.clone());
            Ok(())
        })?
    }

    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError> {
        self.with(|w| {
            check(w, "remove network", name)?;
            w.calls.push(Call::RemoveNetwork(name.to_owned()));
            w.networks.remove(name);
            for (_, nets, _) in w.containers.values_mut() {
                nets.remove(name);
            }
            Ok(())
        })?
    }

    async fn ensure_container(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        self.with(|w| {
            check(w, "create container", &spec.name)?;
            if let Some((existing, _, running)) = w.containers.get(&spec.name)
                && *running
                && existing.spec_hash() == spec.spec_hash()
            {
                return Ok(());
            }
            let networks = match &spec.role {
                Role::Base { networks, routes, .. } => {
                    if let Some(missing) = networks.keys().find(|n| !w.networks.contains_key(*n)) {
                        return Err(RuntimeError::Missing { kind: "network", name: missing.clone() });
                    }
                    w.routes.insert(spec.name.clone(), routes.clone());
                    networks.clone()
                }
                Role::Service { base, .. } => {
                    if !w.containers.get(base).is_some_and(|c| c.2) {
                        return Err(RuntimeError::Missing { kind: "running base container", name: base.clone() });
                    }
                    BTreeMap::new()
                }
            };
            w.calls.push(Call::CreateContainer(spec.name.clone()));
            w.containers.insert(spec.name.clone(), (spec.clone(), networks, true));
            Ok(())
        })?
    }

    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        self.with(|w| {
            check(w, "remove container", name)?;
            w.calls.push(Call::RemoveContainer(name.to_owned()));
            w.containers.remove(name);
            w.routes.remove(name);
            Ok(())
        })?
    }

    async fn connect(&self, network: &str, container: &str, ip: Ipv4Addr) -> Result<(), RuntimeError> {
        self.with(|w| {
            check(w, "connect", container)?;
            if !w.networks.contains_key(network) {
                return Err(RuntimeError::Missing { kind: "network", name: network.to_owned() });
            }
            let Some((_, nets, _)) = w.containers.get_mut(container) else {
                return Err(RuntimeError::Missing { kind: "container", name: container.to_owned() });
            };
            nets.insert(network.to_owned(), ip);
            w.calls.push(Call::Connect(network.to_owned(), container.to_owned(), ip));
            Ok(())
        })?
    }

    async fn disconnect(&self, network: &str, container: &str) -> Result<(), RuntimeError> {
        self.with(|w| {
            check(w, "disconnect", container)?;
            if let Some((_, nets, _)) = w.containers.get_mut(container) {
                nets.remove(network);
            }
            w.calls.push(Call::Disconnect(network.to_owned(), container.to_owned()));
            Ok(())
        })?
    }

    async fn ensure_firewall(&self, spec: &crate::firewall::FirewallSpec) -> Result<(), RuntimeError> {
        self.with(|w| {
            check(w, "firewall", "firewall")?;
            if w.firewalls.get(&spec.topology) != Some(spec) {
                w.firewalls.insert(spec.topology, spec.clone());
                w.calls.push(Call::EnsureFirewall(spec.topology));
            }
            Ok(())
        })?
    }

    async fn remove_firewall(&self, topology: TopologyId) -> Result<(), RuntimeError> {
        self.with(|w| {
            if w.firewalls.remove(&topology).is_some() {
                w.calls.push(Call::RemoveFirewall(topology));
            }
        })
    }

    async fn set_routes(&self, container: &str, routes: &[Route]) -> Result<(), RuntimeError> {
        self.with(|w| {
            check(w, "set routes", container)?;
            if !w.containers.get(container).is_some_and(|c| c.2) {
                return Err(RuntimeError::Missing { kind: "running container", name: container.to_owned() });
            }
            w.routes.insert(container.to_owned(), routes.to_vec());
            w.calls.push(Call::SetRoutes(container.to_owned()));
            Ok(())
        })?
    }

    fn follow_logs(&self, container: &str, since: Option<&str>) -> Option<tokio::sync::mpsc::Receiver<crate::LogLine>> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        self.with(|w| {
            let (lines, followers) = w.logs.entry(container.to_owned()).or_default();
            for line in lines.iter().filter(|l| since.is_none_or(|s| l.at.as_str() > s)) {
                let _ = tx.try_send(line.clone());
            }
            followers.push(tx);
        })
        .ok()?;
        Some(rx)
    }
}

/// A sortable timestamp for the `n`th line (the memory runtime has no clock of its own
/// that must agree with anything).
fn chrono_like_now(n: usize) -> String {
    format!("2026-01-01T00:00:00.{n:09}Z")
}
