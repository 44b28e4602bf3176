//! Operations: the sinks that carry events out, with their health.

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
