//! A queue of mutations for engine replicas to drain, shared by the replicas test and the
//! replicas benchmark: a database (a fresh PostgreSQL database on the test server, or a
//! SQLite file), topologies deployed on the in-memory runtime with mutations queued, and
//! `decnet engine run` processes on that database.
//!
//! Each topology's mutations add and remove one LAN in turn, always the same one: out of
//! order, or twice, one of them is refused (the LAN exists, or is not there).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use chrono::Utc;
use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{Name, TopologyId};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_store::{Mutation, PgStore, SqliteStore, Store};
use serde_json::json;

/// A database of its own, removed when dropped.
pub enum Database {
    /// A database on the PostgreSQL server at `server`.
    Postgres { server: String, name: String },
    /// A SQLite file in a temporary directory.
    Sqlite(tempfile::TempDir),
}

impl Database {
    /// A new database on the test server (`DECNET_TEST_PG_URL`, which `scripts/test.sh`
    /// sets).
    pub fn postgres() -> Database {
        let server = std::env::var("DECNET_TEST_PG_URL")
            .expect("DECNET_TEST_PG_URL names the PostgreSQL test server (scripts/test.sh starts one)");
        let name = format!("replicas_{}", uuid::Uuid::new_v4().simple());
        psql(&server, &format!("CREATE DATABASE {name}"));
        Database::Postgres { server, name }
    }

    /// A new SQLite file.
    pub fn sqlite() -> Database {
        Database::Sqlite(tempfile::tempdir().unwrap())
    }

    /// What `--db` takes for it.
    pub fn location(&self) -> String {
        match self {
            Database::Postgres { server, name } => {
                let (base, query) = server.split_once('?').map_or((server.as_str(), None), |(b, q)| (b, Some(q)));
                let (scheme, rest) = base.split_once("://").unwrap();
                let authority = rest.split('/').next().unwrap_or_default();
                format!("{scheme}://{authority}/{name}{}", query.map(|q| format!("?{q}")).unwrap_or_default())
            }
            Database::Sqlite(dir) => dir.path().join("decnet.db").display().to_string(),
        }
    }

    /// A store on it.
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            Database::Postgres { .. } => Arc::new(PgStore::connect(&self.location()).await.unwrap()),
            Database::Sqlite(dir) => Arc::new(SqliteStore::open(&dir.path().join("decnet.db")).await.unwrap()),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { server, name } = self {
            psql(server, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql]).output().unwrap();
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Deploys `topologies` small topologies on the in-memory runtime (no gateway, so no host
/// port is published twice) and queues `per_topology` mutations on each; their ids.
pub async fn queued_work(store: &Arc<dyn Store>, topologies: usize, per_topology: usize) -> Vec<TopologyId> {
    let setup = Engine::new(store.clone(), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
    let mut ids = Vec::new();
    for t in 0..topologies {
        let config = GeneratorConfig {
            depth: 1,
            branching: 1,
            deckies_per_lan_min: 1,
            deckies_per_lan_max: 1,
            gateway: false,
            seed: t as u64,
            ..GeneratorConfig::default()
        };
        let id = setup.generate(Name::parse(&format!("replica-{t}")).unwrap(), config).await.unwrap().header.id;
        setup.deploy(id).await.unwrap();
        ids.push(id);
    }
    for (t, id) in ids.iter().enumerate() {
        let subnet = format!("10.{}.{}.0/24", 1 + t / 250, t % 250);
        for i in 0..per_topology {
            let (op, payload) = if i % 2 == 0 {
                ("add_lan", json!({ "name": "churn", "subnet": subnet }))
            } else {
                ("remove_lan", json!({ "name": "churn" }))
            };
            store.enqueue(*id, op, &payload, None, Utc::now()).await.unwrap();
        }
    }
    ids
}

/// Every mutation of `ids`, oldest first.
pub async fn all_mutations(store: &dyn Store, ids: &[TopologyId]) -> Vec<Mutation> {
    let mut all = Vec::new();
    for id in ids {
        all.extend(store.mutations(*id, None).await.unwrap());
    }
    all.sort_by_key(|m| m.id);
    all
}

/// A running `decnet engine run` on the in-memory runtime, killed when dropped.
pub struct EngineProcess {
    pub child: Child,
    log: tempfile::NamedTempFile,
}

impl EngineProcess {
    /// Starts an engine on `db` with these `engine run` options.
    pub fn start(db: &str, options: &[&str]) -> EngineProcess {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_decnet"))
            .args(["--db", db, "--runtime", "memory", "engine", "run"])
            .args(options)
            .env("DECNET_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        EngineProcess { child, log }
    }

    /// The owner prefix of this process's claims (`engine-<pid>-…`).
    pub fn owner_prefix(&self) -> String {
        format!("engine-{}-", self.child.id())
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success(), "kill -{signal}");
    }

    /// Stops it with SIGTERM; whether it exited within 10 s.
    pub fn stop(&mut self) -> bool {
        self.signal("TERM");
        (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            self.child.try_wait().unwrap().is_some()
        })
    }

    /// The last lines it logged.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
