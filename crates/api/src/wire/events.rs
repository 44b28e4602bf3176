//! The event log and the live stream on the wire.

use super::{MutationRow, TopologySummary};
use chrono::{DateTime, Utc};
use decnet_domain::TopologyId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// An event of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventRow {
    /// Position in the log; grows in commit order.
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its topology.
    pub topology_id: Option<Uuid>,
    /// What happened, e.g. `mutation.applied`, `decky.state`, `decoy.auth_attempt`.
    pub kind: String,
    /// The decky concerned.
    pub decky: Option<String>,
    /// The decoy service concerned.
    pub service: Option<String>,
    /// The remote address concerned.
    pub source_ip: Option<String>,
    /// The event's body.
    #[schema(value_type = Object)]
    pub payload: Value,
}

impl From<&decnet_store::StoredEvent> for EventRow {
    fn from(e: &decnet_store::StoredEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            topology_id: e.topology_id.map(|t| t.0),
            kind: e.kind.clone(),
            decky: e.decky.clone(),
            service: e.service.clone(),
            source_ip: e.source_ip.clone(),
            payload: e.payload.clone(),
        }
    }
}

/// A page of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    /// Oldest first.
    pub data: Vec<EventRow>,
    /// Pass as `cursor` for the next page; null when this was the last.
    pub next_cursor: Option<i64>,
}

/// The first frame of a topology's event stream (`event: snapshot`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamSnapshot {
    /// The topology.
    pub topology_id: Uuid,
    /// Its status.
    pub status: String,
    /// Mutations pending or applying, oldest first.
    pub in_flight: Vec<MutationRow>,
    /// The summary (ours).
    pub topology: TopologySummary,
    /// The log position the stream continues from (ours).
    pub last_event_id: i64,
}

/// One event of a topology's stream: the original's frame (`{topic, type, ts, payload}`,
/// the SSE event named by the topic's tail) and the log record's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamEvent {
    /// The bus topic, e.g. `topology.<id>.mutation.applied`, `decky.<name>.state`.
    pub topic: String,
    /// The SSE event name: the topic's tail, e.g. `status`, `mutation.applied`.
    #[serde(rename = "type")]
    pub kind_tail: String,
    /// When it happened.
    pub ts: DateTime<Utc>,
    /// The event's body.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Position in the log, also the SSE id (ours).
    pub id: i64,
    /// The log's kind (ours).
    pub kind: String,
    /// The decky concerned (ours).
    pub decky: Option<String>,
    /// The decoy service concerned (ours).
    pub service: Option<String>,
    /// The remote address concerned (ours).
    pub source_ip: Option<String>,
}

impl StreamEvent {
    /// The frame of a logged event of `topology`.
    pub fn new(topology: TopologyId, event: &decnet_store::StoredEvent) -> Self {
        let (topic, tail) = topic_of(topology, event);
        let mut payload = event.payload.clone();
        // The original's status payload is `{state, reason}`; ours says `to` and `from`.
        if event.kind == decnet_store::events::kinds::STATUS
            && let Value::Object(map) = &mut payload
            && let Some(to) = map.get("to").cloned()
        {
            map.insert("state".into(), to);
        }
        Self {
            topic,
            kind_tail: tail,
            ts: event.at,
            payload,
            id: event.id,
            kind: event.kind.clone(),
            decky: event.decky.clone(),
            service: event.service.clone(),
            source_ip: event.source_ip.clone(),
        }
    }
}

/// The original's topic of a logged event and the SSE event name (the topic's tail).
fn topic_of(topology: TopologyId, event: &decnet_store::StoredEvent) -> (String, String) {
    let kind = event.kind.as_str();
    if let Some(rest) = kind.strip_prefix("decky.") {
        let decky = event.decky.as_deref().unwrap_or("_");
        return (format!("decky.{decky}.{rest}"), kind.to_owned());
    }
    let tail = kind.strip_prefix("topology.").unwrap_or(kind);
    (format!("topology.{topology}.{tail}"), tail.to_owned())
}
