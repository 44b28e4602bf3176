//! Replicas on one PostgreSQL database: three `decnet engine run` processes drain 10,000
//! queued mutations over 100 topologies; one is frozen and killed with SIGKILL half-way.
//! Every mutation is applied exactly once and each topology's in queue order (see
//! `support/replicas.rs`: a mutation out of order or applied twice is refused), and the
//! claims the killed engine held are taken over by another within two lease periods.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

#[allow(dead_code)] // The benchmark uses the rest.
#[path = "support/replicas.rs"]
mod harness;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use decnet_domain::MutationState;
use decnet_store::{EventFilter, Mutation};
use harness::{Database, EngineProcess, all_mutations, queued_work};

const TOPOLOGIES: usize = 100;
const PER_TOPOLOGY: usize = 100;
const LEASE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_engines_apply_every_mutation_once_in_order_and_take_over_from_a_killed_one() {
    let database = Database::postgres();
    let store = database.open().await;
    let ids = queued_work(&store, TOPOLOGIES, PER_TOPOLOGY).await;
    let total = TOPOLOGIES * PER_TOPOLOGY;

    let options = ["--tick", "2", "--poll-ms", "200", "--lease", "10", "--batch", "4"];
    let mut engines: Vec<EngineProcess> =
        (0..3).map(|_| EngineProcess::start(&database.location(), &options)).collect();
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
            engines[0].signal("STOP");
            let held = held_by_victim(&all_mutations(&*store, &ids).await);
            if !held.is_empty() {
                engines[0].child.kill().unwrap();
                engines[0].child.wait().unwrap();
                break held;
            }
            engines[0].signal("CONT");
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

    for engine in &mut engines[1..] {
        assert!(engine.stop(), "an engine did not stop on SIGTERM");
    }
}
