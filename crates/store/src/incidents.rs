//! The incidents contract: what the alert rules made of the events, folded by rule,
//! topology and source, with a count. An incident opens (and is announced in the event
//! log as `incident.opened`, so sinks and event streams carry it) when its count reaches
//! its rule's threshold; it is announced again (`incident.updated`) when its count
//! reaches 10, 100, 1000, ... Folding and the alerter's cursor move in one transaction,
//! so an event is counted once.

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_domain::TopologyId;
use decnet_domain::alerts::Severity;
use serde::Serialize;
use serde_json::json;

use crate::StoreError;
use crate::decode::StoredRow;
use crate::events::NewEvent;

/// One event that fell under a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentHit {
    /// The rule.
    pub rule: String,
    /// Its severity.
    pub severity: Severity,
    /// Its threshold.
    pub threshold: i64,
    /// The event's topology.
    pub topology_id: Option<TopologyId>,
    /// Where it came from.
    pub source_ip: Option<String>,
    /// Its decky.
    pub decky: Option<String>,
    /// Its service.
    pub service: Option<String>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its id in the log.
    pub event_id: i64,
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Unique, growing.
    pub id: i64,
    /// The rule that made it.
    pub rule: String,
    /// How loud it is.
    pub severity: Severity,
    /// Its topology.
    pub topology_id: Option<TopologyId>,
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
    /// Its rule's threshold: it is open once `count` reaches it.
    pub threshold: i64,
    /// Its first event in the log.
    pub first_event_id: i64,
    /// Its latest event in the log.
    pub last_event_id: i64,
}

impl Incident {
    /// Whether it reached its threshold (only open incidents are listed and announced).
    pub fn is_open(&self) -> bool {
        self.count >= self.threshold
    }
}

/// Which incidents [`Incidents::incidents`] lists: open ones, latest activity first.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only this topology's.
    pub topology_id: Option<TopologyId>,
    /// Only at least this severe.
    pub min_severity: Option<Severity>,
    /// Only from this address.
    pub source_ip: Option<String>,
    /// At most this many.
    pub limit: i64,
}

/// The incidents contract.
#[async_trait]
pub trait Incidents: Send + Sync {
    /// Folds `hits` (in log order) into incidents: into the latest one of the same rule,
    /// topology and source whose last event is within `window` of the hit, else a new
    /// one; records the announcements; and moves the cursor `sink` of `owner` to `to`, all
    /// in one transaction. The incidents announced, or `None` (nothing written) when
    /// `owner` no longer holds the cursor.
    async fn fold_incidents(
        &self,
        hits: &[IncidentHit],
        window: std::time::Duration,
        sink: &str,
        owner: &str,
        to: i64,
    ) -> Result<Option<Vec<Incident>>, StoreError>;

    /// Open incidents matching `filter`, latest activity first.
    async fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;
}

/// The incident columns, in [`incident`]'s order.
pub(crate) const INCIDENT_COLUMNS: &str = "id, rule, severity, topology_id, source_ip, decky, service, first_seen, \
     last_seen, count, threshold, first_event_id, last_event_id";

/// The latest incident of a fold key ($1 rule, $2 topology, $3 source) whose last event is
/// at or after $4. Standard SQL both backends run, as the two below.
pub(crate) fn latest_sql() -> String {
    format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE rule = $1 AND topology_id = $2 AND source_ip = $3 \
         AND last_seen >= $4 ORDER BY id DESC LIMIT 1"
    )
}

/// Folds one more hit into incident $1 (at $2, event $3 on decky $4, service $5; the rule's
/// current severity $6 and threshold $7).
pub(crate) fn grow_sql() -> String {
    format!(
        "UPDATE incidents SET count = count + 1, \
         last_seen = CASE WHEN last_seen < $2 THEN $2 ELSE last_seen END, last_event_id = $3, \
         decky = $4, service = $5, severity = $6, threshold = $7 WHERE id = $1 RETURNING {INCIDENT_COLUMNS}"
    )
}

/// A new incident of one hit ($1 rule, $2 severity, $3 topology, $4 source, $5 decky,
/// $6 service, $7 time, $8 threshold, $9 event).
pub(crate) fn open_sql() -> String {
    format!(
        "INSERT INTO incidents (rule, severity, topology_id, source_ip, decky, service, first_seen, last_seen, \
         count, threshold, first_event_id, last_event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1, $8, $9, $9) \
         RETURNING {INCIDENT_COLUMNS}"
    )
}

/// An incident row of [`INCIDENT_COLUMNS`]; `''` stands for no topology and no source.
pub(crate) fn incident(row: &impl StoredRow) -> Result<Incident, StoreError> {
    let id = row.int(0)?;
    let severity = row.text(2)?;
    let topology = row.text(3)?;
    let source = row.text(4)?;
    Ok(Incident {
        id,
        rule: row.text(1)?,
        severity: Severity::from_str(&severity).map_err(|e| StoreError::corrupt(format!("incident {id}"), e))?,
        topology_id: if topology.is_empty() {
            None
        } else {
            Some(TopologyId::from_str(&topology).map_err(|e| StoreError::corrupt(format!("incident {id}"), e))?)
        },
        source_ip: (!source.is_empty()).then_some(source),
        decky: row.opt_text(5)?,
        service: row.opt_text(6)?,
        first_seen: row.time(7, "incident time")?,
        last_seen: row.time(8, "incident time")?,
        count: row.int(9)?,
        threshold: row.int(10)?,
        first_event_id: row.int(11)?,
        last_event_id: row.int(12)?,
    })
}

/// The announcement of an incident whose count went from `before` to `after`.
pub(crate) fn announcement(incident: &Incident, before: i64) -> Option<NewEvent> {
    let after = incident.count;
    let kind = if before < incident.threshold && after >= incident.threshold {
        "incident.opened"
    } else if after >= incident.threshold && (1..=12).map(|e| 10_i64.pow(e)).any(|step| before < step && after >= step)
    {
        "incident.updated"
    } else {
        return None;
    };
    Some(NewEvent {
        at: incident.last_seen,
        topology_id: incident.topology_id,
        kind: kind.into(),
        decky: incident.decky.clone(),
        service: incident.service.clone(),
        source_ip: incident.source_ip.clone(),
        payload: json!({
            "incident": incident.id, "rule": incident.rule, "severity": incident.severity,
            "count": incident.count, "first_seen": incident.first_seen, "last_seen": incident.last_seen,
            "first_event_id": incident.first_event_id, "last_event_id": incident.last_event_id,
        }),
    })
}
