//! The event log over HTTP: `GET /api/v1/events` (filters, cursor pagination) and the live
//! stream `GET /api/v1/topologies/{id}/events` (server-sent events).
//!
//! The stream reads the store's event log, not the bus: the bus only wakes it. So its
//! order is the commit order, a reconnect with `Last-Event-ID` resumes exactly after the
//! last event the client saw, and events committed by other processes arrive too (within
//! [`STREAM_POLL`]). Nothing is buffered per client beyond one page of the log: a client
//! that stops reading stops being served, and once the bus has moved on by more than its
//! capacity meanwhile, the stream ends with an `error` event instead of growing memory.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use decnet_domain::TopologyId;
use decnet_store::{EventFilter, Store, StoredEvent};
use serde::Deserialize;
use tokio::sync::broadcast::error::TryRecvError;

use crate::auth::Principal;
use crate::{ApiError, ApiQuery, AppState, wire};
use decnet_domain::ErrorKind;

/// How often an idle stream looks for events committed by other processes.
pub const STREAM_POLL: Duration = Duration::from_secs(2);

/// Interval of keep-alive comments on an idle stream.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Events read from the log per query.
const PAGE: i64 = 256;

/// `/api/v1/events`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(list))
}

/// Open streams per user, capped.
#[derive(Debug)]
pub struct Streams {
    max_per_user: usize,
    open: Mutex<HashMap<String, usize>>,
}

impl Streams {
    /// At most `max_per_user` concurrent streams per user.
    pub fn new(max_per_user: usize) -> Self {
        Self { max_per_user, open: Mutex::default() }
    }

    /// A slot for `user`, released when the guard drops; `None` at the cap.
    fn acquire(self: &Arc<Self>, user: &str) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(user.to_owned()).or_default();
        if *count >= self.max_per_user {
            return None;
        }
        *count += 1;
        Some(StreamSlot { streams: self.clone(), user: user.to_owned() })
    }
}

impl Default for Streams {
    fn default() -> Self {
        Self::new(8)
    }
}

/// One open stream of a user.
#[derive(Debug)]
struct StreamSlot {
    streams: Arc<Streams>,
    user: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Topology id or name.
    topology: Option<String>,
    /// Decky name.
    decky: Option<String>,
    /// Decoy service.
    service: Option<String>,
    /// Remote address.
    source_ip: Option<String>,
    /// Event kind, e.g. `mutation.applied`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only events at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Only events after this id (`next_cursor` of the previous page).
    cursor: Option<i64>,
    /// Page size, 1 to 1000 (100).
    limit: Option<i64>,
}

fn bad(detail: &str) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, "invalid_parameter", detail)
}

/// `GET /api/v1/events`: oldest first after `cursor`; `next_cursor` continues the listing
/// (null when this page was the last one).
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(ListQuery),
    responses((status = 200, body = wire::EventPage)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<wire::EventPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad("limit: must be between 1 and 1000"));
    }
    if q.cursor.is_some_and(|c| c < 0) {
        return Err(bad("cursor: must not be negative"));
    }
    if let Some(ip) = &q.source_ip {
        ip.parse::<std::net::IpAddr>().map_err(|_| bad("source_ip: not an IP address"))?;
    }
    let topology_id = match &q.topology {
        Some(key) => Some(state.engine.store().resolve(key).await?),
        None => None,
    };
    let filter = EventFilter {
        topology_id,
        decky: q.decky,
        service: q.service,
        source_ip: q.source_ip,
        kind: q.kind,
        since: q.since,
        after: q.cursor,
        limit,
    };
    let events = state.engine.store().events(&filter).await?;
    let next_cursor = if events.len() as i64 == limit { events.last().map(|e| e.id) } else { None };
    Ok(Json(wire::EventPage { data: events.iter().map(wire::EventRow::from).collect(), next_cursor }))
}

/// What a stream sends.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    /// The state when the stream starts (no id: it does not move the resume point).
    Snapshot(Box<wire::StreamSnapshot>),
    /// A logged event, with its id.
    Logged(StoredEvent),
    /// Why the stream ends early.
    Error(StreamError),
}

/// The last frame of a stream that ends early (`event: error`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct StreamError {
    /// `slow_consumer` or `internal`.
    error: &'static str,
    /// What happened and what to do.
    detail: String,
    /// Resume after this id.
    last_event_id: i64,
}

/// One body as one line of JSON.
fn json_line<T: serde::Serialize>(body: &T) -> String {
    serde_json::to_string(body).unwrap_or_else(|_| "{}".into())
}

impl Frame {
    fn into_sse(self, topology: TopologyId) -> SseEvent {
        match self {
            Frame::Snapshot(body) => SseEvent::default().event("snapshot").data(json_line(&body)),
            Frame::Logged(event) => {
                let frame = wire::StreamEvent::new(topology, &event);
                SseEvent::default().id(event.id.to_string()).event(frame.kind_tail.as_str()).data(json_line(&frame))
            }
            Frame::Error(body) => SseEvent::default().event("error").data(json_line(&body)),
        }
    }
}

/// Where a stream resumes: the `Last-Event-ID` header or `last_event_id` query parameter.
fn resume_point(headers: &HeaderMap, query: Option<i64>) -> Result<Option<i64>, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).filter(|id| *id >= 0))
        .map(|parsed| parsed.ok_or_else(|| bad("Last-Event-ID: must be an event id")))
        .transpose()?;
    Ok(header.or(query))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Resume after this event id (for clients that cannot send `Last-Event-ID`).
    last_event_id: Option<i64>,
    /// A single-use ticket from `POST /api/v1/auth/sse-ticket`, instead of a bearer token
    /// (a browser's EventSource cannot send headers).
    #[allow(dead_code)] // Redeemed by the authentication middleware.
    ticket: Option<String>,
}

/// `GET /api/v1/topologies/{id}/events`: a snapshot (status and in-flight mutations), then
/// every event of the topology as it commits, each named by its topic's tail (`status`,
/// `mutation.applied`, `decky.state`, ...) with `{topic, type, ts, payload}` and the log
/// record. With `Last-Event-ID`, no snapshot: the events after that id instead. A bearer
/// token or a single-use `?ticket=` authenticates it.
#[utoipa::path(get, path = "/api/v1/topologies/{id}/events", tag = "events",
    params(("id" = String, Path, description = "Topology id or name"), StreamQuery,
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "Server-sent events: `snapshot`, then each logged event", content_type = "text/event-stream", body = String)))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    Extension(me): Extension<Arc<Principal>>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if q.last_event_id.is_some_and(|id| id < 0) {
        return Err(bad("last_event_id: must be an event id"));
    }
    let resume = resume_point(&headers, q.last_event_id)?;
    let store = state.engine.store().clone();
    let id = store.resolve(&key).await?;
    let slot = state.streams.acquire(&me.username).ok_or_else(|| {
        ApiError::new(ErrorKind::RateLimited, "too_many_streams", "too many open event streams for this user")
    })?;
    // Subscribe before reading, so nothing committed from now on can be missed.
    let wake = state.engine.bus().subscribe();
    let (first, cursor) = match resume {
        Some(after) => (None, after),
        None => {
            let snapshot = store.snapshot(id).await?;
            let body = wire::StreamSnapshot {
                topology_id: id.0,
                status: snapshot.header.status.as_str().to_owned(),
                in_flight: snapshot.open_mutations.iter().map(wire::MutationRow::from).collect(),
                topology: wire::TopologySummary::from(&snapshot.header),
                last_event_id: snapshot.last_event_id,
            };
            (Some(Frame::Snapshot(Box::new(body))), snapshot.last_event_id)
        }
    };
    let tail = Tail { store, topology: id, cursor, wake, pending: VecDeque::new(), first, done: false, _slot: slot };
    let events = futures_util::stream::unfold(tail, |mut tail| async move {
        let next = tail.next().await?;
        let topology = tail.topology;
        Some((Ok::<_, Infallible>(next.into_sse(topology)), tail))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEPALIVE)).into_response())
}

/// The state of one live stream.
struct Tail {
    store: Arc<dyn Store>,
    topology: TopologyId,
    /// Id of the last event sent.
    cursor: i64,
    wake: tokio::sync::broadcast::Receiver<Arc<decnet_engine::Event>>,
    pending: VecDeque<StoredEvent>,
    first: Option<Frame>,
    done: bool,
    _slot: StreamSlot,
}

impl Tail {
    /// The next frame, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Frame> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            if self.done {
                return None;
            }
            // The bus moving on by more than its capacity while this stream was not polled
            // means the client is not reading fast enough.
            loop {
                match self.wake.try_recv() {
                    Ok(_) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Lagged(missed)) => {
                        self.done = true;
                        return Some(Frame::Error(StreamError {
                            error: "slow_consumer",
                            detail: format!(
                                "the client fell {missed} events behind; reconnect with Last-Event-ID {}",
                                self.cursor
                            ),
                            last_event_id: self.cursor,
                        }));
                    }
                    Err(TryRecvError::Closed) => return None,
                }
            }
            if let Some(event) = self.pending.pop_front() {
                self.cursor = event.id;
                // A deleted topology has nothing more to say.
                self.done = event.kind == decnet_store::events::kinds::TOPOLOGY_DELETED;
                return Some(Frame::Logged(event));
            }
            let filter = EventFilter {
                topology_id: Some(self.topology),
                after: Some(self.cursor),
                limit: PAGE,
                ..Default::default()
            };
            match self.store.events(&filter).await {
                Ok(events) if !events.is_empty() => {
                    self.pending.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "event stream cannot read the log");
                    self.done = true;
                    return Some(Frame::Error(StreamError {
                        error: "internal",
                        detail: "the event log cannot be read".into(),
                        last_event_id: self.cursor,
                    }));
                }
            }
            // Caught up: wait for the bus to say something happened, or for the poll
            // interval (events of other processes reach no bus here).
            let woken = tokio::time::timeout(STREAM_POLL, self.wake.recv()).await;
            if let Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) = woken {
                return None;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use decnet_store::{NewEvent, SqliteStore};
    use serde_json::json;

    #[tokio::test]
    async fn a_client_that_stops_reading_gets_a_final_error_and_the_stream_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let topology = TopologyId(uuid::Uuid::new_v4());
        let event = |n: i64| NewEvent::topology(topology, "test", Utc::now(), json!({ "n": n }));
        store.record_events(&[event(1)]).await.unwrap();
        let bus = decnet_engine::Bus::new(4);
        let streams = Arc::new(Streams::new(1));
        let slot = streams.acquire("u").unwrap();
        let mut tail = Tail {
            store: store.clone(),
            topology,
            cursor: 0,
            wake: bus.subscribe(),
            pending: VecDeque::new(),
            first: None,
            done: false,
            _slot: slot,
        };
        // Read while keeping up.
        let Some(Frame::Logged(first)) = tail.next().await else { panic!("the logged event") };
        assert_eq!(first.payload["n"], 1);
        // Then the client stops reading while more happens than the bus holds.
        for n in 2..=10 {
            store.record_events(&[event(n)]).await.unwrap();
            bus.publish("test".into(), json!({ "n": n }));
        }
        let Some(Frame::Error(body)) = tail.next().await else { panic!("a final error event") };
        assert_eq!(body.error, "slow_consumer");
        assert_eq!(body.last_event_id, first.id, "it says where to resume");
        assert_eq!(tail.next().await, None, "and the stream ends");
        drop(tail);
        assert!(streams.acquire("u").is_some(), "its slot is free again");
    }
}
