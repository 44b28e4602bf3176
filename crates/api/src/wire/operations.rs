//! Operations: the sinks that carry events out, with their health, and the incidents the
//! alert rules opened.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One sink and what it did in the answering process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SinkRow {
    /// Its configured name.
    pub name: String,
    /// `file`, `syslog`, `webhook` or `elasticsearch`.
    pub kind: String,
    /// Where it delivers (no credentials).
    pub target: String,
    /// Whether its last attempt succeeded (or none failed yet).
    pub healthy: bool,
    /// Whether the answering process delivers it now (with replicas, one does).
    pub active: bool,
    /// Events delivered by the answering process.
    pub delivered: u64,
    /// Failed attempts (each retried after a growing wait).
    pub retried: u64,
    /// Events skipped because its spool was full, or deleted by retention before delivery.
    pub dropped: u64,
    /// Events waiting for it (its spool in the event log), as last counted.
    pub spooled: u64,
    /// The spool's bound.
    pub spool_max_events: u64,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
    /// When a batch was last delivered.
    pub last_delivered_at: Option<DateTime<Utc>>,
}

impl From<decnet_sinks::SinkStatus> for SinkRow {
    fn from(s: decnet_sinks::SinkStatus) -> Self {
        Self {
            name: s.name,
            kind: s.kind,
            target: s.target,
            healthy: s.healthy,
            active: s.active,
            delivered: s.delivered,
            retried: s.retried,
            dropped: s.dropped,
            spooled: s.spooled,
            spool_max_events: s.spool_max_events,
            last_error: s.last_error,
            last_delivered_at: s.last_delivered_at,
        }
    }
}

/// The configured sinks (`GET /api/v1/sinks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SinkList {
    /// In configuration order.
    pub sinks: Vec<SinkRow>,
}

/// An incident: what the alert rules made of an attacker's events (`GET /api/v1/incidents`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentRow {
    /// Unique, growing.
    pub id: i64,
    /// The rule that made it (`login-success`, `brute-force`, ...).
    pub rule: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// Its topology.
    pub topology_id: Option<uuid::Uuid>,
    /// The attacker's address.
    pub source_ip: Option<String>,
    /// The decky of its latest event.
    pub decky: Option<String>,
    /// The service of its latest event.
    pub service: Option<String>,
    /// Its first event's time.
    pub first_seen: DateTime<Utc>,
    /// Its latest event's time.
    pub last_seen: DateTime<Utc>,
    /// Events folded into it.
    pub count: i64,
    /// Its first event's id in the log (`GET /api/v1/events?after=`).
    pub first_event_id: i64,
    /// Its latest event's id in the log.
    pub last_event_id: i64,
}

impl From<decnet_store::Incident> for IncidentRow {
    fn from(i: decnet_store::Incident) -> Self {
        Self {
            id: i.id,
            rule: i.rule,
            severity: i.severity.as_str().to_owned(),
            topology_id: i.topology_id.map(|t| t.0),
            source_ip: i.source_ip,
            decky: i.decky,
            service: i.service,
            first_seen: i.first_seen,
            last_seen: i.last_seen,
            count: i.count,
            first_event_id: i.first_event_id,
            last_event_id: i.last_event_id,
        }
    }
}

/// Open incidents, latest activity first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentList {
    /// The incidents.
    pub incidents: Vec<IncidentRow>,
}

/// The event log's disk use and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventsUse {
    /// Events kept.
    pub rows: i64,
    /// Most events kept (the oldest go first).
    pub max_rows: i64,
    /// The oldest kept event's time.
    pub oldest: Option<DateTime<Utc>>,
    /// Events older than this many seconds are deleted.
    pub max_age_secs: u64,
    /// Bytes on disk (the whole database with SQLite; the log's table with PostgreSQL).
    pub bytes: i64,
}

/// A sink's spool and files, and their limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SinkUse {
    /// The sink.
    pub name: String,
    /// Its transport.
    pub kind: String,
    /// Events waiting for it (its spool, in the event log).
    pub spooled: i64,
    /// Its spool's bound.
    pub spool_max_events: u64,
    /// A file sink's bytes on disk, rotated files included.
    pub file_bytes: Option<u64>,
    /// What they may reach.
    pub file_max_bytes: Option<u64>,
}

/// What the deployment keeps on disk, against its limits (`GET /api/v1/status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiskStatus {
    /// The event log.
    pub events: EventsUse,
    /// Each configured sink.
    pub sinks: Vec<SinkUse>,
}

impl From<decnet_engine::DiskStatus> for DiskStatus {
    fn from(s: decnet_engine::DiskStatus) -> Self {
        let e = s.events;
        Self {
            events: EventsUse {
                rows: e.rows,
                max_rows: e.max_rows,
                oldest: e.oldest,
                max_age_secs: e.max_age_secs,
                bytes: e.bytes,
            },
            sinks: s
                .sinks
                .into_iter()
                .map(|u| SinkUse {
                    name: u.name,
                    kind: u.kind,
                    spooled: u.spooled,
                    spool_max_events: u.spool_max_events,
                    file_bytes: u.file_bytes,
                    file_max_bytes: u.file_max_bytes,
                })
                .collect(),
        }
    }
}
