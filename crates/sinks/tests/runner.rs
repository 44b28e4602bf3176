//! The runner over an in-memory log: a stalled receiver while 100,000 events are recorded
//! holds memory to one batch, its spool stops at the bound and the excess is counted as
//! dropped; when the receiver comes back the spool drains in order. A sink held by
//! another replica delivers nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use decnet_sinks::{Backlog, Config, SinkError, SinkEvent, SinkStats, Spool};
use serde_json::Value;
use tokio::sync::Notify;

/// The log: events in id order, one cursor per sink, and whether another replica holds it.
#[derive(Default)]
struct MemoryLog {
    events: Mutex<Vec<SinkEvent>>,
    cursors: Mutex<std::collections::HashMap<String, i64>>,
    held_elsewhere: Mutex<bool>,
    recorded: Notify,
    /// Calls of `hold`, and a wake-up for each.
    holds: Mutex<usize>,
    held: Notify,
    /// The log's length when `wait` last returned: events recorded since end a wait at once.
    waited_at: Mutex<usize>,
}

impl MemoryLog {
    fn record(&self, events: impl IntoIterator<Item = SinkEvent>) {
        self.events.lock().unwrap().extend(events);
        self.recorded.notify_waiters();
    }
}

#[async_trait]
impl Spool for MemoryLog {
    async fn hold(&self, sink: &str) -> Result<Option<i64>, SinkError> {
        *self.holds.lock().unwrap() += 1;
        self.held.notify_waiters();
        if *self.held_elsewhere.lock().unwrap() {
            return Ok(None);
        }
        let end = self.events.lock().unwrap().last().map_or(0, |e| e.id);
        Ok(Some(*self.cursors.lock().unwrap().entry(sink.to_owned()).or_insert(end)))
    }

    async fn read(&self, after: i64, limit: usize) -> Result<Vec<SinkEvent>, SinkError> {
        Ok(self.events.lock().unwrap().iter().filter(|e| e.id > after).take(limit).cloned().collect())
    }

    async fn backlog(&self, after: i64, keep: u64) -> Result<Backlog, SinkError> {
        let events = self.events.lock().unwrap();
        let waiting: Vec<i64> = events.iter().filter(|e| e.id > after).map(|e| e.id).collect();
        let excess = (waiting.len() as u64).saturating_sub(keep);
        let skip_to = (excess > 0).then(|| (waiting[excess as usize - 1], excess));
        Ok(Backlog { waiting: waiting.len() as u64, skip_to })
    }

    async fn advance(&self, sink: &str, to: i64) -> Result<bool, SinkError> {
        self.cursors.lock().unwrap().insert(sink.to_owned(), to);
        Ok(true)
    }

    async fn wait(&self, at_most: Duration) {
        let recorded = self.recorded.notified();
        let length = self.events.lock().unwrap().len();
        let seen = std::mem::replace(&mut *self.waited_at.lock().unwrap(), length);
        if length == seen {
            let _ = tokio::time::timeout(at_most, recorded).await;
            *self.waited_at.lock().unwrap() = self.events.lock().unwrap().len();
        }
    }
}

fn config(url: &str, spool: u64) -> decnet_sinks::SinkConfig {
    let yaml = format!(
        "sinks:\n  - name: hook\n    batch: 1000\n    spool_max_events: {spool}\n    retry_max_secs: 1\n    webhook: {{ url: {url:?} }}\n"
    );
    Config::parse(Path::new("test.yaml"), &yaml).unwrap().sinks.remove(0)
}

fn delivered_ids(requests: &[common::Received]) -> Vec<i64> {
    requests
        .iter()
        .filter(|r| r.body.len() > 2)
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect::<Vec<_>>()
        })
        .collect()
}

/// Polls the sink's counters (up to 30 s) until `check` holds of them.
async fn status_until(
    stats: &SinkStats,
    config: &decnet_sinks::SinkConfig,
    what: &str,
    check: impl Fn(&decnet_sinks::SinkStatus) -> bool,
) -> decnet_sinks::SinkStatus {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = stats.status(config);
        if check(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < until, "{what}: not within 30 s: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stalled_receiver_spools_to_the_bound_counts_the_excess_dropped_then_drains_in_order() {
    let receiver = common::Receiver::start((503, "{}")).await;
    let log = Arc::new(MemoryLog::default());
    let stats = Arc::new(SinkStats::default());
    let config = config(&receiver.url("/hook"), 10_000);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(decnet_sinks::run(config.clone(), log.clone(), stats.clone(), async {
        let _ = stop_rx.await;
    }));
    // The runner starts at the log's end, so it sees all that follows.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !stats.status(&config).active {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the runner takes its sink");
    let template = SinkEvent { payload: serde_json::json!({ "event": "auth_attempt" }), ..common::event(0) };
    for chunk in 0..100 {
        log.record((1..=1000).map(|n| SinkEvent { id: chunk * 1000 + n, ..template.clone() }));
    }
    receiver.until("a failed attempt", Duration::from_secs(10), |r| !r.is_empty()).await;
    // While stalled: every attempt is one batch (memory stays at a batch), none delivered.
    let status = status_until(&stats, &config, "the excess over the bound counted as dropped", |s| {
        s.dropped == 90_000 && s.retried >= 1
    })
    .await;
    assert_eq!((status.delivered, status.spooled, status.healthy), (0, 10_000, false), "{status:?}");
    assert!(status.retried >= 1 && status.last_error.as_deref().is_some_and(|e| e.contains("503")), "{status:?}");
    for request in receiver.requests() {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert!(body["events"].as_array().unwrap().len() <= 1000, "one batch at a time");
    }

    // The receiver comes back: the spool drains, oldest first, exactly the last 10,000.
    let attempts = receiver.requests().len();
    *receiver.default.lock().unwrap() = (200, "{}".into());
    receiver.received.lock().unwrap().clear();
    receiver.until("the spool drained", Duration::from_secs(30), |r| delivered_ids(r).len() >= 10_000).await;
    assert!(attempts >= 1);
    assert_eq!(delivered_ids(&receiver.requests()), (90_001..=100_000).collect::<Vec<i64>>(), "in order, once");
    let status = status_until(&stats, &config, "the drained spool counted", |s| s.delivered == 10_000).await;
    assert_eq!(
        (status.delivered, status.dropped, status.healthy, status.spooled),
        (10_000, 90_000, true, 0),
        "{status:?}"
    );
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), runner).await.expect("stops when told").unwrap();
}

/// Waits (up to 10 s) until the runner has asked for its sink `more` more times.
async fn holds_pass(log: &MemoryLog, more: usize) {
    let target = *log.holds.lock().unwrap() + more;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let held = log.held.notified();
            if *log.holds.lock().unwrap() >= target {
                return;
            }
            held.await;
        }
    })
    .await
    .expect("the runner keeps asking for its sink");
}

#[tokio::test]
async fn a_sink_held_by_another_replica_delivers_nothing_until_it_is_free() {
    let receiver = common::Receiver::start((200, "{}")).await;
    let log = Arc::new(MemoryLog::default());
    *log.held_elsewhere.lock().unwrap() = true;
    let stats = Arc::new(SinkStats::default());
    let config = config(&receiver.url("/hook"), 100);
    let runner = tokio::spawn(decnet_sinks::run(config.clone(), log.clone(), stats.clone(), std::future::pending()));
    holds_pass(&log, 1).await;
    log.record((1..=5).map(common::event));
    // Woken by the events, it asks again and is refused again.
    holds_pass(&log, 1).await;
    assert!(receiver.requests().is_empty() && !stats.status(&config).active);

    *log.held_elsewhere.lock().unwrap() = false;
    log.record([common::event(6)]);
    holds_pass(&log, 1).await;
    log.record([common::event(7)]);
    receiver.until("delivery once free", Duration::from_secs(10), |r| !delivered_ids(r).is_empty()).await;
    assert_eq!(delivered_ids(&receiver.requests()), [7], "from the log's end when it took the sink");
    runner.abort();
}
