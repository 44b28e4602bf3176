//! The container-runtime boundary of DECNET.
//!
//! [`Runtime`] is the handful of idempotent operations the engine needs, in our own
//! vocabulary; [`spec`] turns a design into the networks and containers it needs, with
//! names and labels derived from validated names and the topology's full id. Two
//! implementations: [`DockerRuntime`], the only code that knows the Engine API, and
//! [`MemoryRuntime`], a recording in-memory runtime used by tests and offered to users as
//! a simulation mode. [`compose`] renders the same specs as a Compose file.

pub mod compose;
mod decoy;
mod docker;
pub mod firewall;
mod hostlink;
mod memory;
pub mod spec;
mod swarm;

use std::net::Ipv4Addr;

use async_trait::async_trait;
use decnet_domain::TopologyId;

pub use decoy::DecoyBinary;
pub use docker::{DockerRuntime, image_tag};
pub use hostlink::LinkProbe;
pub use memory::{Call, MemoryRuntime};
pub use spec::{ContainerSpec, NetworkSpec, Observed, ObservedContainer};
pub use swarm::{ENGINE_LABEL, PlacementPlan, SwarmConfig, SwarmNode, SwarmRuntime};

/// Why a runtime operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The runtime cannot be reached.
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
    /// The decoy binary cannot run in the decoy image (missing, not ELF, dynamically
    /// linked); nothing was created.
    #[error("unusable decoy binary: {0}")]
    DecoyBinary(String),
    /// A referenced resource is missing where it is required (e.g. connecting a
    /// container to a network that does not exist).
    #[error("{kind} {name} not found")]
    Missing {
        /// Kind of resource.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A DMZ's host interface cannot carry it (missing, on another network, or the tools
    /// to drive it are missing); nothing was created.
    #[error("{0}")]
    HostLink(String),
    /// Another host on the DMZ's network answers for an address the maze would take.
    #[error("address {address} is already in use on {interface} (answered by {by}); choose another address or range")]
    AddressInUse {
        /// The address.
        address: Ipv4Addr,
        /// The host interface probed.
        interface: String,
        /// Who answered.
        by: String,
    },
    /// The runtime refused the operation.
    #[error("{operation} {name} failed: {message}")]
    Failed {
        /// What was attempted.
        operation: &'static str,
        /// On what.
        name: String,
        /// The runtime's error text.
        message: String,
    },
}

impl RuntimeError {
    /// What kind of failure this is: an unusable decoy binary is the caller's input; the
    /// rest is the runtime's.
    pub fn kind(&self) -> decnet_domain::ErrorKind {
        match self {
            RuntimeError::DecoyBinary(_) | RuntimeError::HostLink(_) => decnet_domain::ErrorKind::BadRequest,
            RuntimeError::AddressInUse { .. } => decnet_domain::ErrorKind::Conflict,
            RuntimeError::Unavailable(_) | RuntimeError::Missing { .. } | RuntimeError::Failed { .. } => {
                decnet_domain::ErrorKind::Unavailable
            }
        }
    }
}

/// The operations the engine performs on a container runtime.
///
/// # Guarantees (every implementation)
/// - Creating what already exists as specified, removing what is already gone,
///   connecting what is connected and disconnecting what is not are all successes.
/// - Everything created carries the spec's labels, so [`Runtime::observe`] can rebuild
///   the real state of a topology from the runtime alone.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// A short name of the implementation (`memory`, `docker`).
    fn kind(&self) -> &'static str;

    /// The decoy image containers run; part of every container's spec hash, so a new
    /// decoy binary (a new image) recreates containers as they converge.
    fn image(&self) -> &str;

    /// Everything labelled as belonging to `topology`.
    async fn observe(&self, topology: TopologyId) -> Result<Observed, RuntimeError>;

    /// Topologies whose resources changed outside the engine's own calls are reported on
    /// the returned channel (a container died or was removed, a network was removed or
    /// lost a member), so healing need not wait for its interval. `None` when the runtime
    /// reports no such changes.
    fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<TopologyId>> {
        None
    }

    /// Every topology id found on a labelled container or network (for orphan reaping).
    async fn owners(&self) -> Result<std::collections::BTreeSet<TopologyId>, RuntimeError>;

    /// Creates the network unless it exists.
    async fn ensure_network(&self, spec: &NetworkSpec) -> Result<(), RuntimeError>;

    /// Removes the network, disconnecting anything still on it.
    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError>;

    /// Creates and starts the container unless it runs with the same spec hash; a
    /// container of that name with another hash is replaced.
    async fn ensure_container(&self, spec: &ContainerSpec) -> Result<(), RuntimeError>;

    /// Stops and removes the container.
    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError>;

    /// Connects a running container to a network at a fixed IP, without restarting it.
    async fn connect(&self, network: &str, container: &str, ip: Ipv4Addr) -> Result<(), RuntimeError>;

    /// Disconnects a container from a network.
    async fn disconnect(&self, network: &str, container: &str) -> Result<(), RuntimeError>;

    /// Checks, before a DMZ on a host interface takes `probe.addresses`, that the
    /// interface exists and sits on the DMZ's subnet and that no other host on that
    /// network answers for any of the addresses (an ARP probe, as address-conflict
    /// detection does). Runtimes that put no deckies on host interfaces refuse.
    async fn probe_link(&self, probe: &LinkProbe) -> Result<(), RuntimeError> {
        Err(RuntimeError::HostLink(format!(
            "the {} runtime cannot put the DMZ on host interface {}; use a bridge DMZ",
            self.kind(),
            probe.interface
        )))
    }

    /// Makes the host firewall of a topology what `spec` says (created or replaced whole).
    async fn ensure_firewall(&self, spec: &firewall::FirewallSpec) -> Result<(), RuntimeError>;

    /// Removes the host firewall of `topology`; nothing to remove is a success.
    async fn remove_firewall(&self, topology: TopologyId) -> Result<(), RuntimeError>;

    /// Makes `routes` the routes of the running base `container`, in place (no restart);
    /// the base keeps them from then on.
    async fn set_routes(&self, container: &str, routes: &[decnet_domain::routing::Route]) -> Result<(), RuntimeError>;

    /// Gives the running base `container` its persona's MAC on a link joined live (`link`
    /// is `ADDRESS=MAC`, as `spec::link_mac` gives it); runtimes without real links have
    /// nothing to do.
    async fn set_link_mac(&self, _container: &str, _link: &str) -> Result<(), RuntimeError> {
        Ok(())
    }

    /// The memory each running decoy service container uses now, as (service slug, bytes),
    /// where the runtime can read it (its containers' cgroups on this host); empty where it
    /// cannot (the memory runtime, a swarm's remote nodes).
    async fn decoy_memory(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    /// Where the deckies of `topology` go from now on (its stored placement, resolved by the
    /// engine before each convergence). Runtimes of one host have nowhere else to put them.
    fn place_topology(&self, _topology: TopologyId, _plan: PlacementPlan) {}

    /// Follows what `container` writes on stdout, from after `since` (a timestamp this
    /// runtime gave on an earlier line; from the start when `None`), one line per message,
    /// until the container stops or the receiver is dropped. `None` when the runtime keeps
    /// no logs.
    fn follow_logs(&self, _container: &str, _since: Option<&str>) -> Option<tokio::sync::mpsc::Receiver<LogLine>> {
        None
    }
}

/// One line a container wrote, with the runtime's timestamp (RFC 3339 with nanoseconds,
/// so comparing two as text orders them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the runtime logged it.
    pub at: String,
    /// The line, without its newline.
    pub line: String,
}

/// Label keys on every resource.
pub mod labels {
    /// The owning topology's full id.
    pub const TOPOLOGY: &str = "decnet.topology.id";
    /// The decky (containers).
    pub const DECKY: &str = "decnet.topology.decky";
    /// `base` or `service` (containers).
    pub const ROLE: &str = "decnet.topology.role";
    /// The service slug (service containers).
    pub const SERVICE: &str = "decnet.topology.service_name";
    /// Hash of the container spec.
    pub const SPEC_HASH: &str = "decnet.topology.spec_hash";
    /// The LAN (networks).
    pub const LAN: &str = "decnet.topology.lan";
}
