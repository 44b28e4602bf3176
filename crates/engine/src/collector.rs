//! Decoy event collection: the engine follows every running decoy service container's
//! stdout through the runtime (of the topologies whose collect lease it holds), turns each line into a stored event and announces it on
//! the bus as `attacker.observed`; a session that arrived through another decky's tunnel
//! is also stored and announced as `attacker.hop` (see [`crate::attackers::HopWatch`]).
//!
//! The topology, decky and service of an event come from the container's labels (set by
//! the engine), never from the line itself, so a decoy cannot speak for another. A line
//! that is not a decoy event is stored as `decoy.bad_line` with an excerpt and the reason,
//! never dropped silently. Lines are written in batches; each carries the runtime's
//! timestamp (`log_at`), so a restarted engine resumes after the last stored line of each
//! container instead of losing or repeating any.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_domain::{TopologyId, TopologyStatus};
use decnet_runtime::{LogLine, labels};
use decnet_store::{LeasePurpose, ListFilter, NewEvent};
use serde_json::{Value, json};

use crate::{Engine, EngineError};

/// Longest line kept (longer ones are stored as bad lines with an excerpt).
const MAX_LINE: usize = 16 * 1024;
/// Lines written per store transaction.
const BATCH: usize = 256;

/// Containers being followed, by name, with their topology and their follower task.
pub(crate) type Followed = Arc<Mutex<HashMap<String, (TopologyId, tokio::task::AbortHandle)>>>;

/// Where a followed container's lines belong.
#[derive(Debug, Clone)]
struct Source {
    topology: TopologyId,
    decky: String,
    service: String,
}

/// The event a log line stands for.
fn event_of(source: &Source, line: &LogLine) -> NewEvent {
    let logged_at =
        DateTime::parse_from_rfc3339(&line.at).map(|t| t.with_timezone(&Utc)).unwrap_or_else(|_| Utc::now());
    let bad = |reason: &str| {
        let excerpt: String = line.line.chars().take(1024).collect();
        NewEvent {
            at: logged_at,
            topology_id: Some(source.topology),
            kind: "decoy.bad_line".into(),
            decky: Some(source.decky.clone()),
            service: Some(source.service.clone()),
            source_ip: None,
            payload: json!({ "line": excerpt, "reason": reason, "log_at": line.at }),
        }
    };
    if line.line.len() > MAX_LINE {
        return bad("line too long");
    }
    let mut payload = match serde_json::from_str::<Value>(&line.line) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return bad("not a JSON object"),
        Err(_) => return bad("not JSON"),
    };
    let Some(kind) = payload.get("event").and_then(Value::as_str).map(str::to_owned) else {
        return bad("no event type");
    };
    if !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') || kind.len() > 32 {
        return bad("invalid event type");
    }
    let source_ip = payload
        .get("src_ip")
        .and_then(Value::as_str)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned);
    let at = payload
        .get("ts")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(logged_at, |t| t.with_timezone(&Utc));
    payload.insert("log_at".into(), Value::from(line.at.as_str()));
    NewEvent {
        at,
        topology_id: Some(source.topology),
        kind,
        decky: Some(source.decky.clone()),
        service: Some(source.service.clone()),
        source_ip,
        payload: Value::Object(payload),
    }
}

impl Engine {
    /// Starts following every running decoy service container of the deployed topologies
    /// this engine collects (it holds their collect lease, so no two engines store the same
    /// line) that is not followed yet; how many it started. A topology whose lease passed
    /// to another engine is no longer followed here: that engine resumes after the last
    /// stored line.
    pub async fn collect(&self) -> Result<usize, EngineError> {
        let topologies = self.store.list_topologies(&ListFilter::default()).await?;
        let mut started = 0;
        for header in topologies.items.iter().filter(|h| {
            matches!(h.status, TopologyStatus::Deploying | TopologyStatus::Active | TopologyStatus::Degraded)
        }) {
            let owner = self.config.owner.as_str();
            if !self
                .store
                .lease_topology(header.id, LeasePurpose::Collect, owner, Utc::now(), self.collect_lease())
                .await?
            {
                self.stop_following(header.id);
                continue;
            }
            let observed = self.runtime.observe(header.id).await?;
            for container in observed.containers.values().filter(|c| c.running) {
                let role = container.labels.get(labels::ROLE).map(String::as_str);
                let (Some("service"), Some(decky), Some(service)) =
                    (role, container.labels.get(labels::DECKY), container.labels.get(labels::SERVICE))
                else {
                    continue;
                };
                if self.followed.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&container.name) {
                    continue;
                }
                let source = Source { topology: header.id, decky: decky.clone(), service: service.clone() };
                let since = self.store.last_log_time(header.id, decky, service).await?;
                if let Some(lines) = self.runtime.follow_logs(&container.name, since.as_deref()) {
                    started += 1;
                    // Spawned under the lock, so the task cannot remove its entry before it
                    // is inserted.
                    let mut followed = self.followed.lock().unwrap_or_else(|p| p.into_inner());
                    let task = tokio::spawn(self.clone().follow(container.name.clone(), source, lines));
                    followed.insert(container.name.clone(), (header.id, task.abort_handle()));
                }
            }
        }
        Ok(started)
    }

    /// How long a collect lease lasts unrenewed: five collect intervals (every collect pass
    /// renews it), so a replica that dies is replaced within seconds, not a queue lease.
    fn collect_lease(&self) -> Duration {
        self.config.collect.saturating_mul(5).max(Duration::from_secs(1))
    }

    /// Stops following every container and gives up the collect leases, so another engine
    /// (or this one restarted) resumes after the last stored line at once: what a clean
    /// shutdown does.
    pub async fn stop_collecting(&self) {
        let topologies: std::collections::BTreeSet<TopologyId> = {
            let mut followed = self.followed.lock().unwrap_or_else(|p| p.into_inner());
            followed
                .drain()
                .map(|(_, (topology, task))| {
                    task.abort();
                    topology
                })
                .collect()
        };
        for topology in topologies {
            if let Err(err) = self.store.release_topology(topology, LeasePurpose::Collect, &self.config.owner).await {
                tracing::warn!(topology = %topology, error = %err, "giving up a collect lease failed; it will expire");
            }
        }
    }

    /// Stops following the containers of `topology`.
    fn stop_following(&self, topology: TopologyId) {
        self.followed.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, (followed, task)| {
            let keep = *followed != topology;
            if !keep {
                task.abort();
            }
            keep
        });
    }

    /// Stores and announces the lines of one container until its log ends.
    async fn follow(self, container: String, source: Source, mut lines: tokio::sync::mpsc::Receiver<LogLine>) {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(line) = lines.recv().await {
            batch.push(event_of(&source, &line));
            // Take what is already waiting, so a burst costs one transaction per batch.
            while batch.len() < BATCH {
                match lines.try_recv() {
                    Ok(line) => batch.push(event_of(&source, &line)),
                    Err(_) => break,
                }
            }
            self.store_batch(&mut batch).await;
        }
        self.followed.lock().unwrap_or_else(|p| p.into_inner()).remove(&container);
    }

    async fn store_batch(&self, batch: &mut Vec<NewEvent>) {
        // A failing store is retried (bounded), so a busy database does not lose events.
        let mut wait = Duration::from_millis(50);
        for _ in 0..8 {
            match self.store.record_events(batch).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "storing decoy events failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        let mut hops = Vec::new();
        for event in batch.drain(..) {
            self.metrics.event(event.service.as_deref(), &event.kind);
            let hop = match (event.topology_id, event.decky.as_deref()) {
                (Some(topology), Some(decky)) => self.hops.lock().unwrap_or_else(|p| p.into_inner()).observe(
                    topology,
                    decky,
                    &event.kind,
                    &event.payload,
                ),
                _ => None,
            };
            self.bus.publish(
                "attacker.observed".into(),
                json!({
                    "topology_id": event.topology_id, "decky": event.decky, "service": event.service,
                    "event": event.kind, "src_ip": event.source_ip,
                }),
            );
            if let Some(hop) = hop {
                let payload = json!({
                    "from": hop.from, "via_session": hop.via, "to": hop.to, "session": hop.session,
                    "source": hop.source,
                });
                self.bus.publish("attacker.hop".into(), json!({ "topology_id": hop.topology, "hop": payload }));
                hops.push(NewEvent {
                    at: event.at,
                    topology_id: Some(hop.topology),
                    kind: "attacker.hop".into(),
                    decky: Some(hop.to.clone()),
                    service: event.service.clone(),
                    source_ip: hop.source.rsplit_once(':').map(|(ip, _)| ip.to_owned()),
                    payload,
                });
            }
        }
        // Stored, so the topology's event stream (SSE) and log carry each hop too.
        if !hops.is_empty()
            && let Err(err) = self.store.record_events(&hops).await
        {
            tracing::warn!(error = %err, "storing attacker hops failed");
        }
    }

    /// Applies the event retention: deletes events older than the configured age, then the
    /// oldest beyond the configured count.
    pub async fn prune_events(&self) -> Result<u64, EngineError> {
        let age = chrono::Duration::from_std(self.config.events_max_age).unwrap_or(chrono::Duration::days(30));
        Ok(self.store.prune_events(Utc::now() - age, self.config.events_max_rows).await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source { topology: TopologyId(uuid::Uuid::nil()), decky: "d1".into(), service: "ssh".into() }
    }

    fn line(text: &str) -> LogLine {
        LogLine { at: "2026-11-22T06:00:00.000000001Z".into(), line: text.into() }
    }

    #[test]
    fn decoy_lines_become_events_attributed_by_labels() {
        let text = r#"{"v":2,"ts":"2026-11-22T05:59:59.5Z","decky":"someone-else","service":"ssh","event":"auth_attempt","src_ip":"203.0.113.7","principal":"root"}"#;
        let event = event_of(&source(), &line(text));
        assert_eq!(event.kind, "auth_attempt");
        assert_eq!(event.decky.as_deref(), Some("d1"), "the labels say which decky, not the line");
        assert_eq!(event.source_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(event.payload["log_at"], "2026-11-22T06:00:00.000000001Z");
        assert_eq!(event.at.to_rfc3339(), "2026-11-22T05:59:59.500+00:00");
    }

    #[test]
    fn bad_lines_are_kept_with_the_reason() {
        for (text, reason) in [
            ("not json at all", "not JSON"),
            ("[1,2]", "not a JSON object"),
            (r#"{"v":2}"#, "no event type"),
            (r#"{"event":"DROP TABLE"}"#, "invalid event type"),
        ] {
            let event = event_of(&source(), &line(text));
            assert_eq!(event.kind, "decoy.bad_line");
            assert_eq!(event.payload["reason"], reason);
            assert_eq!(event.payload["line"], text);
        }
        let long = "x".repeat(MAX_LINE + 1);
        assert_eq!(event_of(&source(), &line(&long)).payload["reason"], "line too long");
    }
}
