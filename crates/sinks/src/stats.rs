//! What each sink did, counted in this process: for `GET /api/v1/sinks` and the metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::SinkConfig;

/// Live counters of one sink.
#[derive(Debug, Default)]
pub struct SinkStats {
    delivered: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    spooled: AtomicU64,
    holding: AtomicBool,
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
    last_delivered_at: Mutex<Option<DateTime<Utc>>>,
}

/// A sink's state as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkStatus {
    /// Its name.
    pub name: String,
    /// `file`, `syslog`, `webhook` or `elasticsearch`.
    pub kind: String,
    /// Where it delivers (no credentials).
    pub target: String,
    /// Whether its last attempt succeeded (or none failed yet).
    pub healthy: bool,
    /// Whether this process delivers it now (with replicas, one of them does).
    pub active: bool,
    /// Events delivered by this process.
    pub delivered: u64,
    /// Failed attempts, each retried.
    pub retried: u64,
    /// Events skipped because its spool was full.
    pub dropped: u64,
    /// Events waiting for it (its spool), as last counted.
    pub spooled: u64,
    /// The spool's bound.
    pub spool_max_events: u64,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
    /// When a batch was last delivered.
    pub last_delivered_at: Option<DateTime<Utc>>,
}

impl SinkStats {
    pub(crate) fn delivered(&self, events: u64) {
        self.delivered.fetch_add(events, Ordering::Relaxed);
        self.failing.store(false, Ordering::Relaxed);
        if let Ok(mut at) = self.last_delivered_at.lock() {
            *at = Some(Utc::now());
        }
    }

    pub(crate) fn failed(&self, error: String) {
        self.retried.fetch_add(1, Ordering::Relaxed);
        self.failing.store(true, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }

    pub(crate) fn dropped(&self, events: u64) {
        self.dropped.fetch_add(events, Ordering::Relaxed);
    }

    pub(crate) fn spooled(&self, events: u64) {
        self.spooled.store(events, Ordering::Relaxed);
    }

    pub(crate) fn holding(&self, holding: bool) {
        self.holding.store(holding, Ordering::Relaxed);
    }

    /// The report of the sink `config` describes.
    pub fn status(&self, config: &SinkConfig) -> SinkStatus {
        SinkStatus {
            name: config.name.clone(),
            kind: config.kind().map(|k| k.as_str()).unwrap_or_default().to_owned(),
            target: config.target(),
            healthy: !self.failing.load(Ordering::Relaxed),
            active: self.holding.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            spool_max_events: config.spool_max_events,
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            last_delivered_at: self.last_delivered_at.lock().ok().and_then(|at| *at),
        }
    }
}
