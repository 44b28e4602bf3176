//! Core benchmarks of the engine, comparable with the Python baseline
//! (`../shared/bench/decnet-baseline/`): validation of a 500-LAN / 5,000-decky design,
//! generate + persist of that size, and enqueue → applied latency and throughput of
//! 1,000 mutations (add_decky / attach_decky / update_decky) on a 100-LAN / 1,000-decky
//! topology stored in SQLite with `synchronous=FULL`.
//!
//! Run with `cargo bench -p decnet-engine --bench core` (add `-- --quick` for a smoke run).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark aborts on any failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_domain::generator::{GeneratorConfig, generate};
use decnet_domain::validate::{Context, Scope, validate};
use decnet_domain::{Design, Name, TopologyId};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_store::SqliteStore;
use serde_json::json;

/// Generator parameters whose output is within 1 % of the wanted LAN count.
fn shape(lans: usize, depth: u32, branching: u32, per_lan: (u32, u32)) -> GeneratorConfig {
    let base = GeneratorConfig {
        depth,
        branching,
        deckies_per_lan_min: per_lan.0,
        deckies_per_lan_max: per_lan.1,
        cross_edge_p: 0.1,
        services: None,
        ..GeneratorConfig::default()
    };
    (0..100_000)
        .map(|seed| GeneratorConfig { seed, ..base.clone() })
        .find(|c| {
            let d = generate(c, &[]).unwrap();
            d.lans.len().abs_diff(lans) * 100 <= lans && d.deckies.len().abs_diff(lans * 10) * 100 <= lans * 10
        })
        .expect("a seed of the wanted size")
}

fn stats(label: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let n = samples.len();
    let pct = |p: f64| samples[((n as f64 - 1.0) * p).round() as usize];
    let total: Duration = samples.iter().sum();
    println!(
        "{label:<44} n={n:<5} min={:>9.3?} p50={:>9.3?} p95={:>9.3?} p99={:>9.3?} max={:>9.3?} total={:>9.3?}",
        samples[0],
        pct(0.5),
        pct(0.95),
        pct(0.99),
        samples[n - 1],
        total
    );
    pct(0.5)
}

fn size(design: &Design) -> String {
    format!("{} LANs / {} deckies / {} edges", design.lans.len(), design.deckies.len(), design.edges().count())
}

async fn engine(dir: &tempfile::TempDir) -> Engine {
    let store = SqliteStore::open(&dir.path().join("bench.db")).await.unwrap();
    Engine::new(Arc::new(store), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default())
}

fn bench_validate(reps: usize) {
    let config = shape(500, 6, 4, (9, 11));
    let design = generate(&config, &[]).unwrap();
    println!("validate: {} (seed {})", size(&design), config.seed);
    let ctx = Context::default();
    assert!(validate(&design, &ctx, Scope::Full).is_empty());
    let samples = (0..reps)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(validate(&design, &ctx, Scope::Full));
            start.elapsed()
        })
        .collect();
    stats("validate L (full rules)", samples);
}

async fn bench_generate_persist(reps: usize) {
    let config = shape(500, 6, 4, (9, 11));
    println!("generate+persist: {} (seed {})", size(&generate(&config, &[]).unwrap()), config.seed);
    let mut samples = Vec::new();
    for i in 0..reps {
        // A fresh database each repetition, as the baseline does.
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(&dir).await;
        let start = Instant::now();
        engine.generate(Name::parse(&format!("l{i}")).unwrap(), config.clone()).await.unwrap();
        samples.push(start.elapsed());
    }
    stats("generate+persist L (fresh SQLite file)", samples);
}

/// The op mix of the baseline, in blocks: `n` add_decky (a new decky with one service on
/// an internal LAN), `n` attach_decky (an existing decky joins an internal LAN it is not
/// on), `n` update_decky (coordinates only). Built up front so no timing includes it.
fn op_mix(design: &Design, n: usize) -> Vec<(&'static str, serde_json::Value)> {
    let internal: Vec<&Name> = design.lans.values().filter(|l| !l.is_dmz).map(|l| &l.name).collect();
    let deckies: Vec<_> = design.deckies.values().collect();
    let mut ops = Vec::with_capacity(3 * n);
    for i in 0..n {
        let lan = internal[i % internal.len()];
        ops.push(("add_decky", json!({"name": format!("bench-{i}"), "lan": lan, "services": ["ssh"]})));
    }
    let mut attached = std::collections::HashSet::new();
    let mut k = 0;
    while attached.len() < n {
        let decky = deckies[k % deckies.len()];
        let lan = internal[(k * 7 + 3) % internal.len()];
        k += 1;
        if !decky.ips.contains_key(lan) && attached.insert((decky.name.clone(), lan.clone())) {
            ops.push(("attach_decky", json!({"decky": decky.name, "lan": lan})));
        }
    }
    for i in 0..n {
        ops.push(("update_decky", json!({"decky": deckies[i % deckies.len()].name, "x": i as f64, "y": 1.0})));
    }
    ops
}

/// Waits for the applied (or failed) event of mutation `id`.
async fn settled(events: &mut tokio::sync::broadcast::Receiver<Arc<decnet_engine::Event>>, id: i64) -> Instant {
    loop {
        let event = events.recv().await.expect("bus open");
        let done = event.topic.ends_with(".mutation.applied") || event.topic.ends_with(".mutation.failed");
        if done && event.payload["mutation_id"].as_i64() == Some(id) {
            assert!(event.topic.ends_with(".applied"), "refused: {}", event.payload);
            return Instant::now();
        }
    }
}

/// A deployed 100-LAN / 1,000-decky topology on a fresh database.
async fn mutation_topology(batch: usize) -> (tempfile::TempDir, Engine, TopologyId, Design) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db")).await.unwrap();
    let config = EngineConfig { batch, ..EngineConfig::default() };
    let engine = Engine::new(Arc::new(store), Arc::new(MemoryRuntime::new()), Bus::default(), config);
    let shape = shape(100, 4, 4, (9, 11));
    let topology = engine.generate(Name::parse("m").unwrap(), shape).await.unwrap();
    let id = topology.header.id;
    engine.deploy(id).await.unwrap();
    (dir, engine, id, (*topology.design).clone())
}

/// Runs the reconciler loop in the background until the returned sender is dropped.
fn run_engine(engine: &Engine) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let looping = engine.clone();
    let worker = tokio::spawn(async move {
        looping.run(async { stopped.await.unwrap_or(()) }).await.unwrap();
    });
    (stop, worker)
}

async fn bench_mutations(per_kind: usize) {
    let count = 3 * per_kind;
    let (_dir, engine, id, design) = mutation_topology(64).await;
    println!("mutations: {} , {count} ops (add_decky, attach_decky, update_decky blocks)", size(&design));

    // 1. Live, one at a time: enqueue, then wait for the applied event; the reconciler
    //    runs as in production, woken by each enqueue.
    let ops = op_mix(&design, per_kind);
    let (stop, worker) = run_engine(&engine);
    let mut events = engine.bus().subscribe();
    let mut latencies: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let started = Instant::now();
    for (i, (op, payload)) in ops.iter().enumerate() {
        let start = Instant::now();
        let (mutation, _) = engine.enqueue(id, op, payload, None).await.unwrap();
        let done = settled(&mut events, mutation.id).await;
        latencies[i / per_kind].push(done - start);
    }
    let wall = started.elapsed();
    let mut all = Vec::new();
    for (kind, bucket) in latencies.into_iter().enumerate() {
        all.extend(bucket.iter().copied());
        stats(&format!("live enqueue->applied {}", ["add_decky", "attach_decky", "update_decky"][kind]), bucket);
    }
    let p50 = stats("live enqueue->applied, one at a time", all);
    println!("live one at a time: {:.0} mutations/s (p50 {p50:.3?})", count as f64 / wall.as_secs_f64());
    let _ = stop.send(());
    worker.await.unwrap();

    // 2. Queue drain, as the baseline measures it: the whole mix queued first, then
    //    drained by the reconciler; per-mutation latency is claim (applying) to applied.
    for batch in [1, 64] {
        let (_dir, engine, id, design) = mutation_topology(batch).await;
        let ops = op_mix(&design, per_kind);
        let started = Instant::now();
        for (op, payload) in &ops {
            engine.enqueue(id, op, payload, None).await.unwrap();
        }
        let enqueue_wall = started.elapsed();
        let mut events = engine.bus().subscribe();
        let started = Instant::now();
        // Drained on a runtime worker, as the engine's loop does (not on the bench thread).
        let drainer = engine.clone();
        let report = tokio::spawn(async move {
            let mut report = drainer.drain(id).await.unwrap();
            while report.applied + report.refused < count {
                let more = drainer.drain(id).await.unwrap();
                report.applied += more.applied;
                report.refused += more.refused;
            }
            report
        })
        .await
        .unwrap();
        let drain_wall = started.elapsed();
        assert_eq!(report.applied, count);
        let mut applying = std::collections::HashMap::new();
        let mut latencies = Vec::with_capacity(count);
        while let Ok(event) = events.try_recv() {
            let mutation = event.payload["mutation_id"].as_i64();
            if event.topic.ends_with(".mutation.applying") {
                applying.insert(mutation, event.at);
            } else if event.topic.ends_with(".mutation.applied") {
                let claimed = applying[&mutation];
                latencies.push((event.at - claimed).to_std().unwrap_or_default());
            }
        }
        let p50 = stats(&format!("queue drain (batch {batch}) claim->applied"), latencies);
        println!(
            "queue drain, batch {batch}: enqueue {count} in {enqueue_wall:.3?} ({:.0}/s); drain in {drain_wall:.3?} = {:.0} mutations/s (p50 {p50:.3?}); enqueue+drain {:.0} mutations/s",
            count as f64 / enqueue_wall.as_secs_f64(),
            count as f64 / drain_wall.as_secs_f64(),
            count as f64 / (enqueue_wall + drain_wall).as_secs_f64()
        );
    }

    // 3. Pipelined: one client enqueues the whole mix without waiting while the
    //    reconciler drains concurrently.
    let (_dir, engine, id, design) = mutation_topology(64).await;
    let ops = op_mix(&design, per_kind);
    let (stop, worker) = run_engine(&engine);
    let mut events = engine.bus().subscribe();
    let started = Instant::now();
    let mut enqueued_at = Vec::with_capacity(count);
    for (op, payload) in &ops {
        let (mutation, _) = engine.enqueue(id, op, payload, None).await.unwrap();
        enqueued_at.push((mutation.id, Instant::now()));
    }
    let mut latencies = Vec::with_capacity(count);
    for (mutation, at) in &enqueued_at {
        latencies.push(settled(&mut events, *mutation).await - *at);
    }
    let wall = started.elapsed();
    let p50 = stats("pipelined enqueue->applied", latencies);
    println!(
        "pipelined: {count} mutations in {wall:.3?} = {:.0} mutations/s (p50 {p50:.3?})",
        count as f64 / wall.as_secs_f64()
    );
    let _ = stop.send(());
    worker.await.unwrap();
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--mutations-only") {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(bench_mutations(if quick { 50 } else { 334 }));
        return;
    }
    if std::env::args().any(|a| a == "--validate-only") {
        bench_validate(2000);
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    bench_validate(if quick { 5 } else { 30 });
    runtime.block_on(bench_generate_persist(if quick { 2 } else { 5 }));
    runtime.block_on(bench_mutations(if quick { 50 } else { 334 }));
}
