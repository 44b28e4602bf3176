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
    format!(
        "{} LANs / {} deckies / {} edges",
        design.lans.len(),
        design.deckies.len(),
        design.edges().count()
    )
}

async fn engine(dir: &tempfile::TempDir) -> Engine {
    let store = SqliteStore::open(&dir.path().join("bench.db")).await.unwrap();
    Engine::new(
        Arc::new(store),
        Arc::new(MemoryRuntime::new()),
        Bus::default(),
        EngineConfig::default(),
    )
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
    println!(
        "generate+persist: {} (seed {})",
        size(&generate(&config, &[]).unwrap()),
        config.seed
    );
    let mut samples = Vec::new();
    for i in 0..reps {
        // A fresh database each repetition, as the baseline does.
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(&dir).await;
        let start = Instant::now();
        engine
            .generate(Name::parse(&format!("l{i}")).unwrap(), config.clone())
            .await
            .unwrap();
        samples.push(start.elapsed());
    }
    stats("generate+persist L (fresh SQLite file)", samples);
}

/// Builds the n-th op of the mix against the live design.
fn op_for(engine_design: &Design, kind: usize, i: usize) -> (&'static str, serde_json::Value) {
    let internal: Vec<&Name> = engine_design
        .lans
        .values()
        .filter(|l| !l.is_dmz)
        .map(|l| &l.name)
        .collect();
    let lan = internal[i % internal.len()];
    match kind {
        0 => (
            "add_decky",
            json!({"name": format!("bench-{i}"), "lan": lan, "services": ["ssh"]}),
        ),
        1 => {
            // An existing decky joins a LAN it is not on yet.
            let deckies: Vec<_> = engine_design.deckies.values().collect();
            let mut k = i;
            loop {
                let decky = deckies[k % deckies.len()];
                let target = internal[(k * 7 + 3) % internal.len()];
                if !decky.ips.contains_key(target) {
                    return ("attach_decky", json!({"decky": decky.name, "lan": target}));
                }
                k += 1;
            }
        }
        _ => {
            let decky = engine_design
                .deckies
                .keys()
                .nth(i % engine_design.deckies.len())
                .unwrap();
            ("update_decky", json!({"decky": decky, "x": i as f64, "y": 1.0}))
        }
    }
}

async fn bench_mutations(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir).await;
    let config = shape(100, 4, 4, (9, 11));
    let topology = engine
        .generate(Name::parse("m").unwrap(), config.clone())
        .await
        .unwrap();
    let id: TopologyId = topology.header.id;
    println!(
        "mutations: {} (seed {}), {count} ops",
        size(&topology.design),
        config.seed
    );
    engine.deploy(id).await.unwrap();
    let per_kind = count / 3;
    let mut latencies: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut all = Vec::new();
    let started = Instant::now();
    for (kind, bucket) in latencies.iter_mut().enumerate() {
        let n = if kind == 0 { count - 2 * per_kind } else { per_kind };
        for i in 0..n {
            let design = engine.store().topology(id).await.unwrap().design.clone();
            let (op, payload) = op_for(&design, kind, i);
            let start = Instant::now();
            engine.enqueue(id, op, &payload, None).await.unwrap();
            let report = engine.drain(id).await.unwrap();
            let elapsed = start.elapsed();
            assert_eq!(report.applied, 1, "{op} {payload}");
            bucket.push(elapsed);
            all.push(elapsed);
        }
    }
    let wall = started.elapsed();
    for (kind, bucket) in latencies.into_iter().enumerate() {
        stats(
            &format!(
                "enqueue->applied {}",
                ["add_decky", "attach_decky", "update_decky"][kind]
            ),
            bucket,
        );
    }
    let p50 = stats("enqueue->applied (all ops, one at a time)", all);
    println!(
        "sequential throughput: {:.0} mutations/s over {count} (p50 {p50:.3?}; wall includes building payloads)",
        count as f64 / wall.as_secs_f64()
    );

    // Pipelined: the whole batch queued first, then drained by the reconciler.
    for i in 0..count {
        let design = engine.store().topology(id).await.unwrap().design.clone();
        let (op, payload) = op_for(&design, 2, i);
        engine.enqueue(id, op, &payload, None).await.unwrap();
    }
    let start = Instant::now();
    let report = engine.run_until_idle().await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(report.applied, count);
    println!(
        "queued-batch drain: {count} update_decky in {elapsed:.3?} = {:.0} mutations/s",
        count as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--validate-only") {
        bench_validate(2000);
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    bench_validate(if quick { 5 } else { 30 });
    runtime.block_on(bench_generate_persist(if quick { 2 } else { 5 }));
    runtime.block_on(bench_mutations(if quick { 150 } else { 1000 }));
}
