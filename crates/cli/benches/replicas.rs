//! Mutations per second drained by engine replicas: 1, 2 and 4 `decnet engine run`
//! processes on one PostgreSQL database, against one on SQLite, in one run. Each run
//! queues 10,000 mutations over 100 topologies (in-memory runtime) before the engines
//! start; the rate is counted from the first to the last mutation applied (so engine
//! start-up is not in it), and the wall time from the engines' start is shown too.
//!
//! `DECNET_TEST_PG_URL=… cargo bench -p decnet --bench replicas` (scripts/postgres.sh
//! starts a server); results also go to bench-out/replicas.txt.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark fails loudly.

#[allow(dead_code)] // The replicas test uses the rest.
#[path = "../tests/support/replicas.rs"]
mod harness;

use std::io::Write;
use std::time::{Duration, Instant};

use decnet_domain::MutationState;
use harness::{Database, EngineProcess, all_mutations, queued_work};

const TOPOLOGIES: usize = 100;
const PER_TOPOLOGY: usize = 100;

async fn run(database: Database, replicas: usize) -> String {
    let store = database.open().await;
    let ids = queued_work(&store, TOPOLOGIES, PER_TOPOLOGY).await;
    let total = TOPOLOGIES * PER_TOPOLOGY;
    let started = Instant::now();
    let options = ["--poll-ms", "200"];
    let mut engines: Vec<EngineProcess> =
        (0..replicas).map(|_| EngineProcess::start(&database.location(), &options)).collect();
    let all = loop {
        let all = all_mutations(&*store, &ids).await;
        let failed = all.iter().filter(|m| m.state == MutationState::Failed).count();
        assert_eq!(failed, 0, "a mutation failed");
        if all.iter().all(|m| m.state == MutationState::Applied) {
            break all;
        }
        assert!(started.elapsed() < Duration::from_secs(900), "not drained: {}", engines[0].log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = started.elapsed();
    for engine in &mut engines {
        engine.stop();
    }
    let finished: Vec<_> = all.iter().filter_map(|m| m.finished_at).collect();
    let (first, last) = (finished.iter().min().unwrap(), finished.iter().max().unwrap());
    let window = (*last - *first).to_std().unwrap_or_default().max(Duration::from_millis(1));
    let backend = match database {
        Database::Postgres { .. } => "postgresql",
        Database::Sqlite(_) => "sqlite",
    };
    format!(
        "{backend:<10} {replicas} engine(s): {total} mutations applied in {:.2} s = {:.0} mutations/s \
         (first to last applied); {:.2} s from the engines' start",
        window.as_secs_f64(),
        total as f64 / window.as_secs_f64(),
        wall.as_secs_f64()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut lines = Vec::new();
    lines.push(run(Database::sqlite(), 1).await);
    for replicas in [1, 2, 4] {
        lines.push(run(Database::postgres(), replicas).await);
    }
    // The workspace's bench-out/, whatever directory cargo runs the benchmark in.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-out");
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = std::fs::File::create(dir.join("replicas.txt")).unwrap();
    for line in &lines {
        println!("{line}");
        writeln!(out, "{line}").unwrap();
    }
}
