//! Shared fixtures for the engine tests: a temporary store, a memory runtime, an engine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
#![allow(dead_code, missing_docs)] // Shared by several test binaries, each using a part.

use std::sync::Arc;
use std::time::Duration;

use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{Name, TopologyId};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_store::SqliteStore;
use tempfile::TempDir;

pub struct Harness {
    pub dir: TempDir,
    pub engine: Engine,
    pub runtime: Arc<MemoryRuntime>,
    pub store: Arc<SqliteStore>,
}

impl Harness {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("engine.db")).await.unwrap());
        Self::with_store(dir, store, "engine-a").await
    }

    pub async fn with_store(dir: TempDir, store: Arc<SqliteStore>, owner: &str) -> Self {
        let runtime = Arc::new(MemoryRuntime::new());
        // No backoff by default: tests that heal expect the next pass to retry.
        let config = EngineConfig { owner: owner.into(), backoff_base: Duration::ZERO, ..EngineConfig::default() };
        let engine = Engine::new(store.clone(), runtime.clone(), Bus::default(), config);
        Self { dir, engine, runtime, store }
    }

    /// Another engine (own runtime, own owner id) on the same database.
    pub async fn second_engine(&self, owner: &str) -> Engine {
        let store = Arc::new(SqliteStore::open(&self.dir.path().join("engine.db")).await.unwrap());
        let config = EngineConfig { owner: owner.into(), ..EngineConfig::default() };
        Engine::new(store, self.runtime.clone(), Bus::default(), config)
    }

    pub async fn generate(&self, name: &str, seed: u64) -> TopologyId {
        let config = GeneratorConfig { seed, depth: 2, branching: 2, ..GeneratorConfig::default() };
        self.engine.generate(Name::parse(name).unwrap(), config).await.unwrap().header.id
    }

    pub async fn deployed(&self, name: &str, seed: u64) -> TopologyId {
        let id = self.generate(name, seed).await;
        self.engine.deploy(id).await.unwrap();
        id
    }
}

pub fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}
