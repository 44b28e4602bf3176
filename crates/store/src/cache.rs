//! Designs cached by generation, for both backends.
//!
//! A reader checks a topology's `generation` in its own transaction and reuses the cached
//! design when nothing changed, so a mutation on a 1,000-decky topology does not reload
//! 1,000 rows. Every design write bumps the generation, whichever replica makes it, so a
//! stale entry is never used: it simply misses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use decnet_domain::{Design, TopologyId};

/// The last design read or written per topology, with its generation.
#[derive(Default)]
pub(crate) struct DesignCache(Mutex<HashMap<TopologyId, (i64, Arc<Design>)>>);

impl DesignCache {
    /// The cached design of `id` if it is the one at `generation`.
    pub(crate) fn get(&self, id: TopologyId, generation: i64) -> Option<Arc<Design>> {
        let cache = self.0.lock().ok()?;
        cache.get(&id).filter(|(g, _)| *g == generation).map(|(_, d)| d.clone())
    }

    /// Remembers `design` as `id`'s at `generation`.
    pub(crate) fn put(&self, id: TopologyId, generation: i64, design: Arc<Design>) {
        if let Ok(mut cache) = self.0.lock() {
            cache.insert(id, (generation, design));
        }
    }

    /// Forgets a deleted topology.
    pub(crate) fn forget(&self, id: TopologyId) {
        if let Ok(mut cache) = self.0.lock() {
            cache.remove(&id);
        }
    }
}
