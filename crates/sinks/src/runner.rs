//! One task per sink: hold the sink's cursor (one replica at a time), bound its spool,
//! read a batch after the cursor, deliver it, move the cursor; on failure wait (doubling
//! up to `retry_max_secs`) and try the same batch again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::SinkConfig;
use crate::stats::SinkStats;
use crate::{SinkError, SinkEvent};

/// First wait after a failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait for new events before looking again.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How often a replica that does not hold a sink looks whether it is free.
const HOLD_RETRY: Duration = Duration::from_secs(5);
/// How often the backlog is counted against the bound (counting a large one is not free,
/// and a sink far behind delivers many batches a second).
const BACKLOG_EVERY: Duration = Duration::from_secs(1);

/// How far a sink is behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Events after the cursor.
    pub waiting: u64,
    /// When more than the bound wait: the cursor that leaves exactly the bound, and how
    /// many events it skips.
    pub skip_to: Option<(i64, u64)>,
}

/// The durable event log, as the sinks read it (the engine's store).
#[async_trait]
pub trait Spool: Send + Sync {
    /// Takes or keeps this process's hold on `sink`'s cursor and returns the cursor;
    /// `None` while another process holds it. A sink never seen starts at the log's end.
    async fn hold(&self, sink: &str) -> Result<Option<i64>, SinkError>;
    /// Events after `after`, oldest first, at most `limit`.
    async fn read(&self, after: i64, limit: usize) -> Result<Vec<SinkEvent>, SinkError>;
    /// How many events wait after `after`, and where to skip to so that `keep` remain.
    async fn backlog(&self, after: i64, keep: u64) -> Result<Backlog, SinkError>;
    /// Moves `sink`'s cursor to `to`; false when this process no longer holds it.
    async fn advance(&self, sink: &str, to: i64) -> Result<bool, SinkError>;
    /// Returns when new events may have been recorded, or after `at_most`.
    async fn wait(&self, at_most: Duration);
}

/// Runs the sink `config` describes until `stop` completes (between batches: a batch
/// being delivered is finished or abandoned by its own timeout first).
pub async fn run(config: SinkConfig, spool: Arc<dyn Spool>, stats: Arc<SinkStats>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let retry_max = Duration::from_secs(config.retry_max_secs);
    let mut backoff = FIRST_BACKOFF;
    let mut transport = None;
    let mut counted: Option<std::time::Instant> = None;
    loop {
        let count_backlog = counted.is_none_or(|at| at.elapsed() >= BACKLOG_EVERY);
        if count_backlog {
            counted = Some(std::time::Instant::now());
        }
        let pause = match step(&config, &*spool, &stats, &mut transport, count_backlog).await {
            Ok(Step::Delivered) => {
                backoff = FIRST_BACKOFF;
                Pause::None
            }
            Ok(Step::Idle) => Pause::ForEvents(IDLE_WAIT),
            Ok(Step::HeldElsewhere) => Pause::ForEvents(HOLD_RETRY),
            Err(err) => {
                tracing::warn!(sink = %config.name, error = %err, retry_in_ms = backoff.as_millis() as u64, "sink delivery failed");
                stats.failed(err.to_string());
                let wait = backoff;
                backoff = (backoff * 2).min(retry_max);
                Pause::Sleep(wait)
            }
        };
        // Biased: a stop that came during the batch is taken before the next one.
        tokio::select! {
            biased;
            () = &mut stop => break,
            () = pause.wait(&*spool) => {}
        }
    }
    stats.holding(false);
}

/// What to wait for before the next step.
enum Pause {
    None,
    ForEvents(Duration),
    Sleep(Duration),
}

impl Pause {
    async fn wait(self, spool: &dyn Spool) {
        match self {
            Pause::None => {}
            Pause::ForEvents(at_most) => spool.wait(at_most).await,
            Pause::Sleep(wait) => tokio::time::sleep(wait).await,
        }
    }
}

enum Step {
    Delivered,
    Idle,
    HeldElsewhere,
}

async fn step(
    config: &SinkConfig,
    spool: &dyn Spool,
    stats: &SinkStats,
    transport: &mut Option<Box<dyn crate::Deliver>>,
    count_backlog: bool,
) -> Result<Step, SinkError> {
    let Some(mut cursor) = spool.hold(&config.name).await? else {
        stats.holding(false);
        return Ok(Step::HeldElsewhere);
    };
    stats.holding(true);
    if count_backlog {
        let backlog = spool.backlog(cursor, config.spool_max_events).await?;
        if let Some((to, skipped)) = backlog.skip_to {
            if !spool.advance(&config.name, to).await? {
                return Ok(Step::HeldElsewhere);
            }
            tracing::warn!(sink = %config.name, dropped = skipped, "sink behind its bound, or the log pruned what it had not delivered: the oldest are dropped");
            stats.dropped(skipped);
            cursor = to;
        }
        stats.spooled(backlog.waiting.min(config.spool_max_events));
    }
    let events = spool.read(cursor, config.batch).await?;
    let Some(last) = events.last().map(|e| e.id) else {
        stats.spooled(0);
        return Ok(Step::Idle);
    };
    let wanted: Vec<SinkEvent> = events.into_iter().filter(|e| config.wants(&e.kind)).collect();
    if !wanted.is_empty() {
        let deliver = match transport {
            Some(deliver) => deliver,
            None => transport.insert(crate::open(config)?),
        };
        deliver.deliver(&wanted).await?;
        stats.delivered(wanted.len() as u64);
    }
    if !spool.advance(&config.name, last).await? {
        return Ok(Step::HeldElsewhere);
    }
    Ok(Step::Delivered)
}
