//! The in-process event bus.
//!
//! A broadcast channel of topic-named events with a process-wide sequence number, so a
//! subscriber can tell whether it missed anything. Topics follow the reference:
//! `topology.<id>.mutation.<state>`, `topology.<id>.status`, `decky.<name>.state`, and
//! `engine.ready` once the reconciler loop has healed at start and watches for changes.
//! Publishing never blocks and never fails; a subscriber that falls behind the channel's
//! capacity learns it from the receiver (`Lagged`), not by silently losing events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use decnet_domain::{MutationState, Name, TopologyId};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

/// One published event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Process-wide sequence number, strictly increasing.
    pub seq: u64,
    /// Topic.
    pub topic: String,
    /// Publication time.
    pub at: DateTime<Utc>,
    /// Event body.
    pub payload: Value,
}

/// The bus. Clones share the channel.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<Arc<Event>>,
    seq: Arc<AtomicU64>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl Bus {
    /// A bus whose subscribers may fall up to `capacity` events behind.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx, seq: Arc::new(AtomicU64::new(0)) }
    }

    /// Publishes `payload` on `topic`.
    pub fn publish(&self, topic: String, payload: Value) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        // No subscriber is not an error: events are fire-and-forget.
        let _ = self.tx.send(Arc::new(Event { seq, topic, at: Utc::now(), payload }));
    }

    /// A new subscriber, receiving every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// Topic builders.
pub mod topics {
    use super::*;

    /// `topology.<id>.mutation.<state>` (also `enqueued`).
    pub fn mutation(id: TopologyId, state: &str) -> String {
        format!("topology.{id}.mutation.{state}")
    }

    /// `topology.<id>.status`.
    pub fn status(id: TopologyId) -> String {
        format!("topology.{id}.status")
    }

    /// `decky.<name>.state`.
    pub fn decky_state(decky: &Name) -> String {
        format!("decky.{decky}.state")
    }

    /// The topic of a mutation state.
    pub fn mutation_state(id: TopologyId, state: MutationState) -> String {
        mutation(id, state.as_str())
    }
}
