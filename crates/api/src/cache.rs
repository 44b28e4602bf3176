//! Serialized bodies of topology reads, by topology and what identifies their content
//! (`version` for the design and status, `observed` for decky states).
//!
//! A GET of a 1,000-decky topology is about 320 KiB of JSON; building it costs far more
//! than answering the request, and between two changes every reader gets the same bytes.
//! The cache is small and bounded: it holds the latest body of a few topologies.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use decnet_domain::TopologyId;

/// Topologies whose body is kept.
const CAPACITY: usize = 64;

/// What identifies a body's content.
pub(crate) type Stamp = (i64, i64);

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
