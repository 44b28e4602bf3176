//! The DECNET engine: where the store and the runtime meet.
//!
//! It creates topologies (generated or imported), deploys and tears them down, queues
//! mutations, and runs the reconciler that claims, plans, commits and materialises them.
//! Deploy, restart recovery, healing and live edits all end in the same convergence step
//! ([`Engine::converge`]), which compares the stored design with what the runtime reports
//! and repairs the difference.

pub mod alerts;
pub mod attackers;
pub mod bus;
mod collector;
mod converge;
mod design;
mod error;
mod host;
mod hostlink;
mod lease;
mod lifecycle;
mod metrics;
mod placement;
mod reconciler;
mod sinks;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use decnet_domain::{Name, TopologyId};
use decnet_runtime::Runtime;
use decnet_store::Store;
use tokio::sync::Notify;

pub use bus::{Bus, Event};
pub use converge::ConvergeReport;
pub use error::EngineError;
pub use lifecycle::Reaped;
pub use metrics::Metrics;
pub use reconciler::DrainReport;
pub use sinks::{DiskStatus, EventsUse, SinkUse, Sinks};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Identity of this engine in queue leases (unique per process).
    pub owner: String,
    /// How long a claim stays valid before another engine may take it over.
    pub lease: Duration,
    /// Interval of the full pass that heals degraded topologies (and re-checks all work).
    pub tick: Duration,
    /// Interval of the cheap check for work queued by other processes (enqueues made
    /// through this engine wake it at once).
    pub poll: Duration,
    /// Topologies reconciled in parallel.
    pub concurrency: usize,
    /// Most mutations of one topology claimed and committed together (group commit).
    pub batch: usize,
    /// First wait before converging a decky that failed twice in a row; it doubles with
    /// every further failure up to `backoff_cap` (the first retry is immediate).
    pub backoff_base: Duration,
    /// Longest wait between attempts at a failing decky.
    pub backoff_cap: Duration,
    /// Interval of the check for decoy containers whose logs are not followed yet.
    pub collect: Duration,
    /// Events older than this are deleted (checked every tick).
    pub events_max_age: Duration,
    /// At most this many events are kept (the oldest go first).
    pub events_max_rows: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            owner: format!("engine-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(60),
            tick: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            concurrency: 4,
            batch: 64,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(300),
            collect: Duration::from_secs(2),
            events_max_age: Duration::from_secs(30 * 86_400),
            events_max_rows: 5_000_000,
        }
    }
}

/// The engine. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    runtime: Arc<dyn Runtime>,
    bus: Bus,
    config: Arc<EngineConfig>,
    wake: Arc<Notify>,
    /// Topologies with newly queued work, for the next wake-up.
    marked: Arc<Mutex<BTreeSet<TopologyId>>>,
    /// One lock per topology: deploy, teardown, draining and convergence of a topology
    /// never overlap within this engine.
    locks: Arc<Mutex<HashMap<TopologyId, Arc<tokio::sync::Mutex<()>>>>>,
    /// Deckies that keep failing, and when to try them again.
    backoff: Arc<Mutex<HashMap<(TopologyId, Name), converge::Backoff>>>,
    /// Decoy containers whose logs are being followed.
    followed: collector::Followed,
    /// Tunnels and arrivals waiting for their other side (`attacker.hop`).
    hops: Arc<std::sync::Mutex<attackers::HopWatch>>,
    /// Counters for `GET /metrics`.
    metrics: Metrics,
}

impl Engine {
    /// An engine over `store` and `runtime`.
    pub fn new(store: Arc<dyn Store>, runtime: Arc<dyn Runtime>, bus: Bus, config: EngineConfig) -> Self {
        Self {
            store,
            runtime,
            bus,
            config: Arc::new(config),
            wake: Arc::new(Notify::new()),
            marked: Arc::default(),
            locks: Arc::default(),
            backoff: Arc::default(),
            followed: Arc::default(),
            hops: Arc::default(),
            metrics: Metrics::default(),
        }
    }

    /// The engine's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// The event bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Waits for exclusive use of a topology within this engine.
    pub(crate) async fn lock(&self, id: TopologyId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(id).or_default().clone()
        };
        lock.lock_owned().await
    }
}
