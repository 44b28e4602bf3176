//! Serialized bodies of topology reads, by topology and what identifies their content
//! (`version` for accepted intents, `generation` for the design, `observed` for decky
//! states, the status change time for the status).
//!
//! A GET of a 1,000-decky topology is about 320 KiB of JSON; building it costs far more
//! than answering the request, and between two changes every reader gets the same bytes.
//! The cache is small and bounded: it holds the latest body of a few topologies.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use decnet_domain::TopologyId;
use decnet_domain::model::TopologyHeader;

/// Topologies whose body is kept.
const CAPACITY: usize = 64;

/// What identifies a body's content. Every part only grows, so a later body never
/// compares lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp {
    version: i64,
    generation: i64,
    observed: i64,
    status_changed_us: i64,
}

impl Stamp {
    /// The stamp of what a read of the topology with this header shows.
    pub(crate) fn of(header: &TopologyHeader) -> Self {
        Self {
            version: header.version,
            generation: header.generation,
            observed: header.observed,
            status_changed_us: header.status_changed_at.timestamp_micros(),
        }
    }

    /// The weak ETag of a topology at this stamp.
    pub(crate) fn etag(&self, id: TopologyId) -> String {
        format!(
            "W/\"{}-{}-{}-{}-{}\"",
            id.simple(),
            self.version,
            self.generation,
            self.observed,
            self.status_changed_us
        )
    }
}

/// The latest serialized body per topology.
#[derive(Debug, Default)]
pub struct BodyCache {
    bodies: Mutex<HashMap<TopologyId, (Stamp, Bytes)>>,
}

impl BodyCache {
    /// The body of `id` at `stamp`, if kept.
    pub(crate) fn get(&self, id: TopologyId, stamp: Stamp) -> Option<Bytes> {
        let bodies = self.bodies.lock().unwrap_or_else(|p| p.into_inner());
        bodies.get(&id).filter(|(kept, _)| *kept == stamp).map(|(_, body)| body.clone())
    }

    /// Keeps `body` as the body of `id` at `stamp` unless a newer one is kept.
    pub(crate) fn put(&self, id: TopologyId, stamp: Stamp, body: Bytes) {
        let mut bodies = self.bodies.lock().unwrap_or_else(|p| p.into_inner());
        if bodies.len() >= CAPACITY && !bodies.contains_key(&id) {
            // Any entry will do: the cache only saves work, and a popular topology is
            // back after its next read.
            if let Some(evicted) = bodies.keys().next().copied() {
                bodies.remove(&evicted);
            }
        }
        match bodies.get(&id) {
            Some((kept, _)) if *kept > stamp => {}
            _ => {
                bodies.insert(id, (stamp, body));
            }
        }
    }
}
