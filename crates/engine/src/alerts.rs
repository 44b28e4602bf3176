//! The alerter: reads the event log after its own cursor (held by one engine at a time,
//! like a sink's), applies the alert rules (`decnet_domain::alerts`), and folds the hits
//! into the stored incidents, the cursor moving in the same transaction so that each
//! event counts once. Announced incidents are also in the log (`incident.opened`,
//! `incident.updated`), so sinks deliver them and event streams show them.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use decnet_domain::alerts::{AlertConfig, Facts};
use decnet_domain::{Name, TopologyId};
use decnet_store::{EventFilter, IncidentHit, StoredEvent};
use serde_json::{Value, json};

use crate::{Engine, EngineError};

/// The alerter's cursor name (`@` is not allowed in sink names, so it cannot clash).
pub const ALERTER: &str = "@alerts";

/// Events read per pass.
const BATCH: i64 = 1000;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertPass {
    /// Events read.
    pub events: usize,
    /// Of them, those a rule matched.
    pub hits: usize,
    /// Incidents announced (opened, or grown past 10, 100, ...).
    pub announced: usize,
    /// Whether another engine holds the alerter.
    pub held_elsewhere: bool,
}

/// Whether a login used the account a lure planted for that decky's service (only the
/// maze told anyone those credentials).
fn uses_lure(event: &StoredEvent) -> bool {
    let (Some(topology), Some(decky), Some(service)) = (event.topology_id, &event.decky, &event.service) else {
        return false;
    };
    let Ok(decky) = Name::parse(decky) else { return false };
    let user = event.payload.get("principal").and_then(Value::as_str);
    let password = event
        .payload
        .get("secret")
        .filter(|s| s.get("kind").and_then(Value::as_str) == Some("password"))
        .and_then(|s| s.get("value"))
        .and_then(Value::as_str);
    let account = decnet_domain::lures::account_for(decnet_domain::lures::seed_of(topology), &decky, service);
    user == Some(account.user.as_str()) && password == Some(account.password.as_str())
}

impl Engine {
    /// One pass of the alerter over the events after its cursor.
    pub async fn alert_pass(&self, config: &AlertConfig) -> Result<AlertPass, EngineError> {
        let Some(cursor) = self.store.hold_sink(ALERTER, &self.config.owner, Utc::now(), self.config.lease).await?
        else {
            return Ok(AlertPass { held_elsewhere: true, ..AlertPass::default() });
        };
        let events =
            self.store.events(&EventFilter { after: Some(cursor), limit: BATCH, ..EventFilter::default() }).await?;
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(AlertPass::default());
        };
        let mut home_lans: HashMap<TopologyId, HashMap<String, String>> = HashMap::new();
        let mut hits = Vec::new();
        for event in &events {
            // The decoy names its LAN when the decky is on one; else its home LAN.
            let mut lan = event.payload.get("lan").and_then(Value::as_str).map(str::to_owned);
            if lan.is_none()
                && let (Some(topology), Some(decky)) = (event.topology_id, &event.decky)
            {
                if let std::collections::hash_map::Entry::Vacant(slot) = home_lans.entry(topology) {
                    // A topology deleted since has no design: its events have no LAN.
                    let lans = match self.store.topology(topology).await {
                        Ok(t) => {
                            t.design.deckies.values().map(|d| (d.name.to_string(), d.home_lan.to_string())).collect()
                        }
                        Err(_) => HashMap::new(),
                    };
                    slot.insert(lans);
                }
                lan = home_lans.get(&topology).and_then(|l| l.get(decky)).cloned();
            }
            let facts = Facts {
                kind: &event.kind,
                service: event.service.as_deref(),
                decky: event.decky.as_deref(),
                lan: lan.as_deref(),
                source: event.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
                outcome: event.payload.pointer("/details/outcome").and_then(Value::as_str),
                lure: event.kind == "auth_attempt" && uses_lure(event),
            };
            if let Some(rule) = config.rule_for(&facts) {
                hits.push(IncidentHit {
                    rule: rule.name.clone(),
                    severity: rule.severity,
                    threshold: i64::from(rule.threshold),
                    topology_id: event.topology_id,
                    source_ip: event.source_ip.clone(),
                    decky: event.decky.clone(),
                    service: event.service.clone(),
                    at: event.at,
                    event_id: event.id,
                });
            }
        }
        let window = Duration::from_secs(config.fold_window_secs);
        let Some(announced) = self.store.fold_incidents(&hits, window, ALERTER, &self.config.owner, last).await? else {
            return Ok(AlertPass { events: events.len(), held_elsewhere: true, ..AlertPass::default() });
        };
        for incident in &announced {
            self.bus.publish(
                "incident".into(),
                json!({ "incident": incident.id, "rule": incident.rule, "severity": incident.severity,
                        "topology_id": incident.topology_id, "count": incident.count }),
            );
        }
        Ok(AlertPass { events: events.len(), hits: hits.len(), announced: announced.len(), held_elsewhere: false })
    }

    /// Runs the alerter until `stop` resolves: a pass whenever events may have come (a
    /// bus announcement, or every second for other replicas' events).
    pub async fn run_alerts(&self, config: AlertConfig, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut failures = 0u32;
        loop {
            let mut announced = self.bus.subscribe();
            let pause = match self.alert_pass(&config).await {
                Ok(pass) if pass.events as i64 == BATCH => {
                    failures = 0;
                    Duration::ZERO
                }
                Ok(pass) if pass.held_elsewhere => Duration::from_secs(5),
                Ok(_) => {
                    failures = 0;
                    Duration::from_secs(1)
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %err, "alerter pass failed; retrying");
                    Duration::from_millis(500).saturating_mul(2_u32.saturating_pow(failures.min(6)))
                }
            };
            tokio::select! {
                biased;
                () = &mut stop => return,
                _ = tokio::time::timeout(pause, announced.recv()), if !pause.is_zero() => {}
                () = std::future::ready(()), if pause.is_zero() => {}
            }
        }
    }
}
