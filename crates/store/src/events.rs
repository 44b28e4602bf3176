//! The event log contract: what happened, in commit order.
//!
//! The store writes an event in the same transaction as the change it records (a
//! mutation's state, a topology's status, a decky's observed state), so the log and the
//! state never disagree. Ids grow in commit order, so "everything after id N" is a
//! complete answer: the API's live stream resumes from it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::TopologyId;
use decnet_domain::model::TopologyHeader;
use serde::Serialize;
use serde_json::Value;

use crate::{Mutation, StoreError};

/// Kinds of the events the store writes for state changes.
pub mod kinds {
    /// A topology was created.
    pub const TOPOLOGY_CREATED: &str = "topology.created";
    /// A topology was deleted.
    pub const TOPOLOGY_DELETED: &str = "topology.deleted";
    /// A pending topology's design was edited.
    pub const DESIGN_EDITED: &str = "topology.design_edited";
    /// A topology's canvas layout was saved (positions only; no version bump).
    pub const LAYOUT_SAVED: &str = "topology.layout_saved";
    /// A topology's status changed.
    pub const STATUS: &str = "topology.status";
    /// A mutation was queued.
    pub const MUTATION_ENQUEUED: &str = "mutation.enqueued";
    /// An engine claimed a mutation.
    pub const MUTATION_APPLYING: &str = "mutation.applying";
    /// A mutation was committed.
    pub const MUTATION_APPLIED: &str = "mutation.applied";
    /// A mutation was refused or abandoned.
    pub const MUTATION_FAILED: &str = "mutation.failed";
    /// A decky's observed state changed.
    pub const DECKY_STATE: &str = "decky.state";
}

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its topology, when it has one.
    pub topology_id: Option<TopologyId>,
    /// What happened (see [`kinds`]; decoys add their own).
    pub kind: String,
    /// The decky concerned.
    pub decky: Option<String>,
    /// The decoy service concerned.
    pub service: Option<String>,
    /// The remote address concerned.
    pub source_ip: Option<String>,
    /// The event's body.
    pub payload: Value,
}

impl NewEvent {
    /// A state-change event of a topology.
    pub fn topology(id: TopologyId, kind: &str, at: DateTime<Utc>, payload: Value) -> Self {
        Self { at, topology_id: Some(id), kind: kind.to_owned(), decky: None, service: None, source_ip: None, payload }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// Position in the log; grows in commit order.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its topology.
    pub topology_id: Option<TopologyId>,
    /// What happened.
    pub kind: String,
    /// The decky concerned.
    pub decky: Option<String>,
    /// The decoy service concerned.
    pub service: Option<String>,
    /// The remote address concerned.
    pub source_ip: Option<String>,
    /// The event's body.
    pub payload: Value,
}

/// Which events [`Events::events`] returns: all conditions hold, oldest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this topology's.
    pub topology_id: Option<TopologyId>,
    /// Only this decky's.
    pub decky: Option<String>,
    /// Only this service's.
    pub service: Option<String>,
    /// Only from this address.
    pub source_ip: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only after this id (the cursor).
    pub after: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// A topology's state and the log position it corresponds to, read together.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The header (status, version).
    pub header: TopologyHeader,
    /// Mutations pending or applying, oldest first.
    pub open_mutations: Vec<Mutation>,
    /// The id of the last event recorded when this was read (0 for none).
    pub last_event_id: i64,
}

/// How far behind a sink's cursor is (see [`Events::sink_backlog`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkBacklog {
    /// Events after the cursor (at most the bound once `skip_to` is taken).
    pub waiting: i64,
    /// Where the cursor must move so that at most the bound wait, or past events the log
    /// no longer has (deleted by retention before the sink got them).
    pub skip_to: Option<i64>,
    /// How many events that move skips: they are the sink's drops.
    pub skipped: i64,
}

/// Takes or renews a sink's hold ($1 sink, $2 the log's end, $3 owner, $4 new deadline,
/// $5 now, in ms): returns the cursor when `owner` holds it afterwards. Standard SQL both
/// backends run.
pub(crate) const HOLD_SINK: &str = "INSERT INTO sink_cursors (name, after_id, owner, deadline_ms) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE \
     SET owner = excluded.owner, deadline_ms = excluded.deadline_ms \
     WHERE sink_cursors.owner = excluded.owner OR sink_cursors.deadline_ms <= $5 RETURNING after_id";

/// Moves a held cursor forward ($1 sink, $2 owner, $3 new cursor).
pub(crate) const ADVANCE_SINK: &str =
    "UPDATE sink_cursors SET after_id = $3 WHERE name = $1 AND owner = $2 AND after_id <= $3";

/// The event log contract.
#[async_trait]
pub trait Events: Send + Sync {
    /// Events matching `filter`, oldest first.
    async fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError>;

    /// A topology's status and open mutations with the matching log position, in one read.
    async fn snapshot(&self, id: TopologyId) -> Result<Snapshot, StoreError>;

    /// Records events that are not state changes of the store (decoy observations).
    async fn record_events(&self, events: &[NewEvent]) -> Result<(), StoreError>;

    /// The runtime timestamp (`payload.log_at`) of the last recorded line of a decoy
    /// container, so a collector resumes after it.
    async fn last_log_time(
        &self,
        topology_id: TopologyId,
        decky: &str,
        service: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Deletes events older than `before`, then the oldest beyond `max_rows`; how many.
    async fn prune_events(&self, before: DateTime<Utc>, max_rows: i64) -> Result<u64, StoreError>;

    /// Takes or keeps `owner`'s hold on the cursor of sink `sink` until `now + ttl` and
    /// returns the cursor; `None` while another owner holds it. A sink never seen starts
    /// at the log's end (it delivers what happens from then on).
    async fn hold_sink(
        &self,
        sink: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<Option<i64>, StoreError>;

    /// Moves the cursor of sink `sink` forward to `to`; false when `owner` no longer holds it.
    async fn advance_sink(&self, sink: &str, owner: &str, to: i64) -> Result<bool, StoreError>;

    /// How far behind a cursor at `after` is, with `keep` the most that may wait.
    async fn sink_backlog(&self, after: i64, keep: i64) -> Result<SinkBacklog, StoreError>;

    /// Every sink's cursor (and the alerter's), by name, without taking any.
    async fn sink_cursors(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// What the event log holds: rows, the oldest event's time, bytes on disk.
    async fn event_stats(&self) -> Result<EventStats, StoreError>;
}

/// What the event log holds (see [`Events::event_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct EventStats {
    /// Events kept.
    pub rows: i64,
    /// The oldest kept event's time.
    pub oldest: Option<DateTime<Utc>>,
    /// Bytes on disk: the whole database file with SQLite, the log's table and indexes
    /// with PostgreSQL.
    pub bytes: i64,
}

/// The backlog of a cursor at `after`, from what the log holds after it: `bounded` (the
/// count, up to `keep + 1`), `oldest` (the log's first id, if any), `end` (the last id
/// ever handed out), and, when more than `keep` wait, `cut` (the id after which exactly
/// `keep` remain) and `total` (the exact count).
pub(crate) fn backlog(
    after: i64,
    keep: i64,
    bounded: i64,
    oldest: Option<i64>,
    end: i64,
    over: Option<(i64, i64)>,
) -> SinkBacklog {
    // Events between the cursor and the log's oldest were deleted before delivery.
    let pruned = match oldest {
        Some(oldest) => (oldest - after - 1).max(0),
        None => (end - after).max(0),
    };
    match over {
        Some((cut, total)) if bounded > keep => {
            SinkBacklog { waiting: keep, skip_to: Some(cut), skipped: total - keep + pruned }
        }
        _ if pruned > 0 => {
            SinkBacklog { waiting: bounded, skip_to: Some(oldest.map_or(end, |o| o - 1)), skipped: pruned }
        }
        _ => SinkBacklog { waiting: bounded, skip_to: None, skipped: 0 },
    }
}
