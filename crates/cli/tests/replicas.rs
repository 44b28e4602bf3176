//! Replicas on one PostgreSQL database: three `decnet engine run` processes drain 10,000
//! queued mutations over 100 topologies; one is killed with SIGKILL half-way. Every
//! mutation is applied exactly once and each topology's in queue order, and what the
//! killed engine held is taken over by another within two lease periods.
//!
//! The mutations of a topology add and remove one LAN in turn, always the same one: out of
//! order, or twice, one of them would be refused (the LAN exists, or is not there), so "no
//! mutation failed" is itself the check. The engines run the in-memory runtime; the
//! database is a fresh one on the test server `scripts/test.sh` starts
//! (`DECNET_TEST_PG_URL`), dropped at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use decnet_domain::generator::GeneratorConfig;
use decnet_domain::{MutationState, Name, TopologyId};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_store::{EventFilter, Mutation, PgStore, Store};
use serde_json::json;

const TOPOLOGIES: usize = 100;
const PER_TOPOLOGY: usize = 100;
const LEASE: Duration = Duration::from_secs(10);

/// A database of its own on the test server, dropped when the test ends (also on
/// failure: the engines are killed first).
struct Database {
    server: String,
    name: String,
}

impl Database {
    fn create() -> Database {
        let server = std::env::var("DECNET_TEST_PG_URL")
            .expect("DECNET_TEST_PG_URL names the PostgreSQL test server (scripts/test.sh starts one)");
        let name = format!("replicas_{}", uuid::Uuid::new_v4().simple());
        psql(&server, &format!("CREATE DATABASE {name}"));
        Database { server, name }
    }

    /// The server's URL naming this database.
    fn url(&self) -> String {
        let (base, query) = self.server.split_once('?').map_or((self.server.as_str(), None), |(b, q)| (b, Some(q)));
        let (scheme, rest) = base.split_once("://").unwrap();
        let authority = rest.split('/').next().unwrap_or_default();
        format!("{scheme}://{authority}/{}{}", self.name, query.map(|q| format!("?{q}")).unwrap_or_default())
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(&self.server, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql]).output().unwrap();
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A running `decnet engine run`, killed when dropped.
struct EngineProcess {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl EngineProcess {
    fn start(url: &str) -> EngineProcess {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_decnet"))
            .args(["--db", url, "--runtime", "memory", "engine", "run", "--tick", "2", "--poll-ms", "200"])
            .args(["--lease", &LEASE.as_secs().to_string(), "--batch", "4"])
            .env("DECNET_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        EngineProcess { child, log }
    }

    /// The owner prefix of this process's claims (`engine-<pid>-…`).
    fn owner_prefix(&self) -> String {
        format!("engine-{}-", self.child.id())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` (`STOP`, `CONT`, `TERM`) to an engine.
fn signal(engine: &EngineProcess, signal: &str) {
    let sent = Command::new("kill").args([&format!("-{signal}"), &engine.child.id().to_string()]).status().unwrap();
    assert!(sent.success(), "kill -{signal}");
}

/// Every mutation of `ids`, oldest first.
async fn all_mutations(store: &dyn Store, ids: &[TopologyId]) -> Vec<Mutation> {
    let mut all = Vec::new();
    for id in ids {
        all.extend(store.mutations(*id, None).await.unwrap());
    }
    all.sort_by_key(|m| m.id);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_engines_apply_every_mutation_once_in_order_and_take_over_from_a_killed_one() {
    let database = Database::create();
    let url = database.url();
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await.unwrap());

    // 100 small deployed topologies (no gateway, so no host port is published twice).
    let setup = Engine::new(store.clone(), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
    let mut ids = Vec::new();
    for t in 0..TOPOLOGIES {
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
    // Queued before any engine runs: add and remove the same LAN, in turn.
    for (t, id) in ids.iter().enumerate() {
        let subnet = format!("10.1.{t}.0/24");
        for i in 0..PER_TOPOLOGY {
            let (op, payload) = if i % 2 == 0 {
                ("add_lan", json!({ "name": "churn", "subnet": subnet }))
            } else {
                ("remove_lan", json!({ "name": "churn" }))
            };
            store.enqueue(*id, op, &payload, None, Utc::now()).await.unwrap();
        }
    }
    let total = TOPOLOGIES * PER_TOPOLOGY;

    let mut engines: Vec<EngineProcess> = (0..3).map(|_| EngineProcess::start(&url)).collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    let settled = |all: &[Mutation]| all.iter().filter(|m| m.state == MutationState::Applied).count();

    // Half-way, kill the first engine while it holds claims: frozen first (SIGSTOP), so
    // what it holds cannot change between looking and killing.
    let victim = engines[0].owner_prefix();
    let held_by_victim = |all: &[Mutation]| -> BTreeSet<i64> {
        all.iter()
            .filter(|m| m.state == MutationState::Applying)
            .filter(|m| m.lease_owner.as_deref().is_some_and(|o| o.starts_with(&victim)))
            .map(|m| m.id)
            .collect()
    };
    let orphaned: BTreeSet<i64> = loop {
        assert!(Instant::now() < deadline, "no progress; engine log:\n{}", engines[0].log_tail());
        if settled(&all_mutations(&*store, &ids).await) >= total / 2 {
            signal(&engines[0], "STOP");
            let held = held_by_victim(&all_mutations(&*store, &ids).await);
            if !held.is_empty() {
                engines[0].child.kill().unwrap();
                engines[0].child.wait().unwrap();
                break held;
            }
            signal(&engines[0], "CONT");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let killed_at = Instant::now();

    // The others take its claims over, and drain everything.
    let mut taken_over = None;
    loop {
        let all = all_mutations(&*store, &ids).await;
        let failed: Vec<_> = all.iter().filter(|m| m.state == MutationState::Failed).collect();
        assert!(failed.is_empty(), "a mutation failed (out of order or applied twice): {:?}", failed[0]);
        if taken_over.is_none()
            && all.iter().filter(|m| orphaned.contains(&m.id)).all(|m| m.state == MutationState::Applied)
        {
            taken_over = Some(killed_at.elapsed());
        }
        if settled(&all) == total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {total} applied; engine logs:\n{}\n{}",
            settled(&all),
            engines[1].log_tail(),
            engines[2].log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let taken_over = taken_over.unwrap();
    println!("{} claims of the killed engine applied by another {taken_over:?} after the kill", orphaned.len());
    assert!(taken_over <= LEASE * 2, "took {taken_over:?} to take over (lease {LEASE:?})");
    let all = all_mutations(&*store, &ids).await;
    for m in all.iter().filter(|m| orphaned.contains(&m.id)) {
        assert!(!m.lease_owner.as_deref().unwrap_or_default().starts_with(&victim), "applied by another: {m:?}");
        assert_eq!(m.attempts, 2, "claimed again once its lease expired: {m:?}");
    }

    // Exactly once and in order: each topology's `mutation.applied` events name its
    // mutations once each, in queue order.
    for id in &ids {
        let filter = EventFilter {
            topology_id: Some(*id),
            kind: Some("mutation.applied".into()),
            limit: 10_000,
            ..Default::default()
        };
        let applied: Vec<i64> =
            store.events(&filter).await.unwrap().iter().map(|e| e.payload["mutation_id"].as_i64().unwrap()).collect();
        let mut queued: Vec<i64> = store.mutations(*id, None).await.unwrap().iter().map(|m| m.id).collect();
        queued.sort_unstable();
        assert_eq!(applied, queued, "topology {id}: applied once each, in queue order");
        assert!(!store.topology(*id).await.unwrap().design.lans.contains_key("churn"), "the last op removed it");
    }

    // The survivors stop cleanly.
    for engine in &mut engines[1..] {
        signal(engine, "TERM");
        let stopped = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            engine.child.try_wait().unwrap().is_some()
        });
        assert!(stopped, "an engine did not stop on SIGTERM");
    }
}
