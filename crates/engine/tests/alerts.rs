//! Alerts on intent over the real store: a brute-force burst from one source makes one
//! incident with a count; a login that worked makes a high-severity incident; a login with
//! a planted lure's credentials a critical one; an ignored source makes none. Incidents
//! are announced in the event log once, and a pass counts each event once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use chrono::Utc;
use common::Harness;
use decnet_domain::alerts::{AlertConfig, Ignore, Severity};
use decnet_domain::{Name, TopologyId};
use decnet_store::{EventFilter, Events as _, IncidentFilter, Incidents as _, NewEvent, Store as _};
use serde_json::json;

/// An `auth_attempt` as a decoy writes it (schema 2), from `source` on `decky`'s ssh.
fn login(topology: TopologyId, decky: &str, source: &str, user: &str, password: &str, outcome: &str) -> NewEvent {
    NewEvent {
        at: Utc::now(),
        topology_id: Some(topology),
        kind: "auth_attempt".into(),
        decky: Some(decky.into()),
        service: Some("ssh".into()),
        source_ip: Some(source.into()),
        payload: json!({
            "v": 2, "event": "auth_attempt", "service": "ssh", "src_ip": source, "src_port": 50000,
            "principal": user, "secret": { "kind": "password", "value": password },
            "details": { "outcome": outcome },
        }),
    }
}

#[tokio::test]
async fn incidents_come_from_what_attackers_do_folded_per_source() {
    let h = Harness::new().await;
    let id = h.deployed("alerted", 7).await;
    let design = h.store.topology(id).await.unwrap().design.clone();
    let decky = design.deckies.values().find(|d| d.services.iter().any(|s| s == "ssh")).unwrap().name.to_string();
    let config = AlertConfig { ignore: Ignore { sources: vec!["198.51.100.0/24".into()] }, ..AlertConfig::default() };
    // The alerter starts at the log's end: what was there before is not alerted on.
    assert_eq!(h.engine.alert_pass(&config).await.unwrap().events, 0);

    let mut events: Vec<NewEvent> =
        (0..12).map(|n| login(id, &decky, "203.0.113.9", "root", &format!("guess{n}"), "failure")).collect();
    events.push(login(id, &decky, "203.0.113.20", "admin", "admin", "success"));
    events.push(login(id, &decky, "198.51.100.7", "admin", "admin", "success"));
    let lure =
        decnet_domain::lures::account_for(decnet_domain::lures::seed_of(id), &Name::parse(&decky).unwrap(), "ssh");
    events.push(login(id, &decky, "203.0.113.30", &lure.user, &lure.password, "success"));
    // A scan: connects only.
    events.push(NewEvent {
        kind: "connect".into(),
        payload: json!({ "event": "connect" }),
        ..login(id, &decky, "203.0.113.40", "", "", "")
    });
    h.store.record_events(&events).await.unwrap();

    let pass = h.engine.alert_pass(&config).await.unwrap();
    // Announced: three opened, and the burst again when its count reached 10.
    assert_eq!((pass.events, pass.hits, pass.announced), (16, 14, 4), "{pass:?}");
    // The next pass reads only the four announcements, which alert on nothing; then nothing.
    let again = h.engine.alert_pass(&config).await.unwrap();
    assert_eq!((again.events, again.hits), (4, 0), "each event is read once");
    assert_eq!(h.engine.alert_pass(&config).await.unwrap().events, 0);

    let incidents = h.store.incidents(&IncidentFilter { limit: 100, ..Default::default() }).await.unwrap();
    let by_rule = |rule: &str| incidents.iter().filter(|i| i.rule == rule).collect::<Vec<_>>();
    let burst = by_rule("brute-force");
    assert_eq!(burst.len(), 1, "one incident for the burst: {incidents:?}");
    assert_eq!((burst[0].count, burst[0].source_ip.as_deref()), (12, Some("203.0.113.9")));
    let worked = by_rule("login-success");
    assert_eq!(worked.len(), 1, "the ignored source made none: {incidents:?}");
    assert_eq!((worked[0].severity, worked[0].source_ip.as_deref()), (Severity::High, Some("203.0.113.20")));
    let used = by_rule("lure-used");
    assert_eq!((used.len(), used[0].severity), (1, Severity::Critical));
    assert!(incidents.iter().all(|i| i.source_ip.as_deref() != Some("203.0.113.40")), "a scan is not an incident");

    let announced = h
        .store
        .events(&EventFilter { kind: Some("incident.opened".into()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    let mut rules: Vec<&str> = announced.iter().filter_map(|e| e.payload["rule"].as_str()).collect();
    rules.sort_unstable();
    assert_eq!(rules, ["brute-force", "login-success", "lure-used"], "each announced once");
    assert!(announced.iter().all(|e| e.payload["count"].as_i64().is_some() && e.topology_id == Some(id)));

    // More guesses from the same source grow the same incident.
    let more: Vec<_> =
        (0..3).map(|n| login(id, &decky, "203.0.113.9", "root", &format!("again{n}"), "failure")).collect();
    h.store.record_events(&more).await.unwrap();
    h.engine.alert_pass(&config).await.unwrap();
    let burst = h
        .store
        .incidents(&IncidentFilter { source_ip: Some("203.0.113.9".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!((burst.len(), burst[0].count), (1, 15));
}
