//! The engine's side of the sinks: the store's event log is their spool (each sink's
//! cursor and holder kept in the store, so with replicas one engine delivers a sink at a
//! time and another takes over when it dies), and one task per configured sink.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use decnet_sinks::{Backlog, SinkConfig, SinkError, SinkEvent, SinkStats, SinkStatus, Spool};
use decnet_store::{EventFilter, Store, StoredEvent};
use tokio::task::JoinHandle;

use crate::{Bus, Engine};

/// The running sinks of this process.
#[derive(Default)]
pub struct Sinks {
    sinks: Vec<(SinkConfig, Arc<SinkStats>)>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.sinks.iter().map(|(c, _)| &c.name)).finish()
    }
}

impl Sinks {
    /// The sinks' configurations, in order.
    pub fn configs(&self) -> Vec<SinkConfig> {
        self.sinks.iter().map(|(config, _)| config.clone()).collect()
    }

    /// Each sink's state, in configuration order.
    pub fn statuses(&self) -> Vec<SinkStatus> {
        self.sinks.iter().map(|(config, stats)| stats.status(config)).collect()
    }

    /// Waits for every sink task to stop (after the stop future given at start resolved).
    pub async fn stopped(&self) {
        let tasks: Vec<JoinHandle<()>> = self.tasks.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Engine {
    /// Starts a task per sink in `configs`, reading the event log from the store, until
    /// `stop` resolves (a clone is awaited by each task).
    pub fn start_sinks<F>(&self, configs: Vec<SinkConfig>, stop: impl Fn() -> F) -> Arc<Sinks>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let spool: Arc<dyn Spool> = Arc::new(StoreSpool {
            store: self.store.clone(),
            bus: self.bus.clone(),
            owner: self.config.owner.clone(),
            lease: self.config.lease,
        });
        let mut sinks = Vec::with_capacity(configs.len());
        let mut tasks = Vec::with_capacity(configs.len());
        for config in configs {
            let stats = Arc::new(SinkStats::default());
            tasks.push(tokio::spawn(decnet_sinks::run(config.clone(), spool.clone(), stats.clone(), stop())));
            sinks.push((config, stats));
        }
        Arc::new(Sinks { sinks, tasks: std::sync::Mutex::new(tasks) })
    }
}

/// What the event log and the sinks use on disk, and their limits (`decnet status`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DiskStatus {
    /// The event log.
    pub events: EventsUse,
    /// Each configured sink.
    pub sinks: Vec<SinkUse>,
}

/// The event log's use and limits.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventsUse {
    /// Events kept.
    pub rows: i64,
    /// Most events kept (the oldest go first).
    pub max_rows: i64,
    /// The oldest kept event's time.
    pub oldest: Option<chrono::DateTime<Utc>>,
    /// Events older than this are deleted.
    pub max_age_secs: u64,
    /// Bytes on disk (the whole database with SQLite).
    pub bytes: i64,
}

/// A sink's spool and files, and their limits.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SinkUse {
    /// The sink.
    pub name: String,
    /// Its transport.
    pub kind: String,
    /// Events waiting for it (its spool, in the event log).
    pub spooled: i64,
    /// Its spool's bound.
    pub spool_max_events: u64,
    /// A file sink's bytes on disk, with its rotated files.
    pub file_bytes: Option<u64>,
    /// What they may reach.
    pub file_max_bytes: Option<u64>,
}

impl Engine {
    /// What the event log and the sinks `configs` describe use on disk, and their limits.
    pub async fn disk_status(&self, configs: &[SinkConfig]) -> Result<DiskStatus, crate::EngineError> {
        let stats = self.store.event_stats().await?;
        let cursors: std::collections::HashMap<String, i64> = self.store.sink_cursors().await?.into_iter().collect();
        let mut sinks = Vec::with_capacity(configs.len());
        for config in configs {
            let keep = i64::try_from(config.spool_max_events).unwrap_or(i64::MAX);
            let spooled = match cursors.get(&config.name) {
                Some(after) => self.store.sink_backlog(*after, keep).await?.waiting,
                None => 0,
            };
            let disk = decnet_sinks::disk_use(config);
            sinks.push(SinkUse {
                name: config.name.clone(),
                kind: config.kind().map(|k| k.as_str()).unwrap_or_default().to_owned(),
                spooled,
                spool_max_events: config.spool_max_events,
                file_bytes: disk.map(|d| d.used),
                file_max_bytes: disk.map(|d| d.limit),
            });
        }
        Ok(DiskStatus {
            events: EventsUse {
                rows: stats.rows,
                max_rows: self.config.events_max_rows,
                oldest: stats.oldest,
                max_age_secs: self.config.events_max_age.as_secs(),
                bytes: stats.bytes,
            },
            sinks,
        })
    }
}

/// The event log of the store, as the sinks read it.
struct StoreSpool {
    store: Arc<dyn Store>,
    bus: Bus,
    owner: String,
    lease: Duration,
}

fn log_error(err: decnet_store::StoreError) -> SinkError {
    SinkError::Log(err.to_string())
}

fn sink_event(event: StoredEvent) -> SinkEvent {
    SinkEvent {
        id: event.id,
        timestamp: event.at,
        kind: event.kind,
        topology_id: event.topology_id.map(|id| id.to_string()),
        decky: event.decky,
        service: event.service,
        source_ip: event.source_ip,
        payload: event.payload,
    }
}

#[async_trait]
impl Spool for StoreSpool {
    async fn hold(&self, sink: &str) -> Result<Option<i64>, SinkError> {
        self.store.hold_sink(sink, &self.owner, Utc::now(), self.lease).await.map_err(log_error)
    }

    async fn read(&self, after: i64, limit: usize) -> Result<Vec<SinkEvent>, SinkError> {
        let filter =
            EventFilter { after: Some(after), limit: i64::try_from(limit).unwrap_or(i64::MAX), ..Default::default() };
        let events = self.store.events(&filter).await.map_err(log_error)?;
        Ok(events.into_iter().map(sink_event).collect())
    }

    async fn backlog(&self, after: i64, keep: u64) -> Result<Backlog, SinkError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let backlog = self.store.sink_backlog(after, keep).await.map_err(log_error)?;
        Ok(Backlog {
            waiting: u64::try_from(backlog.waiting).unwrap_or(0),
            skip_to: backlog.skip_to.map(|to| (to, u64::try_from(backlog.skipped).unwrap_or(0))),
        })
    }

    async fn advance(&self, sink: &str, to: i64) -> Result<bool, SinkError> {
        self.store.advance_sink(sink, &self.owner, to).await.map_err(log_error)
    }

    async fn wait(&self, at_most: Duration) {
        // Whatever this process records is announced on the bus; another replica's
        // events are found at the next look, at most `at_most` later.
        let mut announced = self.bus.subscribe();
        let _ = tokio::time::timeout(at_most, announced.recv()).await;
    }
}
