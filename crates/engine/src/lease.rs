//! Exclusive reconciliation of a topology, within this engine and across engines.
//!
//! Deploy, teardown, draining and healing of one topology must never overlap: two engines
//! materialising the same topology would race each other's containers. Within an engine a
//! mutex per topology orders them; across engines (replicas on one PostgreSQL database, or
//! processes on one SQLite file) a lease in the store does, renewed while held and given
//! up when the work ends. An engine that dies stops renewing, and its lease passes to
//! another once it expires.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use decnet_domain::TopologyId;
use decnet_store::{LeasePurpose, Store};
use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinHandle;

use crate::{Engine, EngineError};

/// How often a waiting deploy or teardown asks for a lease another engine holds.
const RETRY: Duration = Duration::from_millis(200);

/// This engine holds a topology: its local lock and its store lease. [`Exclusive::around`]
/// gives the lease up as soon as the work ends, awaited, so that a short-lived process (a
/// CLI deploy) does not exit still holding it; dropping it unreleased (a cancelled request)
/// stops the renewals and gives the lease up in the background. Either way the release
/// happens under the local lock, so this engine's next holder cannot be overtaken by it.
pub(crate) struct Exclusive {
    local: Option<OwnedMutexGuard<()>>,
    renewal: JoinHandle<()>,
    store: Arc<dyn Store>,
    id: TopologyId,
    owner: String,
}

impl Exclusive {
    /// Runs `work` while holding the topology, then gives the lease up before returning.
    pub(crate) async fn around<T>(mut self, work: impl std::future::Future<Output = T>) -> T {
        let done = work.await;
        self.renewal.abort();
        let local = self.local.take();
        release(&*self.store, self.id, &self.owner).await;
        drop(local);
        done
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        self.renewal.abort();
        // Already released by `around`.
        let Some(local) = self.local.take() else { return };
        let (store, id, owner) = (self.store.clone(), self.id, self.owner.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            release(&*store, id, &owner).await;
            drop(local);
        });
    }
}

async fn release(store: &dyn Store, id: TopologyId, owner: &str) {
    if let Err(err) = store.release_topology(id, LeasePurpose::Reconcile, owner).await {
        tracing::warn!(topology = %id, error = %err, "giving up the topology lease failed; it will expire");
    }
}

impl Engine {
    /// Holds `id` for a request (deploy, teardown): waits while another engine reconciles
    /// it, for at most two lease periods, then answers that it is busy.
    pub(crate) async fn exclusive(&self, id: TopologyId) -> Result<Exclusive, EngineError> {
        let deadline = tokio::time::Instant::now() + self.config.lease.saturating_mul(2);
        loop {
            if let Some(held) = self.try_exclusive(id).await? {
                return Ok(held);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Busy { topology: id, waited: self.config.lease.saturating_mul(2) });
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Holds `id` if no other engine reconciles it (draining, healing): `None` otherwise,
    /// and that engine does the work.
    pub(crate) async fn try_exclusive(&self, id: TopologyId) -> Result<Option<Exclusive>, EngineError> {
        let local = self.lock(id).await;
        let owner = self.config.owner.clone();
        let ttl = self.config.lease;
        if !self.store.lease_topology(id, LeasePurpose::Reconcile, &owner, Utc::now(), ttl).await? {
            return Ok(None);
        }
        let renewal = tokio::spawn({
            let (store, owner) = (self.store.clone(), owner.clone());
            async move {
                let mut every = tokio::time::interval(ttl / 3);
                every.tick().await;
                loop {
                    every.tick().await;
                    match store.lease_topology(id, LeasePurpose::Reconcile, &owner, Utc::now(), ttl).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(topology = %id, "the topology lease passed to another engine"),
                        Err(err) => tracing::warn!(topology = %id, error = %err, "renewing the topology lease failed"),
                    }
                }
            }
        });
        Ok(Some(Exclusive { local: Some(local), renewal, store: self.store.clone(), id, owner }))
    }
}
