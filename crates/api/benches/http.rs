//! HTTP benchmarks of the API, with our own load client (200 concurrent keep-alive
//! connections): GET of a deployed 100-decky and 1,000-decky topology (and the same with
//! `If-None-Match`), and 10,000 mutation enqueues over HTTP while the reconciler applies
//! them. The server is the real router with authentication, over SQLite
//! (`synchronous=FULL`) and the memory runtime, on its own 2-thread runtime; the client
//! runs on another. Both share this 2-core machine, as wrk would.
//!
//! Run with `cargo bench -p decnet-api --bench http` (`-- --quick` for a 5 s smoke run).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark aborts on any failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use decnet_api::{AppState, Auth, AuthConfig};
use decnet_engine::{Bus, Engine, EngineConfig};
use decnet_runtime::MemoryRuntime;
use decnet_store::SqliteStore;
use serde_json::{Value, json};

const CLIENTS: usize = 200;
const PASSWORD: &str = "benchmark-password";

/// A document of `deckies` deckies spread over LANs of 100, each LAN bridged to the DMZ by
/// its first decky.
fn document(name: &str, deckies: usize, second_octet: usize) -> Value {
    let lans = deckies.div_ceil(100);
    let mut lan_docs = vec![json!({ "name": "dmz", "is_dmz": true, "subnet": format!("10.{second_octet}.0.0/24") })];
    let mut decky_docs = Vec::new();
    for l in 0..lans {
        lan_docs.push(json!({ "name": format!("lan-{l}"), "subnet": format!("10.{second_octet}.{}.0/24", l + 1) }));
    }
    for d in 0..deckies {
        let lan = format!("lan-{}", d / 100);
        let mut networks = vec![json!({ "lan": lan })];
        if d % 100 == 0 {
            networks.push(json!({ "lan": "dmz" }));
        }
        decky_docs.push(json!({
            "name": format!("d-{d:04}"), "home_lan": lan, "networks": networks, "services": ["ssh", "http"],
        }));
    }
    json!({ "name": name, "lans": lan_docs, "deckies": decky_docs })
}

struct Outcome {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
    bytes: usize,
}

fn report(label: &str, mut outcome: Outcome) -> (f64, Duration) {
    outcome.latencies.sort();
    let n = outcome.latencies.len();
    let pct = |p: f64| outcome.latencies[((n as f64 - 1.0) * p).round() as usize];
    let rate = n as f64 / outcome.elapsed.as_secs_f64();
    println!(
        "{label:<46} {n:>7} req in {:>5.1?}  {rate:>8.0} req/s  p50={:>8.2?} p99={:>8.2?} max={:>8.2?}  errors={}  {:.1} KiB/resp",
        outcome.elapsed,
        pct(0.5),
        pct(0.99),
        outcome.latencies[n - 1],
        outcome.errors,
        outcome.bytes as f64 / n.max(1) as f64 / 1024.0,
    );
    (rate, pct(0.99))
}

/// `CLIENTS` tasks sending `make()` requests until `duration` has passed.
async fn load(
    client: &reqwest::Client,
    duration: Duration,
    make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
    ok: reqwest::StatusCode,
) -> Outcome {
    let make = Arc::new(make);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, make) = (client.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut bytes) = (Vec::new(), 0, 0);
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = make(&client).send().await.unwrap();
                let status = response.status();
                bytes += response.bytes().await.unwrap().len();
                latencies.push(sent.elapsed());
                errors += usize::from(status != ok);
            }
            (latencies, errors, bytes)
        }));
    }
    let mut outcome = Outcome { latencies: Vec::new(), errors: 0, elapsed: Duration::ZERO, bytes: 0 };
    for task in tasks {
        let (latencies, errors, bytes) = task.await.unwrap();
        outcome.latencies.extend(latencies);
        outcome.errors += errors;
        outcome.bytes += bytes;
    }
    outcome.elapsed = start.elapsed();
    outcome
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let duration = Duration::from_secs(if quick { 5 } else { 30 });
    let enqueues: usize = if quick { 2_000 } else { 10_000 };
    let dir = tempfile::tempdir().unwrap();

    // The server, on its own runtime.
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (base, engine) = server_rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("bench.db")).await.unwrap();
        let engine =
            Engine::new(Arc::new(store), Arc::new(MemoryRuntime::new()), Bus::default(), EngineConfig::default());
        decnet_api::auth::ensure_first_admin(engine.store().as_ref(), Some(PASSWORD.into())).await.unwrap();
        for (name, deckies, octet) in [("hundred", 100, 201), ("thousand", 1000, 202)] {
            let doc = serde_json::from_value(document(name, deckies, octet)).unwrap();
            let topology = engine.create(doc, "bench").await.unwrap();
            engine.deploy(topology.header.id).await.unwrap();
        }
        let auth = Arc::new(Auth::load(engine.store().as_ref(), AuthConfig::default()).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(decnet_api::serve(listener, AppState::new(engine.clone(), auth), std::future::pending()));
        let reconciler = engine.clone();
        tokio::spawn(async move { reconciler.run(std::future::pending()).await });
        (base, engine)
    });

    let client_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    client_rt.block_on(async {
        decnet_sinks::use_ring_for_tls();
        let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build().unwrap();
        let login: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "username": "admin", "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = Arc::new(login["access_token"].as_str().unwrap().to_owned());
        println!("HTTP benchmarks: {CLIENTS} concurrent clients, {duration:?} per GET run, {enqueues} enqueues");

        for name in ["hundred", "thousand"] {
            let url = format!("{base}/api/v1/topologies/{name}");
            let first = client.get(&url).bearer_auth(token.as_str()).send().await.unwrap();
            let etag = first.headers()["etag"].to_str().unwrap().to_owned();
            let (url_get, token_get) = (url.clone(), token.clone());
            let outcome = load(
                &client,
                duration,
                move |c| c.get(&url_get).bearer_auth(token_get.as_str()),
                reqwest::StatusCode::OK,
            )
            .await;
            report(&format!("GET {name} ({} deckies)", if name == "hundred" { 100 } else { 1000 }), outcome);
            let (url_304, token_304) = (url.clone(), token.clone());
            let outcome = load(
                &client,
                duration.min(Duration::from_secs(10)),
                move |c| c.get(&url_304).bearer_auth(token_304.as_str()).header("if-none-match", etag.clone()),
                reqwest::StatusCode::NOT_MODIFIED,
            )
            .await;
            report(&format!("GET {name} with If-None-Match (304)"), outcome);
        }

        // Enqueues: CLIENTS tasks share the count; every one is a real 202.
        let url = Arc::new(format!("{base}/api/v1/topologies/hundred/mutations"));
        let sent = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let (client, url, token, sent) = (client.clone(), url.clone(), token.clone(), sent.clone());
            tasks.push(tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0);
                loop {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    if n >= enqueues {
                        return (latencies, errors);
                    }
                    let body =
                        json!({ "op": "update_decky", "payload": { "decky": format!("d-{:04}", n % 100), "x": n } });
                    let began = Instant::now();
                    let response =
                        client.post(url.as_str()).bearer_auth(token.as_str()).json(&body).send().await.unwrap();
                    errors += usize::from(response.status() != reqwest::StatusCode::ACCEPTED);
                    response.bytes().await.unwrap();
                    latencies.push(began.elapsed());
                }
            }));
        }
        let mut outcome = Outcome { latencies: Vec::new(), errors: 0, elapsed: Duration::ZERO, bytes: 0 };
        for task in tasks {
            let (latencies, errors) = task.await.unwrap();
            outcome.latencies.extend(latencies);
            outcome.errors += errors;
        }
        outcome.elapsed = start.elapsed();
        report("POST mutations (enqueue, 202)", outcome);
        // Until the reconciler has applied every one.
        let id = engine.store().resolve("hundred").await.unwrap();
        loop {
            let open = engine.store().snapshot(id).await.unwrap().open_mutations.len();
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "{:<46} {enqueues:>7} applied {:>5.1?} after the first enqueue ({:.0}/s end to end)",
            "enqueued mutations applied",
            start.elapsed(),
            enqueues as f64 / start.elapsed().as_secs_f64()
        );
    });
    drop(server_rt);
}
